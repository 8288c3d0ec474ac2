// Package servicekit is what every application service (scans, orders,
// notifications) acts with: the clock, the ids of new records and events,
// and the audit trail of who did what to which record. Each service embeds
// a Kit, so the three are written once and cannot drift apart between
// services; shared/bootstrap builds the Kit once, from the wired App. It
// also says what the ids it issues look like (ValidID).
package servicekit

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
)

// Kit is a service's clock, id generator and audit trail. Its zero value
// works: the system clock, random UUIDs and no audit records (for tests
// and tools that audit nothing).
type Kit struct {
	// Clock tells the time (nil: time.Now); Now answers it in UTC.
	Clock func() time.Time
	// IDs makes the opaque id of each new record and event (nil: random
	// UUIDs); NewID answers it.
	IDs func() string
	// AuditLog receives one record per access to patient data (nil: none).
	AuditLog audit.Logger
}

// Now is the current time in UTC.
func (k Kit) Now() time.Time {
	if k.Clock != nil {
		return k.Clock().UTC()
	}
	return time.Now().UTC()
}

// NewID is a new opaque id.
func (k Kit) NewID() string {
	if k.IDs != nil {
		return k.IDs()
	}
	return uuid.NewString()
}

// Audit records that a did action on resource, with outcome (audit.Success,
// audit.Denied, audit.Failure), at Now. A record that cannot be written is
// an errs.Unavailable error: the caller fails its request rather than
// touch patient data unrecorded.
func (k Kit) Audit(ctx context.Context, a auth.Actor, action, resource, outcome string) error {
	if k.AuditLog == nil {
		return nil
	}
	err := k.AuditLog.Write(ctx, audit.Record{Time: k.Now(), Actor: a.Subject, Role: string(a.Role), Clinic: a.ClinicID,
		Action: action, Resource: resource, Outcome: outcome, RequestID: a.RequestID})
	if err != nil {
		return errs.E("audit", errs.Unavailable, err)
	}
	return nil
}

// ValidID accepts the shape of the ids services issue (UUIDs, and the
// lowercase ids a client may choose for an idempotent creation), so that a
// malformed path segment is NotFound without touching storage or logs.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// SafeID is id when it is valid and "(malformed)" otherwise: what an error
// or a log line may repeat of an id that came from a request.
func SafeID(id string) string {
	if ValidID(id) {
		return id
	}
	return "(malformed)"
}
