package httpkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
)

// shortBodyTimeout sets BodyTimeout for one test (before its server starts).
func shortBodyTimeout(t *testing.T, d time.Duration) {
	t.Helper()
	old := BodyTimeout
	BodyTimeout = d
	t.Cleanup(func() { BodyTimeout = old })
}

// echoServer answers the length of the body ReadBody read, or its error,
// and then whether the request's context is still live.
func echoServer(t *testing.T, after time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := ReadBody(w, r, 1<<20)
		if err != nil {
			Error(w, r, err)
			return
		}
		time.Sleep(after) // work that outlasts the body deadline
		JSON(w, http.StatusOK, map[string]any{"bytes": len(b), "ctxErr": fmt.Sprint(r.Context().Err())})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSlowBodyIs408: a client that sends its headers and then trickles the
// body gets 408 problem+json once BodyTimeout passes, not a goroutine held
// until the server's ReadTimeout.
func TestSlowBodyIs408(t *testing.T) {
	shortBodyTimeout(t, 300*time.Millisecond)
	srv := echoServer(t, 0)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second)) // a hang fails the test, not the run
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one byte every 100 ms: always progressing, never done
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestTimeout || resp.Header.Get("Content-Type") != "application/problem+json" ||
		p.Status != 408 || !strings.HasSuffix(p.Type, "/request-timeout") || !strings.Contains(p.Detail, "request body not received in time") {
		t.Fatalf("%d %s: %+v", resp.StatusCode, resp.Header.Get("Content-Type"), p)
	}
}

// TestBodyInTimeKeepsTheRequestAlive: a body that arrives in time is read
// whole, and the deadline covers the body only: work lasting longer than
// it does not see its request cancelled.
func TestBodyInTimeKeepsTheRequestAlive(t *testing.T) {
	shortBodyTimeout(t, 200*time.Millisecond)
	srv := echoServer(t, 600*time.Millisecond)
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"name":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Bytes  int
		CtxErr string
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Bytes != 12 || out.CtxErr != "<nil>" {
		t.Fatalf("%d %+v %v", resp.StatusCode, out, err)
	}
}

// TestBodyReadTwice: a body read again from memory (as a middleware that
// buffered it hands it on) does not leave a deadline behind that cancels
// the request while the work goes on.
func TestBodyReadTwice(t *testing.T) {
	shortBodyTimeout(t, 200*time.Millisecond)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := ReadBody(w, r, 1<<20)
		if err != nil {
			Error(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		if b, err = ReadBody(w, r, 1<<20); err != nil {
			Error(w, r, err)
			return
		}
		time.Sleep(600 * time.Millisecond)
		JSON(w, http.StatusOK, map[string]any{"bytes": len(b), "ctxErr": fmt.Sprint(r.Context().Err())})
	}))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"name":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"ctxErr":"\u003cnil\u003e"`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// TestBodyTimeoutNeedsAConnection: without a connection to set a deadline
// on (a recorder), ReadBody reads as before.
func TestBodyTimeoutNeedsAConnection(t *testing.T) {
	shortBodyTimeout(t, time.Nanosecond)
	r := httptest.NewRequest("POST", "/", strings.NewReader("abc"))
	b, err := ReadBody(httptest.NewRecorder(), r, 10)
	if err != nil || string(b) != "abc" {
		t.Fatalf("%q %v", b, err)
	}
}

// TestStrictErrorsNameTheProblem: each refusal names the field (or the
// body) and says what JSON was expected, in JSON's terms, without echoing
// the value.
func TestStrictErrorsNameTheProblem(t *testing.T) {
	for _, tc := range []struct{ in, field, msg string }{
		{`[1,2]`, "body", "expected a JSON object"},
		{`null`, "body", "expected a JSON object"},
		{`"Jane"`, "body", "expected a JSON object"},
		{`{"name":19840302}`, "name", "expected a string, got number"},
		{`{"count":"three"}`, "count", "expected an integer, got string"},
		{`{"count":1.5}`, "count", "expected a whole number in range"},
		{`{"count":99999999999999999999}`, "count", "expected a whole number in range"},
		{`{"ratio":1e400}`, "ratio", "number out of range"},
		{`{"ratio":NaN}`, "body", "malformed JSON at byte 10: invalid character 'N'"},
		{`{"inner":[]}`, "inner", "expected an object, got array"},
		{`{"list":{}}`, "list", "expected an array, got object"},
		{`{"name":"a","NAME":"b"}`, "NAME", "duplicate key"},
		{"{\"ratio\":1,\"\u212aey\":1,\"key\":2}", "key", "duplicate key"}, // Kelvin sign folds to k
		{`{"":1,"":2}`, `""`, "duplicate key"},
		{`{"` + strings.Repeat("k", 100) + `":1}`, strings.Repeat("k", 64) + "...", "unknown field"},
		{`{"name":"a"}{}`, "body", "unexpected data after the JSON object"},
	} {
		t.Run(tc.in[:min(len(tc.in), 30)], func(t *testing.T) {
			var b body
			err := UnmarshalStrict([]byte(tc.in), &b)
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tc.field || !strings.Contains(errs.Message(err), tc.msg) {
				t.Fatalf("field %q, message %q; want %q, %q", errs.FieldOf(err), errs.Message(err), tc.field, tc.msg)
			}
			if strings.Contains(errs.Message(err), "19840302") {
				t.Fatal("the value is echoed")
			}
		})
	}
}

// TestContentTypeEchoIsBounded: a header bomb in Content-Type is not
// repeated whole in the answer.
func TestContentTypeEchoIsBounded(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{}`))
	r.Header.Set("Content-Type", "text/"+strings.Repeat("x", 10000))
	err := DecodeJSON(httptest.NewRecorder(), r, &body{})
	if errs.FieldOf(err) != "Content-Type" || len(errs.Message(err)) > 120 {
		t.Fatalf("%v", err)
	}
}

// TestTooLargeSaysWhichLimit: a 413 says which limit the request passed.
func TestTooLargeSaysWhichLimit(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", 11)))
	rec := httptest.NewRecorder()
	_, err := ReadBody(rec, r, 10)
	Error(rec, r, err)
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != 413 || p.Detail != "request body exceeds 10 bytes" {
		t.Fatalf("%d %+v %v", rec.Code, p, err)
	}
}
