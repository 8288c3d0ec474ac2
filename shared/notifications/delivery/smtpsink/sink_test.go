package smtpsink_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/notifications/delivery/smtpsink"
)

func start(t *testing.T, opts smtpsink.Options) *smtpsink.Sink {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := smtpsink.Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// client is a raw SMTP connection for protocol tests.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, s *smtpsink.Sink) *client {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("220")
	return c
}

// reply reads one (possibly multi-line) reply and returns its lines.
func (c *client) reply() []string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply after %q: %v", lines, err)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return lines
		}
	}
}

func (c *client) expect(code string) []string {
	c.t.Helper()
	lines := c.reply()
	if !strings.HasPrefix(lines[len(lines)-1], code) {
		c.t.Fatalf("reply %q, want code %s", lines, code)
	}
	return lines
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// step is one line sent (CRLF added unless raw) and the reply code wanted.
type step struct {
	send string
	want string
}

func emls(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := smtpsink.Messages(dir)
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestProtocol(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		files int
	}{
		{"happy path", []step{
			{"EHLO client.example", "250"}, {"MAIL FROM:<lab@example.com>", "250"},
			{"RCPT TO:<a@clinic.example>", "250"}, {"RCPT TO:<b@clinic.example>", "250"},
			{"DATA", "354"}, {"Subject: hi\r\n\r\nbody\r\n.", "250"}, {"QUIT", "221"},
		}, 1},
		{"lower case commands and HELO", []step{
			{"helo client", "250"}, {"mail from:<lab@example.com>", "250"},
			{"rcpt to:<a@clinic.example>", "250"}, {"data", "354"}, {"x\r\n.", "250"},
		}, 1},
		{"null sender", []step{
			{"HELO c", "250"}, {"MAIL FROM:<>", "250"}, {"RCPT TO:<a@clinic.example>", "250"},
			{"DATA", "354"}, {"x\r\n.", "250"},
		}, 1},
		{"two messages in one session", []step{
			{"HELO c", "250"},
			{"MAIL FROM:<l@e.com>", "250"}, {"RCPT TO:<a@c.example>", "250"}, {"DATA", "354"}, {"1\r\n.", "250"},
			{"MAIL FROM:<l@e.com>", "250"}, {"RCPT TO:<a@c.example>", "250"}, {"DATA", "354"}, {"2\r\n.", "250"},
		}, 2},
		{"MAIL before HELO", []step{{"MAIL FROM:<l@e.com>", "503"}}, 0},
		{"RCPT before MAIL", []step{{"HELO c", "250"}, {"RCPT TO:<a@c.example>", "503"}}, 0},
		{"DATA before RCPT", []step{{"HELO c", "250"}, {"MAIL FROM:<l@e.com>", "250"}, {"DATA", "503"}}, 0},
		{"MAIL twice", []step{{"HELO c", "250"}, {"MAIL FROM:<l@e.com>", "250"}, {"MAIL FROM:<l@e.com>", "503"}}, 0},
		{"malformed paths", []step{
			{"HELO c", "250"}, {"MAIL FROM:l@e.com", "501"}, {"MAIL TO:<l@e.com>", "501"},
			{"MAIL FROM:<l@e.com", "501"}, {"MAIL FROM:<no-at-sign>", "501"}, {"MAIL FROM:<a b@e.com>", "501"},
			{"MAIL FROM:<l@e.com>", "250"}, {"RCPT TO:<>", "501"}, {"RCPT FROM:<a@c.example>", "501"},
		}, 0},
		{"HELO without domain", []step{{"HELO", "501"}, {"EHLO ", "501"}}, 0},
		{"unknown and unsupported commands", []step{
			{"FOO bar", "500"}, {"", "500"}, {"STARTTLS", "502"}, {"AUTH PLAIN x", "502"},
			{"NOOP", "250"}, {"VRFY a", "252"}, {"HELP", "214"},
		}, 0},
		{"DATA with argument", []step{
			{"HELO c", "250"}, {"MAIL FROM:<l@e.com>", "250"}, {"RCPT TO:<a@c.example>", "250"}, {"DATA now", "501"},
		}, 0},
		{"RSET drops the transaction", []step{
			{"HELO c", "250"}, {"MAIL FROM:<l@e.com>", "250"}, {"RCPT TO:<a@c.example>", "250"},
			{"RSET", "250"}, {"DATA", "503"}, {"RCPT TO:<a@c.example>", "503"},
		}, 0},
		{"declared SIZE over the limit", []step{
			{"EHLO c", "250"}, {"MAIL FROM:<l@e.com> SIZE=999999999", "552"}, {"MAIL FROM:<l@e.com> SIZE=x", "501"},
			{"MAIL FROM:<l@e.com> SIZE=10", "250"},
		}, 0},
		{"too many recipients", []step{
			{"HELO c", "250"}, {"MAIL FROM:<l@e.com>", "250"},
			{"RCPT TO:<1@c.example>", "250"}, {"RCPT TO:<2@c.example>", "250"}, {"RCPT TO:<3@c.example>", "452"},
			{"DATA", "354"}, {"x\r\n.", "250"},
		}, 1},
		{"line too long", []step{{strings.Repeat("N", 5000), "500"}, {"NOOP", "250"}}, 0},
		{"bare LF commands", []step{{"HELO c\n", "250"}, {"NOOP\n", "250"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := start(t, smtpsink.Options{Dir: dir, MaxMessageBytes: 1000, MaxRecipients: 2})
			c := dial(t, s)
			for _, st := range tt.steps {
				line := st.send
				if !strings.HasSuffix(line, "\n") {
					line += "\r\n"
				}
				c.send(line)
				c.expect(st.want)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if got := len(emls(t, dir)); got != tt.files {
				t.Fatalf("%d files, want %d", got, tt.files)
			}
		})
	}
}

var fileName = regexp.MustCompile(`^\d{8}T\d{6}\.\d{9}Z-[0-9a-f]{16}\.eml$`)

func TestStoredMessage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail") // created by Start
	s := start(t, smtpsink.Options{Dir: dir})
	c := dial(t, s)
	for _, st := range []step{
		{"EHLO c", "250"}, {"MAIL FROM:<lab@example.com>", "250"}, {"RCPT TO:<a@clinic.example>", "250"}, {"DATA", "354"},
	} {
		c.send(st.send + "\r\n")
		c.expect(st.want)
	}
	c.send("Subject: dots\r\n\r\n..leading dot\r\n...two\r\n.\r\n")
	lines := c.expect("250")
	paths := emls(t, dir)
	if len(paths) != 1 {
		t.Fatalf("files: %v", paths)
	}
	base := filepath.Base(paths[0])
	if !fileName.MatchString(base) {
		t.Errorf("file name %q does not match %s", base, fileName)
	}
	if !strings.Contains(lines[0], strings.TrimSuffix(base, ".eml")) {
		t.Errorf("reply %q does not name the file %s", lines[0], base)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	want := "Return-Path: <lab@example.com>\r\nDelivered-To: a@clinic.example\r\nSubject: dots\r\n\r\n.leading dot\r\n..two\r\n"
	if string(b) != want {
		t.Errorf("stored %q\nwant   %q", b, want)
	}
	fi, err := os.Stat(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("file mode %v readable by others", perm)
	}
	all, _ := os.ReadDir(dir)
	if len(all) != 1 {
		t.Errorf("directory holds %d entries, want only the .eml", len(all))
	}
}

func TestOversizeData(t *testing.T) {
	dir := t.TempDir()
	s := start(t, smtpsink.Options{Dir: dir, MaxMessageBytes: 100})
	c := dial(t, s)
	for _, body := range []string{
		strings.Repeat("x", 60) + "\r\n" + strings.Repeat("y", 60) + "\r\n", // many lines
		strings.Repeat("z", 5000) + "\r\n",                                  // one huge line
	} {
		for _, st := range []step{{"HELO c", "250"}, {"MAIL FROM:<l@e.com>", "250"}, {"RCPT TO:<a@c.example>", "250"}, {"DATA", "354"}} {
			c.send(st.send + "\r\n")
			c.expect(st.want)
		}
		c.send(body + ".\r\n")
		c.expect("552")
	}
	// The session stays usable and the transaction was reset.
	c.send("DATA\r\n")
	c.expect("503")
	for _, st := range []step{{"MAIL FROM:<l@e.com>", "250"}, {"RCPT TO:<a@c.example>", "250"}, {"DATA", "354"}, {"small\r\n.", "250"}} {
		c.send(st.send + "\r\n")
		c.expect(st.want)
	}
	if got := len(emls(t, dir)); got != 1 {
		t.Fatalf("%d files, want 1", got)
	}
}

func TestEarlyDisconnect(t *testing.T) {
	scripts := map[string]string{
		"after greeting":        "",
		"mid command":           "HELO c",
		"after MAIL":            "HELO c\r\nMAIL FROM:<l@e.com>\r\n",
		"mid DATA":              "HELO c\r\nMAIL FROM:<l@e.com>\r\nRCPT TO:<a@c.example>\r\nDATA\r\nSubject: x\r\n\r\npartial",
		"terminator unfinished": "HELO c\r\nMAIL FROM:<l@e.com>\r\nRCPT TO:<a@c.example>\r\nDATA\r\nbody\r\n.",
		"bare LF terminator":    "HELO c\r\nMAIL FROM:<l@e.com>\r\nRCPT TO:<a@c.example>\r\nDATA\r\nbody\n.\n",
	}
	for name, script := range scripts {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := start(t, smtpsink.Options{Dir: dir})
			c := dial(t, s)
			c.send(script)
			_ = c.conn.Close()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Fatalf("directory has %d entries after an unfinished message", len(entries))
			}
		})
	}
}

