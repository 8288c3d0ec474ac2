package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
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

	"github.com/lensflow/lensflow/shared/platform"
)

// TestGracefulShutdownUnderLoad sends SIGTERM to the local stack binary
// while 20 clients use it: 6 uploads held in flight (the handler is reading
// their bodies; the last byte is sent only after the signal) and 14 clients
// looping over reads and uploads. Every request the server had started
// completes with its normal answer; the process exits 0 within Cloud Run's
// 10 s grace period (draining takes at most platform.DrainTimeout); and
// requests after the signal fail only by not connecting, never with a 5xx
// or a truncated answer.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and signals the local stack binary")
	}
	dir, addr := t.TempDir(), freeAddr(t)
	bin := filepath.Join(t.TempDir(), "local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-addr", addr, "-data", dir)
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	tokens := map[string]string{}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(dir, "dev-tokens.json")); err == nil && json.Unmarshal(b, &tokens) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the local stack did not start: %s", stderr.String())
		}
	}
	base, tok := "http://"+addr, tokens["demo-north"]
	c := client{base: base, t: t}
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	pid := c.createPatient(tok)
	upload := "/v1/patients/" + pid + "/scans?eye=OD&lensType=rgp"
	s, b, _ := c.do("POST", upload, tok, sample, "Content-Type", "text/csv")
	if s != http.StatusCreated {
		t.Fatalf("upload: %d %s", s, b)
	}
	var sc struct{ ID string }
	_ = json.Unmarshal(b, &sc)

	// 14 clients in a loop: a read, then an upload, until the stack is gone.
	var (
		sigterm          atomic.Bool
		inFlight         atomic.Int32 // load requests sent and not yet answered
		ok, afterOK      atomic.Int32
		connRefused      atomic.Int32
		failures         sync.Map // description -> count
		wg               sync.WaitGroup
		inFlightAtSignal int32
	)
	fail := func(what string) {
		n, _ := failures.LoadOrStore(what, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
	}
	stop := make(chan struct{})
	for i := range 14 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Transport: apiCheck.Transport(&http.Transport{})}
			defer hc.CloseIdleConnections()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				method, path, body, want := "GET", "/v1/scans/"+sc.ID, []byte(nil), http.StatusOK
				if (n+i)%2 == 1 {
					method, path, body, want = "POST", upload, sample, http.StatusCreated
				}
				req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "text/csv")
				after := sigterm.Load()
				inFlight.Add(1)
				resp, err := hc.Do(req)
				if err != nil {
					inFlight.Add(-1)
					if !semConnectionError(err) {
						fail(method + " error " + err.Error())
						return
					}
					if !sigterm.Load() {
						fail(method + " connection error before the signal: " + err.Error())
						return
					}
					connRefused.Add(1)
					if errors.Is(err, syscall.ECONNREFUSED) {
						return // the listener is closed: this client is done
					}
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				inFlight.Add(-1)
				switch {
				case err != nil:
					fail(method + " truncated answer: " + err.Error())
				case resp.StatusCode != want:
					fail(method + " status " + resp.Status + ": " + string(b))
				case !json.Valid(b):
					fail(method + " answer is not whole JSON")
				case after:
					afterOK.Add(1)
				default:
					ok.Add(1)
				}
			}
		}()
	}

	// 6 uploads held in flight: their handlers are reading the bodies.
	tr := semTransport()
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: apiCheck.Transport(tr)}
	var held []*semHeld
	for range 6 {
		held = append(held, semStart(t, hc, "POST", base+upload, tok, "text/csv", nil, sample))
	}
	for _, h := range held {
		h.await(t)
	}
	for deadline := time.Now().Add(30 * time.Second); ok.Load() < 40; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests answered under load", ok.Load())
		}
	}

	inFlightAtSignal = inFlight.Load()
	signalled := time.Now()
	sigterm.Store(true)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the server is draining; the held bodies finish now
	for _, h := range held {
		h.release()
	}
	var exitAfter time.Duration
	select {
	case <-exited:
		exitAfter = time.Since(signalled)
	case <-time.After(platform.DrainTimeout + 10*time.Second):
		t.Fatalf("the stack had not exited %s after SIGTERM", platform.DrainTimeout+10*time.Second)
	}
	close(stop)
	wg.Wait()

	heldOK := 0
	for i, h := range held {
		a := h.answer(t)
		if a.err != nil || a.status != http.StatusCreated || !json.Valid([]byte(a.body)) {
			t.Errorf("held upload %d (in flight at SIGTERM): %+v", i, a)
			continue
		}
		heldOK++
	}
	failures.Range(func(k, v any) bool {
		t.Errorf("%d x %s", v.(*atomic.Int32).Load(), k)
		return true
	})
	t.Logf("in flight at SIGTERM: %d (%d held uploads, all %d answered 201, and %d load requests); exit %v after %s; "+
		"%d load requests answered before the signal, %d sent after it answered normally, %d refused by a closed server",
		len(held)+int(inFlightAtSignal), len(held), heldOK, inFlightAtSignal, exitErr, exitAfter.Round(time.Millisecond),
		ok.Load(), afterOK.Load(), connRefused.Load())
	if exitErr != nil {
		t.Fatalf("exit: %v\n%s", exitErr, stderr.String())
	}
	if exitAfter > 10*time.Second {
		t.Fatalf("exited %s after SIGTERM: Cloud Run kills at 10 s", exitAfter)
	}
}

// semConnectionError: the request did not reach a server that would answer
// it (refused, reset, or a kept-alive connection the server closed, which
// the client may notice while still writing the request).
func semConnectionError(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "server closed idle connection")
}
