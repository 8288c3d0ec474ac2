package servicekit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/servicekit"
)

type brokenLog struct{}

func (brokenLog) Write(context.Context, audit.Record) error { return errors.New("log unreachable") }

func TestKit(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.FixedZone("AEDT", 11*3600))
	mem := &audit.Memory{}
	k := servicekit.Kit{Clock: func() time.Time { return at }, IDs: func() string { return "id-1" }, AuditLog: mem}
	if got := k.Now(); !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("Now %v, want %v in UTC", got, at)
	}
	if got := k.NewID(); got != "id-1" {
		t.Errorf("NewID %q", got)
	}
	a := auth.Actor{Subject: "dr", Role: auth.RolePractitioner, ClinicID: "north", RequestID: "r1"}
	if err := k.Audit(context.Background(), a, "scan.read", "scans/s1", audit.Success); err != nil {
		t.Fatal(err)
	}
	want := audit.Record{Time: at.UTC(), Actor: "dr", Role: "practitioner", Clinic: "north", Action: "scan.read",
		Resource: "scans/s1", Outcome: audit.Success, RequestID: "r1"}
	if recs := mem.Records(); len(recs) != 1 || recs[0] != want {
		t.Fatalf("records %+v, want %+v", recs, want)
	}

	k.AuditLog = brokenLog{}
	if err := k.Audit(context.Background(), a, "scan.read", "scans/s1", audit.Success); !errs.Is(errs.Unavailable, err) {
		t.Fatalf("a lost record: %v, want Unavailable", err)
	}
}

func TestZeroKit(t *testing.T) {
	var k servicekit.Kit
	if d := time.Since(k.Now()); d < 0 || d > time.Minute || k.Now().Location() != time.UTC {
		t.Errorf("Now %v", k.Now())
	}
	if a, b := k.NewID(), k.NewID(); a == "" || a == b {
		t.Errorf("ids %q, %q", a, b)
	}
	if err := k.Audit(context.Background(), auth.Actor{}, "x", "y", audit.Success); err != nil {
		t.Errorf("no audit log: %v", err)
	}
}
