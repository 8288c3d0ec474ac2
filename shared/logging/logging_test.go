package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/logging"
)

func TestLatencyIsAProtobufDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{time.Nanosecond, "0.000000001s"},
		{12300 * time.Microsecond, "0.0123s"},
		{1500 * time.Millisecond, "1.5s"},
		{2*time.Minute + 3*time.Second, "123s"},
	} {
		if got := logging.Latency(c.d); got != c.want {
			t.Errorf("Latency(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestLinesAreCloudLoggingJSON(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, "proj", slog.LevelDebug)
	ctx := logging.WithTrace(context.Background(), logging.Trace{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", Sampled: true})
	log.WarnContext(ctx, "in a request", "requestId", "r1")
	log.Info("outside any request")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), buf.Bytes())
	}
	var in, out map[string]any
	if err := json.Unmarshal(lines[0], &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &out); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"severity": "WARNING", "message": "in a request",
		"logging.googleapis.com/trace":  "projects/proj/traces/4bf92f3577b34da6a3ce929d0e0e4736",
		"logging.googleapis.com/spanId": "00f067aa0ba902b7", "logging.googleapis.com/trace_sampled": true, "requestId": "r1"} {
		if in[k] != want {
			t.Errorf("%s = %v, want %v", k, in[k], want)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, in["time"].(string)); err != nil {
		t.Errorf("time: %v", err)
	}
	if _, ok := out["logging.googleapis.com/trace"]; ok || out["severity"] != "INFO" {
		t.Errorf("a line outside any request: %v", out)
	}
}
