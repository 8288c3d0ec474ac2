// Package telemetry is how lensflow's traces and metrics leave a process in
// production: OTLP over gRPC to Google's Telemetry API
// (telemetry.googleapis.com), which stores spans in Cloud Trace and metrics
// in Cloud Monitoring as Prometheus time series (queried with PromQL, by
// the OpenTelemetry name: {"lensflow.designs.failed"}). One connection,
// authenticated with the process's Google credentials, carries both
// signals, and one resource names the process on both.
//
// The exporters themselves are OpenTelemetry's (otlptracegrpc,
// otlpmetricgrpc); shared/tracing and shared/metrics build them on an
// Exporter from here.
package telemetry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/google/uuid"
	"go.opentelemetry.io/contrib/detectors/gcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/oauth"
)

// GoogleEndpoint is the Telemetry API's OTLP/gRPC address.
const GoogleEndpoint = "telemetry.googleapis.com:443"

// Scope is the OAuth scope the exports are made with.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

// KeyProject is the resource attribute that tells the Telemetry API which
// project the data belongs to.
const KeyProject = attribute.Key("gcp.project_id")

// Exporter is where the OTLP exporters send, and what they say the
// process is.
type Exporter struct {
	Conn     *grpc.ClientConn
	Resource *resource.Resource
}

// Config chooses the endpoint and project of Google.
type Config struct {
	Endpoint string // host:port; empty means GoogleEndpoint
	Project  string // required
	// RootCAs verify the endpoint's certificate; nil means the system's.
	RootCAs *x509.CertPool
}

// Google connects to the Telemetry API with Application Default
// Credentials (on Cloud Run, the service's own service account). Nothing
// is sent, and no token fetched, until the first export.
func Google(ctx context.Context, c Config) (*Exporter, error) {
	if c.Project == "" {
		return nil, fmt.Errorf("telemetry: no project (GOOGLE_CLOUD_PROJECT)")
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = GoogleEndpoint
	}
	creds, err := oauth.NewApplicationDefault(ctx, Scope)
	if err != nil {
		return nil, fmt.Errorf("telemetry: credentials: %w", err)
	}
	conn, err := grpc.NewClient(endpoint,
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12})),
		grpc.WithPerRPCCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("telemetry: %s: %w", endpoint, err)
	}
	res, err := Resource(ctx, c.Project)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &Exporter{Conn: conn, Resource: res}, nil
}

// Close closes the connection (after the exporters have shut down).
func (e *Exporter) Close() error {
	if e == nil || e.Conn == nil {
		return nil
	}
	return e.Conn.Close()
}

// Resource describes this process: what Google's detector finds (on Cloud
// Run the region, the service and the instance), the project, the service
// name (K_SERVICE, or "lensflow") and an instance id. Cloud Monitoring
// makes the instance id a label of every time series and refuses points
// without one, so two instances never write the same series.
func Resource(ctx context.Context, project string) (*resource.Resource, error) {
	detected, err := resource.New(ctx, resource.WithDetectors(gcp.NewDetector()))
	if err != nil && detected == nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	instance := uuid.NewString()
	if v, ok := detected.Set().Value(semconv.FaaSInstanceKey); ok && v.AsString() != "" {
		instance = v.AsString()
	}
	service := os.Getenv("K_SERVICE")
	if service == "" {
		service = "lensflow"
	}
	own := resource.NewSchemaless(semconv.ServiceName(service), semconv.ServiceNamespace("lensflow"),
		semconv.ServiceInstanceID(instance), KeyProject.String(project))
	return resource.Merge(detected, own)
}
