package eventhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventhttp"
)

// FuzzPushBody posts any body, as a raw push envelope or a binary-mode
// CloudEvent, to a Handler whose function unwraps the delivery as every
// event function does. Nothing panics; the answer is 204, 400 (the body is
// neither form), or 500 only because the function refused the event with
// an Invalid error (so the message is retried, then dead-lettered); every
// error answer is problem+json; an unwrapped delivery has an event with an
// id and a type.
func FuzzPushBody(f *testing.F) {
	d := sampleDelivery()
	env, err := eventhttp.NewEnvelope(d, "proj")
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(env)
	for _, s := range []string{
		string(good), `{"message":{"messageId":"1","data":"e30=","attributes":{"ce-id":"e","ce-type":"t"}}}`,
		`{"message":{"messageId":"1","data":"!!notbase64"}}`, `{"message":{"messageId":""}}`, `{"message":{"messageId":"1","publishTime":"yesterday"}}`,
		`{"message":{"messageId":"1"},"deliveryAttempt":-5,"subscription":"/../../x"}`, `{"message":[]}`, `null`, ``, "\x00\xff",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, binary bool) {
		var unwrapErr error
		called := false
		h := eventhttp.Handler(func(_ context.Context, e cloudevents.Event) error {
			called = true
			d, err := eventhttp.Unwrap(e)
			if err != nil {
				unwrapErr = err
				return err
			}
			if d.Event.ID == "" || d.Event.Type == "" || d.Attempt < 1 {
				t.Fatalf("unwrapped an incomplete delivery %+v", d)
			}
			return nil
		})
		req := httptest.NewRequest(http.MethodPost, "/projects/proj/topics/scan-received", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if binary {
			for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "m-1", "Ce-Type": eventhttp.MessagePublished,
				"Ce-Source": eventhttp.TopicSource("proj", "scan-received")} {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusNoContent:
			if !called || unwrapErr != nil {
				t.Fatalf("204 without a delivery: %v", unwrapErr)
			}
			return
		case http.StatusBadRequest:
			if called {
				t.Fatal("400 after the function ran")
			}
		case http.StatusInternalServerError:
			if !called || !errs.Is(errs.Invalid, unwrapErr) {
				t.Fatalf("500 without an Invalid refusal: %v", unwrapErr)
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("%d with content type %q", rec.Code, ct)
		}
		if b, _ := io.ReadAll(rec.Body); bytes.Contains(b, body) && len(body) >= 16 {
			t.Fatalf("the answer repeats the body: %s", b)
		}
	})
}
