package cloudaudit_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	logpb "cloud.google.com/go/logging/apiv2/loggingpb"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/api/option"
	mrpb "google.golang.org/genproto/googleapis/api/monitoredres"
	ltype "google.golang.org/genproto/googleapis/logging/type"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/audit/audittest"
	"github.com/lensflow/lensflow/shared/audit/cloudaudit"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/logging"
)

const (
	project = "test-project"
	logName = "projects/test-project/logs/lensflow-audit"
)

// fakeLogging is an in-process Cloud Logging API that keeps the entries it
// accepts. fail, when set, answers every write with that error; hang makes
// every write wait until its caller gives up.
type fakeLogging struct {
	logpb.UnimplementedLoggingServiceV2Server
	mu      sync.Mutex
	entries []*logpb.LogEntry // as stored: log name, resource and labels of the request applied
	fail    error
	hang    bool
}

func (f *fakeLogging) WriteLogEntries(ctx context.Context, req *logpb.WriteLogEntriesRequest) (*logpb.WriteLogEntriesResponse, error) {
	f.mu.Lock()
	fail, hang := f.fail, f.hang
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if fail != nil {
		return nil, fail
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range req.Entries {
		e = proto.Clone(e).(*logpb.LogEntry) // the request belongs to gRPC
		if e.LogName == "" {
			e.LogName = req.LogName
		}
		if e.Resource == nil {
			e.Resource = proto.Clone(req.Resource).(*mrpb.MonitoredResource)
		}
		for k, v := range req.Labels {
			if _, ok := e.Labels[k]; !ok {
				if e.Labels == nil {
					e.Labels = map[string]string{}
				}
				e.Labels[k] = v
			}
		}
		f.entries = append(f.entries, e)
	}
	return &logpb.WriteLogEntriesResponse{}, nil
}

// audited returns the stored entries of the audit log (the client library
// also writes a diagnostic entry once per process, to another log).
func (f *fakeLogging) audited() []*logpb.LogEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*logpb.LogEntry
	for _, e := range f.entries {
		if e.LogName == logName {
			out = append(out, e)
		}
	}
	return out
}

func (f *fakeLogging) set(fail error, hang bool) {
	f.mu.Lock()
	f.fail, f.hang = fail, hang
	f.mu.Unlock()
}

