package wire

import (
	"github.com/lensflow/lensflow/shared/notifications"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/scans"
)

// ScanService builds the scan lifecycle service on app's ports.
func ScanService(app *App) *scans.Service {
	return &scans.Service{Docs: app.Docs, Blobs: app.Blobs, Sealer: app.Sealer, Relay: app.Relay, Audit: app.Audit, Now: app.Now,
		Metrics: app.Metrics, Memory: app.Memory}
}

// OrderService builds the orders and manufacturing service on app's ports.
func OrderService(app *App) *orders.Service {
	return &orders.Service{Docs: app.Docs, Blobs: app.Blobs, Sealer: app.Sealer, Scans: ScanService(app),
		Relay: app.Relay, Audit: app.Audit, Now: app.Now, Metrics: app.Metrics}
}

// NotificationService builds the clinic notification service on app.
func NotificationService(app *App) *notifications.Service {
	return &notifications.Service{Docs: app.Docs, Sealer: app.Sealer, Webhooks: app.Webhooks, Mailer: app.Mailer,
		From: app.MailFrom, PublicURL: app.PublicURL, Audit: app.Audit, Now: app.Now, Metrics: app.Metrics,
		LabEmails: app.Config.LabEmails}
}
