package ports

import (
	"errors"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
)

// CheckDocumentPath applies Firestore's rules for collection and document
// ids, which every Documents adapter enforces so that an id accepted by one
// is accepted by all. The error names the part at fault and never quotes
// the id (ids may be chosen by callers).
func CheckDocumentPath(op, collection, id string) error {
	if err := CheckDocumentName(collection); err != nil {
		return errs.Field(op, "collection", "%v", err)
	}
	if err := CheckDocumentName(id); err != nil {
		return errs.Field(op, "id", "%v", err)
	}
	return nil
}

// CheckDocumentName reports why s is not a valid collection or document id.
func CheckDocumentName(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > 1500:
		return errors.New("longer than 1500 bytes")
	case s == "." || s == "..":
		return errors.New(`must not be "." or ".."`)
	case strings.Contains(s, "/"):
		return errors.New(`must not contain "/"`)
	case len(s) >= 4 && strings.HasPrefix(s, "__") && strings.HasSuffix(s, "__"):
		return errors.New(`must not match __.*__ (reserved)`)
	}
	return nil
}
