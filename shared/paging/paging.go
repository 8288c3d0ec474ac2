// Package paging is lensflow's one implementation of Google's AIP-158
// pagination for list routes, and of the bounded batches internal scans
// read in.
//
// A list route takes pageSize (default DefaultSize, at most MaxSize: a
// larger one is served as MaxSize; 0 or absent means the default; a
// negative or non-integer one is a 400 naming pageSize) and pageToken (the
// nextPageToken of the previous page, unchanged), and answers its list with
// nextPageToken beside it, omitted on the last page.
//
// A token is opaque to clients: base64url of a small JSON object holding
// the position of the last item served (the query's order value and the
// document id, both ids or timestamps, never PHI) and a hash of the scope
// it was issued for (the route, its filters and the caller's clinic). A
// token presented with another scope, or one that does not decode, is a
// 400 naming pageToken. The hash is not keyed: a client could forge a token
// of its own scope, which only moves where its own list starts, because
// every query still filters by the caller's clinic (and the route's
// filters) itself; a token never widens what a caller can read.
//
// The server never reads more than a page: a page is one query with
// Limit pageSize+1 starting after the token's cursor (ports.Query.After);
// the extra document only says whether there is a next page.
package paging

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

const (
	// DefaultSize is the page size when pageSize is absent or 0.
	DefaultSize = 50
	// MaxSize is the largest page; a larger pageSize is served as MaxSize.
	MaxSize = 100
	// ParamSize and ParamToken are the query parameters; NextToken is the
	// response field beside the list.
	ParamSize  = "pageSize"
	ParamToken = "pageToken"
	NextToken  = "nextPageToken"
	// maxTokenLen bounds a token before it is decoded.
	maxTokenLen = 1024
)

// Params are the query parameters of a paged route, for platform.Route.Query.
var Params = []string{ParamSize, ParamToken}

// Request is a page request: the size (already defaulted and capped) and
// the token, still encoded.
type Request struct {
	Size  int
	Token string
}

// FromQuery reads pageSize and pageToken from a request's query string.
func FromQuery(q url.Values) (Request, error) {
	r := Request{Size: DefaultSize, Token: q.Get(ParamToken)}
	if v := q.Get(ParamSize); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return r, errs.Field("paging", ParamSize, "must be a whole number from 0 to %d (0: the default, %d)", MaxSize, DefaultSize)
		}
		r.Size = Capped(n)
	}
	return r, nil
}

// Capped is n as a page size: DefaultSize for 0, at most MaxSize.
func Capped(n int) int {
	switch {
	case n <= 0:
		return DefaultSize
	case n > MaxSize:
		return MaxSize
	}
	return n
}

// Scope is what a token is bound to. Make one with NewScope.
type Scope struct{ hash string }

// NewScope binds tokens to a route and the values that select its items:
// its filters and the caller's clinic, in a fixed order.
func NewScope(route string, parts ...string) Scope {
	sum := sha256.Sum256(ports.AssociatedData(append([]string{"paging/v1", route}, parts...)...))
	return Scope{hash: base64.RawURLEncoding.EncodeToString(sum[:12])}
}

// Position is where a page starts: after Cursor (nil: at the start) and,
// for a list that serves several items per document, after the item Key
// of the cursor's document.
type Position struct {
	Cursor *ports.Cursor
	Key    string
}

// token is a Position on the wire.
type token struct {
	Scope string `json:"s"`
	Value any    `json:"v,omitempty"`
	ID    string `json:"i"`
	Key   string `json:"k,omitempty"`
}

// Token encodes p for scope.
func Token(scope Scope, p Position) string {
	if p.Cursor == nil {
		return ""
	}
	b, _ := json.Marshal(token{Scope: scope.hash, Value: p.Cursor.Value, ID: p.Cursor.ID, Key: p.Key})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Start decodes r's token for scope; no token is the start of the list.
func (r Request) Start(scope Scope) (Position, error) {
	const op = "paging"
	if r.Token == "" {
		return Position{}, nil
	}
	bad := func(why string) (Position, error) {
		return Position{}, errs.Field(op, ParamToken, "%s; pass the nextPageToken of the previous page unchanged, or none for the first page", why)
	}
	if len(r.Token) > maxTokenLen {
		return bad("is not a page token of this list")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(r.Token, "="))
	if err != nil {
		return bad("is not a page token of this list")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var t token
	if err := dec.Decode(&t); err != nil || dec.More() || t.ID == "" {
		return bad("is not a page token of this list")
	}
	switch t.Value.(type) {
	case nil, string, bool, json.Number:
	default:
		return bad("is not a page token of this list")
	}
	if t.Scope != scope.hash {
		return bad("was issued for another list (another route, other filters or another clinic)")
	}
	return Position{Cursor: &ports.Cursor{Value: t.Value, ID: t.ID}, Key: t.Key}, nil
}

// Query reads one page of q for r: at most r.Size documents after r's
// token, and the token of the next page ("" on the last page). q's Limit
// and After are set here; q must be the same query for every page of one
// scope.
func Query(ctx context.Context, docs ports.Documents, q ports.Query, r Request, scope Scope) ([]ports.Doc, string, error) {
	pos, err := r.Start(scope)
	if err != nil {
		return nil, "", err
	}
	size := Capped(r.Size)
	q.After, q.Limit = pos.Cursor, size+1
	found, err := docs.Query(ctx, q)
	if err != nil {
		return nil, "", err
	}
	if len(found) <= size {
		return found, "", nil
	}
	found = found[:size]
	c, err := ports.CursorOf(found[size-1], q.OrderBy)
	if err != nil {
		return nil, "", errs.Wrap("paging", err)
	}
	return found, Token(scope, Position{Cursor: &c}), nil
}

// ErrStop, returned by a Batches function, ends the scan without an error.
var ErrStop = errors.New("paging: stop the scan")

// Batches runs fn on the documents of q in batches of at most size, in q's
// order, each batch one query that starts after the previous batch's last
// document: an internal scan never holds more than a batch. fn may change
// or delete the documents it gets, and returns ErrStop to end the scan early
// without an error. q's Limit and After are set here.
func Batches(ctx context.Context, docs ports.Documents, q ports.Query, size int, fn func([]ports.Doc) error) error {
	if size <= 0 {
		return errs.Ef("paging.Batches", errs.Invalid, "batch size must be positive")
	}
	q.Limit, q.After = size, nil
	for {
		found, err := docs.Query(ctx, q)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return nil
		}
		if err := fn(found); errors.Is(err, ErrStop) {
			return nil
		} else if err != nil {
			return err
		}
		if len(found) < size {
			return nil
		}
		c, err := ports.CursorOf(found[len(found)-1], q.OrderBy)
		if err != nil {
			return errs.Wrap("paging.Batches", err)
		}
		q.After = &c
	}
}

// Body is a list route's response object: the list under key and, unless
// this is the last page, nextPageToken beside it.
func Body(key string, items any, next string) map[string]any {
	b := map[string]any{key: items}
	if next != "" {
		b[NextToken] = next
	}
	return b
}
