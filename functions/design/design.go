// Package design is the Design function: it consumes scan-received events,
// fits the corneal surface of the scan and designs the lens requested at
// upload. Redelivered events have one effect; transient failures are
// retried by Pub/Sub and, after the subscription's maximum attempts,
// dead-lettered.
package design

import (
	"context"

	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

func init() {
	platform.Register(platform.Function{Name: "Design", Topics: []string{scans.TopicScanReceived}, Event: New})
}

// New builds the event handler on app.
func New(app *bootstrap.App) (platform.EventFunc, error) {
	svc := bootstrap.ScanService(app)
	return platform.Consume(scans.TypeScanReceived, func(ev scans.ScanReceived) bool { return ev.ScanID != "" },
		func(ctx context.Context, ev scans.ScanReceived, _ ports.Delivery) error {
			return svc.DesignScan(ctx, ev, httpkit.RequestID(ctx))
		}), nil
}
