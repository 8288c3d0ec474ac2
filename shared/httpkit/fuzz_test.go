package httpkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
)

// fuzzBody has a field of every JSON kind a route body uses.
type fuzzBody struct {
	Name  string    `json:"name"`
	Count int       `json:"count"`
	Ratio float64   `json:"ratio"`
	OK    bool      `json:"ok"`
	Tags  []string  `json:"tags"`
	Inner *fuzzBody `json:"inner"`
}

var fuzzBodyFields = []string{"name", "count", "ratio", "ok", "tags", "inner"}

// FuzzUnmarshalStrict checks UnmarshalStrict against encoding/json as an
// oracle: it accepts a body exactly when the body is one valid JSON object
// (nothing after it), with no key twice in any object (ignoring case, as
// encoding/json matches fields), no key the type does not have, and values
// encoding/json can decode; an accepted body decodes to what encoding/json
// makes of it and survives a round trip, with no U+FFFD that the body did
// not hold itself (encoding/json puts one in place of a lone surrogate
// escape or bytes that are not UTF-8); a refused one is errs.Invalid
// naming a field or "body". Nothing panics.
func FuzzUnmarshalStrict(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","count":2,"ratio":0.5,"ok":true,"tags":["x","y"],"inner":{"name":"b","inner":null}}`,
		`{"name":"a","name":"b"}`, `{"name":"a","NAME":"b"}`, `{"ok":true,"oK":false}`,
		"{\"name\":\"a\",\"nam\u212a\":1}", `{"inner":{"count":1,"count":2}}`, `{"tags":[{"a":1,"a":2}]}`,
		`{"name":"a"} {"name":"b"}`, `{"name":"a"}x`, `{"name":"a"}]`, `{"name":"a"`, `{}` + "\x00",
		`{"colour":"red"}`, `{"count":"3"}`, `{"count":1e400}`, `{"count":1.5}`, `{"count":99999999999999999999}`,
		`{"ratio":1e400}`, `{"ratio":NaN}`, `{"ratio":-Infinity}`, `{"ok":"true"}`, `{"tags":"x"}`, `{"inner":[]}`,
		`[]`, `null`, `"x"`, `1`, ``, ` `, "\xef\xbb\xbf{}", `{"name":"\ud800"}`, "{\"name\":\"\xff\xfe\"}",
		`{"name":"\ud83d\ude00 \uFFFD \\ud800"}`, "{\"name\":\"\uFFFD\"}", `{"tags":["a","\udc00"]}`, `{"inner":{"name":"\ud800\u0041"}}`,
		`{"name\udfff":"a"}`, "{\"name\":\"\xed\xa0\x80\"}", `{"name":"\\\ud800"}`,
		strings.Repeat(`{"inner":`, 200) + `{}` + strings.Repeat(`}`, 200),
		strings.Repeat(`[`, 11000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got fuzzBody
		err := UnmarshalStrict(b, &got)
		want, accept := oracle(b)
		if err != nil {
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) == "" || errs.Message(err) == "" {
				t.Fatalf("refusal without a field: kind %v, field %q: %v", errs.KindOf(err), errs.FieldOf(err), err)
			}
			if accept {
				t.Fatalf("refused a body encoding/json accepts strictly: %v", err)
			}
			return
		}
		if !accept {
			t.Fatalf("accepted a body the oracle refuses: %q", b)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %+v, encoding/json %+v", got, want)
		}
		enc, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		var back fuzzBody
		if err := UnmarshalStrict(enc, &back); err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("round trip of %s: %+v, %v", enc, back, err)
		}
	})
}

// oracle decides with encoding/json alone whether b is a strict body and
// what it decodes to.
func oracle(b []byte) (fuzzBody, bool) {
	var v fuzzBody
	if !json.Valid(b) {
		return v, false
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); t[0] != '{' {
		return v, false
	}
	if foldedDuplicate(b) {
		return v, false
	}
	var generic any
	if json.Unmarshal(b, &generic) != nil || !knownKeys(generic) {
		return v, false
	}
	if replacements(generic) > sentReplacements(b) {
		return v, false // encoding/json made a U+FFFD the client did not send
	}
	if json.Unmarshal(b, &v) != nil {
		return fuzzBody{}, false
	}
	return v, true
}

// foldedDuplicate reports whether any object in b has two keys that are
// equal ignoring case (bytes.EqualFold, the rule encoding/json matches by).
func foldedDuplicate(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		keys   []string
		object bool
		key    bool // the next token of this object is a key
	}
	stack := []*frame{{}}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) || err != nil {
			return false
		}
		top := stack[len(stack)-1]
		if k, isKey := tok.(string); isKey && top.object && top.key {
			for _, seen := range top.keys {
				if strings.EqualFold(seen, k) {
					return true
				}
			}
			top.keys, top.key = append(top.keys, k), false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if top := stack[len(stack)-1]; top.object {
			top.key = true
		}
	}
}

// knownKeys reports whether every key of the object v (and of its "inner"
// objects) names a field of fuzzBody, ignoring case.
func knownKeys(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return true
	}
	for k, val := range m {
		i := slicesIndexFold(fuzzBodyFields, k)
		if i < 0 {
			return false
		}
		if fuzzBodyFields[i] == "inner" && !knownKeys(val) {
			return false
		}
	}
	return true
}

func slicesIndexFold(list []string, k string) int {
	for i, s := range list {
		if strings.EqualFold(s, k) {
			return i
		}
	}
	return -1
}

// replacements counts the U+FFFD characters in the keys and strings of v,
// a value encoding/json decoded.
func replacements(v any) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			n += strings.Count(k, "\uFFFD") + replacements(e)
		}
	case []any:
		for _, e := range x {
			n += replacements(e)
		}
	case string:
		n = strings.Count(x, "\uFFFD")
	}
	return n
}

// sentReplacements counts the U+FFFD characters b, valid JSON, holds
// itself: written as UTF-8 or as the escape \uFFFD (any case).
func sentReplacements(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		switch {
		case b[i] == '\\' && i+6 <= len(b) && b[i+1] == 'u' && strings.EqualFold(string(b[i+2:i+6]), "fffd"):
			n, i = n+1, i+6
		case b[i] == '\\':
			i += 2
		case bytes.HasPrefix(b[i:], []byte("\uFFFD")):
			n, i = n+1, i+3
		default:
			i++
		}
	}
	return n
}
