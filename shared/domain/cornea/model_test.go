package cornea_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
)

// toric describes a synthetic biconic cornea with its flat meridian at any
// TABO axis, in the examiner's view (topotest.Cornea only makes toricity
// along x and y). Zero fields take the defaults noted.
type toric struct {
	FlatR, SteepR   float64 // apical radii, mm (7.8, 7.6)
	FlatP, SteepP   float64 // shape factors (0.75, 0.75)
	AxisDeg         float64 // TABO axis of the flat meridian
	NoiseUM         float64
	Seed            uint64
	Lid             bool
	LidY            float64 // points above it dropped when Lid
	ApexX, ApexY    float64
	ApexZ           float64
	RadiusMM        float64 // sampled radius (7)
	Eye             topo.Eye
	NasalFrame      bool // deliver an OS in the nasal frame (x mirrored)
	FlatPSet, Fixed bool // FlatPSet: take FlatP/SteepP literally even when 0
}

func (c toric) withDefaults() toric {
	if c.FlatR == 0 {
		c.FlatR = 7.8
	}
	if c.SteepR == 0 {
		c.SteepR = 7.6
	}
	if c.FlatP == 0 && !c.FlatPSet {
		c.FlatP = 0.75
	}
	if c.SteepP == 0 && !c.FlatPSet {
		c.SteepP = 0.75
	}
	if c.RadiusMM == 0 {
		c.RadiusMM = 7
	}
	if c.Eye == "" {
		c.Eye = topo.OD
	}
	return c
}

// meridian returns the true section along a TABO meridian.
func (c toric) meridian(deg float64) cornea.Conic {
	c = c.withDefaults()
	b := cornea.Biconic{FlatR0MM: c.FlatR, SteepR0MM: c.SteepR, FlatP: c.FlatP, SteepP: c.SteepP, FlatAxisDeg: c.AxisDeg}
	return b.Meridian(deg)
}

func (c toric) surface() *topo.Surface {
	c = c.withDefaults()
	rng := rand.New(rand.NewPCG(c.Seed+1, 77))
	th := c.AxisDeg * math.Pi / 180
	cs, sn := math.Cos(th), math.Sin(th)
	cf, cst := 1/c.FlatR, 1/c.SteepR
	s := &topo.Surface{Eye: c.Eye}
	n := int(math.Round(c.RadiusMM / 0.1))
	for i := -n; i <= n; i++ {
		for j := -n; j <= n; j++ {
			x, y := float64(j)/10, float64(i)/10
			if x*x+y*y > c.RadiusMM*c.RadiusMM || (c.Lid && y > c.LidY) {
				continue
			}
			dx, dy := x-c.ApexX, y-c.ApexY
			u, v := dx*cs+dy*sn, dy*cs-dx*sn
			disc := 1 - c.FlatP*cf*cf*u*u - c.SteepP*cst*cst*v*v
			if disc <= 0 {
				continue
			}
			z := c.ApexZ + (cf*u*u+cst*v*v)/(1+math.Sqrt(disc)) + rng.NormFloat64()*c.NoiseUM/1000
			s.X, s.Y, s.Z = append(s.X, x), append(s.Y, y), append(s.Z, z)
		}
	}
	if c.NasalFrame {
		ns, err := s.Nasal()
		if err != nil {
			panic(err)
		}
		return ns
	}
	return s
}

// axisDiff is the difference between two axes modulo 180 degrees.
func axisDiff(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 180)
	return min(d, 180-d)
}

