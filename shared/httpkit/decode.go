package httpkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/lensflow/lensflow/shared/errs"
)

// MaxJSONBytes is the default limit for JSON request bodies.
const MaxJSONBytes = 64 << 10

// BodyTimeout bounds how long ReadBody waits for a whole request body,
// counted from the call, whatever its rate. Zero disables it. It is read on
// every call: set it before serving (tests shorten it), not while requests
// are in flight.
var BodyTimeout = 2 * time.Minute

// BodyRate is how fast a request body must arrive: after Grace, at least
// MinRate bytes a second on average since ReadBody began. A client that
// sends its headers and then trickles the body (holding a slot and a
// goroutine for as long as the server lets it) is cut with 408 as soon as
// it falls behind, while a real upload on a slow line is not: at the
// default 64 KiB/s a 1 MB scan may take 20 s, and a 16 MiB one the whole
// of BodyTimeout.
type BodyRate struct {
	Grace   time.Duration
	MinRate float64 // bytes per second; 0 means no minimum
}

// DefaultBodyRate applies where the platform has not set one (WithBodyRate).
var DefaultBodyRate = BodyRate{Grace: 5 * time.Second, MinRate: 64 << 10}

type bodyRateKey struct{}

// WithBodyRate returns ctx in which ReadBody enforces rate.
func WithBodyRate(ctx context.Context, rate BodyRate) context.Context {
	return context.WithValue(ctx, bodyRateKey{}, rate)
}

func bodyRateOf(ctx context.Context) BodyRate {
	if r, ok := ctx.Value(bodyRateKey{}).(BodyRate); ok {
		return r
	}
	return DefaultBodyRate
}

// ErrBodyTimeout is the cause of ReadBody's error when the body did not
// arrive in time (BodyTimeout, BodyRate); Error answers it 408 Request
// Timeout.
var ErrBodyTimeout = errors.New("request body not received in time")

// ReadBody reads the whole body, at most limit bytes (errs.TooLarge beyond),
// within BodyTimeout and at the request's BodyRate (ErrBodyTimeout beyond)
// when the connection supports read deadlines. The buffer is sized once
// from the declared Content-Length: the platform has admitted that much
// against the instance's memory budget before the handler runs.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if bb, ok := r.Body.(*bufferedBody); ok && bb.Len() == len(bb.b) {
		// Read whole by a middleware before (Idempotency): the same bytes.
		if int64(len(bb.b)) > limit {
			return nil, errs.Ef("read body", errs.TooLarge, "request body exceeds %d bytes", limit)
		}
		_, _ = bb.Seek(0, io.SeekEnd)
		return bb.b, nil
	}
	rate := bodyRateOf(r.Context())
	dr := &deadlineReader{r: http.MaxBytesReader(w, r.Body, limit), rc: http.NewResponseController(w),
		start: time.Now(), rate: rate, total: BodyTimeout}
	// One allocation when the length is declared: room for the body and
	// the read that sees its end.
	var buf bytes.Buffer
	if n := min(r.ContentLength, limit); n > 0 {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(dr)
	b := buf.Bytes()
	if dr.timed && err == nil {
		// The deadline covers the body only. net/http lifts it when the
		// body ends, but a body read again from memory (a middleware
		// buffered it) would leave it on the connection, where the
		// server's background read for a client going away would time
		// out and cancel the request. After a failure it stays, so that
		// the server does not wait for the rest of a trickled body
		// before answering.
		_ = dr.rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, errs.Ef("read body", errs.TooLarge, "request body exceeds %d bytes", limit)
		case errors.Is(err, os.ErrDeadlineExceeded):
			why := fmt.Sprintf("the whole body within %s", BodyTimeout)
			if rate.MinRate > 0 {
				why += fmt.Sprintf(", and at least %.0f bytes/s after the first %s; %d bytes came in %s",
					rate.MinRate, rate.Grace, dr.n, time.Since(dr.start).Round(time.Millisecond))
			}
			return nil, errs.E("read body", errs.Invalid, fmt.Errorf("%w (required: %s)", ErrBodyTimeout, why))
		}
		return nil, errs.E("read body", errs.Invalid, fmt.Errorf("reading request body: %w", err))
	}
	return b, nil
}

// deadlineReader moves the connection's read deadline as the body arrives:
// the body may take Grace plus the time MinRate allows for the bytes
// received so far, and never more than total in all.
type deadlineReader struct {
	r     io.Reader
	rc    *http.ResponseController
	start time.Time
	rate  BodyRate
	total time.Duration
	n     int64
	set   time.Time // the deadline in force
	timed bool      // a deadline was set (the connection supports it)
	off   bool      // the connection does not support deadlines
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if !d.off {
		allowed := time.Duration(math.MaxInt64)
		if d.total > 0 {
			allowed = d.total
		}
		if d.rate.MinRate > 0 {
			allowed = min(allowed, d.rate.Grace+time.Duration(float64(d.n)/d.rate.MinRate*float64(time.Second)))
		}
		// Moved at most every 50 ms of allowance: a syscall per read of a
		// fast body is wasted work.
		if dl := d.start.Add(allowed); allowed != time.Duration(math.MaxInt64) && dl.Sub(d.set) >= 50*time.Millisecond {
			if err := d.rc.SetReadDeadline(dl); err != nil {
				d.off = true // no connection to set one on (a test recorder, HTTP/2 without support)
			} else {
				d.set, d.timed = dl, true
			}
		}
	}
	n, err := d.r.Read(p)
	d.n += int64(n)
	return n, err
}

