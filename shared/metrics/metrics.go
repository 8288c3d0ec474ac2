// Package metrics holds the measurements that matter to the lab, as
// OpenTelemetry metrics: scans received, designs produced and failed, the
// time from upload to design, manufacturing jobs by status, notifications
// sent and failed, and event deliveries that failed or were dead-lettered.
//
// LENSFLOW_METRICS chooses where they go: "memory" keeps them in the process
// for the local developer dashboard (Snapshot), "otlp" exports them every
// minute over OTLP to Google's Telemetry API (shared/telemetry), which
// stores them in Cloud Monitoring as Prometheus time series under their
// own names (PromQL {"lensflow.designs.failed"}, which the Terraform alert
// policies query), and "off" drops them. Sums are cumulative, as
// Prometheus series are.
//
// Attributes are small closed sets (lens type, failure reason kind,
// channel, status, function): never ids, never anything about a patient.
// A nil *Metrics records nothing, so code under test may leave it out.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/lensflow/lensflow/shared/telemetry"
)

// Modes of LENSFLOW_METRICS.
const (
	ModeMemory = "memory" // kept in the process, read by Snapshot (local default)
	ModeOTLP   = "otlp"   // exported over OTLP to the Telemetry API, into Cloud Monitoring (gcp default)
	ModeOff    = "off"
)

// ExportInterval is how often metrics are exported (Cloud Monitoring's
// recommended minimum per time series is a few seconds; a minute keeps
// the writes, and the bill, small).
const ExportInterval = 60 * time.Second

// Metric names, which Cloud Monitoring keeps: PromQL {"<name>"}; the
// Telemetry API accepts [a-zA-Z][a-zA-Z0-9_:./]* and attribute keys
// [a-zA-Z_][a-zA-Z0-9_.]*, which a test checks.
const (
	NameScansReceived       = "lensflow.scans.received"
	NameDesignsProduced     = "lensflow.designs.produced"
	NameDesignsFailed       = "lensflow.designs.failed"
	NameDesignLatency       = "lensflow.design.latency"
	NameJobTransitions      = "lensflow.jobs.transitions"
	NameJobsActive          = "lensflow.jobs.active"
	NameNotificationsSent   = "lensflow.notifications.sent"
	NameNotificationsFailed = "lensflow.notifications.failed"
	NameEventsFailed        = "lensflow.events.failed"
	NameEventsDeadLettered  = "lensflow.events.dead_lettered"
)

// Attribute keys.
const (
	KeyFormat   = "format"    // topography file format
	KeyLensType = "lens_type" // scleral, orthok, rgp
	KeyReason   = "reason"    // an error kind (invalid, unavailable, …), never an error text
	KeyStatus   = "status"    // a manufacturing job status
	KeyChannel  = "channel"   // webhook, email
	KeyFunction = "function"  // the function handling an event
	KeyType     = "event_type"
)

// Metrics is a configured MeterProvider and the lab's instruments.
type Metrics struct {
	Provider metric.MeterProvider

	reader   *sdkmetric.ManualReader // memory mode
	flush    func(context.Context) error
	shutdown func(context.Context) error

	scansReceived       metric.Int64Counter
	designsProduced     metric.Int64Counter
	designsFailed       metric.Int64Counter
	designLatency       metric.Float64Histogram
	jobTransitions      metric.Int64Counter
	jobsActive          metric.Int64Gauge
	notificationsSent   metric.Int64Counter
	notificationsFailed metric.Int64Counter
	eventsFailed        metric.Int64Counter
	eventsDeadLettered  metric.Int64Counter
}

// New builds metrics for mode; exp is where otlp mode sends (unused
// otherwise).
func New(ctx context.Context, mode string, exp *telemetry.Exporter) (*Metrics, error) {
	m := &Metrics{flush: nop, shutdown: nop}
	var opts []sdkmetric.Option
	switch mode {
	case ModeOff:
	case ModeMemory:
		m.reader = sdkmetric.NewManualReader()
		opts = append(opts, sdkmetric.WithReader(m.reader))
	case ModeOTLP:
		if exp == nil {
			return nil, fmt.Errorf("metrics (otlp): no exporter connection")
		}
		points, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithGRPCConn(exp.Conn))
		if err != nil {
			return nil, fmt.Errorf("metrics (otlp): %w", err)
		}
		opts = append(opts, sdkmetric.WithResource(exp.Resource),
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(points, sdkmetric.WithInterval(ExportInterval))))
	default:
		return nil, fmt.Errorf("metrics: unknown mode %q (memory, otlp, off)", mode)
	}
	opts = append(opts, sdkmetric.WithView(sdkmetric.NewView(sdkmetric.Instrument{Name: NameDesignLatency},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: LatencyBuckets}})))
	mp := sdkmetric.NewMeterProvider(opts...)
	m.Provider, m.flush, m.shutdown = mp, mp.ForceFlush, mp.Shutdown
	if err := m.instruments(mp.Meter("github.com/lensflow/lensflow")); err != nil {
		return nil, err
	}
	return m, nil
}

