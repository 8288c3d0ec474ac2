// Package wire turns configuration into adapters: it is the one place that
// decides which implementation stands behind each port (Firestore or the
// embedded bbolt store, Cloud Storage or plain files, Pub/Sub or the
// in-process pstest broker, Cloud KMS or a local Tink keyset, Identity
// Platform or the development issuer). Everything else receives ports.
package bootstrap

import (
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/metrics"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/tracing"
)

// App is what the functions are built from.
type App struct {
	Config   Config
	Log      *slog.Logger
	Docs     ports.Documents
	Blobs    ports.Blobs
	Events   ports.Publisher
	Sealer   ports.Sealer
	Verifier httpkit.Verifier
	Audit    audit.Logger
	Relay    *outbox.Relay
	Now      func() time.Time
	// Tracing is the OpenTelemetry provider of the functions' spans and,
	// with LENSFLOW_TRACING=memory, the store they are kept in.
	Tracing *tracing.Tracing
	// Metrics are the lab's OpenTelemetry metrics (nil records nothing):
	// with LENSFLOW_METRICS=memory, read back by Metrics.Snapshot.
	Metrics *metrics.Metrics

	// Notification channels: webhook delivery (SSRF-safe; loopback
	// endpoints allowed only locally), email, and the API's public base
	// URL for links in emails.
	Webhooks  *delivery.Sender
	Mailer    delivery.Mailer
	MailFrom  string
	PublicURL string

	// Memory is the instance's budget of working memory for request
	// bodies and designs, shared by clinic (admission). It is the
	// process's: in the local stack every function draws on one.
	Memory *admission.Pool

	closers []func() error
}

// Close releases the adapters in reverse order of creation.
func (a *App) Close() error {
	var all []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		all = append(all, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(all...)
}

// TracerProvider returns the provider of the App's spans (nil when the
// App was not opened with tracing: the global provider is then used).
func (a *App) TracerProvider() trace.TracerProvider {
	if a.Tracing == nil {
		return nil
	}
	return a.Tracing.Provider
}

func (a *App) onClose(f func() error) { a.closers = append(a.closers, f) }
