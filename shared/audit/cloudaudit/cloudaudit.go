// Package cloudaudit is the production adapter of the audit.Logger port: it
// writes each audit record to its own Cloud Logging log, lensflow-audit,
// through the Cloud Logging API (cloud.google.com/go/logging), rather than
// to stdout, whose log name on Cloud Run is fixed (run.googleapis.com/stdout).
//
// Each record becomes one entry of projects/PROJECT/logs/lensflow-audit with
// severity NOTICE, the label log=lensflow-audit, a JSON payload of the same
// shape as the stdout form's ({"message": "audit ACTION OUTCOME", "audit":
// RECORD}, so jsonPayload.audit.* queries read both), the record's time as
// the entry's timestamp, a random insert id (so a retried write is not
// stored twice), and the trace and span of the request or event being
// handled, so the entry sits next to the request's log lines in Logs
// Explorer. A record holds ids only; nothing else is added to the entry.
//
// Reliability: Write is synchronous. It returns only when Cloud Logging has
// accepted the entry, and an error otherwise, so that the caller fails the
// request rather than serve PHI without its audit record (the port's
// contract). The price is latency: every audited request waits for one
// WriteLogEntries round trip to the Logging API, and, when the API answers
// Unavailable, Internal or DeadlineExceeded, for the client library's retries,
// for at most Config.Timeout (DefaultTimeout). The write ignores the caller's
// cancellation and deadline (context.WithoutCancel): the access has
// happened, so a client that disconnects does not drop its record, while the
// timeout still bounds how long a request can hang on the Logging API.
// Buffered, asynchronous logging (Logger.Log) would be faster but loses
// entries silently on a crash or a failed flush, which the port forbids.
package cloudaudit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	cloudlogging "cloud.google.com/go/logging"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/api/option"
	mrpb "google.golang.org/genproto/googleapis/api/monitoredres"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/logging"
	"github.com/lensflow/lensflow/shared/tracing"
)

// LogID is the Cloud Logging log the records go to, and the value of their
// "log" label.
const LogID = "lensflow-audit"

// DefaultTimeout bounds one Write, retries included, when Config.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// Config configures New.
type Config struct {
	// Project is the Google Cloud project id the log belongs to (required);
	// it also qualifies trace ids as projects/PROJECT/traces/TRACE.
	Project string
	// Timeout bounds each Write, retries included (DefaultTimeout when 0).
	Timeout time.Duration
	// Resource is the monitored resource of the entries. When nil the
	// client library detects it (cloud_run_revision on Cloud Run, which the
	// audit log sink's filter expects), asking the metadata server once.
	Resource *mrpb.MonitoredResource
	// ClientOptions are passed to the Cloud Logging client (tests: an
	// endpoint, no authentication). In production none are needed: the
	// service account's credentials are found by Application Default
	// Credentials; it needs roles/logging.logWriter.
	ClientOptions []option.ClientOption
}

// Logger is an audit.Logger writing to Cloud Logging. It is safe for
// concurrent use.
type Logger struct {
	client  *cloudlogging.Client
	log     *cloudlogging.Logger
	project string
	timeout time.Duration

	closeOnce sync.Once
	closeErr  error
}

var _ audit.Logger = (*Logger)(nil)

// New opens a Cloud Logging client for cfg.Project and returns a Logger
// writing to its lensflow-audit log. Close it on shutdown.
func New(ctx context.Context, cfg Config) (*Logger, error) {
	const op = "cloudaudit.New"
	if cfg.Project == "" {
		return nil, errs.E(op, errs.Invalid, errors.New("no project"))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	client, err := cloudlogging.NewClient(ctx, "projects/"+cfg.Project, cfg.ClientOptions...)
	if err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	var opts []cloudlogging.LoggerOption
	if cfg.Resource != nil {
		opts = append(opts, cloudlogging.CommonResource(cfg.Resource))
	}
	return &Logger{client: client, log: client.Logger(LogID, opts...), project: cfg.Project, timeout: cfg.Timeout}, nil
}

// payload is the entry's JSON payload: the stdout form's fields.
type payload struct {
	Message string       `json:"message"`
	Audit   audit.Record `json:"audit"`
}

// Write implements audit.Logger: it writes r synchronously and returns an
// error (kind Unavailable) when Cloud Logging has not accepted it within the
// timeout. A zero r.Time is set to now.
func (l *Logger) Write(ctx context.Context, r audit.Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	e := l.entry(ctx, r)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	if err := l.log.LogSync(wctx, e); err != nil {
		return errs.E("cloudaudit.Write", errs.Unavailable, err)
	}
	return nil
}

// entry builds the log entry of r, with the trace of ctx.
func (l *Logger) entry(ctx context.Context, r audit.Record) cloudlogging.Entry {
	e := cloudlogging.Entry{
		Timestamp: r.Time,
		Severity:  cloudlogging.Notice,
		Payload:   payload{Message: "audit " + r.Action + " " + r.Outcome, Audit: r},
		Labels:    map[string]string{"log": LogID},
		InsertID:  insertID(),
	}
	if t, ok := traceOf(ctx); ok {
		e.Trace = "projects/" + l.project + "/traces/" + t.TraceID
		e.SpanID = t.SpanID
		e.TraceSampled = t.Sampled
	}
	return e
}

// traceOf returns the trace of the request or event being handled: the one
// its log lines carry (shared/logging, set by httpkit and eventhttp, also
// when tracing is off), else the OpenTelemetry span in ctx.
func traceOf(ctx context.Context) (logging.Trace, bool) {
	if t, ok := logging.TraceFrom(ctx); ok && t.TraceID != "" {
		return t, true
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return tracing.LoggingTrace(sc), true
	}
	return logging.Trace{}, false
}

// insertID is a random entry id: Cloud Logging stores entries with the same
// insert id and timestamp once, so a write retried after a lost answer does
// not duplicate the record.
func insertID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Close flushes anything buffered and closes the client. Writes after Close
// fail. Close may be called more than once.
func (l *Logger) Close() error {
	l.closeOnce.Do(func() {
		err := l.log.Flush()
		if cerr := l.client.Close(); err == nil {
			err = cerr
		}
		l.closeErr = err
	})
	return l.closeErr
}
