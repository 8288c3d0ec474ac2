package httpkit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/retry"
)

// IdempotencyCollection holds one document per (caller scope, Idempotency-Key).
const IdempotencyCollection = "idempotency"

// ReplayAction is the audit action of an answer replayed from earlier work
// (a read of the resource the answer names): Idempotency's replays, and a
// service's answer to a request that repeats one it already carried out.
const ReplayAction = "request.replay"

// Idempotency makes creating POSTs safe to retry (security.md, "HTTP
// semantics"): the same Idempotency-Key with the same request replays the
// first response; with a different request it is 422; while the first is
// still in flight a duplicate is 409. Keys are scoped to the caller's clinic
// (or subject, for callers without a clinic). Server errors (5xx) are not
// replayed: a retry runs again.
//
// Each key also fixes the id of the resource its request creates
// (ResourceID): the first attempt's id is kept in the key's record and
// handed to every later attempt, including one that takes over from an
// attempt that crashed or answered 5xx after its work was committed. A
// creating handler that uses it finds the resource already there and
// answers with it, so a retried request never creates a second one.
type Idempotency struct {
	Docs ports.Documents
	// Sealer, when set, encrypts the remembered response body, bound to its
	// record: the answer to a creating request may hold PHI (an order's
	// notes, an assessment), which is never stored in the clear. lensflow's
	// functions always set it; a record that fails to decrypt is a 500.
	Sealer ports.Sealer
	// Audit, when set, records every replayed answer as a read of the
	// resource it names (the answer to a creating request may hold PHI).
	Audit audit.Logger
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
	ResourceID  string    `json:"resourceId,omitempty"`
}

type resourceIDKey struct{}

// ResourceID returns the id the request with an Idempotency-Key should give
// the resource it creates, and false for requests without a key (the handler
// then issues a fresh id).
func ResourceID(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(resourceIDKey{}).(string)
	return id, ok && id != ""
}

// Wrap applies the idempotency rules to next. Requests without an
// Idempotency-Key header pass through unchanged; a header that is present
// but empty (or blank), or given more than once, is 400 (see
// idempotencyKey). The body is read (bounded by
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
		key, present, err := idempotencyKey(r.Header)
		if err != nil {
			Error(w, r, err)
			return
		}
		if !present {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > 255 {
			Error(w, r, errs.Field("idempotency", "Idempotency-Key", "longer than 255 characters"))
			return
		}
		if strings.IndexFunc(key, func(c rune) bool { return c < 0x20 || c > 0x7e }) >= 0 {
			Error(w, r, errs.Field("idempotency", "Idempotency-Key", "must be printable ASCII"))
			return
		}
		body, err := ReadBody(w, r, i.MaxBody)
		if err != nil {
			Error(w, r, err)
			return
		}
		r.Body = &bufferedBody{Reader: bytes.NewReader(body), b: body}
		p, _ := auth.PrincipalFrom(r.Context())
		scope := p.ClinicID
		if scope == "" {
			scope = "subject:" + p.Subject
		}
		docID := hash(scope, key)
		fp := hashBytes(body, r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"))

		var replay *idemRecord
		var resourceID string
		err = i.Docs.RunTransaction(r.Context(), func(ctx context.Context, tx ports.Tx) error {
			replay, resourceID = nil, uuid.NewString()
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
			case rec.State == "pending" && t.Sub(rec.Started) < stale:
				return errs.Ef("idempotency", errs.Conflict, "a request with this Idempotency-Key is still in progress")
			default:
				// A retry after a server error, or a takeover from an
				// attempt that never finished: same resource id.
				if rec.ResourceID != "" {
					resourceID = rec.ResourceID
				}
			}
			return tx.Set(IdempotencyCollection, docID, idemRecord{Fingerprint: fp, State: "pending", Started: t,
				Expires: t.Add(retain), ResourceID: resourceID})
		})
		if err != nil {
			Error(w, r, err)
			return
		}
		if replay != nil {
			body, err := i.open(replay.Body, docID)
			if err != nil {
				Error(w, r, err)
				return
			}
			if err := i.auditReplay(r, p, replay); err != nil {
				Error(w, r, err)
				return
			}
			if replay.Location != "" {
				w.Header().Set("Location", replay.Location)
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.Header().Set("Content-Type", replay.ContentType)
			w.WriteHeader(replay.Status)
			_, _ = w.Write(body)
			return
		}

		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		r = r.WithContext(context.WithValue(r.Context(), resourceIDKey{}, resourceID))
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
		// Remember the outcome. A server error is not replayed: a retry runs
		// again, with the same resource id. Retried briefly: a record left
		// pending would answer the client's retry 409 until it goes stale.
		sealed, sealErr := i.seal(rec.body.Bytes(), docID)
		_ = retry.Do(ctx, sealRetry, retry.Unavailable, func() error {
			return i.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
				t := now()
				if rec.status >= 500 || sealErr != nil {
					return tx.Set(IdempotencyCollection, docID, idemRecord{Fingerprint: fp, State: "failed", Started: t,
						Expires: t.Add(retain), ResourceID: resourceID})
				}
				return tx.Set(IdempotencyCollection, docID, idemRecord{Fingerprint: fp, State: "done", Started: t,
					Status: rec.status, ContentType: rec.header.Get("Content-Type"), Location: rec.header.Get("Location"),
					Body: sealed, Expires: t.Add(retain), ResourceID: resourceID})
			})
		})
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