func TestTooManyErrorsHangsUp(t *testing.T) {
	s := start(t, smtpsink.Options{})
	c := dial(t, s)
	for i := 0; i < 9; i++ {
		c.send("BOGUS\r\n")
		c.expect("500")
	}
	c.send("BOGUS\r\n")
	c.expect("421")
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open: %v", err)
	}
}

func TestConcurrentSessionsWithNetSMTP(t *testing.T) {
	dir := t.TempDir()
	s := start(t, smtpsink.Options{Dir: dir})
	const n = 12
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("Subject: %d\r\n\r\nmessage %d\r\n", i, i)
			errc <- smtp.SendMail(s.Addr(), nil, "lab@example.com", []string{"a@clinic.example"}, []byte(msg))
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	paths := emls(t, dir)
	if len(paths) != n {
		t.Fatalf("%d files, want %d", len(paths), n)
	}
	seen := map[string]bool{}
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		seen[string(b)] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages, want %d", len(seen), n)
	}
}

func TestMaxSessions(t *testing.T) {
	s := start(t, smtpsink.Options{MaxSessions: 1})
	dial(t, s)
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if !strings.HasPrefix(line, "421") {
		t.Fatalf("second session got %q, want 421", line)
	}
}

func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	s := start(t, smtpsink.Options{Dir: dir})
	idle := dial(t, s)
	busy := dial(t, s)
	for _, st := range []step{{"HELO c", "250"}, {"MAIL FROM:<l@e.com>", "250"}, {"RCPT TO:<a@c.example>", "250"}, {"DATA", "354"}} {
		busy.send(st.send + "\r\n")
		busy.expect(st.want)
	}
	busy.send("Subject: in flight\r\n")
	// Let the session block reading DATA before shutting down.
	time.Sleep(50 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	idle.expect("421")
	busy.send("\r\nfinished\r\n.\r\n")
	busy.expect("250")
	busy.expect("421")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := len(emls(t, dir)); got != 1 {
		t.Fatalf("%d files, want the in-flight message", got)
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Fatal("still accepting connections after Shutdown")
	}
	if err := s.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
}

