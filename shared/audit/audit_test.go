package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/audit/audittest"
	"github.com/lensflow/lensflow/shared/logging"
)

func TestConformanceMemory(t *testing.T) {
	audittest.Run(t, func(t *testing.T) (audit.Logger, func() []audit.Record) {
		m := &audit.Memory{}
		return m, m.Records
	})
}

func TestConformanceJSONLines(t *testing.T) {
	audittest.Run(t, func(t *testing.T) (audit.Logger, func() []audit.Record) {
		var buf bytes.Buffer
		return audit.NewJSONLines(&buf), func() []audit.Record {
			var out []audit.Record
			for _, l := range parseLines(t, buf.Bytes()) {
				out = append(out, l.Audit)
			}
			return out
		}
	})
}

// jsonLine is the shape of one line of audit.JSONLines.
type jsonLine struct {
	Severity string            `json:"severity"`
	Message  string            `json:"message"`
	Labels   map[string]string `json:"logging.googleapis.com/labels"`
	Audit    audit.Record      `json:"audit"`
}

// parseLines parses every line strictly: a torn or interleaved line fails.
func parseLines(t *testing.T, b []byte) []jsonLine {
	t.Helper()
	var out []jsonLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		var l jsonLine
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.DisallowUnknownFields()
		if err := d.Decode(&l); err != nil || d.More() {
			t.Fatalf("line %d is not one audit line (%v): %s", n, err, sc.Bytes())
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestJSONLinesShape(t *testing.T) {
	var buf bytes.Buffer
	r := audit.Record{Time: time.Date(2026, 3, 2, 9, 4, 5, 0, time.UTC), Actor: "uid-1", Role: "practitioner",
		Clinic: "demo-north", Action: "scan.read", Resource: "scans/0b9e", Outcome: audit.Denied, RequestID: "req-1"}
	if err := audit.NewJSONLines(&buf).Write(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	ls := parseLines(t, buf.Bytes())
	if len(ls) != 1 {
		t.Fatalf("%d lines, want 1", len(ls))
	}
	l := ls[0]
	for _, c := range []struct{ name, got, want string }{
		{"severity", l.Severity, "NOTICE"},
		{"message", l.Message, "audit scan.read denied"},
		{"label log", l.Labels["log"], "lensflow-audit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
			}
		})
	}
}

// TestJSONLinesCarryTheTrace: a record written while a request or event is
// handled carries its trace and span, so it sits next to the request's log
// lines; one written outside any has none.
func TestJSONLinesCarryTheTrace(t *testing.T) {
	var buf bytes.Buffer
	l := audit.NewJSONLines(&buf)
	l.Project = "proj"
	ctx := logging.WithTrace(context.Background(), logging.Trace{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"})
	r := audit.Record{Actor: "uid-1", Role: "practitioner", Clinic: "demo-north", Action: "scan.read", Resource: "scans/0b9e", Outcome: audit.Success}
	if err := l.Write(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := l.Write(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	var in, out map[string]any
	if len(lines) != 2 || json.Unmarshal(lines[0], &in) != nil || json.Unmarshal(lines[1], &out) != nil {
		t.Fatalf("lines: %s", buf.Bytes())
	}
	if in["logging.googleapis.com/trace"] != "projects/proj/traces/4bf92f3577b34da6a3ce929d0e0e4736" || in["logging.googleapis.com/spanId"] != "00f067aa0ba902b7" {
		t.Errorf("in a request: %s", lines[0])
	}
	if _, ok := out["logging.googleapis.com/trace"]; ok {
		t.Errorf("outside any request: %s", lines[1])
	}
}
