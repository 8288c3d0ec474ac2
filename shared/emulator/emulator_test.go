package emulator

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { RunMain(m) }

func TestEmulatorsAnswer(t *testing.T) {
	tests := []struct {
		name string
		get  func(testing.TB) string
	}{
		{"firestore", Firestore},
		{"pubsub", PubSub},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.get(t)
			if again := tt.get(t); again != addr {
				t.Fatalf("second call started another emulator: %s then %s", addr, again)
			}
			resp, err := http.Get("http://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "Ok") {
				t.Fatalf("GET / = %d %q", resp.StatusCode, body)
			}
		})
	}
}

func TestEnvVarWins(t *testing.T) {
	t.Setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
	if got := Firestore(t); got != "127.0.0.1:1" {
		t.Fatalf("Firestore = %q, want the env var's address", got)
	}
	t.Setenv("PUBSUB_EMULATOR_HOST", "http://127.0.0.1:2")
	if got := PubSub(t); got != "127.0.0.1:2" {
		t.Fatalf("PubSub = %q, want the env var's address", got)
	}
}

// groupGone waits until no process of the group pgid is left.
func groupGone(pgid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func TestStopEndsProcessGroup(t *testing.T) {
	for _, k := range []kind{firestoreKind, pubsubKind} {
		t.Run(k.name, func(t *testing.T) {
			if reason := unavailable(k); reason != "" {
				t.Skip(reason)
			}
			in, err := startAny(k)
			if err != nil {
				t.Fatal(err)
			}
			pgid := in.cmd.Process.Pid
			in.stop()
			if !groupGone(pgid, 5*time.Second) {
				t.Fatalf("processes of group %d still alive after stop", pgid)
			}
		})
	}
}

// TestWatchdogEndsOrphans simulates the test binary dying without cleanup:
// only the pipe to the watchdog closes.
func TestWatchdogEndsOrphans(t *testing.T) {
	if reason := unavailable(pubsubKind); reason != "" {
		t.Skip(reason)
	}
	in, err := startAny(pubsubKind)
	if err != nil {
		t.Fatal(err)
	}
	pgid := in.cmd.Process.Pid
	defer in.stop()
	in.stdin.Close()
	if !groupGone(pgid, 10*time.Second) {
		t.Fatalf("processes of group %d still alive after the pipe closed", pgid)
	}
}
