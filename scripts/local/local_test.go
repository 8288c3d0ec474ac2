package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/bootstrap/standins"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

const samplePath = "../../shared/domain/topo/testdata/sample-od.csv"

type client struct {
	base string
	t    testing.TB
}

func (c client) do(method, path, token string, body []byte, hdr ...string) (int, []byte, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func (c client) createPatient(token string) string {
	c.t.Helper()
	st, b, _ := c.do("POST", "/v1/patients", token, []byte(`{"name":"ZZCANARY Tester","birthDate":"1961-07-14"}`), "Content-Type", "application/json")
	if st != 201 {
		c.t.Fatalf("create patient: %d %s", st, b)
	}
	var out struct{ ID string }
	_ = json.Unmarshal(b, &out)
	return out.ID
}

func (c client) waitDesigned(token, scanID string, timeout time.Duration) (map[string]any, time.Duration) {
	c.t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		st, b, _ := c.do("GET", "/v1/scans/"+scanID, token, nil)
		var v map[string]any
		_ = json.Unmarshal(b, &v)
		if st == 200 && v["status"] != scans.StatusReceived {
			return v, time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("scan %s not designed within %s", scanID, timeout)
	return nil, 0
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func start(t *testing.T, addr, dir string) *localstack.Stack {
	t.Helper()
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: addr, DataDir: dir, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestWalkthrough follows the README: create a patient, upload the sample
// scan, see its design; then checks tenancy, authentication, idempotency,
// ciphertext at rest and persistence across a restart.
func TestWalkthrough(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	st := start(t, addr, dir)
	c := client{base: st.URL, t: t}
	north, south := st.Tokens["demo-north"], st.Tokens["demo-south"]

	var toks map[string]string
	if b, err := os.ReadFile(filepath.Join(dir, "dev-tokens.json")); err != nil || json.Unmarshal(b, &toks) != nil || toks["demo-north"] != north {
		t.Fatalf("dev-tokens.json: %v %v", err, toks)
	}
	if s, b, _ := c.do("GET", "/", "", nil); s != 200 || !strings.Contains(string(b), "Design") {
		t.Fatalf("index: %d %s", s, b)
	}
	for _, p := range []string{"/healthz"} {
		if s, _, _ := c.do("GET", p, "", nil); s != 200 {
			t.Fatalf("%s: %d", p, s)
		}
	}

	pid := c.createPatient(north)
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	file := append([]byte("# patient: ZZCANARY Tester\n# dob: 1961-07-14\n"), sample...)
	upload := "/v1/patients/" + pid + "/scans?eye=OD&lensType=rgp&rx=-2.5&hvid=11.8"
	s, b, h := c.do("POST", upload, north, file, "Content-Type", "text/csv", "Idempotency-Key", "walk-1")
	if s != 201 {
		t.Fatalf("upload: %d %s", s, b)
	}
	var sc struct {
		ID, Status string
		Links      map[string]string
	}
	_ = json.Unmarshal(b, &sc)
	if sc.Status != "received" || sc.Links["design"] != "/v1/scans/"+sc.ID+"/design" || h.Get("Location") != "/v1/scans/"+sc.ID {
		t.Fatalf("upload answer: %s", b)
	}
	v, took := c.waitDesigned(north, sc.ID, 20*time.Second)
	t.Logf("designed %v after the upload answered", took)
	if v["status"] != "designed" {
		t.Fatalf("scan: %v", v)
	}
	s, b, _ = c.do("GET", "/v1/scans/"+sc.ID+"/design", north, nil)
	var d pipeline.Result
	if s != 200 || json.Unmarshal(b, &d) != nil || d.Cornea.ApicalRadiusMM < 7.79 || d.Cornea.ApicalRadiusMM > 7.81 || d.Lens.BOZRMM == 0 {
		t.Fatalf("design: %d %s", s, b)
	}

	// Idempotency: replay and mismatch.
	if s, b2, h := c.do("POST", upload, north, file, "Content-Type", "text/csv", "Idempotency-Key", "walk-1"); s != 201 ||
		!strings.Contains(string(b2), sc.ID) || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", s, b2)
	}
	if s, _, _ := c.do("POST", upload, north, sample, "Content-Type", "text/csv", "Idempotency-Key", "walk-1"); s != 422 {
		t.Fatalf("same key, different file: %d", s)
	}

	// Tenancy and authentication.
	for _, tc := range []struct {
		name, method, path, token string
		body                      []byte
		want                      int
	}{
		{"other clinic reads scan", "GET", "/v1/scans/" + sc.ID, south, nil, 404},
		{"other clinic reads design", "GET", "/v1/scans/" + sc.ID + "/design", south, nil, 404},
		{"other clinic uploads to patient", "POST", upload, south, sample, 404},
		{"no token", "GET", "/v1/scans/" + sc.ID, "", nil, 401},
		{"garbage token", "GET", "/v1/scans/" + sc.ID, "not-a-jwt", nil, 401},
		{"tampered token", "GET", "/v1/scans/" + sc.ID, north[:len(north)-4] + "AAAA", nil, 401},
		{"no token on create", "POST", "/v1/patients", "", []byte(`{}`), 401},
		{"unknown scan", "GET", "/v1/scans/00000000-0000-0000-0000-000000000000", north, nil, 404},
		{"unknown route", "GET", "/v1/nothing", north, nil, 404},
		{"bad eye", "POST", "/v1/patients/" + pid + "/scans?eye=XX&lensType=rgp", north, sample, 400},
		{"ragged file", "POST", "/v1/patients/" + pid + "/scans?eye=OD&lensType=rgp", north, []byte("x,y,z\n1,2,3\n4,5\n"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, b, h := c.do(tc.method, tc.path, tc.token, tc.body, "Content-Type", "text/csv")
			if s != tc.want {
				t.Fatalf("status %d, want %d: %s", s, tc.want, b)
			}
			if s >= 400 && h.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("error content type %q", h.Get("Content-Type"))
			}
			if tc.token == south && strings.Contains(string(b), pid) {
				t.Fatalf("another clinic's ids leaked: %s", b)
			}
		})
	}

	// Ciphertext at rest: no line of the scan and no identifier in any file.
	lines := strings.Split(string(sample), "\n")
	needles := [][]byte{[]byte("ZZCANARY"), []byte("1961-07-14")}
	for _, l := range lines[10:200] {
		needles = append(needles, []byte(l))
	}
	if err := st.Shutdown(); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				return fmt.Errorf("%s contains %q in clear", p, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Restart on the same data: everything is still there, tokens still work.
	st = start(t, addr, dir)
	defer st.Shutdown()
	c.base = st.URL
	if s, b, _ := c.do("GET", "/v1/scans/"+sc.ID+"/design", north, nil); s != 200 || !strings.Contains(string(b), `"apicalRadius_mm"`) {
		t.Fatalf("after restart: %d %s", s, b)
	}
}

// TestKillMidUpload kills the stack with SIGKILL while 16 clients upload,
// restarts it, and checks that every upload that was answered 201 is stored,
// decryptable and designed, and that nothing half-written is left.
func TestKillMidUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the local stack binary")
	}
	dir, addr := t.TempDir(), freeAddr(t)
	bin := filepath.Join(t.TempDir(), "local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	run := func() *exec.Cmd {
		_ = os.Remove(filepath.Join(dir, "dev-tokens.json"))
		cmd := exec.Command(bin, "-addr", addr, "-data", dir)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(filepath.Join(dir, "dev-tokens.json")); err == nil {
				return cmd
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Kill()
		t.Fatal("local stack did not start")
		return nil
	}
	cmd := run()
	tokens := map[string]string{}
	b, _ := os.ReadFile(filepath.Join(dir, "dev-tokens.json"))
	_ = json.Unmarshal(b, &tokens)
	c := client{base: "http://" + addr, t: t}
	pid := c.createPatient(tokens["demo-north"])
	sample, _ := os.ReadFile(samplePath)

	var accepted sync.Map
	var n201, nFail atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", c.base+"/v1/patients/"+pid+"/scans?eye=OD&lensType=rgp", bytes.NewReader(sample))
				req.Header.Set("Authorization", "Bearer "+tokens["demo-north"])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					nFail.Add(1)
					return // the stack died
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 201 {
					var v struct{ ID string }
					_ = json.Unmarshal(body, &v)
					accepted.Store(v.ID, true)
					n201.Add(1)
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	close(stop)
	wg.Wait()
	t.Logf("killed after %d accepted uploads (%d requests cut off)", n201.Load(), nFail.Load())
	if n201.Load() == 0 {
		t.Fatal("no upload was accepted before the kill")
	}

	cmd = run()
	var ids []string
	accepted.Range(func(k, _ any) bool { ids = append(ids, k.(string)); return true })
	for _, id := range ids {
		v, _ := c.waitDesigned(tokens["demo-north"], id, 60*time.Second)
		if v["status"] != "designed" {
			t.Fatalf("accepted scan %s ended %v", id, v["status"])
		}
	}
	stopStack := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
	}
	stopStack()

	// Scans recorded just before the kill whose answer never reached the
	// client are designed too: their events were committed with them. Some
	// may still be in flight at a stop; a further run finishes them.
	ctx := context.Background()
	open := func() *bootstrap.App {
		app, _, err := standins.Open(ctx, bootstrap.Config{DataDir: dir, DevIssuerURL: "http://" + addr + "/dev-issuer"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	app := open()
	docs, err := app.Docs.Query(ctx, ports.Query{Collection: scans.ScansCollection})
	if err != nil {
		t.Fatal(err)
	}
	var pending []string
	for _, d := range docs {
		var sc scans.Scan
		_ = d.Decode(&sc)
		if sc.Status == scans.StatusReceived {
			pending = append(pending, sc.ID)
		}
	}
	app.Close()
	if len(pending) > 0 {
		cmd = run()
		for _, id := range pending {
			c.waitDesigned(tokens["demo-north"], id, 60*time.Second)
		}
		stopStack()
	}

	// Inspect the data directory with the stack stopped.
	app = open()
	defer app.Close()
	docs, err = app.Docs.Query(ctx, ports.Query{Collection: scans.ScansCollection})
	if err != nil {
		t.Fatal(err)
	}
	objects, err := app.Blobs.List(ctx, "scans/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objects) != len(docs) {
		t.Fatalf("%d scan records but %d stored files: something was left half-written", len(docs), len(objects))
	}
	for _, d := range docs {
		var sc scans.Scan
		_ = d.Decode(&sc)
		if sc.Status != scans.StatusDesigned {
			t.Errorf("scan %s is %s", sc.ID, sc.Status)
		}
		sealed, err := app.Blobs.Get(ctx, sc.Object)
		if err != nil {
			t.Fatalf("scan %s: %v", sc.ID, err)
		}
		if _, err := app.Sealer.Decrypt(sealed, scans.AssociatedDataForScan(sc)); err != nil {
			t.Errorf("scan %s (%d bytes stored, %d plaintext, status %s) does not decrypt: %v", sc.ID, len(sealed), sc.Bytes, sc.Status, err)
		}
	}
	t.Logf("%d scans on disk, all complete and designed; %d were answered 201 before the kill; %d finished after a further restart",
		len(docs), len(ids), len(pending))
}
