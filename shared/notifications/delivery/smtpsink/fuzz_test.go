package smtpsink

import (
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"
)

// FuzzSession feeds arbitrary client bytes to one session: it must not
// panic, must end when the client closes, and must leave only complete .eml
// files behind.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nSubject: x\r\n\r\n..x\r\n.\r\nQUIT\r\n",
		"HELO\r\nMAIL FROM:<\r\nRCPT TO:<>\r\nDATA x\r\n\x00\xff\r\n",
		"EHLO c\nMAIL FROM:<a@b.c> SIZE=1\nRCPT TO:<d@e.f>\nDATA\n.\n",
		"RSET\r\nNOOP\r\nVRFY\r\nmail from:<postmaster>\r\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, input []byte) {
		sink := &Sink{opts: Options{Dir: dir, Hostname: "fuzz", MaxMessageBytes: 4096,
			MaxRecipients: 4, MaxSessions: 1, IdleTimeout: 2 * time.Second, Logger: logger}}
		server, client := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			(&session{sink: sink, conn: server, r: newReader(server)}).run()
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_, _ = client.Write(input)
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("session did not end after the client closed")
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name()[0] == '.' {
				t.Fatalf("temporary file %s left behind", e.Name())
			}
		}
	})
}
