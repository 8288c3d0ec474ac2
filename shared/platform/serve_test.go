package platform

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestServeDrainsInFlightRequests: when the context ends (SIGTERM), requests
// already being served complete with 200, and new connections are refused.
func TestServeDrainsInFlightRequests(t *testing.T) {
	var started atomic.Int32
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		<-release
		time.Sleep(50 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, NewServer(h), ln, slog.New(slog.DiscardHandler)) }()

	const n = 20
	var wg sync.WaitGroup
	var ok atomic.Int32
	url := "http://" + ln.Addr().String() + "/"
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(url)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && string(b) == "done" {
				ok.Add(1)
			}
		}()
	}
	for started.Load() < n {
		time.Sleep(time.Millisecond)
	}
	cancel() // SIGTERM arrives with n requests in flight
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if ok.Load() != n {
		t.Fatalf("%d of %d in-flight requests completed", ok.Load(), n)
	}
	if _, err := http.Get(url); err == nil {
		t.Fatal("a new request was accepted after shutdown")
	}
}

// TestServeClosesSilentConnectionsAtShutdown: a connection on which no
// request has begun is closed as soon as draining starts, while a request
// in flight is still being served (net/http alone would keep the silent one
// for 5 s, then drop whatever it sent).
func TestServeClosesSilentConnectionsAtShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, NewServer(h), ln, slog.New(slog.DiscardHandler)) }()

	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			answer <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer <- string(b)
	}()
	<-entered
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(50 * time.Millisecond) // accepted: in StateNew
	cancel()

	_ = silent.SetReadDeadline(time.Now().Add(4 * time.Second))
	if n, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the silent connection was not closed by the server while draining: %d bytes, %v", n, err)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	default:
	}
	close(release)
	if got := <-answer; got != "done" {
		t.Fatalf("the in-flight request: %q", got)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
