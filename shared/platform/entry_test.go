package platform_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	// The entry point below is built from this module, so the module
	// must require the framework's serving package, not only its
	// registry: this import keeps it (and its go.sum lines) in go.mod.
	_ "github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/lensflow/lensflow/shared/telemetry/gcptest"
)

// frameworkEntry is the main package Google's Go function buildpack
// writes for a declaratively registered function: a blank import of the
// function's package and funcframework.Start on $PORT, with the function
// chosen by FUNCTION_TARGET.
const frameworkEntry = `package main

import (
	"log"
	"net/http"
	"os"

	_ "github.com/lensflow/lensflow/functions/%s"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

func main() {
	http.HandleFunc("/robots.txt", http.NotFound)
	http.HandleFunc("/favicon.ico", http.NotFound)
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.Start(port); err != nil {
		log.Fatalf("Function failed to start: %%v\n", err)
	}
}
`

// TestEntryPointsServeTheFunction builds and runs, as separate processes
// on the production (gcp) configuration, the two ways a function is
// served: its Cloud Run main (functions/<name>/cmd, what deploys run) and
// the Functions Framework entry the function buildpack generates, with
// FUNCTION_TARGET. Both must answer the health check with the function's
// name and refuse an unauthenticated request to a route (an HTTP
// function's) or to the event endpoint (an event function's) with 401;
// the Cloud Run main must also exit cleanly on SIGTERM.
//
// The Google backends point at closed local ports and the credentials
// are a throwaway service-account key: serving the health check and
// refusing a request must not need any of them.
func TestEntryPointsServeTheFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs function binaries")
	}
	root := moduleRoot(t)
	dir := t.TempDir()
	env := productionEnv(t)
	cases := []struct {
		name, pkg     string
		method, path  string // a request that must be refused for want of a token
		wantNoTokenAt int
	}{
		{"Scans", "scans", http.MethodGet, "/v1/scans/abc", http.StatusUnauthorized},
		{"Notifications", "notifications", http.MethodPost, "/", http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name+"/cloud-run-main", func(t *testing.T) {
			bin := filepath.Join(dir, c.pkg+"-main")
			goBuild(t, root, bin, "./functions/"+c.pkg+"/cmd")
			cmd, base := start(t, bin, env)
			expectServes(t, base, c.name, c.method, c.path, c.wantNoTokenAt)
			stopsOnSIGTERM(t, cmd, 15*time.Second)
		})
		t.Run(c.name+"/cloud-run-main-telemetry-hangs", func(t *testing.T) {
			if c.pkg != "scans" {
				t.Skip("one function shows it: the shutdown path is the platform's")
			}
			bin := filepath.Join(dir, c.pkg+"-main")
			if _, err := os.Stat(bin); err != nil {
				goBuild(t, root, bin, "./functions/"+c.pkg+"/cmd")
			}
			exitsWithinCloudRunsGrace(t, bin, env, c.name, c.method, c.path, c.wantNoTokenAt)
		})
		t.Run(c.name+"/functions-framework", func(t *testing.T) {
			src := filepath.Join(dir, c.pkg+"-entry.go")
			if err := os.WriteFile(src, fmt.Appendf(nil, frameworkEntry, c.pkg), 0o600); err != nil {
				t.Fatal(err)
			}
			// The generated main sits in a package of its own inside the
			// module, as the buildpack's does; the overlay keeps it out of
			// the working tree.
			overlay := filepath.Join(dir, c.pkg+"-overlay.json")
			o, _ := json.Marshal(map[string]any{"Replace": map[string]string{
				filepath.Join(root, "functions", c.pkg, "frameworkentry", "main.go"): src}})
			if err := os.WriteFile(overlay, o, 0o600); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(dir, c.pkg+"-framework")
			goBuild(t, root, bin, "-overlay", overlay, "./functions/"+c.pkg+"/frameworkentry")
			_, base := start(t, bin, append(env, "FUNCTION_TARGET="+c.name))
			expectServes(t, base, c.name, c.method, c.path, c.wantNoTokenAt)
		})
	}
}

