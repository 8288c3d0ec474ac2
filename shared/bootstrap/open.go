package bootstrap

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"

	"github.com/lensflow/lensflow/shared/adapters/envelope"
	"github.com/lensflow/lensflow/shared/adapters/firestoredocs"
	"github.com/lensflow/lensflow/shared/adapters/gcsblobs"
	"github.com/lensflow/lensflow/shared/adapters/pubsubevents"
	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/audit/cloudaudit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/eventschema"
	"github.com/lensflow/lensflow/shared/logging"
	"github.com/lensflow/lensflow/shared/metrics"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/telemetry"
	"github.com/lensflow/lensflow/shared/tracing"
)

// StandIns open the embedded stand-ins for Google's services that a local
// configuration asks for: the document store in a file, blobs as files,
// the in-process Pub/Sub, the development issuer and the mail sink.
// Package standins implements them for the local stack and the tests; a
// function's production binary passes none, so it links only the Google
// adapters, and a configuration that asks it for a stand-in is refused.
type StandIns interface {
	OpenDocuments(cfg Config) (ports.Documents, error)
	OpenBlobs(cfg Config) (ports.Blobs, error)
	OpenEvents(ctx context.Context, cfg Config, log *slog.Logger) (ports.Broker, error)
	// OpenIssuer starts the development issuer and returns what the
	// Verifier needs to trust it.
	OpenIssuer(cfg Config) (auth.IssuerConfig, error)
	// StartMailSink starts an SMTP server that keeps what it receives,
	// and returns its address and how to stop it.
	StartMailSink(cfg Config, log *slog.Logger) (addr string, stop func() error, err error)
}

// FromEnv wires an App from the environment (see Config) on the Google
// adapters alone.
func FromEnv(ctx context.Context) (*App, error) {
	return Open(ctx, ConfigFromEnv(), os.Stdout, nil)
}

// Open wires an App from cfg, logging to logOut, with the stand-ins
// standIns opens where cfg asks for them (nil: none, as in production).
func Open(ctx context.Context, cfg Config, logOut io.Writer, standIns StandIns) (app *App, err error) {
	cfg, err = cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	app = &App{Config: cfg, Now: func() time.Time { return time.Now().UTC() }}
	app.Log = logging.New(logOut, cfg.Project, level(cfg.LogLevel))
	app.Memory = &admission.Pool{Capacity: cfg.MemoryBudget(), PerKey: admission.Share(cfg.MemoryBudget(), cfg.ClinicShare)}
	// A failure closes what was opened so far (the returns set app to
	// nil, so the deferred close holds its own reference).
	opened := app
	defer func() {
		if err != nil {
			_ = opened.Close()
			app = nil
		}
	}()
	if standIns == nil {
		if wants := standInsWanted(cfg); len(wants) > 0 {
			return nil, fmt.Errorf("%s: this binary holds only the Google adapters; the embedded stand-ins run in the local stack (go run ./scripts/local)", strings.Join(wants, ", "))
		}
	}
	// Traces and metrics share one connection to the Telemetry API,
	// closed after both have flushed (closers run last first).
	var otlp *telemetry.Exporter
	if cfg.UsesOTLP() {
		if otlp, err = telemetry.Google(ctx, telemetry.Config{Endpoint: cfg.OTLPEndpoint, Project: cfg.Project}); err != nil {
			return nil, err
		}
		app.onClose(otlp.Close)
	}
	if app.Tracing, err = tracing.New(ctx, cfg.Tracing, otlp); err != nil {
		return nil, err
	}
	app.onCloseWithin(app.Tracing.Shutdown)
	if app.Metrics, err = metrics.New(ctx, cfg.Metrics, otlp); err != nil {
		return nil, err
	}
	app.onCloseWithin(app.Metrics.Shutdown)
	if needsDataDir(cfg) {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}

	switch cfg.Docs {
	case "bolt":
		if app.Docs, err = standIns.OpenDocuments(cfg); err != nil {
			return nil, fmt.Errorf("documents (bolt): %w", err)
		}
	case "firestore":
		c, err := firestore.NewClientWithDatabase(ctx, cfg.Project, cfg.FirestoreDatabase)
		if err != nil {
			return nil, fmt.Errorf("documents (firestore): %w", err)
		}
		app.Docs = firestoredocs.New(c)
	}
	app.onClose(app.Docs.Close)

	switch cfg.Blobs {
	case "local":
		if app.Blobs, err = standIns.OpenBlobs(cfg); err != nil {
			return nil, fmt.Errorf("blobs (local): %w", err)
		}
	case "gcs":
		c, err := storage.NewClient(ctx)
		if err != nil {
			return nil, fmt.Errorf("blobs (gcs): %w", err)
		}
		app.onClose(c.Close)
		app.Blobs = gcsblobs.New(c, cfg.Bucket)
	}
	app.onClose(app.Blobs.Close)

	switch cfg.Events {
	case "local":
		if app.Events, err = standIns.OpenEvents(ctx, cfg, app.Log); err != nil {
			return nil, fmt.Errorf("events (local): %w", err)
		}
	case "pubsub":
		c, err := pubsub.NewClient(ctx, cfg.Project)
		if err != nil {
			return nil, fmt.Errorf("events (pubsub): %w", err)
		}
		app.onClose(c.Close)
		app.Events = pubsubevents.NewWithOptions(c, cfg.Project, pubsubevents.Options{Logger: app.Log})
	}
	app.onClose(app.Events.Close)

	if app.Sealer, err = envelope.Open(ctx, cfg.KEKURI); err != nil {
		return nil, fmt.Errorf("key encryption: %w", err)
	}

	var issuers []auth.IssuerConfig
	for _, name := range cfg.AuthIssuers {
		switch name {
		case "identity-platform":
			issuers = append(issuers, auth.IdentityPlatform(cfg.Project))
		case "google-oidc":
			issuers = append(issuers, auth.GoogleOIDC(cfg.ServiceAudiences, cfg.ServiceAccounts))
		case "dev":
			ic, err := standIns.OpenIssuer(cfg)
			if err != nil {
				return nil, fmt.Errorf("development issuer: %w", err)
			}
			issuers = append(issuers, ic)
		}
	}
	if app.Verifier, err = auth.NewVerifier(auth.Config{Issuers: issuers, MaxLifetime: cfg.MaxTokenLifetime}); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}

	switch cfg.AuditLog {
	case "cloudlogging":
		l, err := cloudaudit.New(ctx, cloudaudit.Config{Project: cfg.Project})
		if err != nil {
			return nil, fmt.Errorf("audit log (cloudlogging): %w", err)
		}
		app.onClose(l.Close)
		app.Audit = l
	case "stdout":
		l := audit.NewJSONLines(logOut)
		l.Project = cfg.Project
		app.Audit = l
	default:
		f, err := os.OpenFile(cfg.AuditLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		app.onClose(f.Close)
		l := audit.NewJSONLines(f)
		l.Project = cfg.Project
		app.Audit = l
	}
	app.Relay = &outbox.Relay{Docs: app.Docs, Publisher: app.Events, Log: app.Log}

	// Notification channels. Locally, webhooks may go to loopback endpoints
	// (a developer's receiver) and email goes to an embedded SMTP sink.
	app.MailFrom, app.PublicURL = cfg.SMTPFrom, cfg.PublicURL
	self := selfURLs(cfg)
	smtpAddr := cfg.SMTPAddr
	if smtpAddr == "" && cfg.Profile == "local" && standIns != nil {
		addr, stop, err := standIns.StartMailSink(cfg, app.Log)
		if err != nil {
			return nil, fmt.Errorf("local SMTP sink: %w", err)
		}
		app.onClose(stop)
		smtpAddr = addr
		self = append(self, smtpAddr)
	}
	// The embedded emulators listen on loopback ports of this process: a
	// webhook must not reach them either.
	if b, ok := app.Blobs.(interface{ URL() string }); ok {
		self = append(self, b.URL())
	}
	if b, ok := app.Events.(interface{ Addr() string }); ok {
		self = append(self, b.Addr())
	}
	// Every event names the schema of its data (the CloudEvent dataschema).
	// Wrapped after the look at the broker's address above, which the
	// wrapper hides.
	app.Events = eventschema.Stamp(app.Events, dataSchemaBase(cfg))
	app.Relay.Publisher = app.Events
	app.Webhooks = delivery.NewSender(delivery.SenderOptions{AllowHTTPLoopbackForTests: cfg.Profile == "local", Self: self})
	if smtpAddr != "" {
		m, err := delivery.NewSMTPMailer(delivery.SMTPConfig{Addr: smtpAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername,
			Password: cfg.SMTPPassword, RequireTLS: cfg.Profile == "gcp"})
		if err != nil {
			return nil, fmt.Errorf("email: %w", err)
		}
		app.Mailer = m
	}
	return app, nil
}

