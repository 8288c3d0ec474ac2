package ports

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

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

// maxBlobNameBytes is Cloud Storage's limit on object names.
const maxBlobNameBytes = 1024

// CheckBlobName reports whether name is a portable object name: 1 to 1024 bytes
// of UTF-8 without control characters or backslashes, made of non-empty
// "/"-separated segments none of which starts with "." (so no ".", ".." or
// hidden files), and not ending in ".metadata" (the side files of an earlier local
// backend). Cloud Storage accepts more; the local store maps
// names to file paths and needs these rules to be safe.
func CheckBlobName(name string) error {
	switch {
	case name == "":
		return errors.New("object name is empty")
	case len(name) > maxBlobNameBytes:
		return fmt.Errorf("object name longer than %d bytes", maxBlobNameBytes)
	case !utf8.ValidString(name):
		return errors.New("object name is not valid UTF-8")
	case strings.HasSuffix(name, ".metadata"):
		return errors.New(`object name ends in reserved suffix ".metadata"`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return errors.New("object name contains a control character or backslash")
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" {
			return errors.New("object name has an empty segment (leading, trailing or double slash)")
		}
		if seg[0] == '.' {
			return errors.New(`object name has a segment starting with "."`)
		}
	}
	return nil
}
