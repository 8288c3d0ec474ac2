package orders_test

import (
	"context"
	"testing"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/orders"
)

// A retried place request (same Idempotency-Key, so the same order id)
// whose order an earlier attempt committed answers with that order, audited
// as its create; another clinic's id is refused.
func TestPlaceRetriedWithCommittedOrder(t *testing.T) {
	svc, mem := listFixture(t, []orders.Order{order("o1", "demo-north", "rgp", workflow.OrderPlaced, day0, nil)}, nil)
	north := auth.Actor{Subject: "dr-n", Role: "practitioner", ClinicID: "demo-north", RequestID: "r2"}
	got, err := svc.Place(context.Background(), north, orders.PlaceInput{DesignID: "d-o1", Quantity: 1, OrderID: "o1"})
	if err != nil || got.ID != "o1" || got.ClinicID != "demo-north" {
		t.Fatalf("retry: %v %+v", err, got)
	}
	recs := mem.Records()
	if len(recs) != 1 || recs[0].Action != "order.create" || recs[0].Resource != "orders/o1" || recs[0].RequestID != "r2" {
		t.Fatalf("audit %+v", recs)
	}
	south := auth.Actor{Subject: "dr-s", Role: "practitioner", ClinicID: "demo-south"}
	if _, err := svc.Place(context.Background(), south, orders.PlaceInput{DesignID: "d-o1", Quantity: 1, OrderID: "o1"}); err == nil {
		t.Fatal("another clinic's order id was answered")
	}
}