// dataSchemaBase is the base URL of the dataschema of the events an App
// publishes (eventschema.URI): the Portal function, public at <public
// URL>/portal/ in a deployment (the load balancer's /portal/* route) and in
// the local stack alike, serves the schemas, so whoever reads an event can
// fetch what it names. Without a public URL (a bare function in a test)
// events name their schema by its $id, a URN.
func dataSchemaBase(cfg Config) string {
	if cfg.PublicURL == "" {
		return ""
	}
	return strings.TrimSuffix(cfg.PublicURL, "/") + "/portal"
}

// standInsWanted names the settings of cfg that need an embedded stand-in.
func standInsWanted(cfg Config) []string {
	var wants []string
	for _, w := range []struct {
		set  bool
		name string
	}{
		{cfg.Docs == "bolt", "LENSFLOW_DOCS=bolt"}, {cfg.Blobs == "local", "LENSFLOW_BLOBS=local"},
		{cfg.Events == "local", "LENSFLOW_EVENTS=local"}, {contains(cfg.AuthIssuers, "dev"), "LENSFLOW_AUTH_ISSUERS=dev"},
	} {
		if w.set {
			wants = append(wants, w.name)
		}
	}
	return wants
}

// selfURLs are the configured addresses of the service itself, which a
// clinic's webhook may not point at: the public URL, the development
// issuer's URL (this process serves it; the local stack sets it to the
// address it listens on) and the service URLs its OIDC tokens name.
// Entries that are not URLs (an audience may be any string) are ignored
// by the Sender.
func selfURLs(c Config) []string {
	return append([]string{c.PublicURL, c.DevIssuerURL}, c.ServiceAudiences...)
}

func needsDataDir(c Config) bool {
	return c.Docs == "bolt" || c.Blobs == "local" || c.Events == "local" || strings.HasPrefix(c.KEKURI, "file://") ||
		contains(c.AuthIssuers, "dev") || (c.AuditLog != "stdout" && c.AuditLog != "cloudlogging" && c.AuditLog != "")
}

func level(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