func TestFitModelRecoversToric(t *testing.T) {
	type tc struct {
		name   string
		c      toric
		opts   cornea.ModelOptions
		tolK   float64 // mm
		tolP   float64
		tolAx  float64 // degrees
		tolSag float64 // mm
	}
	var tests []tc
	for _, axis := range []float64{0, 30, 90, 135, 179} {
		tests = append(tests,
			tc{name: fmt.Sprintf("axis %g exact", axis), c: toric{AxisDeg: axis}, tolK: 1e-6, tolP: 1e-5, tolAx: 1e-4, tolSag: 1e-7},
			tc{name: fmt.Sprintf("axis %g 1 micron", axis), c: toric{AxisDeg: axis, NoiseUM: 1, Seed: uint64(axis)}, tolK: 0.01, tolP: 0.02, tolAx: 2, tolSag: 0.002},
			tc{name: fmt.Sprintf("axis %g 3 micron", axis), c: toric{AxisDeg: axis, NoiseUM: 3, Seed: uint64(axis) + 1}, tolK: 0.02, tolP: 0.04, tolAx: 2, tolSag: 0.002},
		)
	}
	tests = append(tests,
		tc{name: "OS examiner's view, axis 150, 2 micron", c: toric{AxisDeg: 150, NoiseUM: 2, Eye: topo.OS, Seed: 5}, tolK: 0.02, tolP: 0.04, tolAx: 2, tolSag: 0.002},
		tc{name: "OS nasal frame, axis 150, 2 micron", c: toric{AxisDeg: 150, NoiseUM: 2, Eye: topo.OS, NasalFrame: true, Seed: 5}, tolK: 0.02, tolP: 0.04, tolAx: 2, tolSag: 0.002},
		tc{name: "OS nasal frame, axis 20 exact", c: toric{AxisDeg: 20, Eye: topo.OS, NasalFrame: true}, tolK: 1e-6, tolP: 1e-5, tolAx: 1e-4, tolSag: 1e-7},
		tc{name: "lid at 3.5 mm, axis 90, 2 micron", c: toric{AxisDeg: 90, NoiseUM: 2, Lid: true, LidY: 3.5, Seed: 6}, tolK: 0.02, tolP: 0.04, tolAx: 2, tolSag: 0.002},
		tc{name: "lid at 2 mm, axis 10 exact", c: toric{AxisDeg: 10, Lid: true, LidY: 2}, tolK: 1e-6, tolP: 1e-5, tolAx: 1e-4, tolSag: 1e-7},
		tc{name: "decentred apex, axis 60, 2 micron", c: toric{AxisDeg: 60, NoiseUM: 2, ApexX: 0.3, ApexY: -0.2, ApexZ: 0.01, Seed: 7},
			opts: cornea.ModelOptions{}, tolK: 0.02, tolP: 0.04, tolAx: 2, tolSag: 0.002},
		tc{name: "high toricity 8.2/7.2, p 0.9/0.5, axis 45", c: toric{FlatR: 8.2, SteepR: 7.2, FlatP: 0.9, SteepP: 0.5, AxisDeg: 45, NoiseUM: 2, Seed: 8},
			tolK: 0.02, tolP: 0.04, tolAx: 2, tolSag: 0.002},
		tc{name: "low toricity 7.80/7.75, axis 100, 1 micron", c: toric{SteepR: 7.75, AxisDeg: 100, NoiseUM: 1, Seed: 9}, tolK: 0.01, tolP: 0.02, tolAx: 2, tolSag: 0.002},
		tc{name: "8 mm zone", c: toric{AxisDeg: 30, NoiseUM: 2, Seed: 10}, opts: cornea.ModelOptions{ZoneDiameterMM: 8}, tolK: 0.02, tolP: 0.05, tolAx: 2, tolSag: 0.002},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c.withDefaults()
			m, err := cornea.Fit(c.surface(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			ak := m.ApicalK
			if !near(ak.Flat.RadiusMM, c.FlatR, tt.tolK) || !near(ak.Steep.RadiusMM, c.SteepR, tt.tolK) {
				t.Errorf("apical K %.4f / %.4f mm, want %g / %g +- %g", ak.Flat.RadiusMM, ak.Steep.RadiusMM, c.FlatR, c.SteepR, tt.tolK)
			}
			// Sim-K: the axial radius of each principal meridian on the 3 mm ring.
			axial := func(r, p float64) float64 { return math.Sqrt(r*r + (1-p)*1.5*1.5) }
			tolSimK := max(tt.tolK, 1e-4)
			if !near(m.FlatK().RadiusMM, axial(c.FlatR, c.FlatP), tolSimK) || !near(m.SteepK().RadiusMM, axial(c.SteepR, c.SteepP), tolSimK) {
				t.Errorf("Sim-K %.4f / %.4f mm, want %.4f / %.4f +- %g", m.FlatK().RadiusMM, m.SteepK().RadiusMM,
					axial(c.FlatR, c.FlatP), axial(c.SteepR, c.SteepP), tolSimK)
			}
			if d := axisDiff(ak.FlatAxisDeg, c.AxisDeg); d > tt.tolAx || ak.FlatAxisDeg < 0 || ak.FlatAxisDeg >= 180 {
				t.Errorf("biconic flat axis %.3f, want %g +- %g", ak.FlatAxisDeg, c.AxisDeg, tt.tolAx)
			}
			// Sim-K's axis comes from the 3 mm ring alone: on a noisy map it
			// wanders more than the biconic's, the more so the less
			// cylinder there is (about 2 degrees per micron of noise at
			// 1 D here).
			tolSim := max(tt.tolAx, 1e-3) * 2 * 1.1 / max(m.ApicalK.CylinderD, 0.2)
			if d := axisDiff(m.FlatAxisDeg(), c.AxisDeg); d > tolSim || m.FlatAxisDeg() < 0 || m.FlatAxisDeg() >= 180 {
				t.Errorf("Sim-K flat axis %.3f, want %g +- %.3g", m.FlatAxisDeg(), c.AxisDeg, tolSim)
			}
			if d := axisDiff(m.SteepAxisDeg(), m.FlatAxisDeg()+90); d > 1e-9 {
				t.Errorf("steep axis %.3f is not flat + 90", m.SteepAxisDeg())
			}
			if !near(m.Flat.P, c.FlatP, tt.tolP) || !near(m.Steep.P, c.SteepP, tt.tolP) {
				t.Errorf("p %.4f / %.4f, want %g / %g +- %g", m.Flat.P, m.Steep.P, c.FlatP, c.SteepP, tt.tolP)
			}
			if !near(m.Flat.R0MM, ak.Flat.RadiusMM, 0) || !near(ak.Flat.Dioptres, 337.5/ak.Flat.RadiusMM, 1e-12) ||
				!near(m.SimK.CylinderD, m.SimK.Steep.Dioptres-m.SimK.Flat.Dioptres, 1e-12) || m.SimK.CylinderD < 0 {
				t.Errorf("SimK %+v inconsistent with the meridians", m.SimK)
			}
			for _, meridian := range []float64{c.AxisDeg, c.AxisDeg + 90, c.AxisDeg + 45} {
				for _, chord := range []float64{8, 10} {
					want, _ := c.meridian(meridian).Sag(chord)
					got, src, err := m.SagMM(meridian, chord)
					if err != nil && c.Lid && errs.Is(errs.Invalid, err) && strings.Contains(err.Error(), "measured it only") {
						continue // the lid hides that end of the meridian
					}
					if err != nil {
						t.Fatal(err)
					}
					if math.Abs(got-want) > tt.tolSag {
						t.Errorf("sag at %g mm along %g: %.5f mm, want %.5f (%s)", chord, meridian, got, want, src)
					}
				}
			}
			if m.ResidualRMSUM > c.NoiseUM*1.1+1e-3 || m.Flat.ResidualRMSUM > c.NoiseUM*1.2+1e-3 || m.Flat.Points < 100 || m.Steep.Points < 100 {
				t.Errorf("residual %.3f microns (flat %.3f on %d points, steep %.3f on %d)", m.ResidualRMSUM,
					m.Flat.ResidualRMSUM, m.Flat.Points, m.Steep.ResidualRMSUM, m.Steep.Points)
			}
		})
	}
}

