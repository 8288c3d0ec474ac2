package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/bootstrap/standins"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

// soakOutcome is what a client knows about one logical upload.
type soakOutcome int

const (
	soakUnknown  soakOutcome = iota // the answer never arrived (the stack was killed) or the key was still claimed
	soakAccepted                    // 201
	soakRejected                    // a final error answer
)

// soakStack runs the local stack binary with fault injection.
type soakStack struct {
	t        *testing.T
	bin, dir string
	addr     string
	env      []string
	cmd      *exec.Cmd
	out      *bytes.Buffer
	ready    atomic.Pointer[chan struct{}]
}

func (s *soakStack) start() {
	s.t.Helper()
	_ = os.Remove(filepath.Join(s.dir, "dev-tokens.json"))
	s.out = &bytes.Buffer{}
	s.cmd = exec.Command(s.bin, "-addr", s.addr, "-data", s.dir)
	s.cmd.Env = append(os.Environ(), s.env...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, io.Discard
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(s.dir, "dev-tokens.json")); err == nil {
			close(*s.ready.Load())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = s.cmd.Process.Kill()
	s.t.Fatal("local stack did not start")
}

func (s *soakStack) kill() {
	ch := make(chan struct{})
	s.ready.Store(&ch)
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
}

func (s *soakStack) stop() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		s.t.Fatalf("graceful stop: %v\n%s", err, s.out)
	}
}

var soakMarker = regexp.MustCompile(`(?m)^# soak-upload: (\d+)$`)

func soakEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestSoakUnderFaults runs thousands of uploads from 50 concurrent clients
// through the local stack binary while the document store, blob store and
// event publisher fail 7% of their operations (errors, timeouts, lost
// publish acknowledgements), kills the stack with SIGKILL part-way and
// restarts it, then checks that nothing was lost or duplicated: every
// upload answered 201 is stored, decrypts and is designed exactly once;
// every upload finally answered with an error left nothing behind; no
// upload created two scans. Clients retry as security.md says (408, 429,
// 502-504 and network errors, jittered backoff, 3 attempts) with one
// Idempotency-Key per upload.
//
// LENSFLOW_SOAK_UPLOADS (default 2000) and LENSFLOW_SOAK_FAULTS (default
// "rate=0.07,latency=2ms") make it longer or harsher.
func TestSoakUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the local stack binary and runs a soak")
	}
	total := soakEnvInt("LENSFLOW_SOAK_UPLOADS", 2000)
	spec := os.Getenv("LENSFLOW_SOAK_FAULTS")
	if spec == "" {
		spec = "rate=0.07,latency=2ms"
	}
	const clients, patients = 50, 10

	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	s := &soakStack{t: t, bin: bin, dir: dir, addr: freeAddr(t), env: []string{"LENSFLOW_FAULTS=" + spec}}
	ch := make(chan struct{})
	s.ready.Store(&ch)
	s.start()
	base := "http://" + s.addr
	var tokens map[string]string
	b, _ := os.ReadFile(filepath.Join(dir, "dev-tokens.json"))
	if err := json.Unmarshal(b, &tokens); err != nil {
		t.Fatal(err)
	}
	token := tokens["demo-north"]
	hc := &http.Client{Timeout: 30 * time.Second, Transport: apiCheck.Transport(&http.Transport{MaxIdleConnsPerHost: clients * 2})}

	// post sends one request; status 0 means a network error.
	post := func(path, ctype, key string, body []byte) (int, []byte) {
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Idempotency-Key", key)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, nil
		}
		return resp.StatusCode, out
	}
	retryable := func(status int) bool {
		return status == 0 || status == 408 || status == 429 || status == 502 || status == 503 || status == 504
	}
	backoff := func(attempt int) {
		d := 20 * time.Millisecond << attempt
		time.Sleep(d/2 + rand.N(d/2))
	}

	// Patients, created through the same faults (retried until created).
	var pids []string
	for i := 0; i < patients; i++ {
		key := fmt.Sprintf("soak-patient-%d", i)
		for attempt := 0; ; attempt++ {
			st, body := post("/v1/patients", "application/json", key, []byte(`{"name":"Soak Patient","birthDate":"1970-01-01"}`))
			if st == 201 {
				var p struct{ ID string }
				_ = json.Unmarshal(body, &p)
				pids = append(pids, p.ID)
				break
			}
			if !retryable(st) || attempt > 20 {
				t.Fatalf("create patient: %d %s", st, body)
			}
			backoff(min(attempt, 4))
		}
	}
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}

	outcomes := make([]soakOutcome, total)
	ids := make([]string, total)
	var mu sync.Mutex
	statuses := map[int]int{}
	var next, done, attempts atomic.Int64
	killAt := int64(total * 2 / 5)
	killed := make(chan struct{})
	var killOnce sync.Once
	start := time.Now()

	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				file := append([]byte(fmt.Sprintf("# soak-upload: %d\n", i)), sample...)
				path := "/v1/patients/" + pids[i%patients] + "/scans?eye=OD&lensType=rgp&rx=-2.5"
				key := fmt.Sprintf("soak-upload-%d", i)
				outcome, cut := soakRejected, false
				for attempt := 0; attempt < 3; attempt++ {
					attempts.Add(1)
					st, body := post(path, "text/csv", key, file)
					mu.Lock()
					statuses[st]++
					mu.Unlock()
					if st == 0 {
						cut = true
						<-*s.ready.Load() // wait for the restart, then retry with the same key
						continue
					}
					if st == 201 {
						var v struct{ ID string }
						_ = json.Unmarshal(body, &v)
						outcome, ids[i] = soakAccepted, v.ID
						break
					}
					if st == 409 && cut {
						break // the attempt cut off by the kill still holds the key
					}
					if !retryable(st) {
						if st != 409 {
							t.Errorf("upload %d: %d %s", i, st, body)
						}
						break
					}
					backoff(attempt)
				}
				if outcome != soakAccepted && cut {
					outcome = soakUnknown
				}
				outcomes[i] = outcome
				if done.Add(1) == killAt {
					killOnce.Do(func() { close(killed) })
				}
			}
		}()
	}

	// The crash: SIGKILL mid-run, look at what it left, restart.
	<-killed
	s.kill()
	crashAt := time.Since(start)
	orphansAtKill := func() int {
		app := openOffline(t, dir, s.addr)
		defer app.Close()
		names, err := app.Blobs.List(context.Background(), "scans/")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, name := range names {
			var sc scans.Scan
			if errs := app.Docs.Get(context.Background(), scans.ScansCollection, strings.TrimPrefix(name, "scans/"), &sc); errs != nil {
				n++
			}
		}
		return n
	}()
	s.start()
	wg.Wait()
	elapsed := time.Since(start)
	s.stop()
	faultSummary := s.out.String()
	if i := strings.Index(faultSummary, "faults injected:"); i >= 0 {
		faultSummary = faultSummary[i:]
	} else {
		faultSummary = "(no summary printed)"
	}

	// Without faults: finish every design, replaying dead letters as an
	// operator would, then stop and inspect the data directory.
	ctx := context.Background()
	st, err := localstack.Start(ctx, localstack.Options{Addr: "127.0.0.1:0", DataDir: dir, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	replayed := 0
	deadline := time.Now().Add(3 * time.Minute)
	for {
		docs, err := st.App.Docs.Query(ctx, ports.Query{Collection: scans.ScansCollection, Where: []ports.Where{{Field: "status", Op: "==", Value: scans.StatusReceived}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d scans still waiting for their design", len(docs))
		}
		n, err := st.ReplayDeadLetters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		replayed += n
		time.Sleep(500 * time.Millisecond)
	}
	if err := st.Shutdown(); err != nil {
		t.Fatal(err)
	}

	app := openOffline(t, dir, s.addr)
	defer app.Close()
	recs, err := app.Docs.Query(ctx, ports.Query{Collection: scans.ScansCollection})
	if err != nil {
		t.Fatal(err)
	}
	designs, err := app.Docs.Query(ctx, ports.Query{Collection: scans.DesignsCollection})
	if err != nil {
		t.Fatal(err)
	}
	designsOf := map[string]int{}
	for _, d := range designs {
		var rec scans.DesignRecord
		_ = d.Decode(&rec)
		designsOf[rec.ScanID]++
	}
	scansOf := map[int][]string{} // logical upload -> scan ids
	for _, d := range recs {
		var sc scans.Scan
		if err := d.Decode(&sc); err != nil {
			t.Fatal(err)
		}
		sealed, err := app.Blobs.Get(ctx, sc.Object)
		if err != nil {
			t.Errorf("scan %s: file: %v", sc.ID, err)
			continue
		}
		plain, err := app.Sealer.Decrypt(sealed, scans.AssociatedDataForScan(sc))
		if err != nil {
			t.Errorf("scan %s does not decrypt: %v", sc.ID, err)
			continue
		}
		m := soakMarker.FindSubmatch(plain)
		if m == nil {
			continue // not a soak upload
		}
		i, _ := strconv.Atoi(string(m[1]))
		scansOf[i] = append(scansOf[i], sc.ID)
		if sc.Status != scans.StatusDesigned || designsOf[sc.ID] != 1 || sc.DesignVersion != 1 {
			t.Errorf("scan %s (upload %d): status %s, %d designs, version %d", sc.ID, i, sc.Status, designsOf[sc.ID], sc.DesignVersion)
		}
	}
	objects, err := app.Blobs.List(ctx, "scans/")
	if err != nil {
		t.Fatal(err)
	}

	var accepted, rejected, unknown, unknownStored, lost, duplicated, leftBehind int
	for i := 0; i < total; i++ {
		got := scansOf[i]
		if len(got) > 1 {
			duplicated++
			t.Errorf("upload %d created %d scans: %v", i, len(got), got)
		}
		switch outcomes[i] {
		case soakAccepted:
			accepted++
			if len(got) == 0 || got[0] != ids[i] {
				lost++
				t.Errorf("upload %d was answered 201 as %s but is stored as %v", i, ids[i], got)
			}
		case soakRejected:
			rejected++
			if len(got) != 0 {
				leftBehind++
				t.Errorf("upload %d was refused but left scan %v", i, got)
			}
		default:
			unknown++
			if len(got) == 1 {
				unknownStored++
			}
		}
	}
	if len(objects) != len(recs) {
		t.Errorf("%d scan records but %d stored files", len(recs), len(objects))
	}
	codes := make([]string, 0, len(statuses))
	for c, n := range statuses {
		codes = append(codes, fmt.Sprintf("%d:%d", c, n))
	}
	sort.Strings(codes)
	t.Logf("soak: %d uploads from %d clients in %s (%d requests; answers %s), faults %q, SIGKILL after %s",
		total, clients, elapsed.Round(time.Millisecond), attempts.Load(), strings.Join(codes, " "), spec, crashAt.Round(time.Millisecond))
	t.Logf("soak: accepted %d, refused %d, cut off by the kill %d (%d of them stored); lost %d, duplicated %d, refused-but-left-behind %d; "+
		"files without a record right after the kill %d (removed at restart); dead letters replayed %d", accepted, rejected, unknown,
		unknownStored, lost, duplicated, leftBehind, orphansAtKill, replayed)
	t.Logf("soak: after the restart, %s", strings.ReplaceAll(strings.TrimSpace(faultSummary), "\n", "\n    "))
	if accepted < total/2 {
		t.Errorf("only %d of %d uploads accepted: the faults or the retries are not what this test means", accepted, total)
	}
}

// openOffline opens the data directory of a stopped local stack.
func openOffline(t *testing.T, dir, addr string) *bootstrap.App {
	t.Helper()
	app, _, err := standins.Open(context.Background(), bootstrap.Config{DataDir: dir, DevIssuerURL: "http://" + addr + "/dev-issuer"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return app
}
