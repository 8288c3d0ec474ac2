package httpkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/iox"
)

// MaxJSONBytes is the default limit for JSON request bodies.
const MaxJSONBytes = 64 << 10

// BodyTimeout bounds how long ReadBody waits for a whole request body,
// counted from the call. A client that sends its headers and then trickles
// the body is answered 408 when it passes, instead of holding a server
// goroutine until the server's ReadTimeout; at one minute a 16 MiB scan
// needs about 2.3 Mbit/s. Zero disables it. It is read on every call: set
// it before serving (tests shorten it), not while requests are in flight.
var BodyTimeout = time.Minute

// ErrBodyTimeout is the cause of ReadBody's error when the body did not
// arrive within BodyTimeout; Error answers it 408 Request Timeout.
var ErrBodyTimeout = errors.New("request body not received in time")

// ReadBody reads the whole body, at most limit bytes (errs.TooLarge beyond),
// within BodyTimeout (ErrBodyTimeout beyond) when the connection supports
// read deadlines.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rc := http.NewResponseController(w)
	timed := BodyTimeout > 0 && rc.SetReadDeadline(time.Now().Add(BodyTimeout)) == nil // else no deadline
	b, err := iox.ReadAll(http.MaxBytesReader(w, r.Body, limit), min(r.ContentLength, preallocCap))
	if timed && err == nil {
		// The deadline covers the body only. net/http lifts it when the
		// body ends, but a body read again from memory (a middleware
		// buffered it) would leave it on the connection, where the
		// server's background read for a client going away would time
		// out and cancel the request. After a failure it stays, so that
		// the server does not wait for the rest of a trickled body
		// before answering.
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, errs.Ef("read body", errs.TooLarge, "request body exceeds %d bytes", limit)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, errs.E("read body", errs.Invalid, fmt.Errorf("%w (allowed %s)", ErrBodyTimeout, BodyTimeout))
		}
		return nil, errs.E("read body", errs.Invalid, fmt.Errorf("reading request body: %w", err))
	}
	return b, nil
}

// preallocCap bounds the buffer ReadBody sizes from the declared
// Content-Length: a client may declare more than it sends, so beyond this
// the buffer grows as the bytes actually arrive.
const preallocCap = 1 << 20

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
// differ only in case, which encoding/json would give the same field) and
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
// the same key twice (encoding/json silently keeps the last). Keys that
// differ only in case count as the same key, because encoding/json matches
// them to the same struct field.
func checkDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		keys   map[string]bool
		object bool
		expect bool // next token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // syntax errors are reported by the real decode
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expect {
			if k, ok := tok.(string); ok {
				folded := foldKey(k)
				if top.keys[folded] {
					return errs.Field("decode json", shortKey(k), "duplicate key")
				}
				top.keys[folded] = true
				top.expect = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, object: true, expect: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
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
