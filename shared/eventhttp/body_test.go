package eventhttp_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/lensflow/lensflow/shared/eventhttp"
	"github.com/lensflow/lensflow/shared/httpkit"
)

// TestTrickledPushIs408: a push whose body does not arrive within
// httpkit.BodyTimeout is answered 408, as every route's body is, instead of
// holding a goroutine until the server's read timeout; the event function
// is not called.
func TestTrickledPushIs408(t *testing.T) {
	prev := httpkit.BodyTimeout
	httpkit.BodyTimeout = 200 * time.Millisecond
	t.Cleanup(func() { httpkit.BodyTimeout = prev })
	var called atomic.Bool
	srv := httptest.NewServer(eventhttp.Handler(func(context.Context, cloudevents.Event) error {
		called.Store(true)
		return nil
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers and the first byte of a 100-byte body, then nothing more.
	if _, err := conn.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || called.Load() {
		t.Fatalf("status %d (function called: %v), want 408 without a call", resp.StatusCode, called.Load())
	}
}