// exitsWithinCloudRunsGrace: with the Telemetry API and Google's token
// endpoint both hanging (a listener that never accepts), the Cloud Run main
// still exits within the 10 s Cloud Run allows after SIGTERM, having
// served a request whose spans and metrics it then fails to flush. The
// drain and the two flushes share one deadline (platform.ShutdownBudget);
// with a timeout per flush they added up to the kill.
func exitsWithinCloudRunsGrace(t *testing.T, bin string, env []string, name, method, path string, wantNoToken int) {
	t.Helper()
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	saFile := gcptest.ServiceAccountKey(t, "scans@demo-proj.iam.gserviceaccount.com", "http://"+hang.Addr().String()+"/token")
	env = append(env, "LENSFLOW_TRACING=otlp", "LENSFLOW_METRICS=otlp", "LENSFLOW_OTLP_ENDPOINT="+hang.Addr().String(),
		"GOOGLE_APPLICATION_CREDENTIALS="+saFile)
	cmd, base := start(t, bin, env)
	expectServes(t, base, name, method, path, wantNoToken)
	stopsOnSIGTERM(t, cmd, 10*time.Second) // when Cloud Run kills it
}

// stopsOnSIGTERM sends cmd SIGTERM and fails unless it exits cleanly within.
func stopsOnSIGTERM(t *testing.T, cmd *exec.Cmd, within time.Duration) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGTERM the main exited with %v", err)
		}
	case <-time.After(within):
		t.Fatalf("the main was still running %s after SIGTERM", within)
	}
	t.Logf("exited %s after SIGTERM", time.Since(signalled).Round(10*time.Millisecond))
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "go.mod") {
		t.Fatalf("go env GOMOD: %v (%s)", err, out)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func goBuild(t *testing.T, root, out string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"build", "-o", out}, args...)...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", args, err, b)
	}
}

// productionEnv is the gcp profile with every backend at a closed port and
// a throwaway service-account key, and nothing inherited that configures
// lensflow or Google's clients.
func productionEnv(t *testing.T) []string {
	t.Helper()
	saFile := gcptest.ServiceAccountKey(t, "scans@demo-proj.iam.gserviceaccount.com", "http://127.0.0.1:1/token")
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LENSFLOW_") || strings.HasPrefix(k, "GOOGLE_") || strings.HasSuffix(k, "_EMULATOR_HOST") ||
			k == "FUNCTION_TARGET" || k == "PORT" || k == "K_SERVICE" || k == "GCP_PROJECT" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"LENSFLOW_PROFILE=gcp", "GOOGLE_CLOUD_PROJECT=demo-proj", "LENSFLOW_BUCKET=demo-bucket",
		"FIRESTORE_EMULATOR_HOST=127.0.0.1:1", "PUBSUB_EMULATOR_HOST=127.0.0.1:1", "STORAGE_EMULATOR_HOST=http://127.0.0.1:1",
		"GOOGLE_APPLICATION_CREDENTIALS="+saFile,
		"LENSFLOW_KEK_URI=gcp-kms://projects/demo-proj/locations/global/keyRings/r/cryptoKeys/k",
		"LENSFLOW_SERVICE_AUDIENCES=https://notifications.example", "LENSFLOW_SERVICE_ACCOUNTS=push@demo-proj.iam.gserviceaccount.com",
		"LENSFLOW_TRACING=off", "LENSFLOW_METRICS=off", "LENSFLOW_AUDIT_LOG=stdout")
}

// start runs bin on a free port and returns it with its base URL; the
// process is killed when the test ends.
func start(t *testing.T, bin string, env []string) (*exec.Cmd, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(env, "PORT="+port)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
		}
	})
	return cmd, "http://127.0.0.1:" + port
}

func expectServes(t *testing.T, base, name, method, path string, wantNoToken int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			var health struct{ Status, Function string }
			err = json.NewDecoder(resp.Body).Decode(&health)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || err != nil || health.Function != name {
				t.Fatalf("GET /healthz: %d %+v (%v), want 200 from %s", resp.StatusCode, health, err, name)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no health answer within 20 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	req, _ := http.NewRequest(method, base+path, strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != wantNoToken || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("%s %s without a token: %d %s %s, want %d problem+json", method, path, resp.StatusCode, resp.Header.Get("Content-Type"), body, wantNoToken)
	}
}