// DecodeJSON reads a JSON object body into dst strictly: it must be
// application/json, within MaxJSONBytes, with no unknown fields, no duplicate
// keys and nothing after the object.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	const op = "decode json"
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		if len(ct) > 64 {
			ct = ct[:64] + "..."
		}
		return errs.Field(op, "Content-Type", "expected application/json, got %q", ct)
	}
	b, err := ReadBody(w, r, MaxJSONBytes)
	if err != nil {
		return err
	}
	return UnmarshalStrict(b, dst)
}

// UnmarshalStrict decodes one JSON object from b into dst, refusing anything
// but an object (null too), unknown fields, duplicate keys (also keys that
// differ only in case, which encoding/json would give the same field),
// strings that encoding/json would quietly alter (a lone UTF-16 surrogate
// escape, bytes that are not UTF-8: both would become U+FFFD) and
// trailing data. Errors are errs.Invalid naming the field, or "body" for
// the JSON as a whole, and never repeat a value.
func UnmarshalStrict(b []byte, dst any) error {
	const op = "decode json"
	if len(bytes.TrimSpace(b)) == 0 {
		return errs.Field(op, "body", "empty body: expected a JSON object")
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errs.Field(op, "body", "expected a JSON object")
	}
	if err := checkDuplicateKeys(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return errs.Field(op, "body", "malformed JSON at byte %d: %s", se.Offset, se.Error())
		case errors.As(err, &te):
			return typeError(op, te)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return errs.Field(op, shortKey(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)), "unknown field")
		case errs.FieldOf(err) != "":
			return errs.E(op, errs.Invalid, err) // a custom decoder named the field
		}
		return errs.Field(op, "body", "invalid JSON: %v", err)
	}
	if dec.More() {
		return errs.Field(op, "body", "unexpected data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errs.Field(op, "body", "unexpected data after the JSON object")
	}
	return nil
}

// typeError names the field (or the body, for a value of the wrong type at
// the top) and says what JSON was expected, in JSON's terms rather than Go's,
// and what kind of value came, without repeating the value itself.
func typeError(op string, te *json.UnmarshalTypeError) error {
	field := te.Field
	if field == "" {
		field = "body"
	}
	got, _, _ := strings.Cut(te.Value, " ")
	t := te.Type
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	want := "a different type"
	if t != nil {
		switch t.Kind() {
		case reflect.String:
			want = "a string"
		case reflect.Bool:
			want = "true or false"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			if got == "number" {
				return errs.Field(op, field, "expected a whole number in range")
			}
			want = "an integer"
		case reflect.Float32, reflect.Float64:
			if got == "number" {
				return errs.Field(op, field, "number out of range")
			}
			want = "a number"
		case reflect.Slice, reflect.Array:
			want = "an array"
		case reflect.Struct, reflect.Map:
			want = "an object"
		}
	}
	return errs.Field(op, field, "expected %s, got %s", want, got)
}

// checkDuplicateKeys walks the JSON token stream and fails on an object with
// the same key twice (encoding/json silently keeps the last), and on a
// string, key or value, whose text encoding/json would silently change (see
// stringTextProblem). Keys that differ only in case count as the same key,
// because encoding/json matches them to the same struct field.
func checkDuplicateKeys(b []byte) error {
	const op = "decode json"
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		keys   map[string]bool
		object bool
		expect bool   // next token in an object is a key
		path   string // the field this object or array is ("" for the body)
		key    string // the object's current key
	}
	var stack []*frame
	// at is the field a value in top is: its key's path in an object, the
	// array's own in an array.
	at := func(top *frame) string {
		switch {
		case top == nil:
			return ""
		case top.object:
			return fieldPath(top.path, shortKey(top.key))
		}
		return top.path
	}
	orBody := func(f string) string {
		if f == "" {
			return "body"
		}
		return f
	}
	var end int64
	for {
		start := end
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // syntax errors are reported by the real decode
		}
		end = dec.InputOffset()
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		k, isString := tok.(string)
		var problem string
		if isString && start < end && end <= int64(len(b)) {
			// The literal as sent: what lies between the previous token
			// and this one is whitespace and separators, then the string.
			if raw := b[start:end]; bytes.IndexByte(raw, '"') >= 0 {
				problem = stringTextProblem(raw[bytes.IndexByte(raw, '"'):])
			}
		}
		if top != nil && top.object && top.expect && isString {
			if problem != "" {
				return errs.Field(op, orBody(top.path), "a key %s", problem)
			}
			folded := foldKey(k)
			if top.keys[folded] {
				return errs.Field(op, shortKey(k), "duplicate key")
			}
			top.keys[folded] = true
			top.expect, top.key = false, k
			continue
		}
		if problem != "" {
			return errs.Field(op, orBody(at(top)), "%s", problem)
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, object: true, expect: true, path: at(top)})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{path: at(top)})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].expect = true
		}
	}
}

// foldKey maps keys that encoding/json would match to the same struct field
// (bytes.EqualFold, which also folds the Kelvin sign to k and long s to s)
// to one string.
func foldKey(k string) string {
	return strings.Map(func(r rune) rune {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < r {
				r = f
			}
		}
		return r
	}, k)
}

// shortKey bounds a client's key quoted back in an error to 64 bytes, and
// shows the empty key as "".
func shortKey(k string) string {
	if k == "" {
		return `""`
	}
	if len(k) <= 64 {
		return k
	}
	return strings.ToValidUTF8(k[:64], "") + "..."
}
