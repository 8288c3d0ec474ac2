// Package bootstrap turns configuration into adapters: it is the one place that
// decides which implementation stands behind each port (Firestore or the
// embedded bbolt store, Cloud Storage or plain files, Pub/Sub or the
// in-process pstest broker, Cloud KMS or a local Tink keyset, Identity
// Platform or the development issuer). Everything else receives ports.
package bootstrap

import (
	"context"
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

	closers []func(context.Context) error
}

// CloseTimeout bounds Close: how long the closers that flush (traces and
// metrics to the Telemetry API) may take together.
const CloseTimeout = 10 * time.Second

// Close releases the adapters in reverse order of creation, within
// CloseTimeout.
func (a *App) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	return a.CloseContext(ctx)
}

// CloseContext releases the adapters in reverse order of creation. The
// closers that flush share ctx's deadline, rather than each taking its
// own: a Cloud Run instance has one budget after SIGTERM for draining and
// flushing together (platform.Serve), and is killed when it runs out.
func (a *App) CloseContext(ctx context.Context) error {
	var all []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		all = append(all, a.closers[i](ctx))
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

func (a *App) onClose(f func() error) {
	a.closers = append(a.closers, func(context.Context) error { return f() })
}

// onCloseWithin adds a closer that needs time (a flush): it gets the
// context of CloseContext.
func (a *App) onCloseWithin(f func(context.Context) error) { a.closers = append(a.closers, f) }
