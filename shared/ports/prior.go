package ports

import (
	"context"

	"github.com/lensflow/lensflow/shared/errs"
)

// Prior reads the document that an earlier attempt of an idempotent
// request may have created under id (the id its Idempotency-Key record
// fixed, so a retry after a crash or a lost answer finds the first
// attempt's work instead of making a second resource). found is false
// when there is none. A document that exists but is not the caller's
// (mine reports false) is an errs.Other error: a key's record only ever
// names its own caller's resource, so this is a bug or tampering, and is
// never answered as the resource.
func Prior[T any](ctx context.Context, docs Documents, collection, id string, mine func(T) bool) (doc T, found bool, err error) {
	var zero T
	if id == "" || len(id) > 128 {
		return zero, false, errs.Ef("prior", errs.Other, "malformed %s id from the idempotency record", collection)
	}
	err = docs.Get(ctx, collection, id, &doc)
	switch {
	case errs.Is(errs.NotFound, err):
		return zero, false, nil
	case err != nil:
		return zero, false, err
	case !mine(doc):
		return zero, false, errs.Ef("prior", errs.Other, "%s id from the idempotency record belongs to another caller", collection)
	}
	return doc, true, nil
}