// start serves a fake Logging API on 127.0.0.1 and returns it with an
// adapter writing to it.
func start(t *testing.T, timeout time.Duration) (*fakeLogging, *cloudaudit.Logger) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeLogging{}
	srv := grpc.NewServer()
	logpb.RegisterLoggingServiceV2Server(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	l, err := cloudaudit.New(context.Background(), cloudaudit.Config{
		Project:  project,
		Timeout:  timeout,
		Resource: &mrpb.MonitoredResource{Type: "cloud_run_revision", Labels: map[string]string{"service_name": "scans"}},
		ClientOptions: []option.ClientOption{
			option.WithEndpoint(lis.Addr().String()),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return fake, l
}

// recordOf parses an entry's JSON payload back into its record.
func recordOf(t *testing.T, e *logpb.LogEntry) (message string, r audit.Record) {
	t.Helper()
	b, err := json.Marshal(e.GetJsonPayload().AsMap())
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Message string       `json:"message"`
		Audit   audit.Record `json:"audit"`
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		t.Fatalf("payload %s: %v", b, err)
	}
	return p.Message, p.Audit
}

func TestConformance(t *testing.T) {
	audittest.Run(t, func(t *testing.T) (audit.Logger, func() []audit.Record) {
		fake, l := start(t, 0)
		return l, func() []audit.Record {
			var out []audit.Record
			for _, e := range fake.audited() {
				_, r := recordOf(t, e)
				out = append(out, r)
			}
			return out
		}
	})
}

const (
	traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	spanID  = "00f067aa0ba902b7"
)

func otelSpan(t *testing.T) trace.SpanContext {
	t.Helper()
	tid, _ := trace.TraceIDFromHex(traceID)
	sid, _ := trace.SpanIDFromHex(spanID)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	if !sc.IsValid() {
		t.Fatal("invalid span context")
	}
	return sc
}

func TestWriteEntry(t *testing.T) {
	rec := audit.Record{Time: time.Date(2026, 3, 2, 9, 4, 5, 123000000, time.UTC), Actor: "uid-1", Role: "practitioner",
		Clinic: "demo-north", Action: "scan.read", Resource: "scans/0b9e", Outcome: audit.Success, RequestID: "req-1"}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name        string
		ctx         context.Context
		wantTrace   string
		wantSpan    string
		wantSampled bool
	}{
		{"trace of the request's log lines", logging.WithTrace(context.Background(), logging.Trace{TraceID: traceID, SpanID: spanID, Sampled: true}),
			"projects/test-project/traces/" + traceID, spanID, true},
		{"OpenTelemetry span only", trace.ContextWithSpanContext(context.Background(), otelSpan(t)),
			"projects/test-project/traces/" + traceID, spanID, true},
		{"no trace", context.Background(), "", "", false},
		{"caller already gone: the record is still written", logging.WithTrace(canceled, logging.Trace{TraceID: traceID, SpanID: spanID}),
			"projects/test-project/traces/" + traceID, spanID, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake, l := start(t, 0)
			if err := l.Write(tc.ctx, rec); err != nil {
				t.Fatalf("Write: %v", err)
			}
			es := fake.audited()
			if len(es) != 1 {
				t.Fatalf("%d audit entries, want 1", len(es))
			}
			e := es[0]
			msg, got := recordOf(t, e)
			checks := []struct {
				what      string
				got, want any
			}{
				{"log name", e.LogName, logName},
				{"severity", e.Severity, ltype.LogSeverity_NOTICE},
				{"labels", e.Labels, map[string]string{"log": "lensflow-audit"}},
				{"resource type", e.GetResource().GetType(), "cloud_run_revision"},
				{"timestamp", e.GetTimestamp().AsTime(), rec.Time},
				{"insert id set", e.InsertId != "", true},
				{"message", msg, "audit scan.read success"},
				{"record", got, rec},
				{"trace", e.Trace, tc.wantTrace},
				{"span id", e.SpanId, tc.wantSpan},
				{"trace sampled", e.TraceSampled, tc.wantSampled},
			}
			for _, c := range checks {
				if !equal(c.got, c.want) {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]string:
		y := b.(map[string]string)
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if y[k] != v {
				return false
			}
		}
		return true
	case time.Time:
		return x.Equal(b.(time.Time))
	case audit.Record:
		y := b.(audit.Record)
		xt, yt := x.Time, y.Time
		x.Time, y.Time = time.Time{}, time.Time{}
		return xt.Equal(yt) && x == y
	}
	return a == b
}

func TestWriteErrors(t *testing.T) {
	cases := []struct {
		name string
		fail error
		hang bool
	}{
		{"permission denied", status.Error(codes.PermissionDenied, "no logWriter role"), false},
		{"invalid argument", status.Error(codes.InvalidArgument, "bad entry"), false},
		{"unavailable until the timeout (retried)", status.Error(codes.Unavailable, "down"), false},
		{"no answer within the timeout", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake, l := start(t, 300*time.Millisecond)
			fake.set(tc.fail, tc.hang)
			// The caller's own (longer) deadline does not stretch the bound.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := l.Write(ctx, audit.Record{Action: "scan.read", Outcome: audit.Success, RequestID: "req-e"})
			if err == nil {
				t.Fatal("Write succeeded, want an error")
			}
			var ee *errs.Error
			if !errors.As(err, &ee) || ee.Kind != errs.Unavailable {
				t.Errorf("error %v, want kind Unavailable", err)
			}
			if n := len(fake.audited()); n != 0 {
				t.Errorf("%d entries stored", n)
			}
		})
	}
}

func TestWriteAfterClose(t *testing.T) {
	_, l := start(t, time.Second)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Write(context.Background(), audit.Record{Action: "scan.read", RequestID: "req-c"}); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestNewNeedsProject(t *testing.T) {
	if _, err := cloudaudit.New(context.Background(), cloudaudit.Config{}); err == nil {
		t.Fatal("New without a project succeeded")
	}
}
