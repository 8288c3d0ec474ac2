// Package emulator starts Google's official Firestore and Pub/Sub emulators
// (the ones shipped with gcloud) for tests, once per test binary.
//
// Use it from a test package like this:
//
//	func TestMain(m *testing.M) { emulator.RunMain(m) }
//
//	func TestSomething(t *testing.T) {
//		addr := emulator.Firestore(t) // host:port; skips the test when gcloud is absent
//		...
//	}
//
// Firestore and PubSub return the emulator's host:port. An emulator is started
// on first use and shared by every test of the binary; RunMain stops it after
// m.Run, so no Java process outlives the tests. Without RunMain, the emulator
// is stopped by the Cleanup of the last test using it (and started again
// for a later test), which is correct but slower. A start that fails fails
// the test that tried it; later tests of the binary are skipped with the
// reason instead of waiting again.
//
// If FIRESTORE_EMULATOR_HOST or PUBSUB_EMULATOR_HOST is set, that address is
// used and nothing is started. If gcloud or the emulator component is
// missing, the calling test is skipped with the reason.
//
// The helpers do not set the *_EMULATOR_HOST variables: callers pass the
// address to their clients (or t.Setenv it) themselves.
//
// Each emulator's gcloud runs as a session leader, so gcloud keeps the Java
// emulator in its process group (gcloud otherwise moves itself into a new
// group) and the whole group is ended on stop. A small shell watchdog holds a
// pipe from the test binary: if the test binary dies without cleaning up (a
// -timeout panic, SIGKILL), the pipe closes and the watchdog ends the group.
package emulator

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ReadyTimeout bounds how long an emulator may take to answer after start.
// The JVM start is about 1-3 s on an idle machine; loaded CI machines need more.
var ReadyTimeout = 90 * time.Second

// kind describes one emulator.
type kind struct {
	name       string     // human name, e.g. "Firestore"
	envVar     string     // e.g. FIRESTORE_EMULATOR_HOST
	gcloudArgs [][]string // gcloud command lines to try in order (release tracks differ between gcloud versions)
	component  string     // directory under <sdk>/platform
	shutdown   bool       // answers POST /shutdown
}

var (
	firestoreKind = kind{name: "Firestore", envVar: "FIRESTORE_EMULATOR_HOST", gcloudArgs: [][]string{{"emulators", "firestore"}, {"beta", "emulators", "firestore"}}, component: "cloud-firestore-emulator", shutdown: true}
	pubsubKind    = kind{name: "Pub/Sub", envVar: "PUBSUB_EMULATOR_HOST", gcloudArgs: [][]string{{"emulators", "pubsub"}, {"beta", "emulators", "pubsub"}}, component: "pubsub-emulator"}
)

// watchdog waits for its stdin (a pipe held by the test binary) to close,
// then ends the emulator's process group $1: TERM, up to 3 s to exit, KILL.
// It lives in a group of its own and ignores the usual signals so that it
// outlives the test binary.
const watchdog = `trap '' TERM INT HUP
read -r _ || true
kill -TERM "-$1" 2>/dev/null
i=0
while kill -0 "-$1" 2>/dev/null && [ "$i" -lt 30 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "-$1" 2>/dev/null
exit 0
`

// instance is one running emulator.
type instance struct {
	addr     string
	cmd      *exec.Cmd      // gcloud; its pid is the emulator's process group id
	watchdog *exec.Cmd      // ends the group when its stdin closes
	stdin    io.WriteCloser // the watchdog's stdin
	logPath  string
	done     chan struct{} // closed when gcloud has exited and been waited for
	k        kind
	refs     int // tests using it, when RunMain is not in charge
}

var (
	mu       sync.Mutex
	mainMode bool // RunMain is active: emulators live until it returns
	running  = map[string]*instance{}
	failed   = map[string]string{} // a start that failed is not retried by every test
	starting = map[string]*sync.Mutex{
		firestoreKind.name: {},
		pubsubKind.name:    {},
	}
)

// Firestore returns the host:port of a Firestore emulator, starting it if
// needed (see the package doc). It skips t when the emulator is unavailable.
func Firestore(t testing.TB) string {
	t.Helper()
	return get(t, firestoreKind)
}

// PubSub returns the host:port of a Pub/Sub emulator, starting it if needed
// (see the package doc). It skips t when the emulator is unavailable.
func PubSub(t testing.TB) string {
	t.Helper()
	return get(t, pubsubKind)
}

// RunMain runs the tests and then stops every emulator they started, and
// exits with m.Run's code. Call it from TestMain:
//
//	func TestMain(m *testing.M) { emulator.RunMain(m) }
func RunMain(m *testing.M) {
	mu.Lock()
	mainMode = true
	mu.Unlock()
	code := m.Run()
	StopAll()
	os.Exit(code)
}

// StopAll stops every emulator this package started. RunMain calls it; call
// it yourself only if you write your own TestMain without RunMain.
func StopAll() {
	mu.Lock()
	list := make([]*instance, 0, len(running))
	for name, in := range running {
		list = append(list, in)
		delete(running, name)
	}
	mu.Unlock()
	for _, in := range list {
		in.stop()
	}
}

