package httpkit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// IdempotencyCollection holds one document per (caller scope, Idempotency-Key).
const IdempotencyCollection = "idempotency"

// Idempotency makes creating POSTs safe to retry (security.md, "HTTP
// semantics"): the same Idempotency-Key with the same request replays the
// first response; with a different request it is 422; while the first is
// still in flight a duplicate is 409. Keys are scoped to the caller's clinic
// (or subject, for callers without a clinic). Server errors (5xx) are not
// remembered, so a retry runs again.
type Idempotency struct {
	Docs ports.Documents
	// MaxBody bounds the request body read for fingerprinting.
	MaxBody int64
	// Stale is how long an in-flight record blocks duplicates before a retry
	// may take over (a crashed first attempt). Default one minute.
	Stale time.Duration
	// Retain is how long records are kept (informational; expired records are
	// treated as absent). Default 24 hours.
	Retain time.Duration
	Now    func() time.Time
}

type idemRecord struct {
	Fingerprint string    `json:"fingerprint"`
	State       string    `json:"state"` // "pending" or "done"
	Started     time.Time `json:"started"`
	Status      int       `json:"status,omitempty"`
	ContentType string    `json:"contentType,omitempty"`
	Location    string    `json:"location,omitempty"`
	Body        []byte    `json:"body,omitempty"`
	Expires     time.Time `json:"expires"`
}

// Wrap applies the idempotency rules to next. Requests without an
// Idempotency-Key pass through unchanged. The body is read (bounded by
// MaxBody) and handed to next from memory.
func (i *Idempotency) Wrap(next http.Handler) http.Handler {
	now := func() time.Time {
		if i.Now != nil {
			return i.Now()
		}
		return time.Now()
	}
	stale, retain := i.Stale, i.Retain
	if stale == 0 {
		stale = time.Minute
	}
	if retain == 0 {
		retain = 24 * time.Hour
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > 255 {
			Error(w, r, errs.Field("idempotency", "Idempotency-Key", "longer than 255 characters"))
			return
		}
		body, err := ReadBody(w, r, i.MaxBody)
		if err != nil {
			Error(w, r, err)
			return
		}
		r.Body = readCloser{bytes.NewReader(body)}
		p, _ := auth.PrincipalFrom(r.Context())
		scope := p.ClinicID
		if scope == "" {
			scope = "subject:" + p.Subject
		}
		docID := hash(scope, key)
		fp := hash(r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), string(body))

		var replay *idemRecord
		err = i.Docs.RunTransaction(r.Context(), func(ctx context.Context, tx ports.Tx) error {
			replay = nil
			var rec idemRecord
			err := tx.Get(IdempotencyCollection, docID, &rec)
			t := now()
			switch {
			case errs.Is(errs.NotFound, err) || (err == nil && t.After(rec.Expires)):
				// first use (or an expired record): claim the key
			case err != nil:
				return err
			case rec.Fingerprint != fp:
				return errs.Ef("idempotency", errs.Unprocessable, "Idempotency-Key was already used with a different request")
			case rec.State == "done":
				replay = &rec
				return nil
			case t.Sub(rec.Started) < stale:
				return errs.Ef("idempotency", errs.Conflict, "a request with this Idempotency-Key is still in progress")
			}
			return tx.Set(IdempotencyCollection, docID, idemRecord{Fingerprint: fp, State: "pending", Started: t, Expires: t.Add(retain)})
		})
		if err != nil {
			Error(w, r, err)
			return
		}
		if replay != nil {
			if replay.Location != "" {
				w.Header().Set("Location", replay.Location)
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.Header().Set("Content-Type", replay.ContentType)
			w.WriteHeader(replay.Status)
			_, _ = w.Write(replay.Body)
			return
		}

		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		ctx := context.WithoutCancel(r.Context())
		func() {
			defer func() {
				if p := recover(); p != nil {
					// Release the claim so a retry is not blocked, then let
					// the server's recovery answer.
					_ = i.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
						return tx.Delete(IdempotencyCollection, docID)
					})
					panic(p)
				}
			}()
			next.ServeHTTP(rec, r)
		}()
		// Remember the outcome; forget server errors so a retry runs again.
		_ = i.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
			if rec.status >= 500 {
				return tx.Delete(IdempotencyCollection, docID)
			}
			t := now()
			return tx.Set(IdempotencyCollection, docID, idemRecord{Fingerprint: fp, State: "done", Started: t,
				Status: rec.status, ContentType: rec.header.Get("Content-Type"), Location: rec.header.Get("Location"),
				Body: rec.body.Bytes(), Expires: t.Add(retain)})
		})
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if !r.wrote {
		r.status, r.wrote = s, true
	}
}
func (r *recorder) Write(b []byte) (int, error) { r.wrote = true; return r.body.Write(b) }
