package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
)

// TestUploadMemoryBounded runs the local stack binary with a memory limit
// of 1 GiB (as a container would give it) and sends it 40 uploads of a
// 16 MiB scan at once, each retrying after 503 as Retry-After says. Every
// upload ends 201, every scan is designed, and the process's peak resident
// memory stays under 1 GiB. The test also reports what one upload adds to
// the peak. It runs a separate process so that the figure is the real
// resident memory, without the race detector's.
func TestUploadMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the local stack binary and sends 640 MiB")
	}
	const limit = 1 << 30
	dir, addr := t.TempDir(), freeAddr(t)
	bin := filepath.Join(t.TempDir(), "local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", addr, "-data", dir)
	cmd.Env = append(os.Environ(), "LENSFLOW_MEMORY_LIMIT=1GiB", "GOMEMLIMIT=")
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var tokens map[string]string
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(dir, "dev-tokens.json")); err == nil && json.Unmarshal(b, &tokens) == nil {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				break
			}
		}
		if time.Since(start) > time.Minute {
			t.Fatal("the local stack did not start")
		}
	}
	peak := func() int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			t.Skipf("no /proc on this machine: %v", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kb << 10
			}
		}
		t.Fatal("no VmHWM in /proc status")
		return 0
	}
	c := client{base: "http://" + addr, t: t}
	tok := tokens["demo-north"]
	pid := c.createPatient(tok)
	file := topotest.Large().CSV()
	if len(file) > 16<<20 || len(file) < 15<<20 {
		t.Fatalf("the large scan is %d bytes, not just under 16 MiB", len(file))
	}

	// upload sends one scan until it is accepted, and says how it went.
	upload := func(key string) (string, []int) {
		var seen []int
		for attempt := 0; attempt < 300; attempt++ {
			st, b, hdr := c.do("POST", "/v1/patients/"+pid+"/scans?eye=OD&lensType=scleral", tok, file, "Idempotency-Key", key)
			seen = append(seen, st)
			if st != http.StatusServiceUnavailable {
				var v struct{ ID string }
				_ = json.Unmarshal(b, &v)
				return v.ID, seen
			}
			secs, err := strconv.Atoi(hdr.Get("Retry-After"))
			if err != nil || secs < 1 {
				t.Errorf("503 without a Retry-After: %q", hdr.Get("Retry-After"))
				secs = 1
			}
			time.Sleep(time.Duration(secs) * time.Second)
		}
		return "", seen
	}
	designed := func(ids []string) {
		for _, id := range ids {
			if v, _ := c.waitDesigned(tok, id, 3*time.Minute); v["status"] != "designed" {
				t.Errorf("scan %s: %v (%v)", id, v["status"], v["reason"])
			}
		}
	}

	base := peak()
	id, seen := upload("memory-one")
	if len(seen) != 1 || seen[0] != http.StatusCreated {
		t.Fatalf("one upload on an idle stack: %v", seen)
	}
	designed([]string{id})
	one := peak()
	t.Logf("peak resident memory: %d MiB at start, %d MiB after one 16 MiB upload and its design (+%d MiB)", base>>20, one>>20, (one-base)>>20)

	const n = 40
	ids := make([]string, n)
	paths := make([][]int, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); ids[i], paths[i] = upload(fmt.Sprintf("memory-%d", i)) }()
	}
	wg.Wait()
	took := time.Since(start)
	designed(ids)
	all := peak()
	refused := 0
	for i, p := range paths {
		if p[len(p)-1] != http.StatusCreated {
			t.Errorf("upload %d ended %v, want 201 (after 503s)", i, p)
		}
		refused += len(p) - 1
	}
	t.Logf("%d concurrent uploads of %d bytes: all accepted in %v after %d answers 503; all designed; peak resident memory %d MiB (limit %d MiB)",
		n, len(file), took.Round(time.Millisecond), refused, all>>20, limit>>20)
	if all >= limit {
		t.Errorf("peak resident memory %d MiB, want under %d MiB", all>>20, limit>>20)
	}
}