func get(t testing.TB, k kind) string {
	t.Helper()
	if addr := os.Getenv(k.envVar); addr != "" {
		return strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://")
	}
	// One start at a time per kind; other kinds may start concurrently.
	sm := starting[k.name]
	sm.Lock()
	defer sm.Unlock()

	mu.Lock()
	in, ok := running[k.name]
	failure := failed[k.name]
	shared := mainMode
	mu.Unlock()
	if failure != "" {
		t.Skipf("%s emulator failed to start earlier in this test binary: %s", k.name, failure)
	}
	if !ok {
		if reason := unavailable(k); reason != "" {
			t.Skipf("%s: skipping %s emulator tests", reason, k.name)
		}
		var err error
		in, err = startAny(k)
		if err != nil {
			if errors.Is(err, errMissingComponent) {
				t.Skipf("%v: skipping %s emulator tests", err, k.name)
			}
			mu.Lock()
			failed[k.name] = firstLine(err.Error())
			mu.Unlock()
			t.Fatalf("emulator: %v", err)
		}
		mu.Lock()
		running[k.name] = in
		mu.Unlock()
	}
	if !shared {
		// Without RunMain, the last test using the emulator stops it.
		mu.Lock()
		in.refs++
		mu.Unlock()
		t.Cleanup(func() {
			sm.Lock()
			defer sm.Unlock()
			mu.Lock()
			in.refs--
			last := in.refs == 0 && running[k.name] == in
			if last {
				delete(running, k.name)
			}
			mu.Unlock()
			if last {
				in.stop()
			}
		})
	}
	return in.addr
}

var errMissingComponent = errors.New("gcloud emulator component not installed")

// unavailable returns why k cannot be started, or "" if it looks available.
func unavailable(k kind) string {
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return "gcloud not found"
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "java not found (the gcloud emulators need it)"
	}
	// gcloud is <sdk>/bin/gcloud, usually behind a symlink; the emulators live
	// in <sdk>/platform/<component>. If the layout is unfamiliar, just try.
	if real, err := filepath.EvalSymlinks(gcloud); err == nil {
		sdk := filepath.Dir(filepath.Dir(real))
		if _, err := os.Stat(filepath.Join(sdk, "platform")); err == nil {
			if _, err := os.Stat(filepath.Join(sdk, "platform", k.component)); err != nil {
				return "gcloud component " + k.component + " not installed"
			}
		}
	}
	return ""
}

// errInvalidChoice means this gcloud has the command in another release track.
var errInvalidChoice = errors.New("gcloud: invalid choice")

// startAny tries k's command lines in order until one is accepted.
func startAny(k kind) (*instance, error) {
	var err error
	for _, args := range k.gcloudArgs {
		var in *instance
		in, err = start(k, args)
		if err == nil || !errors.Is(err, errInvalidChoice) {
			return in, err
		}
	}
	return nil, err
}

func start(k kind, gcloudArgs []string) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("%s: finding a free port: %w", k.name, err)
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	logf, err := os.CreateTemp("", "lensflow-emulator-*.log")
	if err != nil {
		return nil, fmt.Errorf("%s: creating log file: %w", k.name, err)
	}
	defer logf.Close() // the child has its own descriptor

	cmd := exec.Command("gcloud", append(gcloudArgs, "start", "--host-port="+addr)...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// A session leader: gcloud then keeps java in its own process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		os.Remove(logf.Name())
		return nil, fmt.Errorf("%s: starting gcloud: %w", k.name, err)
	}
	in := &instance{addr: addr, cmd: cmd, logPath: logf.Name(), done: make(chan struct{}), k: k}
	go func() { _ = cmd.Wait(); close(in.done) }()

	in.watchdog = exec.Command("/bin/sh", "-c", watchdog, "sh", strconv.Itoa(cmd.Process.Pid))
	in.watchdog.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := in.watchdog.StdinPipe()
	if err == nil {
		err = in.watchdog.Start()
	}
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-in.done
		os.Remove(logf.Name())
		return nil, fmt.Errorf("%s: starting watchdog: %w", k.name, err)
	}
	in.stdin = stdin

	if err := in.waitReady(); err != nil {
		tail := in.logTail()
		in.stop()
		if strings.Contains(tail, "Invalid choice") {
			return nil, fmt.Errorf("%w: %s", errInvalidChoice, firstLine(tail))
		}
		if strings.Contains(tail, "not installed") || strings.Contains(tail, "component") && strings.Contains(tail, "ERROR") {
			return nil, fmt.Errorf("%w: %s", errMissingComponent, firstLine(tail))
		}
		return nil, fmt.Errorf("%s emulator on %s: %w\n%s", k.name, addr, err, tail)
	}
	return in, nil
}

// waitReady polls GET / until the emulator answers 200 "Ok".
func (in *instance) waitReady() error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(ReadyTimeout)
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + in.addr + "/")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.HasPrefix(strings.TrimSpace(string(body)), "Ok") {
				return nil
			}
		}
		if in.exited() {
			return errors.New("gcloud exited before the emulator was ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v", ReadyTimeout)
}

// exited reports whether gcloud has exited.
func (in *instance) exited() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// stop ends the emulator and every process of its group, and the watchdog.
func (in *instance) stop() {
	pgid := in.cmd.Process.Pid // Setsid: the group id is gcloud's pid
	if in.k.shutdown && !in.exited() {
		client := &http.Client{Timeout: 3 * time.Second}
		if resp, err := client.Post("http://"+in.addr+"/shutdown", "text/plain", nil); err == nil {
			resp.Body.Close()
		}
	}
	// TERM the group, give gcloud and java a moment to exit, then KILL
	// whatever is left.
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && groupAlive(pgid) {
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-in.done
	_ = in.stdin.Close() // the watchdog finds the group gone and exits
	_ = in.watchdog.Wait()
	os.Remove(in.logPath)
}

// groupAlive reports whether any process of group pgid is left.
func groupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

func (in *instance) logTail() string {
	b, _ := os.ReadFile(in.logPath)
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

func firstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, "ERROR") {
			return strings.TrimSpace(line)
		}
	}
	return strings.TrimSpace(strings.SplitN(s, "\n", 2)[0])
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}
