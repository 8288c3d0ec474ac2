package httpkit_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/httpkit"
)

// A key fixes the id of the resource its request creates: a retry after a
// server error gets the same id (so a handler whose work was committed
// before the error finds it), a different key a different one, and a
// request without a key none.
func TestIdempotencyResourceIDSurvivesRetries(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	fail := true
	_, h := idemServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := httpkit.ResourceID(r.Context())
		mu.Lock()
		defer mu.Unlock()
		if !ok {
			id = "(none)"
		}
		seen = append(seen, id)
		if fail {
			fail = false
			http.Error(w, "committed, then failed", http.StatusInternalServerError)
			return
		}
		httpkit.JSON(w, http.StatusCreated, map[string]string{"id": id})
	}))
	if rec := do(h, "north", "k1", `{}`); rec.Code != 500 {
		t.Fatalf("first attempt: %d", rec.Code)
	}
	if rec := do(h, "north", "k1", `{}`); rec.Code != 201 {
		t.Fatalf("retry: %d", rec.Code)
	}
	if rec := do(h, "north", "k1", `{"other":1}`); rec.Code != 422 {
		t.Fatalf("same key, different body after a failure: %d", rec.Code)
	}
	do(h, "north", "k2", `{}`)
	do(h, "north", "", `{}`)
	if len(seen) != 4 || seen[0] == "" || seen[0] != seen[1] || seen[2] == seen[1] || seen[3] != "(none)" {
		t.Fatalf("resource ids per attempt: %q", seen)
	}
}

// A replayed answer may hold PHI: it is audited as a read of the resource
// its Location names.
func TestIdempotencyReplayIsAudited(t *testing.T) {
	mem := &audit.Memory{}
	i, h := idemServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/v1/things/t-1")
		httpkit.JSON(w, http.StatusCreated, map[string]string{"id": "t-1"})
	}))
	i.Audit = mem
	do(h, "north", "k", `{}`)
	if n := len(mem.Records()); n != 0 {
		t.Fatalf("the first answer is the handler's to audit; the middleware wrote %d", n)
	}
	if rec := do(h, "north", "k", `{}`); rec.Code != 201 || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d", rec.Code)
	}
	recs := mem.Records()
	if len(recs) != 1 || recs[0].Action != "request.replay" || recs[0].Resource != "things/t-1" || recs[0].Clinic != "north" ||
		recs[0].Actor != "s-north" || recs[0].Outcome != audit.Success {
		t.Fatalf("audit records %+v", recs)
	}
}
