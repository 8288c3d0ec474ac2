package scans_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/scans"
)

// design uploads a file and runs the design step on it.
func (f *fixture) design(t *testing.T, in scans.UploadInput) (scans.Scan, error) {
	t.Helper()
	ctx := context.Background()
	sc, err := f.svc.Upload(ctx, f.north, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DesignScan(ctx, scans.ScanReceived{ScanID: sc.ID, ClinicID: sc.ClinicID, PatientID: sc.PatientID}, "req"); err != nil {
		t.Fatal(err)
	}
	return f.svc.Get(ctx, f.north, sc.ID)
}

// The refraction as practitioners write it reaches the design: 3 D of
// with-the-rule corneal cylinder with a matching refraction gives a
// bitoric RGP.
func TestUploadSpheroCylinder(t *testing.T) {
	f := newFixture(t)
	pid := f.patient(t, f.north)
	c := topotest.Cornea{R0MM: 7.85, R0YMM: 7.35, P: 0.75, NoiseUM: 0.5, Eye: topo.OD}
	sc, err := f.design(t, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", Rx: "-2.00/-3.25x180", Vertex: "12", HVID: "11.8", File: c.CSV()})
	if err != nil || sc.Status != scans.StatusDesigned {
		t.Fatalf("%+v %v", sc, err)
	}
	if sc.Rx == nil || sc.Rx.CylinderD != -3.25 || sc.Rx.AxisDeg != 180 || sc.Rx.VertexMM != 12 || *sc.RxD != -2 {
		t.Fatalf("refraction recorded %+v", sc.Rx)
	}
	d, err := f.svc.GetDesign(context.Background(), f.north, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Lens.Toric || d.Lens.RGP == nil || d.Lens.RGP.Bitoric == nil || len(d.Lens.Meridians) != 2 {
		t.Fatalf("not a bitoric lens: %+v", d.Lens.RGP)
	}
	if _, err := f.svc.Upload(context.Background(), f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", Rx: "-2.00/-1.25", File: c.CSV()}); errs.FieldOf(err) != "rx" {
		t.Errorf("a cylinder without an axis: %v", err)
	}
	if _, err := f.svc.Upload(context.Background(), f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", Vertex: "12", File: c.CSV()}); errs.FieldOf(err) != "vertex" {
		t.Errorf("a vertex without a refraction: %v", err)
	}
}

// Ortho-k on a keratoconic cornea fails with a reason naming the
// override; with orthokOverride=true it is designed, the scan records it
// and the audit log holds the override.
func TestOrthoKOverride(t *testing.T) {
	f := newFixture(t)
	pid := f.patient(t, f.north)
	cone := topotest.Cornea{R0MM: 7.6, P: 0.8, NoiseUM: 1, Eye: topo.OD, ConeUM: 60, ConeXMM: -0.4, ConeYMM: -1.2}
	sc, err := f.design(t, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "orthok", Rx: "-2.50", HVID: "11.6", File: cone.CSV()})
	if err != nil || sc.Status != scans.StatusFailed || !strings.Contains(sc.Reason, "orthokOverride=true") {
		t.Fatalf("ortho-k on a cone: %+v %v", sc, err)
	}
	sc, err = f.design(t, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "orthok", Rx: "-2.50", HVID: "11.6", OrthoKOverride: "true", File: cone.CSV()})
	if err != nil || sc.Status != scans.StatusDesigned || !sc.OrthoKOverride {
		t.Fatalf("ortho-k with the override: %+v %v", sc, err)
	}
	d, err := f.svc.GetDesign(context.Background(), f.north, sc.ID)
	if err != nil || d.Screening == nil || d.Screening.Override == "" {
		t.Fatalf("design %+v %v", d, err)
	}
	overrides := 0
	for _, r := range f.audit.Records() {
		if r.Action == "orthok.override" && r.Resource == "scans/"+sc.ID {
			overrides++
		}
	}
	if overrides != 1 {
		t.Errorf("%d orthok.override audit records, want 1", overrides)
	}
	for _, bad := range []scans.UploadInput{
		{PatientID: pid, Eye: "OD", LensType: "scleral", OrthoKOverride: "true", File: cone.CSV()},
		{PatientID: pid, Eye: "OD", LensType: "orthok", OrthoKOverride: "yes", File: cone.CSV()},
	} {
		if _, err := f.svc.Upload(context.Background(), f.north, bad); errs.FieldOf(err) != "orthokOverride" {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// A CSO export as the device writes it (Italian header, decimal comma,
// one value per line, elevations negative below the apex, CRLF) is
// detected on upload, its variants recorded, and designed with the
// device's Sim-K beside the engine's.
func TestUploadRawDeviceExport(t *testing.T) {
	f := newFixture(t)
	pid := f.patient(t, f.north)
	c := topotest.Cornea{R0MM: 7.82, R0YMM: 7.64, P: 0.78, AxisDeg: 175, NoiseUM: 1, Eye: topo.OD, ApexXMM: 0.25, ApexYMM: -0.3}
	sc, err := f.design(t, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "scleral", Rx: "-4.25", File: c.CSORawFile()})
	if err != nil || sc.Status != scans.StatusDesigned || sc.Format != topo.FormatCSORaw {
		t.Fatalf("%+v %v", sc, err)
	}
	for _, want := range []string{topo.LayoutDecimalComma, topo.LayoutOneValuePerLine, topo.LayoutElevation, topo.LayoutCRLF, topo.LayoutItalianKeys} {
		if !strings.Contains(strings.Join(sc.Layout, "|"), want) {
			t.Errorf("layout %q lacks %q", sc.Layout, want)
		}
	}
	d, err := f.svc.GetDesign(context.Background(), f.north, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	dev := d.Cornea.DeviceSimK
	if dev == nil {
		t.Fatal("no device Sim-K")
	}
	// The device's Sim-K and the engine's agree.
	if d := d.Cornea.SimK; abs(d.FlatKD-dev.FlatKD) > 0.15 || abs(d.SteepKD-dev.SteepKD) > 0.15 {
		t.Errorf("engine Sim-K %+v, device %+v", d, dev)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// A Pentacam-style grid as exports write it (tab-separated header lines,
// -1000 for no data) is detected and designed.
func TestUploadPentacamTabs(t *testing.T) {
	f := newFixture(t)
	pid := f.patient(t, f.north)
	c := topotest.Cornea{R0MM: 7.7, R0YMM: 7.5, P: 0.8, AxisDeg: 95, NoiseUM: 1, Eye: topo.OS, ApexXMM: -0.3, ApexYMM: -0.2, Lid: true, LidYMM: 3.4}
	file := c.PentacamFile(topotest.TabHeader(), topotest.Missing("-1000"))
	sc, err := f.design(t, scans.UploadInput{PatientID: pid, Eye: "OS", LensType: "rgp", Rx: "-1.75/-1.00x95", File: file})
	if err != nil || sc.Status != scans.StatusDesigned || sc.Format != topo.FormatPentacam {
		t.Fatalf("%+v %v", sc, err)
	}
	layout := strings.Join(sc.Layout, "|")
	if !strings.Contains(layout, topo.LayoutTabHeader) || !strings.Contains(layout, topo.LayoutMissingMinus1000) {
		t.Errorf("layout %q", sc.Layout)
	}
}