// Spheres and rotationally symmetric conics, through the same Model: the
// mean conic and both meridians agree with the truth.
func TestFitModelRecoversConics(t *testing.T) {
	noisy := func(c topotest.Cornea, um float64, seed uint64) topotest.Cornea {
		c.NoiseUM, c.Seed = um, seed
		return c
	}
	ref := topotest.Reference()
	sphere := ref
	sphere.R0MM, sphere.P = 8.4, 1
	lid := noisy(ref, 2, 3)
	lid.Lid, lid.LidYMM = true, 3
	os := noisy(ref, 2, 4)
	os.Eye = topo.OS
	dec := noisy(ref, 2, 5)
	dec.ApexXMM, dec.ApexYMM = -0.4, 0.25
	tests := []struct {
		name       string
		c          topotest.Cornea
		opts       cornea.ModelOptions
		r0, p      float64
		tolR, tolP float64
		tolSagMM   float64
		wantZoneMM float64
	}{
		{"sphere 8.40", sphere, cornea.ModelOptions{}, 8.4, 1, 1e-6, 1e-5, 1e-7, 10},
		{"reference", ref, cornea.ModelOptions{}, 7.8, 0.75, 1e-6, 1e-5, 1e-7, 10},
		{"reference, 2 micron", noisy(ref, 2, 1), cornea.ModelOptions{}, 7.8, 0.75, 0.01, 0.02, 0.002, 10},
		{"reference, 3 micron", noisy(ref, 3, 2), cornea.ModelOptions{}, 7.8, 0.75, 0.01, 0.02, 0.002, 10},
		{"lid at 3 mm, 2 micron", lid, cornea.ModelOptions{}, 7.8, 0.75, 0.01, 0.02, 0.002, 10},
		{"OS, 2 micron", os, cornea.ModelOptions{}, 7.8, 0.75, 0.01, 0.02, 0.002, 10},
		{"decentred, 2 micron", dec, cornea.ModelOptions{}, 7.8, 0.75, 0.01, 0.02, 0.002, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := cornea.Fit(tt.c.Surface(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !near(m.Mean.R0MM, tt.r0, tt.tolR) || !near(m.Mean.P, tt.p, tt.tolP) {
				t.Errorf("mean conic R0 %.5f p %.5f", m.Mean.R0MM, m.Mean.P)
			}
			for _, c := range []cornea.Conic{m.Flat, m.Steep} {
				if !near(c.R0MM, tt.r0, 2*tt.tolR) || !near(c.P, tt.p, 2*tt.tolP) {
					t.Errorf("meridian R0 %.5f p %.5f", c.R0MM, c.P)
				}
			}
			if m.ZoneDiameterMM != tt.wantZoneMM || m.Mean.ZoneDiameterMM != tt.wantZoneMM {
				t.Errorf("zone %g mm, want %g", m.ZoneDiameterMM, tt.wantZoneMM)
			}
			truth := cornea.Conic{R0MM: tt.r0, P: tt.p}
			for _, chord := range []float64{8, 10} {
				want, _ := truth.Sag(chord)
				for _, meridian := range []float64{0, 45, 90, 160} {
					got, src, err := m.SagMM(meridian, chord)
					kind := cornea.SourceKind(src)
					wantKind := kind == cornea.SourceMeasured
					if chord/2 > m.SupportMM(meridian) {
						wantKind = kind == cornea.SourceModelFilled || kind == cornea.SourceExtrapolated
					}
					if err != nil || math.Abs(got-want) > tt.tolSagMM || !wantKind {
						t.Errorf("sag at %g mm along %g: %.5f (%s, %v), want %.5f", chord, meridian, got, src, err, want)
					}
				}
			}
		})
	}
}

// The handbook's numbers, from a scan of the reference cornea.
func TestModelHandbookNumbers(t *testing.T) {
	m, err := cornea.Fit(topotest.Reference().Surface(), cornea.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc := m.WithExtrapolation(cornea.ExtrapolateTangentLine)
	if m.Extrapolation != cornea.ExtrapolateConic || sc.Extrapolation != cornea.ExtrapolateTangentLine {
		t.Fatal("WithExtrapolation changed the original")
	}
	sags := []struct {
		m          *cornea.Model
		chord, sag float64
		src        string
	}{
		{m, 6, 0.5939, cornea.SourceMeasured},
		{m, 8, 1.0819, cornea.SourceMeasured},
		{m, 10, 1.7498, cornea.SourceMeasured},
		{m, 12, 2.6437, cornea.SourceMeasured},
		{m, 15, 4.64153, cornea.SourceExtrapolated},
		{sc, 10, 1.7498, cornea.SourceMeasured},
		{sc, 15, 3.6765, cornea.SourceExtrapolated},
		{sc, 16, 4.0618, cornea.SourceExtrapolated},
	}
	for _, tt := range sags {
		for _, meridian := range []float64{0, 90, 33} {
			got, src, err := tt.m.SagMM(meridian, tt.chord)
			if err != nil || math.Abs(got-tt.sag) > 0.00006 || cornea.SourceKind(src) != tt.src {
				t.Errorf("%v: sag at %g mm along %g = %.5f (%q, %v), want %.4f (%q)", tt.m.Extrapolation, tt.chord, meridian, got, src, err, tt.sag, tt.src)
			}
		}
	}
	for _, tt := range []struct{ h, deg float64 }{{4, 29.79}, {4.5, 33.66}, {5, 37.62}} {
		got, err := m.TangentAngleDeg(0, tt.h)
		if err != nil || math.Abs(got-tt.deg) > 0.005 {
			t.Errorf("tangent angle at %g = %.3f (%v), want %.2f", tt.h, got, err, tt.deg)
		}
	}
	// Under the tangent line the angle stays at the 10 mm chord's.
	if got, err := sc.TangentAngleDeg(45, 7.5); err != nil || math.Abs(got-37.62) > 0.005 {
		t.Errorf("tangent-line angle at 7.5 = %.3f (%v), want 37.62", got, err)
	}
	if k := m.ApicalK.Flat; math.Abs(k.Dioptres-43.27) > 0.005 || k.Index != 337.5 {
		t.Errorf("apical flat K %+v, want 43.27 D", k)
	}
	m337, err := cornea.Fit(topotest.Reference().Surface(), cornea.ModelOptions{KeratometricIndex: 337})
	if err != nil || math.Abs(m337.ApicalK.Steep.Dioptres-337/7.8) > 1e-6 {
		t.Errorf("index 337: %v, %v", m337.ApicalK.Steep, err)
	}
	// Sim-K, as Placido devices read it: the axial radius on the 3 mm
	// ring, sqrt(7.8^2 + 0.25 * 1.5^2).
	if got := m.SimK.Flat.RadiusMM; math.Abs(got-math.Sqrt(7.8*7.8+0.25*2.25)) > 1e-4 || m.SimK.ZoneMM != 3 {
		t.Errorf("Sim-K radius %.5f on the %g mm ring", got, m.SimK.ZoneMM)
	}

	// Toric cornea K 7.80 / 7.60, both Q -0.25: 31.9 microns at y = 4.
	tm, err := cornea.Fit(toric{AxisDeg: 0}.surface(), cornea.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	flat, _, err1 := tm.SagMM(tm.FlatAxisDeg(), 8)
	steep, _, err2 := tm.SagMM(tm.SteepAxisDeg(), 8)
	if err1 != nil || err2 != nil || math.Abs((steep-flat)*1000-31.9) > 0.05 {
		t.Errorf("meridional sag difference at y = 4: %.2f microns (%v, %v), want 31.9", (steep-flat)*1000, err1, err2)
	}
	if math.Abs(tm.ApicalK.Flat.Dioptres-43.27) > 0.005 || math.Abs(tm.ApicalK.Steep.Dioptres-337.5/7.6) > 1e-6 {
		t.Errorf("toric apical K %v / %v", tm.ApicalK.Flat, tm.ApicalK.Steep)
	}
}

func TestModelRefusesWithoutData(t *testing.T) {
	small := topotest.Reference()
	small.RadiusMM = 4.5 // an 9 mm scan: the 8 mm zone, extrapolation beyond
	sm, err := cornea.Fit(small.Surface(), cornea.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lid := topotest.Reference()
	lid.Lid, lid.LidYMM = true, 2
	lm, err := cornea.Fit(lid.Surface(), cornea.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sm.ZoneDiameterMM != 8 || lm.ZoneDiameterMM != 10 {
		t.Errorf("zones %g, %g; want 8 and 10", sm.ZoneDiameterMM, lm.ZoneDiameterMM)
	}
	tests := []struct {
		name       string
		m          *cornea.Model
		meridian   float64
		chord      float64
		wantSag    float64 // when no error is expected
		wantSource string
		msg        string
	}{
		{"small scan, 8 mm", sm, 0, 8, 1.0819, cornea.SourceMeasured, ""},
		{"small scan, 10 mm", sm, 0, 10, 1.7498, cornea.SourceExtrapolated, ""},
		{"small scan, 15 mm", sm, 0, 15, 0, "", "the 15 mm chord along meridian 0 needs the cornea to 7.5 mm from the apex at 0 degrees, but the exam measured it only to 4.5 mm there (at most 2 mm short of the data is allowed)"},
		{"small scan, tangent line at 15 mm", sm.WithExtrapolation(cornea.ExtrapolateTangentLine), 0, 15, 3.6765, cornea.SourceExtrapolated, ""},
		{"lid, 10 mm along 90", lm, 90, 10, 0, "", "needs the cornea to 5.0 mm from the apex at 90 degrees, but the exam measured it only to 2.4 mm there"},
		{"lid, tangent line along 90", lm.WithExtrapolation(cornea.ExtrapolateTangentLine), 90, 15, 0, "", "needs the cornea to 5.0 mm from the apex at 90 degrees"},
		{"lid, 10 mm along 0", lm, 0, 10, 1.7498, cornea.SourceMeasured, ""},
		{"lid, 8 mm along 90", lm, 90, 8, 1.0819, cornea.SourceExtrapolated, ""},
		{"negative chord", lm, 0, -1, 0, "", "chordMM: must be a finite, non-negative"},
		{"NaN meridian", lm, math.NaN(), 8, 0, "", "meridianDeg: must be a finite number"},
		{"beyond the conic", lm.WithExtrapolation(cornea.ExtrapolateConic), 0, 14, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, src, err := tt.m.SagMM(tt.meridian, tt.chord)
			if tt.msg == "" && tt.wantSource == "" { // only: no panic, a clean answer
				if err != nil && !errs.Is(errs.Invalid, err) {
					t.Errorf("err = %v", err)
				}
				return
			}
			if tt.msg != "" {
				if !errs.Is(errs.Invalid, err) || !strings.Contains(fmt.Sprint(err), tt.msg) {
					t.Errorf("err = %v\nwant invalid containing %q", err, tt.msg)
				}
				return
			}
			if err != nil || math.Abs(got-tt.wantSag) > 1e-4 || cornea.SourceKind(src) != tt.wantSource {
				t.Errorf("sag %.5f (%q, %v), want %.4f (%q)", got, src, err, tt.wantSag, tt.wantSource)
			}
		})
	}
	if _, err := lm.TangentAngleDeg(90, 5); !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "measured it only to 2.4 mm there") {
		t.Errorf("tangent angle beyond the lid: %v", err)
	}
	if r := lm.Reach.MeridianMM(90); !near(r, 2, 0.02) || !near(lm.Reach.MaxMM, 7, 0.01) || !near(lm.Reach.SemiMeridianMM(270), 7, 0.1) {
		t.Errorf("reach at 90: %g, 270: %g, overall %g", r, lm.Reach.SemiMeridianMM(270), lm.Reach.MaxMM)
	}
	if got := lm.SupportMM(0); !near(got, 7, 0.1) {
		t.Errorf("support along 0: %g, want the data's 7 mm", got)
	}
	var nilModel *cornea.Model
	if _, _, err := nilModel.SagMM(0, 8); !errs.Is(errs.Invalid, err) {
		t.Errorf("nil model: %v", err)
	}
}

func TestFitModelRefuses(t *testing.T) {
	ref := topotest.Reference().Surface()
	small := topotest.Reference()
	small.RadiusMM = 3.1
	tests := []struct {
		name string
		s    *topo.Surface
		opts cornea.ModelOptions
		msg  string
	}{
		{"scan too small", small.Surface(), cornea.ModelOptions{}, "no valid data beyond 3.1 mm from the apex; the 8 mm zone needs data to 4.0 mm"},
		{"zone too big", ref, cornea.ModelOptions{ZoneDiameterMM: 16}, "the 16 mm zone needs data to 8.0 mm"},
		{"zernike zone too big", ref, cornea.ModelOptions{ZernikeZoneDiameterMM: 15}, "the 15 mm zone needs data to 7.5 mm"},
		{"zernike order", ref, cornea.ModelOptions{ZernikeOrder: 13}, "zernikeOrder: must be at most 12"},
		{"index", ref, cornea.ModelOptions{KeratometricIndex: 1.3375}, "keratometricIndex"},
		{"extrapolation", ref, cornea.ModelOptions{Extrapolation: 7}, "extrapolation: unknown method 7"},
		{"max extrapolation", ref, cornea.ModelOptions{MaxExtrapolationMM: -1}, "maxExtrapolationMM"},
		{"coverage", ref, cornea.ModelOptions{MinCoverage: 1.5}, "minCoverage"},
		{"nil", nil, cornea.ModelOptions{}, "surface is nil"},
		{"ragged", &topo.Surface{X: []float64{1, 2}, Y: []float64{1}}, cornea.ModelOptions{}, "differ in length"},
		{"NaN height", func() *topo.Surface { s := ref.Clone(); s.Z[7000] = math.NaN(); return s }(), cornea.ModelOptions{}, "point 7000 has no finite height"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cornea.Fit(tt.s, tt.opts)
			if !errs.Is(errs.Invalid, err) || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Errorf("err = %v\nwant invalid containing %q", err, tt.msg)
			}
		})
	}
}

// Fit shares its points between the fits; each must equal the standalone
// fit over the same zone.
func TestFitModelMatchesStandaloneFits(t *testing.T) {
	c := topotest.Reference()
	c.NoiseUM, c.R0YMM = 2, 7.65
	s := c.Surface()
	for _, zone := range []float64{8, 10} {
		m, err := cornea.Fit(s, cornea.ModelOptions{ZoneDiameterMM: zone, ZernikeZoneDiameterMM: 9, FixedApex: true})
		if err != nil {
			t.Fatal(err)
		}
		mc, err := cornea.FitConic(s, cornea.ConicOptions{ZoneDiameterMM: zone})
		if err != nil {
			t.Fatal(err)
		}
		// Both stop within a tenth of a standard error of the minimum
		// (about 2e-4 mm in R0 and 5e-4 in p here), from different starts.
		a, b := m.Mean, mc
		if !near(a.R0MM, b.R0MM, 1e-4) || !near(a.P, b.P, 2e-4) || !near(a.ApexZMM, b.ApexZMM, 1e-6) || a.Points != b.Points ||
			a.Coverage != b.Coverage || a.MaxRadiusMM != b.MaxRadiusMM || !near(a.ResidualRMSUM, b.ResidualRMSUM, 1e-4) {
			t.Errorf("zone %g: mean conic %+v, FitConic %+v", zone, a, b)
		}
		z, err := cornea.FitZernike(s, cornea.ZernikeOptions{ZoneDiameterMM: 9})
		if err != nil {
			t.Fatal(err)
		}
		if m.Zernike.Points != z.Points || m.Zernike.Coverage != z.Coverage || math.Abs(m.Zernike.ResidualRMSUM-z.ResidualRMSUM) > 1e-9 {
			t.Errorf("zernike %v vs %v", m.Zernike, z)
		}
		for j := range z.CoefficientsUM {
			if math.Abs(m.Zernike.CoefficientsUM[j]-z.CoefficientsUM[j]) > 1e-9 {
				t.Errorf("Z%d %g vs %g", j, m.Zernike.CoefficientsUM[j], z.CoefficientsUM[j])
			}
		}
	}
	m, err := cornea.Fit(s, cornea.ModelOptions{ZernikeOrder: -1})
	if err != nil || m.Zernike != nil {
		t.Errorf("ZernikeOrder -1: %v, %v", m.Zernike, err)
	}
}

func TestMeridianOfBiconic(t *testing.T) {
	b := cornea.Biconic{FlatR0MM: 7.8, SteepR0MM: 7.6, FlatP: 0.8, SteepP: 0.6, FlatAxisDeg: 170}
	for _, tt := range []struct {
		deg   float64
		r0, p float64
	}{
		{170, 7.8, 0.8}, {-10, 7.8, 0.8}, {350, 7.8, 0.8}, {80, 7.6, 0.6}, {260, 7.6, 0.6},
	} {
		c := b.Meridian(tt.deg)
		if !near(c.R0MM, tt.r0, 1e-12) || !near(c.P, tt.p, 1e-12) {
			t.Errorf("meridian %g: R0 %g p %g", tt.deg, c.R0MM, c.P)
		}
	}
	// Between the principal meridians the curvature is the Euler mix.
	c := b.Meridian(125)
	if want := 1 / (0.5/7.8 + 0.5/7.6); !near(c.R0MM, want, 1e-12) {
		t.Errorf("45 degrees off: R0 %g, want %g", c.R0MM, want)
	}
	if b.SteepAxisDeg() != 80 {
		t.Errorf("steep axis %g", b.SteepAxisDeg())
	}
}

var modelSink *cornea.Model

// BenchmarkFitModel fits the model to noisy synthetic scans of 15,365
// points (the reference's grid, 2 microns of noise): a toric cornea (7.8 /
// 7.6 mm) with the default options, an 8 mm zone and again with the
// defaults; and a nearly spherical one, the reference with noise, whose
// axis the data barely determine (seed 10: its fit stepping in the axis
// took as many passes over the points as a typical noisy sphere, about
// six).
func BenchmarkFitModel(b *testing.B) {
	toric := topotest.Reference()
	toric.NoiseUM, toric.R0YMM = 2, 7.6
	sphere := topotest.Reference()
	sphere.NoiseUM, sphere.Seed = 2, 10
	for _, bc := range []struct {
		name string
		scan topotest.Cornea
		opts cornea.ModelOptions
	}{
		{"default", toric, cornea.ModelOptions{}},
		{"zone8", toric, cornea.ModelOptions{ZoneDiameterMM: 8}},
		{"decentration", toric, cornea.ModelOptions{}},
		{"noisy-sphere", sphere, cornea.ModelOptions{}},
	} {
		s := bc.scan.Surface()
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if modelSink, err = cornea.Fit(s, bc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFitReference fits the model to the 15,365-point reference
// scan (the handbook's cornea on a 0.1 mm grid to 7 mm), as read from its
// xyz-csv file, with the default options: the fit the engine runs first.
func BenchmarkFitReference(b *testing.B) {
	s, _, err := topo.Parse(topotest.Reference().CSV(), topo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if s.Len() != 15365 {
		b.Fatalf("reference scan of %d points", s.Len())
	}
	b.ReportAllocs()
	for b.Loop() {
		if modelSink, err = cornea.Fit(s, cornea.ModelOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// FewestPoints is the larger of the per-zone minimum and two points per
// Zernike term, and a surface with fewer points than that is refused by
// the fit.
func TestFewestPoints(t *testing.T) {
	for _, tc := range []struct {
		o    cornea.ModelOptions
		want int
	}{
		{cornea.ModelOptions{}, 2 * cornea.ZernikeTerms(cornea.DefaultZernikeOrder)},
		{cornea.ModelOptions{ZernikeOrder: -1}, cornea.DefaultMinPoints},
		{cornea.ModelOptions{ZernikeOrder: 4}, cornea.DefaultMinPoints},
		{cornea.ModelOptions{ZernikeOrder: 12, MinPoints: 20}, 182},
		{cornea.ModelOptions{ZernikeOrder: -1, MinPoints: 120}, 120},
	} {
		if got := tc.o.FewestPoints(); got != tc.want {
			t.Errorf("%+v: %d, want %d", tc.o, got, tc.want)
		}
	}
	if got := (cornea.ModelOptions{}).FewestPoints(); got != 90 {
		t.Errorf("default: %d, want 90 (order 8 has 45 terms)", got)
	}
	// The reference cornea thinned to fewer points than that, all in the
	// zone: the fit refuses it.
	ref := topotest.Reference().Surface()
	few, limit := &topo.Surface{Eye: ref.Eye}, (cornea.ModelOptions{}).FewestPoints()-1
	for i := range ref.X {
		if ref.X[i]*ref.X[i]+ref.Y[i]*ref.Y[i] < 16 && i%7 == 0 && few.Len() < limit {
			few.X, few.Y, few.Z = append(few.X, ref.X[i]), append(few.Y, ref.Y[i]), append(few.Z, ref.Z[i])
		}
	}
	if _, err := cornea.Fit(few, cornea.ModelOptions{}); !errs.Is(errs.Invalid, err) {
		t.Errorf("a fit of %d points: %v", few.Len(), err)
	}
}

// TestDepthKindMMIsDepthMM: the depth a map asks for point by point is
// DepthMM's, and its kind the start of DepthMM's words, everywhere on a
// lid-cut, off-centre cornea out to a scleral lens's edge, under both
// ways of extrapolating it.
func TestDepthKindMMIsDepthMM(t *testing.T) {
	c := topotest.Cornea{R0MM: 7.75, R0YMM: 7.6, P: 0.78, RadiusMM: 5.5, NoiseUM: 1.5, Eye: topo.OD,
		Lid: true, LidYMM: 3, LowerLid: true, LowerLidYMM: -3, ApexXMM: 0.3, ApexYMM: -0.35}
	m, err := cornea.Fit(c.Surface(), cornea.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, ex := range []cornea.Extrapolation{cornea.ExtrapolateConic, cornea.ExtrapolateTangentLine} {
		mm := m.WithExtrapolation(ex)
		for semi := 0.0; semi < 360; semi += 7.5 {
			for r := 0.0; r <= 8.5; r += 0.25 {
				want, src, errWant := mm.DepthMM(semi, r)
				got, kind, errGot := mm.DepthKindMM(semi, r)
				if errWant != nil {
					continue // DepthMM also checks the opposite semi-meridian
				}
				if errGot != nil {
					t.Fatalf("%v, %g degrees, %g mm: %v (DepthMM: %g)", ex, semi, r, errGot, want)
				}
				if got != want || !strings.HasPrefix(src, kind) {
					t.Fatalf("%v, %g degrees, %g mm: %g (%s), DepthMM %g (%s)", ex, semi, r, got, kind, want, src)
				}
				kinds[kind]++
			}
		}
	}
	if kinds[cornea.SourceMeasured] == 0 || kinds[cornea.SourceExtrapolated] == 0 {
		t.Fatalf("kinds seen %v: want measured and extrapolated points", kinds)
	}
	if _, _, err := m.DepthKindMM(math.NaN(), 1); err == nil {
		t.Error("a NaN semi-meridian was accepted")
	}
}
