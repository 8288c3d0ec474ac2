package tracing_test

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/tracing"
)

func TestStoreKeepsTheLastSpansByTrace(t *testing.T) {
	s := tracing.NewStore(3)
	prov := newProvider(s)
	tr := tracing.Tracer(prov)
	ctx, root := tr.Start(context.Background(), "root")
	for i := range 4 {
		_, sp := tr.Start(ctx, fmt.Sprint("child", i))
		sp.End()
	}
	root.End()
	got := s.Trace(root.SpanContext().TraceID().String())
	if s.Len() != 3 || len(got) != 3 {
		t.Fatalf("kept %d spans, %d of the trace; want the last 3", s.Len(), len(got))
	}
	names := map[string]string{}
	for _, sp := range got {
		names[sp.Name] = sp.ParentSpanID
	}
	if _, ok := names["child0"]; ok {
		t.Fatalf("the oldest span was kept: %v", names)
	}
	if names["child3"] != root.SpanContext().SpanID().String() || names["root"] != "" {
		t.Fatalf("parents %v, want child3 under root and root without a parent", names)
	}
	if other := s.Trace("0123456789abcdef0123456789abcdef"); len(other) != 0 {
		t.Fatalf("another trace's spans: %v", other)
	}
}

func TestStampAndProducer(t *testing.T) {
	prov := newProvider(tracing.NewStore(10))
	ctx, sp := tracing.Tracer(prov).Start(context.Background(), "request")
	defer sp.End()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		extras map[string]string
		want   trace.SpanID // zero: no producer
	}{
		{"span in ctx", ctx, nil, sp.SpanContext().SpanID()},
		{"other extensions kept", ctx, map[string]string{"lab": "l1"}, sp.SpanContext().SpanID()},
		{"no span", context.Background(), nil, trace.SpanID{}},
		{"already stamped", ctx, map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
			trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31}},
		{"malformed", context.Background(), map[string]string{"traceparent": "00-zz-yy-01"}, trace.SpanID{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ports.Event{ID: "e1", Type: "t", Source: "/s", Extras: tc.extras}
			before := fmt.Sprint(tc.extras)
			e := tracing.Stamp(tc.ctx, in)
			if fmt.Sprint(tc.extras) != before {
				t.Fatalf("Stamp changed the caller's extensions: %v", tc.extras)
			}
			if tc.extras["lab"] != "" && e.Extras["lab"] != tc.extras["lab"] {
				t.Fatalf("extension lost: %v", e.Extras)
			}
			p, ok := tracing.Producer(e)
			if ok != tc.want.IsValid() || p.SpanID() != tc.want {
				t.Fatalf("producer %v %v, want %v", p.SpanID(), ok, tc.want)
			}
		})
	}
}

func TestNewModes(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		wantErr   bool
		wantStore bool
	}{
		{tracing.ModeMemory, false, true},
		{tracing.ModeOff, false, false},
		{"zipkin", true, false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			tr, err := tracing.New(context.Background(), tc.mode, nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer tr.Shutdown(context.Background())
			if (tr.Store != nil) != tc.wantStore {
				t.Fatalf("store %v, want one %v", tr.Store, tc.wantStore)
			}
			_, sp := tracing.Tracer(tr.Provider).Start(context.Background(), "x")
			sp.End()
			if tc.wantStore && len(tr.Store.Trace(sp.SpanContext().TraceID().String())) != 1 {
				t.Fatal("memory mode did not keep the span")
			}
		})
	}
}