// idempotencyKey returns the request's Idempotency-Key and whether the
// header is there at all. Header.Get cannot tell an absent header from an
// empty one, and a client that sends an empty key meant to send one (a
// variable that was not set): treating it as "no key" would make its
// retries create twice. So an empty or blank key is 400, and so are two
// keys (which one would the client expect to count?).
func idempotencyKey(h http.Header) (key string, present bool, err error) {
	const op, field = "idempotency", "Idempotency-Key"
	vs, present := h[field]
	if !present {
		return "", false, nil
	}
	if len(vs) != 1 {
		return "", true, errs.Field(op, field, "must be given once")
	}
	key = vs[0]
	if strings.TrimSpace(key) == "" {
		return "", true, errs.Field(op, field, "is empty: send a key, or no Idempotency-Key header at all")
	}
	return key, true, nil
}

// auditReplay writes the audit record of a replayed answer: the resource
// is the one its Location names (the route, when it names none).
func (i *Idempotency) auditReplay(r *http.Request, p auth.Principal, rec *idemRecord) error {
	if i.Audit == nil {
		return nil
	}
	resource := strings.TrimPrefix(rec.Location, "/v1/")
	if resource == "" {
		resource = strings.TrimPrefix(r.Pattern, r.Method+" ")
	}
	err := i.Audit.Write(r.Context(), audit.Record{Time: time.Now().UTC(), Actor: p.Subject, Role: string(p.Role), Clinic: p.ClinicID,
		Action: ReplayAction, Resource: resource, Outcome: audit.Success, RequestID: RequestID(r.Context())})
	if err != nil {
		return errs.E("audit", errs.Unavailable, err)
	}
	return nil
}

// sealRetry bounds the retries of the transaction that records a request's
// outcome: four attempts while it fails as errs.Unavailable, with short
// pauses (about 10, 20, 40 ms).
var sealRetry = retry.Policy{Attempts: 4, Initial: 10 * time.Millisecond}

// seal encrypts a remembered body when a Sealer is set.
func (i *Idempotency) seal(body []byte, docID string) ([]byte, error) {
	if i.Sealer == nil || len(body) == 0 {
		return body, nil
	}
	return i.Sealer.Encrypt(body, ports.AssociatedData("idempotent-response", docID))
}

// open decrypts a remembered body sealed by seal.
func (i *Idempotency) open(body []byte, docID string) ([]byte, error) {
	if i.Sealer == nil || len(body) == 0 {
		return body, nil
	}
	plain, err := i.Sealer.Decrypt(body, ports.AssociatedData("idempotent-response", docID))
	if err != nil {
		return nil, errs.E("idempotency: unseal", errs.Other, err)
	}
	return plain, nil
}

func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// hashBytes is hash(parts..., string(last)) without copying last (a
// request body may be 16 MiB).
func hashBytes(last []byte, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	h.Write(last)
	h.Write([]byte{0})
	return hex.EncodeToString(h.Sum(nil))
}

// bufferedBody is a request body a middleware has already read into
// memory: handed on so that ReadBody returns the same bytes instead of
// copying them again.
type bufferedBody struct {
	*bytes.Reader
	b []byte
}

func (*bufferedBody) Close() error { return nil }

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
