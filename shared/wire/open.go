package wire

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/adapters/envelope"
	"github.com/lensflow/lensflow/shared/adapters/fileblobs"
	"github.com/lensflow/lensflow/shared/adapters/firestoredocs"
	"github.com/lensflow/lensflow/shared/adapters/gcsblobs"
	"github.com/lensflow/lensflow/shared/adapters/pubsubevents"
	"github.com/lensflow/lensflow/shared/adapters/pubsublocal"
	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/audit/cloudaudit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/auth/devissuer"
	"github.com/lensflow/lensflow/shared/logging"
	"github.com/lensflow/lensflow/shared/metrics"
	"github.com/lensflow/lensflow/shared/notify"
	"github.com/lensflow/lensflow/shared/notify/smtpsink"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/tracing"
)

// Local is what only a local run has: the events broker it drives itself
// (production Pub/Sub pushes to the functions) and the development issuer.
type Local struct {
	Broker    ports.Broker
	DevIssuer *devissuer.Issuer
}

// FromEnv wires an App from the environment (see Config).
func FromEnv(ctx context.Context) (*App, error) {
	app, _, err := Open(ctx, ConfigFromEnv(), os.Stdout)
	return app, err
}

// Open wires an App from cfg, logging to logOut. The second result is
// non-nil when cfg uses the local events broker or the development issuer.
func Open(ctx context.Context, cfg Config, logOut io.Writer) (app *App, local *Local, err error) {
	cfg, err = cfg.WithDefaults()
	if err != nil {
		return nil, nil, err
	}
	app = &App{Config: cfg, Now: func() time.Time { return time.Now().UTC() }}
	app.Log = logging.New(logOut, cfg.Project, level(cfg.LogLevel))
	app.Memory = &admission.Pool{Capacity: cfg.MemoryBudget(), PerKey: admission.Share(cfg.MemoryBudget(), cfg.ClinicShare)}
	local = &Local{}
	defer func() {
		if err != nil {
			_ = app.Close()
			app, local = nil, nil
		}
	}()
	if app.Tracing, err = tracing.New(ctx, cfg.Tracing, cfg.Project); err != nil {
		return nil, nil, err
	}
	app.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return app.Tracing.Shutdown(ctx)
	})
	if app.Metrics, err = metrics.New(ctx, cfg.Metrics, cfg.Project); err != nil {
		return nil, nil, err
	}
	app.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return app.Metrics.Shutdown(ctx)
	})
	if needsDataDir(cfg) {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("data directory: %w", err)
		}
	}

	switch cfg.Docs {
	case "bolt":
		s, err := boltdocs.Open(filepath.Join(cfg.DataDir, "documents.db"))
		if err != nil {
			return nil, nil, fmt.Errorf("documents (bolt): %w", err)
		}
		app.Docs = s
	case "firestore":
		c, err := firestore.NewClientWithDatabase(ctx, cfg.Project, cfg.FirestoreDatabase)
		if err != nil {
			return nil, nil, fmt.Errorf("documents (firestore): %w", err)
		}
		app.Docs = firestoredocs.New(c)
	}
	app.onClose(app.Docs.Close)

	switch cfg.Blobs {
	case "local":
		l, err := fileblobs.Open(filepath.Join(cfg.DataDir, "blobs"), cfg.Bucket)
		if err != nil {
			return nil, nil, fmt.Errorf("blobs (local): %w", err)
		}
		app.Blobs = l
	case "gcs":
		c, err := storage.NewClient(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("blobs (gcs): %w", err)
		}
		app.onClose(c.Close)
		app.Blobs = gcsblobs.New(c, cfg.Bucket)
	}
	app.onClose(app.Blobs.Close)

	switch cfg.Events {
	case "local":
		b, err := pubsublocal.Open(ctx, filepath.Join(cfg.DataDir, "events.db"), pubsublocal.WithLogger(app.Log))
		if err != nil {
			return nil, nil, fmt.Errorf("events (local): %w", err)
		}
		local.Broker = b
		app.Events = b
	case "pubsub":
		c, err := pubsub.NewClient(ctx, cfg.Project)
		if err != nil {
			return nil, nil, fmt.Errorf("events (pubsub): %w", err)
		}
		app.onClose(c.Close)
		app.Events = pubsubevents.NewWithOptions(c, cfg.Project, pubsubevents.Options{Logger: app.Log})
	}
	app.onClose(app.Events.Close)

	if app.Sealer, err = envelope.Open(ctx, cfg.KEKURI); err != nil {
		return nil, nil, fmt.Errorf("key encryption: %w", err)
	}

	var issuers []auth.IssuerConfig
	for _, name := range cfg.AuthIssuers {
		switch name {
		case "identity-platform":
			issuers = append(issuers, auth.IdentityPlatform(cfg.Project))
		case "google-oidc":
			issuers = append(issuers, auth.GoogleOIDC(cfg.ServiceAudiences, cfg.ServiceAccounts))
		case "dev":
			base := strings.TrimSuffix(strings.TrimSuffix(cfg.DevIssuerURL, "/"), devissuer.Path)
			di, err := devissuer.Open(filepath.Join(cfg.DataDir, "dev-issuer-key.pem"), base+devissuer.Path, devissuer.Audience)
			if err != nil {
				return nil, nil, fmt.Errorf("development issuer: %w", err)
			}
			if err := di.SetMaxTTL(cfg.MaxTokenLifetime); err != nil {
				return nil, nil, fmt.Errorf("development issuer: %w", err)
			}
			local.DevIssuer = di
			issuers = append(issuers, di.IssuerConfig(base+devissuer.JWKSPath))
		}
	}
	if app.Verifier, err = auth.NewVerifier(auth.Config{Issuers: issuers, MaxLifetime: cfg.MaxTokenLifetime}); err != nil {
		return nil, nil, fmt.Errorf("auth: %w", err)
	}

	switch cfg.AuditLog {
	case "cloudlogging":
		l, err := cloudaudit.New(ctx, cloudaudit.Config{Project: cfg.Project})
		if err != nil {
			return nil, nil, fmt.Errorf("audit log (cloudlogging): %w", err)
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
			return nil, nil, fmt.Errorf("audit log: %w", err)
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
	if smtpAddr == "" && cfg.Profile == "local" {
		sink, err := smtpsink.Start(smtpsink.Options{Dir: filepath.Join(cfg.DataDir, "mail"), Addr: "127.0.0.1:0", Logger: app.Log})
		if err != nil {
			return nil, nil, fmt.Errorf("local SMTP sink: %w", err)
		}
		app.onClose(sink.Close)
		smtpAddr = sink.Addr()
		self = append(self, smtpAddr)
	}
	// The embedded emulators listen on loopback ports of this process: a
	// webhook must not reach them either.
	if b, ok := app.Blobs.(interface{ URL() string }); ok {
		self = append(self, b.URL())
	}
	if b, ok := local.Broker.(interface{ Addr() string }); ok {
		self = append(self, b.Addr())
	}
	app.Webhooks = notify.NewSender(notify.SenderOptions{AllowHTTPLoopbackForTests: cfg.Profile == "local", Self: self})
	if smtpAddr != "" {
		m, err := notify.NewSMTPMailer(notify.SMTPConfig{Addr: smtpAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername,
			Password: cfg.SMTPPassword, RequireTLS: cfg.Profile == "gcp"})
		if err != nil {
			return nil, nil, fmt.Errorf("email: %w", err)
		}
		app.Mailer = m
	}
	if local.Broker == nil && local.DevIssuer == nil {
		local = nil
	}
	return app, local, nil
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