func TestShutdownForcesStuckSessions(t *testing.T) {
	s := start(t, smtpsink.Options{})
	c := dial(t, s)
	for _, st := range []step{{"HELO c", "250"}, {"MAIL FROM:<l@e.com>", "250"}, {"RCPT TO:<a@c.example>", "250"}, {"DATA", "354"}} {
		c.send(st.send + "\r\n")
		c.expect(st.want)
	}
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	_ = s.Shutdown(ctx)
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("Shutdown took %v with a stuck session", d)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:25", "[::]:0", "example.com:25", "nonsense"} {
		t.Run(addr, func(t *testing.T) {
			if s, err := smtpsink.Start(smtpsink.Options{Dir: t.TempDir(), Addr: addr}); err == nil {
				_ = s.Close()
				t.Fatal("Start succeeded")
			}
		})
	}
	if _, err := smtpsink.Start(smtpsink.Options{}); err == nil {
		t.Fatal("Start without Dir succeeded")
	}
}

func ExampleStart() {
	dir, _ := os.MkdirTemp("", "mail")
	defer os.RemoveAll(dir)
	sink, err := smtpsink.Start(smtpsink.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer sink.Close()

	err = smtp.SendMail(sink.Addr(), nil, "lab@example.com", []string{"frontdesk@clinic.example"},
		[]byte("Subject: Order status changed\r\n\r\nSee the link.\r\n"))
	if err != nil {
		panic(err)
	}
	paths, _ := smtpsink.Messages(dir)
	fmt.Println(len(paths), "message stored")
	// Output: 1 message stored
}
