// Package manufacturing is the Manufacturing function: it consumes
// order-placed events and turns each order into a lathe job with its point
// files, announced on the manufacturing-jobs topic the lab's lathe cell
// pulls. Redelivered events have one effect.
package manufacturing

import (
	"context"

	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/ports"
)

func init() {
	platform.Register(platform.Function{Name: "Manufacturing", Topics: []string{orders.TopicOrderPlaced}, Event: New})
}

// New builds the event handler on app.
func New(app *bootstrap.App) (platform.EventFunc, error) {
	svc := bootstrap.OrderService(app)
	return platform.Consume(orders.TypeOrderPlaced, func(ev orders.OrderPlaced) bool { return ev.OrderID != "" },
		func(ctx context.Context, ev orders.OrderPlaced, _ ports.Delivery) error {
			return svc.CreateJob(ctx, ev, httpkit.RequestID(ctx))
		}), nil
}
