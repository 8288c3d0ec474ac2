package bootstrap

import (
	"github.com/lensflow/lensflow/shared/notifications"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/scans"
	"github.com/lensflow/lensflow/shared/servicekit"
)

// Kit is the clock, id generator and audit trail every application
// service acts with, on app's clock and audit log.
func Kit(app *App) servicekit.Kit {
	return servicekit.Kit{Clock: app.Now, AuditLog: app.Audit}
}

// ScanService builds the scan lifecycle service on app's ports.
func ScanService(app *App) *scans.Service {
	return &scans.Service{Docs: app.Docs, Blobs: app.Blobs, Sealer: app.Sealer, Relay: app.Relay, Kit: Kit(app),
		Metrics: app.Metrics, Memory: app.Memory}
}

// OrderService builds the orders and manufacturing service on app's ports.
func OrderService(app *App) *orders.Service {
	return &orders.Service{Docs: app.Docs, Blobs: app.Blobs, Sealer: app.Sealer, Scans: ScanService(app),
		Relay: app.Relay, Kit: Kit(app), Metrics: app.Metrics}
}

// NotificationService builds the clinic notification service on app.
func NotificationService(app *App) *notifications.Service {
	return &notifications.Service{Docs: app.Docs, Sealer: app.Sealer, Webhooks: app.Webhooks, Mailer: app.Mailer,
		From: app.MailFrom, PublicURL: app.PublicURL, Kit: Kit(app), Metrics: app.Metrics,
		LabEmails: app.Config.LabEmails}
}
