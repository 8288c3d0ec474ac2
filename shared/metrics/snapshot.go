package metrics

import (
	"context"
	"errors"
	"sort"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Series is one metric as the local dashboard shows it.
type Series struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Unit        string  `json:"unit"`
	Kind        string  `json:"kind"` // counter, gauge, histogram
	Points      []Point `json:"points"`
}

// Point is one attribute set's value. Counters and gauges have Value;
// histograms have Count, Sum, Buckets (upper bounds with their counts;
// the last bucket's bound is +Inf, written as null) and estimated
// quantiles.
type Point struct {
	Attributes map[string]string `json:"attributes"`
	Value      *int64            `json:"value,omitempty"`
	Count      *uint64           `json:"count,omitempty"`
	Sum        *float64          `json:"sum,omitempty"`
	P50        *float64          `json:"p50,omitempty"`
	P95        *float64          `json:"p95,omitempty"`
	Buckets    []Bucket          `json:"buckets,omitempty"`
}

// Bucket is a histogram bucket: observations at most Le (nil: no bound).
type Bucket struct {
	Le    *float64 `json:"le"`
	Count uint64   `json:"count"`
}

// ErrNotKept is Snapshot's error when metrics are not kept in memory.
var ErrNotKept = errors.New("metrics: not kept in memory (LENSFLOW_METRICS is not memory)")

// Snapshot returns the current value of every metric recorded so far, by
// name (memory mode only).
func (m *Metrics) Snapshot(ctx context.Context) ([]Series, error) {
	if m == nil || m.reader == nil {
		return nil, ErrNotKept
	}
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(ctx, &rm); err != nil {
		return nil, err
	}
	var out []Series
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			s := Series{Name: md.Name, Description: md.Description, Unit: md.Unit}
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				s.Kind = "counter"
				for _, p := range d.DataPoints {
					v := p.Value
					s.Points = append(s.Points, Point{Attributes: attrs(p.Attributes), Value: &v})
				}
			case metricdata.Gauge[int64]:
				s.Kind = "gauge"
				for _, p := range d.DataPoints {
					v := p.Value
					s.Points = append(s.Points, Point{Attributes: attrs(p.Attributes), Value: &v})
				}
			case metricdata.Histogram[float64]:
				s.Kind = "histogram"
				for _, p := range d.DataPoints {
					s.Points = append(s.Points, histogramPoint(p))
				}
			default:
				continue
			}
			sort.Slice(s.Points, func(i, j int) bool { return key(s.Points[i].Attributes) < key(s.Points[j].Attributes) })
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Total returns the sum of a counter's or gauge's values over the points
// whose attributes include every pair in match (0 when there are none).
func Total(series []Series, name string, match map[string]string) int64 {
	var n int64
	for _, s := range series {
		if s.Name != name {
			continue
		}
	points:
		for _, p := range s.Points {
			for k, v := range match {
				if p.Attributes[k] != v {
					continue points
				}
			}
			if p.Value != nil {
				n += *p.Value
			}
			if p.Count != nil {
				n += int64(*p.Count)
			}
		}
	}
	return n
}

func histogramPoint(p metricdata.HistogramDataPoint[float64]) Point {
	count, sum := p.Count, p.Sum
	out := Point{Attributes: attrs(p.Attributes), Count: &count, Sum: &sum}
	for i, c := range p.BucketCounts {
		b := Bucket{Count: c}
		if i < len(p.Bounds) {
			le := p.Bounds[i]
			b.Le = &le
		}
		out.Buckets = append(out.Buckets, b)
	}
	out.P50, out.P95 = quantile(p, 0.5), quantile(p, 0.95)
	return out
}

// quantile estimates the q-quantile of a histogram by linear
// interpolation within the bucket holding it (as Prometheus's
// histogram_quantile does); above the last bound it answers the maximum.
func quantile(p metricdata.HistogramDataPoint[float64], q float64) *float64 {
	if p.Count == 0 {
		return nil
	}
	rank := q * float64(p.Count)
	var seen float64
	lower := 0.0
	if mn, ok := p.Min.Value(); ok {
		lower = mn
	}
	for i, c := range p.BucketCounts {
		upper := 0.0
		if i < len(p.Bounds) {
			upper = p.Bounds[i]
		} else if mx, ok := p.Max.Value(); ok {
			upper = mx
		}
		if c > 0 && seen+float64(c) >= rank {
			lo := max(lower, 0)
			if i > 0 && i-1 < len(p.Bounds) {
				lo = max(p.Bounds[i-1], lo)
			}
			v := lo + (upper-lo)*(rank-seen)/float64(c)
			if mx, ok := p.Max.Value(); ok {
				v = min(v, mx)
			}
			return &v
		}
		seen += float64(c)
	}
	if mx, ok := p.Max.Value(); ok {
		return &mx
	}
	return nil
}

func attrs(s attribute.Set) map[string]string {
	out := make(map[string]string, s.Len())
	for _, kv := range s.ToSlice() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

func key(a map[string]string) string {
	ks := make([]string, 0, len(a))
	for k, v := range a {
		ks = append(ks, k+"="+v)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}
