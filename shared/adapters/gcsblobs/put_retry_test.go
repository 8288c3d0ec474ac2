package gcsblobs

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// faultyUploads puts a proxy in front of the fake server that answers the
// first fail uploads with status and passes everything else through. It
// returns a Store through the proxy and the number of uploads seen.
func faultyUploads(t *testing.T, fail int32, status int) (*Store, *atomic.Int32) {
	t.Helper()
	l, err := OpenMemory(testCtx(t), testBucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	target, _ := url.Parse(l.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	var uploads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/upload/") {
			if n := uploads.Add(1); n <= fail {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = fmt.Fprintf(w, `{"error":{"code":%d,"message":"injected"}}`, status)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	client, err := storage.NewClient(testCtx(t), option.WithEndpoint(srv.URL+"/storage/v1/"),
		option.WithoutAuthentication(), storage.WithJSONReads())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return New(client, testBucket), &uploads
}

func TestPutRetries(t *testing.T) {
	tests := []struct {
		name        string
		fail        int32
		status      int
		wantKind    errs.Kind // errs.Other: success
		wantUploads int32
	}{
		{"two outages then stored", 2, http.StatusServiceUnavailable, errs.Other, 3},
		{"outage outlasts four attempts", 100, http.StatusServiceUnavailable, errs.Unavailable, 4},
		{"permanent refusal is not retried", 100, http.StatusBadRequest, errs.Invalid, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, uploads := faultyUploads(t, tt.fail, tt.status)
			err := s.Put(testCtx(t), "obj", []byte("payload"), ports.PutOptions{})
			if tt.wantKind == errs.Other {
				if err != nil {
					t.Fatalf("Put = %v", err)
				}
				if got, err := s.Get(testCtx(t), "obj"); err != nil || string(got) != "payload" {
					t.Fatalf("Get = %q, %v", got, err)
				}
			} else if errs.KindOf(err) != tt.wantKind {
				t.Fatalf("Put = %v (kind %v), want %v", err, errs.KindOf(err), tt.wantKind)
			}
			if got := uploads.Load(); got != tt.wantUploads {
				t.Fatalf("%d uploads, want %d", got, tt.wantUploads)
			}
		})
	}
}

// TestPutStopsWhenContextEnds: a context that ends during the pause after
// a failed attempt ends Put at once, with that attempt's error.
func TestPutStopsWhenContextEnds(t *testing.T) {
	s, uploads := faultyUploads(t, 100, http.StatusServiceUnavailable)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	began := time.Now()
	// The first pause is at least 50 ms (100 ms, jittered by half).
	time.AfterFunc(20*time.Millisecond, cancel)
	err := s.Put(ctx, "obj", []byte("payload"), ports.PutOptions{})
	if !errs.Is(errs.Unavailable, err) || uploads.Load() != 1 || time.Since(began) > 5*time.Second {
		t.Fatalf("Put = %v (kind %v) after %d uploads and %v, want Unavailable after one", err, errs.KindOf(err), uploads.Load(), time.Since(began))
	}
}
