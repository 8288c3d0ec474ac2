// Package errs is lensflow's one error vocabulary. An error carries the
// operation that failed, a Kind that tells callers what to do about it, an
// optional field or line that a client can act on, and the wrapped cause.
//
// Kinds are decided once, where the failure is understood, and mapped to an
// HTTP status or to ack/retry in exactly one place each (see package httpkit
// and the event receiver). A wrapping error keeps the kind of what it wraps
// unless it is given a new one (E, Wrap). The kinds of a backend's answers
// (gRPC codes, HTTP statuses, context and transport errors) are decided in
// one table each, in package kinds beside this one, which every adapter uses.
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller should do about it.
type Kind int

const (
	// Other is an unclassified failure: treat as internal (500, retry events).
	// Given to E, it means no kind: the error keeps its cause's.
	Other Kind = iota
	// Invalid means the input is wrong; retrying the same input will not help.
	Invalid
	// NotFound means the thing does not exist, or is not visible to the caller.
	NotFound
	// Exists means a create found the thing already there.
	Exists
	// Conflict means the request clashes with the current state (try later or differently).
	Conflict
	// Unavailable means a dependency is down or overloaded, or the operation
	// ran out of time or was cancelled before it finished; retry with backoff.
	Unavailable
	// Permission means the caller is known but not allowed.
	Permission
	// Unauthenticated means there is no valid credential.
	Unauthenticated
	// TooLarge means the input exceeds a size limit.
	TooLarge
	// Unprocessable means the request is well formed but cannot be applied
	// (for example an Idempotency-Key reused with a different body).
	Unprocessable
)

var kindNames = map[Kind]string{
	Other: "internal", Invalid: "invalid", NotFound: "not found", Exists: "already exists",
	Conflict: "conflict", Unavailable: "unavailable", Permission: "permission denied",
	Unauthenticated: "unauthenticated", TooLarge: "too large", Unprocessable: "unprocessable",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is a classified error.
type Error struct {
	Op    string // operation, e.g. "scans.upload" or "boltdocs.Get"
	Kind  Kind
	Field string // the input field, query parameter or "line N" the problem is in, if any
	Err   error  // the cause; its text may reach the client for Invalid errors, so keep PHI out
}

func (e *Error) Error() string {
	msg := e.Op
	if e.Field != "" {
		msg += ": " + e.Field
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	} else {
		msg += ": " + e.Kind.String()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// E builds a classified error. A nil cause is allowed. Like upspin's
// errors.E, the error keeps the kind of the classified error it wraps
// (anywhere in err's chain) unless it is given a new one: kind Other means
// none is given. To wrap without classifying, use Wrap.
func E(op string, kind Kind, err error) error {
	if kind == Other {
		kind = KindOf(err)
	}
	return &Error{Op: op, Kind: kind, Err: err}
}

// Wrap adds op to err and keeps err's kind: the way to pass an error up
// without deciding its kind again. Wrap returns nil when err is nil.
func Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return E(op, Other, err)
}

// Ef builds a classified error with a formatted cause. As with E, kind
// Other keeps the kind of a classified error the format wraps with %w.
func Ef(op string, kind Kind, format string, args ...any) error {
	return E(op, kind, fmt.Errorf(format, args...))
}

// Field builds an Invalid error about one named input field (or "line N").
func Field(op, field, format string, args ...any) error {
	return &Error{Op: op, Kind: Invalid, Field: field, Err: fmt.Errorf(format, args...)}
}

// KindOf returns the Kind of the outermost classified error in err's chain
// that has one (an Error of kind Other defers to the errors it wraps), or
// Other when there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		if e.Kind == Other && e.Err != nil {
			if k := KindOf(e.Err); k != Other {
				return k
			}
		}
		return e.Kind
	}
	return Other
}

// Is reports whether err is classified as kind.
func Is(kind Kind, err error) bool { return err != nil && KindOf(err) == kind }

// FieldOf returns the field named by the outermost classified error that names one.
func FieldOf(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Field != "" {
			return e.Field
		}
		err = e.Err
	}
	return ""
}

// Retryable reports whether an operation that failed with err may succeed if
// tried again unchanged.
func Retryable(err error) bool {
	switch KindOf(err) {
	case Unavailable, Conflict, Other:
		return true
	}
	return false
}

// Message is the client-facing text of err: the innermost classified error's
// cause, prefixed with its field or line, without the internal operation
// names. By convention causes never contain PHI.
func Message(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	for {
		var inner *Error
		if e.Err == nil || !errors.As(e.Err, &inner) {
			break
		}
		if inner.Field == "" && e.Field != "" {
			inner = &Error{Op: inner.Op, Kind: inner.Kind, Field: e.Field, Err: inner.Err}
		}
		e = inner
	}
	msg := e.Kind.String()
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	return msg
}
