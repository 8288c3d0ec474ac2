package orders_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/servicekit"
)

// listFixture is an order service over an embedded document store holding
// the given orders and assessments.
func listFixture(t *testing.T, os []orders.Order, as []orders.AssessmentRecord) (*orders.Service, *audit.Memory) {
	t.Helper()
	docs, err := boltdocs.Open(filepath.Join(t.TempDir(), "docs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docs.Close() })
	err = docs.RunTransaction(context.Background(), func(_ context.Context, tx ports.Tx) error {
		for _, o := range os {
			if err := tx.Set(orders.OrdersCollection, o.ID, o); err != nil {
				return err
			}
		}
		for _, a := range as {
			if err := tx.Set(orders.AssessmentsCollection, a.ID, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mem := &audit.Memory{}
	return &orders.Service{Docs: docs, Kit: servicekit.Kit{AuditLog: mem}}, mem
}

var day0 = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC) // a dispatch time

func order(id, clinic, lensType string, status workflow.OrderStatus, created time.Time, dispatched *time.Time) orders.Order {
	return orders.Order{ID: id, ClinicID: clinic, PatientID: "p-" + id, ScanID: "s-" + id, DesignID: "d-" + id, DesignVersion: 1,
		LensType: lensType, Quantity: 1, Status: status, Created: created, Dispatched: dispatched,
		Timeline: []workflow.TimelineEntry{{At: created, Subject: "order", To: "placed", Actor: "practitioner"},
			{At: created.Add(time.Hour), Subject: "order", From: "placed", To: string(status), Actor: "lab"}}}
}

func TestListOrders(t *testing.T) {
	d := day0
	svc, mem := listFixture(t, []orders.Order{
		order("o1", "demo-north", "rgp", workflow.OrderDispatched, day0.Add(-48*time.Hour), &d),
		order("o2", "demo-north", "orthok", workflow.OrderPlaced, day0, nil),
		order("o3", "demo-south", "rgp", workflow.OrderPlaced, day0.Add(time.Hour), nil),
	}, nil)
	for _, tc := range []struct {
		clinic string
		ids    []string
	}{
		{"demo-north", []string{"o2", "o1"}},
		{"demo-south", []string{"o3"}},
		{"demo-east", nil},
	} {
		t.Run(tc.clinic, func(t *testing.T) {
			n := len(mem.Records())
			got, _, err := svc.List(context.Background(), auth.Actor{Subject: "dr", Role: "practitioner", ClinicID: tc.clinic}, paging.Request{})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, o := range got {
				ids = append(ids, o.ID)
				if o.PatientID != "p-"+o.ID || o.DesignID != "d-"+o.ID || o.ScanID != "s-"+o.ID || o.Quantity != 1 ||
					!o.Updated.Equal(o.Created.Add(time.Hour)) {
					t.Errorf("summary %+v", o)
				}
			}
			if !reflect.DeepEqual(ids, tc.ids) {
				t.Errorf("orders %v, want %v", ids, tc.ids)
			}
			recs := mem.Records()[n:]
			if len(recs) != 1 || recs[0].Action != "order.list" || recs[0].Clinic != tc.clinic || recs[0].Outcome != audit.Success {
				t.Errorf("audit %+v", recs)
			}
		})
	}
}

func TestFollowUps(t *testing.T) {
	d := day0
	earlier := day0.AddDate(0, -2, 0)
	svc, mem := listFixture(t, []orders.Order{
		order("rgp", "demo-north", "rgp", workflow.OrderDispatched, day0.Add(-72*time.Hour), &d),
		order("okay", "demo-north", "orthok", workflow.OrderInAftercare, earlier.Add(-72*time.Hour), &earlier),
		order("placed", "demo-north", "rgp", workflow.OrderPlaced, day0, nil),
		order("south", "demo-south", "rgp", workflow.OrderDispatched, day0, &d),
	}, []orders.AssessmentRecord{
		{ID: "a1", OrderID: "okay", ClinicID: "demo-north", VisitKey: "delivery", Outcome: "continue"},
		{ID: "a2", OrderID: "okay", ClinicID: "demo-north", VisitKey: "week-1", Outcome: "continue"},
		// Another clinic's record naming our order does not count.
		{ID: "a3", OrderID: "okay", ClinicID: "demo-south", VisitKey: "day-1", Outcome: "continue"},
	})
	date := func(t time.Time, days int) time.Time {
		y, m, dd := t.Date()
		return time.Date(y, m, dd+days, 0, 0, 0, 0, time.UTC)
	}
	asOf := day0.Add(24 * time.Hour)
	got, _, err := svc.FollowUps(context.Background(), auth.Actor{Subject: "dr", Role: "practitioner", ClinicID: "demo-north"}, asOf, paging.Request{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ order, visit, state string }
	var rows []row
	for _, f := range got {
		rows = append(rows, row{f.OrderID, f.Visit, f.State})
		if f.PatientID != "p-"+f.OrderID || f.Label == "" {
			t.Errorf("follow-up %+v", f)
		}
	}
	// Ortho-k dispatched two months ago: delivery and week 1 recorded; day 1
	// and week 2 missed (their windows closed); month 1 still due (its
	// window runs to month 3); month 3 upcoming. RGP dispatched yesterday:
	// week 1 upcoming. Orders not dispatched, and the other clinic's, have
	// none.
	// Oldest dispatch first, each order's visits soonest first.
	want := []row{
		{"okay", "day-1", "overdue"}, {"okay", "week-2", "overdue"}, {"okay", "month-1", "due"},
		{"okay", "month-3", "upcoming"}, {"rgp", "week-1", "upcoming"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("follow-ups\n got %v\nwant %v", rows, want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].OrderID == got[i-1].OrderID && got[i].Due.Before(got[i-1].Due) {
			t.Errorf("an order's visits not soonest first: %v before %v", got[i-1].Due, got[i].Due)
		}
	}
	if got[4].Due != date(day0, 7) {
		t.Errorf("RGP week 1 due %v, want %v", got[4].Due, date(day0, 7))
	}
	if recs := mem.Records(); len(recs) != 1 || recs[0].Action != "followup.list" || recs[0].Clinic != "demo-north" {
		t.Errorf("audit %+v", recs)
	}

	// A clinic with nothing dispatched gets an empty list, not null.
	none, _, err := svc.FollowUps(context.Background(), auth.Actor{Subject: "dr", Role: "practitioner", ClinicID: "demo-east"}, asOf, paging.Request{})
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("demo-east: %v %v", none, err)
	}
}
