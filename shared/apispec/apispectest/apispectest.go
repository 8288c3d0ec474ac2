// Package apispectest checks HTTP exchanges against lensflow's OpenAPI
// description (package apispec) with libopenapi-validator, the maintained
// validator that checks OpenAPI 3.1 answers fully: JSON Schema 2020-12
// bodies (type arrays with null, const, prefixItems, numeric exclusive
// bounds), required response headers, and, unlike kin-openapi, a status
// the operation does not declare.
//
// The end-to-end tests wrap their HTTP transports with Checker.Transport,
// so that every answer the local stack gives them is validated in one
// place; a mismatch is recorded with the operation, the status and the
// validator's findings, and the test binary fails on it.
package apispectest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/paths"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// Checker validates answers against an OpenAPI document and remembers
// what it saw.
type Checker struct {
	v    validator.Validator
	doc  *v3.Document
	opts *config.ValidationOptions
	ops  map[string]string // "METHOD /template" -> operationId

	mu       sync.Mutex
	failures []string
	seen     map[string]int // "operationId status" -> answers validated
}

// New builds a Checker for the OpenAPI document spec.
func New(spec []byte) (*Checker, error) {
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, err
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi validator: %v", errs)
	}
	c := &Checker{v: v, doc: &m.Model, opts: config.NewValidationOptions(), ops: map[string]string{}, seen: map[string]int{}}
	for p, item := range m.Model.Paths.PathItems.FromOldest() {
		for method, o := range item.GetOperations().FromOldest() {
			c.ops[strings.ToUpper(method)+" "+p] = o.OperationId
		}
	}
	return c, nil
}

// Operations are the document's operations, "METHOD /template" -> operationId.
func (c *Checker) Operations() map[string]string { return maps.Clone(c.ops) }

// Check validates resp (whose body is body) as the answer to req. It
// returns nil for an exchange the document does not cover: a path it does
// not describe answered 404 (no such route) or without the X-Request-Id
// every lensflow route sets (another server, such as a webhook receiver
// in a test, or the local stack's developer pages). Otherwise a mismatch
// is an error naming the operation, the status and each finding.
func (c *Checker) Check(req *http.Request, resp *http.Response, body []byte) error {
	if req.Method == http.MethodHead || req.Method == http.MethodOptions {
		return nil
	}
	match := req
	if req.URL.Path == "/portal/" { // GET /portal/{file...} with an empty file: the page
		match = req.Clone(req.Context())
		match.URL.Path, match.URL.RawPath = "/portal/index.html", ""
	}
	item, _, template := paths.FindPath(match, c.doc, c.opts)
	op := ""
	if item != nil {
		op = c.ops[req.Method+" "+template]
	}
	if op == "" {
		if resp.StatusCode == http.StatusNotFound || resp.Header.Get("X-Request-Id") == "" || strings.HasPrefix(req.URL.Path, "/dev/") {
			return nil
		}
		return fmt.Errorf("%s %s answered %d, but the OpenAPI document describes no such operation", req.Method, req.URL.Path, resp.StatusCode)
	}
	r := *resp
	r.Body = io.NopCloser(bytes.NewReader(body))
	ok, verrs := c.v.ValidateHttpResponse(match, &r)
	c.mu.Lock()
	c.seen[fmt.Sprintf("%s %d", op, resp.StatusCode)]++
	c.mu.Unlock()
	if ok {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s %s) answered %d, which the OpenAPI document does not allow:", op, req.Method, template, resp.StatusCode)
	for _, e := range verrs {
		fmt.Fprintf(&b, "\n  - %s: %s", e.Message, e.Reason)
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n      at %s: %s", s.FieldPath, s.Reason)
		}
	}
	if len(body) > 0 && len(body) < 2048 && json.Valid(body) {
		fmt.Fprintf(&b, "\n  body: %s", bytes.TrimSpace(body))
	}
	return fmt.Errorf("%s", b.String())
}

// baseTransport is http.DefaultTransport as the program started, before a
// test wraps it: the default of Transport, so that wrapping twice never
// checks an answer twice.
var baseTransport = http.DefaultTransport

// Transport wraps next (nil: http.DefaultTransport): every answer is read whole, checked (Check) and
// handed on unchanged. A mismatch is recorded (Failures), not returned,
// so that no test's own handling of errors can hide it.
func (c *Checker) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = baseTransport
	}
	return &transport{next: next, check: func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err != nil {
			return resp, err
		}
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr != nil { // cut short: hand on what came and the error, check nothing
			resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{rerr}))
			return resp, nil
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if err := c.Check(req, resp, body); err != nil {
			c.mu.Lock()
			c.failures = append(c.failures, err.Error())
			c.mu.Unlock()
		}
		return resp, nil
	}}
}

// Failures are the mismatches the transports recorded, in order.
func (c *Checker) Failures() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.failures)
}

// Seen is how many answers were validated per "operationId status".
func (c *Checker) Seen() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.seen)
}

// Unexercised are the operations no validated answer came from, sorted.
func (c *Checker) Unexercised() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, op := range c.ops {
		hit := false
		for k := range c.seen {
			if strings.HasPrefix(k, op+" ") {
				hit = true
				break
			}
		}
		if !hit {
			out = append(out, op)
		}
	}
	slices.Sort(out)
	return out
}

// transport is a checking RoundTripper that passes CloseIdleConnections on.
type transport struct {
	next  http.RoundTripper
	check func(*http.Request) (*http.Response, error)
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) { return t.check(r) }

func (t *transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
