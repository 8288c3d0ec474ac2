// Package design is the Design function: it consumes scan-received events,
// fits the corneal surface of the scan and stores the design. Redelivered
// events have one effect; transient failures are retried by Pub/Sub and,
// after the subscription's maximum attempts, dead-lettered.
package design

import (
	"context"
	"encoding/json"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventhttp"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/scans"
	"github.com/lensflow/lensflow/shared/wire"
)

func init() {
	platform.Register(platform.Function{Name: "Design", Topics: []string{scans.TopicScanReceived}, Event: New})
}

// New builds the event handler on app.
func New(app *wire.App) (platform.EventFunc, error) {
	svc := wire.ScanService(app)
	return func(ctx context.Context, e cloudevents.Event) error {
		d, err := eventhttp.Unwrap(e)
		if err != nil {
			return err
		}
		log := httpkit.Logger(ctx)
		if d.Event.Type != scans.TypeScanReceived {
			log.WarnContext(ctx, "ignoring event of unexpected type", "eventId", d.Event.ID, "type", d.Event.Type)
			return nil
		}
		var ev scans.ScanReceived
		if err := json.Unmarshal(d.Event.Data, &ev); err != nil || ev.ScanID == "" {
			return errs.Ef("design", errs.Invalid, "event %s: malformed scan-received data", d.Event.ID)
		}
		if err := svc.DesignScan(ctx, ev, httpkit.RequestID(ctx)); err != nil {
			log.WarnContext(ctx, "design failed; the event will be retried", "eventId", d.Event.ID, "scanId", ev.ScanID,
				"attempt", d.Attempt, "kind", errs.KindOf(err).String())
			return err
		}
		return nil
	}, nil
}
