package scans_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/scans"
)

// largeScan is the largest scan an upload accepts (topotest.Large).
func largeScan(tb testing.TB) []byte {
	tb.Helper()
	b := topotest.Large().CSV()
	if len(b) > scans.MaxScanBytes || len(b) < scans.MaxScanBytes*9/10 {
		tb.Fatalf("large scan is %d bytes, want just under %d", len(b), scans.MaxScanBytes)
	}
	return b
}

// peakHeap samples the live heap every millisecond while fn runs and
// returns its highest value above the heap before fn (a sampled lower
// bound of the peak; the benchmarks report it, nothing asserts on it).
func peakHeap(fn func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// BenchmarkUploadMemory is one upload of a 16 MiB scan (parse, validate,
// encode the surface, seal and store file and surface, record): B/op is
// all it allocates, peak-MB the most of it alive at once, per-byte that
// over the file's size (the figure behind scans.UploadMemoryPerByte).
func BenchmarkUploadMemory(b *testing.B) {
	f := newFixture(b)
	pid := f.patient(b, f.north)
	file := largeScan(b)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		peak = max(peak, peakHeap(func() {
			if _, err := f.svc.Upload(context.Background(), f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "scleral", File: file}); err != nil {
				b.Fatal(err)
			}
		}))
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	b.ReportMetric(float64(peak)/float64(len(file)), "per-byte")
}

// BenchmarkDesignMemory is the design of a 16 MiB scan (read, open and
// decode its surface, fit, design, seal): the figure behind
// scans.DesignMemoryPerByte.
func BenchmarkDesignMemory(b *testing.B) {
	f := newFixture(b)
	pid := f.patient(b, f.north)
	file := largeScan(b)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		b.StopTimer()
		sc, err := f.svc.Upload(context.Background(), f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "scleral", File: file})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		peak = max(peak, peakHeap(func() {
			if err := f.svc.DesignScan(context.Background(), scans.ScanReceived{ScanID: sc.ID, ClinicID: sc.ClinicID, PatientID: sc.PatientID}, "bench"); err != nil {
				b.Fatal(err)
			}
		}))
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	b.ReportMetric(float64(peak)/float64(len(file)), "per-byte")
}

// TestReadsThatFitWaitForMemory: the map, like a design, fits the cornea
// again, so it waits for the memory budget (keyed by the scan's clinic)
// and gives up, holding nothing, when its request ends first.
func TestReadsThatFitWaitForMemory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.patient(t, f.north)
	sc, err := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: sampleCSV()})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Memory = &admission.Pool{Capacity: 1 << 30}
	held, _ := f.svc.Memory.TryAcquire("other", 1<<30)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := f.svc.Map(short, f.north, sc.ID); !errs.Is(errs.Unavailable, err) {
		t.Fatalf("map with the memory budget in use: %v, want Unavailable", err)
	}
	held()
	if _, err := f.svc.Map(ctx, f.north, sc.ID); err != nil {
		t.Fatalf("map once the memory is free: %v", err)
	}
	if all, _ := f.svc.Memory.InUse(""); all != 0 {
		t.Fatalf("%d bytes still held after the map", all)
	}
}