// LatencyBuckets are the bucket bounds, in seconds, of the upload-to-design
// latency: a design normally follows its upload within seconds; retries
// after faults take minutes.
var LatencyBuckets = []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800}

func (m *Metrics) instruments(meter metric.Meter) error {
	var errs []error
	counter := func(name, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit("1"))
		errs = append(errs, err)
		return c
	}
	m.scansReceived = counter(NameScansReceived, "Scans accepted from clinics, by file format and lens type.")
	m.designsProduced = counter(NameDesignsProduced, "Lens designs produced from scans, by lens type.")
	m.designsFailed = counter(NameDesignsFailed, "Scans whose design failed for good, by lens type and reason.")
	m.jobTransitions = counter(NameJobTransitions, "Manufacturing jobs entering a status.")
	m.notificationsSent = counter(NameNotificationsSent, "Notifications delivered to clinics, by channel.")
	m.notificationsFailed = counter(NameNotificationsFailed, "Notification attempts that failed, by channel.")
	m.eventsFailed = counter(NameEventsFailed, "Event deliveries a function failed (retried by Pub/Sub), by function and event type.")
	m.eventsDeadLettered = counter(NameEventsDeadLettered, "Events that failed their last delivery attempt and went to a dead-letter topic.")
	h, err := meter.Float64Histogram(NameDesignLatency, metric.WithUnit("s"),
		metric.WithDescription("Time from a scan's upload to its design, in seconds."))
	errs = append(errs, err)
	m.designLatency = h
	g, err := meter.Int64Gauge(NameJobsActive, metric.WithUnit("1"),
		metric.WithDescription("Manufacturing jobs in each status that is not final, as last counted."))
	errs = append(errs, err)
	m.jobsActive = g
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("metrics: instruments: %w", err)
	}
	return nil
}

// Flush exports what has been recorded now (otlp mode). Cloud
// Run throttles the CPU between requests, so a periodic export can be late;
// a function that must be seen promptly (a census) flushes.
func (m *Metrics) Flush(ctx context.Context) error {
	if m == nil {
		return nil
	}
	return m.flush(ctx)
}

// Shutdown exports what is pending and stops the provider.
func (m *Metrics) Shutdown(ctx context.Context) error {
	if m == nil {
		return nil
	}
	return m.shutdown(ctx)
}

// ScanReceived counts an accepted upload.
func (m *Metrics) ScanReceived(ctx context.Context, format, lensType string) {
	if m == nil {
		return
	}
	m.scansReceived.Add(ctx, 1, metric.WithAttributes(attribute.String(KeyFormat, format), attribute.String(KeyLensType, lensType)))
}

// DesignProduced counts a design and records how long after its scan's
// upload it was produced.
func (m *Metrics) DesignProduced(ctx context.Context, lensType string, sinceUpload time.Duration) {
	if m == nil {
		return
	}
	a := metric.WithAttributes(attribute.String(KeyLensType, lensType))
	m.designsProduced.Add(ctx, 1, a)
	m.designLatency.Record(ctx, max(sinceUpload, 0).Seconds(), a)
}

// DesignFailed counts a scan whose design failed for good; reason is an
// error kind.
func (m *Metrics) DesignFailed(ctx context.Context, lensType, reason string) {
	if m == nil {
		return
	}
	m.designsFailed.Add(ctx, 1, metric.WithAttributes(attribute.String(KeyLensType, lensType), attribute.String(KeyReason, reason)))
}

// JobEntered counts a manufacturing job entering status.
func (m *Metrics) JobEntered(ctx context.Context, status string) {
	if m == nil {
		return
	}
	m.jobTransitions.Add(ctx, 1, metric.WithAttributes(attribute.String(KeyStatus, status)))
}

// JobsActive records a census of jobs by status.
func (m *Metrics) JobsActive(ctx context.Context, byStatus map[string]int) {
	if m == nil {
		return
	}
	for s, n := range byStatus {
		m.jobsActive.Record(ctx, int64(n), metric.WithAttributes(attribute.String(KeyStatus, s)))
	}
}

// Notification counts one delivery attempt on channel (webhook, email):
// sent when err is nil, failed otherwise.
func (m *Metrics) Notification(ctx context.Context, channel string, err error) {
	if m == nil {
		return
	}
	a := metric.WithAttributes(attribute.String(KeyChannel, channel))
	if err != nil {
		m.notificationsFailed.Add(ctx, 1, a)
		return
	}
	m.notificationsSent.Add(ctx, 1, a)
}

// EventFailed counts a failed delivery of an event of eventType to
// function; last says it was the subscription's last attempt, so the event
// is now on the dead-letter topic.
func (m *Metrics) EventFailed(ctx context.Context, function, eventType string, last bool) {
	if m == nil {
		return
	}
	a := metric.WithAttributes(attribute.String(KeyFunction, function), attribute.String(KeyType, eventType))
	m.eventsFailed.Add(ctx, 1, a)
	if last {
		m.eventsDeadLettered.Add(ctx, 1, a)
	}
}

func nop(context.Context) error { return nil }
