package errs_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
)

var allKinds = []errs.Kind{
	errs.Other, errs.Invalid, errs.NotFound, errs.Exists, errs.Conflict, errs.Unavailable,
	errs.Permission, errs.Unauthenticated, errs.TooLarge, errs.Unprocessable,
}

// outerKind is the Kind field of the outermost Error in err's chain: what a
// caller that reads the field (rather than calling KindOf) sees.
func outerKind(t *testing.T, err error) errs.Kind {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("%v is not an *errs.Error", err)
	}
	return e.Kind
}

// Wrapping keeps the wrapped error's kind unless a new one is given, as
// upspin's errors.E does: Wrap, E with Other and Ef with Other all keep
// it, in KindOf and in the new error's own Kind field, through fmt.Errorf
// wrapping too; a kind given anew replaces it.
func TestWrappingKeepsTheKind(t *testing.T) {
	for _, k := range allKinds {
		t.Run(k.String(), func(t *testing.T) {
			inner := errs.Ef("store.Get", k, "object %q", "a/b")
			for name, err := range map[string]error{
				"Wrap":                 errs.Wrap("service.read", inner),
				"E Other":              errs.E("service.read", errs.Other, inner),
				"Ef Other %w":          errs.Ef("service.read", errs.Other, "reading: %w", inner),
				"Wrap of fmt.Errorf":   errs.Wrap("service.read", fmt.Errorf("reading: %w", inner)),
				"Wrap of Wrap":         errs.Wrap("handler", errs.Wrap("service.read", inner)),
				"E Other of Wrap":      errs.E("handler", errs.Other, errs.Wrap("service.read", inner)),
				"Wrap over a new kind": errs.Wrap("handler", errs.E("service.read", k, io.EOF)),
			} {
				if got := errs.KindOf(err); got != k {
					t.Errorf("%s: KindOf = %v, want %v", name, got, k)
				}
				if got := outerKind(t, err); got != k {
					t.Errorf("%s: the wrapping error's Kind = %v, want %v", name, got, k)
				}
				if !errors.Is(err, inner) && name != "Wrap over a new kind" {
					t.Errorf("%s: the cause is not in the chain", name)
				}
			}
		})
	}
}

// A kind given to the wrapping error replaces the wrapped one.
func TestNewKindReplacesTheWrapped(t *testing.T) {
	inner := errs.E("store.Create", errs.Exists, nil)
	for _, k := range allKinds[1:] { // every kind but Other, which means none
		err := errs.E("service.create", k, inner)
		if got := errs.KindOf(err); got != k {
			t.Errorf("E(%v) over Exists: KindOf = %v", k, got)
		}
		if got := outerKind(t, errs.Wrap("handler", err)); got != k {
			t.Errorf("Wrap of E(%v) over Exists: Kind = %v", k, got)
		}
	}
}

// Wrapping changes neither the client's message nor the field, and a nil
// error wraps to nil.
func TestWrapKeepsMessageAndField(t *testing.T) {
	inner := errs.Field("scans.upload", "eye", "must be OD or OS")
	err := errs.Wrap("handler", errs.Wrap("service", inner))
	if got, want := errs.Message(err), errs.Message(inner); got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if got := errs.FieldOf(err); got != "eye" {
		t.Errorf("FieldOf = %q, want eye", got)
	}
	if got := err.Error(); got != "handler: service: scans.upload: eye: must be OD or OS" {
		t.Errorf("Error() = %q", got)
	}
	if err := errs.Wrap("op", nil); err != nil {
		t.Errorf("Wrap(op, nil) = %v, want nil", err)
	}
}

// An unclassified cause stays Other, and so does its wrapping.
func TestWrapOfUnclassifiedIsOther(t *testing.T) {
	err := errs.Wrap("op", io.ErrUnexpectedEOF)
	if got := errs.KindOf(err); got != errs.Other {
		t.Errorf("KindOf = %v, want Other", got)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("the cause is not in the chain")
	}
	if errs.KindOf(nil) != errs.Other || errs.Is(errs.Other, nil) {
		t.Error("a nil error has a kind")
	}
}
