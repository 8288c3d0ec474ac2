// Package standins holds the embedded stand-ins for Google's services
// that the local stack runs on, and wires an App on them: documents in a
// bbolt file, blobs as plain files, the in-process Pub/Sub (pstest with a
// journal), the development token issuer and an SMTP sink. A function's
// production binary never imports this package (a test in scripts/local
// checks every functions/*/cmd), so it holds the Google adapters alone.
package standins

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/adapters/fileblobs"
	"github.com/lensflow/lensflow/shared/adapters/pubsublocal"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/auth/devissuer"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventschema/contract"
	"github.com/lensflow/lensflow/shared/notifications/delivery/smtpsink"
	"github.com/lensflow/lensflow/shared/ports"
)

// Local is what the stand-ins opened for one App that the local stack
// drives itself: the Pub/Sub broker (production Pub/Sub pushes to the
// functions; locally the stack pulls and pushes) and the development
// issuer (nil when the configuration asked for neither).
type Local struct {
	Broker    *pubsublocal.Local
	DevIssuer *devissuer.Issuer
}

// Open wires an App from cfg, logging to logOut, with the stand-ins where
// cfg asks for them, and returns what they opened.
func Open(ctx context.Context, cfg bootstrap.Config, logOut io.Writer) (*bootstrap.App, *Local, error) {
	l := &Local{}
	app, err := bootstrap.Open(ctx, cfg, logOut, l)
	if err != nil {
		return nil, nil, err
	}
	return app, l, nil
}

// OpenDocuments implements bootstrap.StandIns: documents.db in the data
// directory.
func (l *Local) OpenDocuments(cfg bootstrap.Config) (ports.Documents, error) {
	return boltdocs.Open(filepath.Join(cfg.DataDir, "documents.db"))
}

// OpenBlobs implements bootstrap.StandIns: files under blobs/ in the data
// directory.
func (l *Local) OpenBlobs(cfg bootstrap.Config) (ports.Blobs, error) {
	return fileblobs.Open(filepath.Join(cfg.DataDir, "blobs"), cfg.Bucket)
}

// OpenEvents implements bootstrap.StandIns: the local broker with its journal,
// events.db in the data directory.
func (l *Local) OpenEvents(ctx context.Context, cfg bootstrap.Config, log *slog.Logger) (ports.Broker, error) {
	b, err := pubsublocal.Open(ctx, filepath.Join(cfg.DataDir, "events.db"), pubsublocal.WithLogger(log))
	if err != nil {
		return nil, err
	}
	l.Broker = b
	return &checkedBroker{Local: b, log: log}, nil
}

// checkedBroker is the local broker as the functions publish to it: every
// event is held to its type's committed schema first (contract.Event: its
// data, and a dataschema naming that schema, which bootstrap's
// eventschema.Stamp sets on the way here). One that fails is not published
// (the outbox keeps it), is logged and is recorded for
// TakeSchemaViolations, so every event of the local stack and of the
// end-to-end tests is checked in this one place.
type checkedBroker struct {
	*pubsublocal.Local
	log *slog.Logger
}

func (c *checkedBroker) Publish(ctx context.Context, topic string, e ports.Event) error {
	if err := contract.Event(e); err != nil {
		err = errs.Wrap("standins.Publish", fmt.Errorf("topic %s: %w", topic, err))
		violations.Lock()
		violations.errs = append(violations.errs, err)
		violations.Unlock()
		if c.log != nil {
			c.log.ErrorContext(ctx, "event refused: it does not match its schema", "topic", topic, "eventId", e.ID, "event_type", e.Type, "error", err.Error())
		}
		return err
	}
	return c.Local.Publish(ctx, topic, e)
}

// violations are the events the local brokers of this process refused.
var violations struct {
	sync.Mutex
	errs []error
}

// TakeSchemaViolations returns, and forgets, the events the local brokers
// of this process refused since the last call because their data did not
// match their type's committed schema or their dataschema was missing or
// wrong; each error names the topic, the event, its type and the mismatch.
// The end-to-end tests' TestMain fails on any.
func TakeSchemaViolations() []error {
	violations.Lock()
	defer violations.Unlock()
	out := violations.errs
	violations.errs = nil
	return out
}

// OpenIssuer implements bootstrap.StandIns: the development issuer at
// cfg.DevIssuerURL, its key in the data directory, minting tokens no
// longer than the Verifier accepts.
func (l *Local) OpenIssuer(cfg bootstrap.Config) (auth.IssuerConfig, error) {
	base := strings.TrimSuffix(strings.TrimSuffix(cfg.DevIssuerURL, "/"), devissuer.Path)
	di, err := devissuer.Open(filepath.Join(cfg.DataDir, "dev-issuer-key.pem"), base+devissuer.Path, devissuer.Audience)
	if err != nil {
		return auth.IssuerConfig{}, err
	}
	if err := di.SetMaxTTL(cfg.MaxTokenLifetime); err != nil {
		return auth.IssuerConfig{}, err
	}
	l.DevIssuer = di
	return di.IssuerConfig(base + devissuer.JWKSPath), nil
}

// StartMailSink implements bootstrap.StandIns: mail kept under mail/ in the
// data directory, on a loopback port.
func (l *Local) StartMailSink(cfg bootstrap.Config, log *slog.Logger) (string, func() error, error) {
	sink, err := smtpsink.Start(smtpsink.Options{Dir: filepath.Join(cfg.DataDir, "mail"), Addr: "127.0.0.1:0", Logger: log})
	if err != nil {
		return "", nil, err
	}
	return sink.Addr(), sink.Close, nil
}
