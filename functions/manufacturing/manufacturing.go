// Package manufacturing is the Manufacturing function: it consumes
// order-placed events and turns each order into a lathe job with its point
// files, announced on the manufacturing-jobs topic the lab's lathe cell
// pulls. Redelivered events have one effect.
package manufacturing

import (
	"context"
	"encoding/json"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventhttp"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/wire"
)

func init() {
	platform.Register(platform.Function{Name: "Manufacturing", Topics: []string{orders.TopicOrderPlaced}, Event: New})
}

// New builds the event handler on app.
func New(app *wire.App) (platform.EventFunc, error) {
	svc := wire.OrderService(app)
	return func(ctx context.Context, e cloudevents.Event) error {
		d, err := eventhttp.Unwrap(e)
		if err != nil {
			return err
		}
		log := httpkit.Logger(ctx)
		if d.Event.Type != orders.TypeOrderPlaced {
			log.WarnContext(ctx, "ignoring event of unexpected type", "eventId", d.Event.ID, "type", d.Event.Type)
			return nil
		}
		var ev orders.OrderPlaced
		if err := json.Unmarshal(d.Event.Data, &ev); err != nil || ev.OrderID == "" {
			return errs.Ef("manufacturing", errs.Invalid, "event %s: malformed order-placed data", d.Event.ID)
		}
		if err := svc.CreateJob(ctx, ev, httpkit.RequestID(ctx)); err != nil {
			log.WarnContext(ctx, "job creation failed; the event will be retried", "eventId", d.Event.ID,
				"orderId", ev.OrderID, "attempt", d.Attempt, "kind", errs.KindOf(err).String())
			return err
		}
		return nil
	}, nil
}
