package httpkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
)

// MaxJSONBytes is the default limit for JSON request bodies.
const MaxJSONBytes = 64 << 10

// ReadBody reads the whole body, at most limit bytes (errs.TooLarge beyond).
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errs.Ef("read body", errs.TooLarge, "request body exceeds %d bytes", limit)
		}
		return nil, errs.E("read body", errs.Invalid, fmt.Errorf("reading request body: %w", err))
	}
	return b, nil
}

// DecodeJSON reads a JSON object body into dst strictly: it must be
// application/json, within MaxJSONBytes, with no unknown fields, no duplicate
// keys and nothing after the object.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	const op = "decode json"
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return errs.Field(op, "Content-Type", "expected application/json, got %q", ct)
	}
	b, err := ReadBody(w, r, MaxJSONBytes)
	if err != nil {
		return err
	}
	return UnmarshalStrict(b, dst)
}

// UnmarshalStrict decodes one JSON object from b into dst, refusing unknown
// fields, duplicate keys and trailing data.
func UnmarshalStrict(b []byte, dst any) error {
	const op = "decode json"
	if len(bytes.TrimSpace(b)) == 0 {
		return errs.Field(op, "body", "empty body: expected a JSON object")
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
			return errs.Field(op, "body", "malformed JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			return errs.Field(op, te.Field, "expected %s", te.Type.String())
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return errs.Field(op, strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
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

// checkDuplicateKeys walks the JSON token stream and fails on an object with
// the same key twice (encoding/json silently keeps the last).
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
				if top.keys[k] {
					return errs.Field("decode json", k, "duplicate key")
				}
				top.keys[k] = true
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
