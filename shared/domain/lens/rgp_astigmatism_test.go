package lens_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
	"github.com/lensflow/lensflow/shared/errs"
)

// astigEye is a biconic cornea, flat 7.80 mm (Q -0.25) along flatAxis and
// cylD keratometric dioptres steeper 90 degrees away.
func astigEye(cylD, flatAxis float64) lenstest.Biconic {
	steep := 337.5 / (337.5/7.80 + cylD)
	return lenstest.Biconic{Flat: cornea.Conic{R0MM: 7.80, P: 0.75}, Steep: cornea.Conic{R0MM: steep, P: 0.75}, FlatAxisDeg: flatAxis}
}

func rx(t testing.TB, s string) lens.Clinical {
	t.Helper()
	r, err := lens.ParseRefraction(s)
	if err != nil {
		t.Fatal(err)
	}
	return lens.Clinical{HVIDMM: 11.8}.WithRefraction(r)
}

func roundTo(v, step float64) float64 { return math.Round(v/step) * step }

// TestRGPSphericalByCornealCylinder: up to the nomogram's cylinder limit
// the lens is spherical, its BOZR steepened from the flat K by a quarter
// of the cylinder; a spherical cornea gets exactly the BOZR it always did.
func TestRGPSphericalByCornealCylinder(t *testing.T) {
	def := lens.DefaultRGPNomogram()
	noSteepening := def
	noSteepening.BOZRCylinderFraction = 0
	sphericalOnly := def
	sphericalOnly.SphericalMaxCylinderD = 0
	tests := []struct {
		name      string
		cyl       float64
		n         lens.RGPNomogram
		bozr      float64
		steepened float64
	}{
		{"spherical cornea: on K less 0.05 mm, as always", 0, def, 7.75, 0},
		{"0.50 D", 0.5, def, 7.73, 0.125},
		{"1.00 D", 1, def, 7.71, 0.25},
		{"2.00 D, the limit", 2, def, 7.66, 0.5},
		{"1.00 D without steepening", 1, noSteepening, 7.75, 0},
		{"3.00 D when the nomogram makes spherical lenses only", 3, sphericalOnly, 7.62, 0.75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eye := astigEye(tt.cyl, 180)
			d, err := lens.DesignRGP(eye, lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			want := roundTo(337.5/(337.5/7.80+tt.steepened)-0.05, 0.01)
			if d.BOZRMM != tt.bozr || !near(d.BOZRMM, want, 1e-12) || !near(d.RGP.CylinderSteepeningD, tt.steepened, 1e-12) {
				t.Errorf("BOZR %v (steepened %v D), want %v (%v D, formula %v)", d.BOZRMM, d.RGP.CylinderSteepeningD, tt.bozr, tt.steepened, want)
			}
			if d.RGP.Form != lens.FormSpherical || d.Toric || len(d.BackSurface.Profiles) != 1 || d.RGP.Bitoric != nil || d.Meridians != nil {
				t.Errorf("form %q toric %v profiles %d", d.RGP.Form, d.Toric, len(d.BackSurface.Profiles))
			}
			if !near(d.RGP.CornealCylinderD, tt.cyl, 1e-9) || (tt.cyl != 0 && d.RGP.CornealCylinderAxisDeg != 90) {
				t.Errorf("corneal cylinder %v at %v", d.RGP.CornealCylinderD, d.RGP.CornealCylinderAxisDeg)
			}
			// The power is the refraction at the cornea less the tear lens.
			if want := roundTo(lens.VertexD(-3, 12)-lens.TearLensD(d.BOZRMM, 7.80, 1.336), 0.25); d.PowerD != want {
				t.Errorf("power %v, want %v", d.PowerD, want)
			}
		})
	}
	// Above the limit the same nomogram makes a bitoric lens.
	d, err := lens.DesignRGP(astigEye(2.25, 180), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, def)
	if err != nil {
		t.Fatal(err)
	}
	if d.RGP.Form != lens.FormBitoric || !d.Toric {
		t.Errorf("2.25 D: form %q toric %v", d.RGP.Form, d.Toric)
	}
}

// TestRGPBitoric: 3.00 D of with-the-rule corneal cylinder makes a bitoric
// lens: a base curve per K, a back profile per principal meridian, and per
// meridian the refraction there at the cornea less its tear lens.
func TestRGPBitoric(t *testing.T) {
	tests := []struct {
		name, rx string
		spe      bool
		// residual is the residual astigmatism's cylinder at the cornea.
		residual float64
	}{
		// 3.25 D of spectacle cylinder is 3.00 D at the cornea (-1.95 and
		// -4.94 in the principal meridians): the refraction matches the
		// cornea, and the lens has spherical power effect: the powers differ
		// by 3.00 D in air, the base curves by 3.07 D.
		{"matching at the cornea", "-2.00 / -3.25 x 180", true, -0.01},
		// 3.00 D of spectacle cylinder is only 2.76 D at the cornea: 0.24 D
		// of residual astigmatism, and the ordered powers (2.75 D apart)
		// miss the base curves' 3.07 D by more than a power step.
		{"3.00 D at the spectacle plane", "-2.00 / -3.00 x 180", false, -0.24},
		{"much less refractive cylinder", "-2.00 / -1.00 x 180", false, -2.06},
		{"spherical refraction", "-2.00", false, -3.0},
	}
	eye := astigEye(3, 180)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := rx(t, tt.rx)
			d, err := lens.DesignRGP(eye, in, lens.DefaultRGPNomogram())
			if err != nil {
				t.Fatal(err)
			}
			g := d.RGP
			if g.Form != lens.FormBitoric || !d.Toric || g.Bitoric == nil || len(d.Meridians) != 2 {
				t.Fatalf("form %q toric %v meridians %d", g.Form, d.Toric, len(d.Meridians))
			}
			if !near(g.CornealCylinderD, 3, 1e-9) || !near(g.ResidualAstigmatism.CylinderD, tt.residual, 0.005) {
				t.Errorf("corneal cylinder %v, residual %v (want %v)", g.CornealCylinderD, g.ResidualAstigmatism, tt.residual)
			}
			// Base curves: each K less 0.05 mm; one tricurve profile each.
			flatB, steepB := 7.75, roundTo(eye.Steep.R0MM-0.05, 0.01)
			ps := d.BackSurface.Profiles
			if len(ps) != 2 || ps[0].MeridianDeg != 180 || ps[1].MeridianDeg != 90 || ps[0].Zones[0].RadiusMM != flatB || ps[1].Zones[0].RadiusMM != steepB {
				t.Fatalf("profiles %+v", ps)
			}
			for i, p := range ps {
				checkContinuous(t, p)
				b := p.Zones[0].RadiusMM
				if p.Zones[1].RadiusMM != b+1 || p.Zones[2].RadiusMM != b+2.5 {
					t.Errorf("profile %d curves %v %v", i, p.Zones[1].RadiusMM, p.Zones[2].RadiusMM)
				}
				if got := d.BackSurface.SagMM(p.MeridianDeg, 3); !near(got, lens.SphereSagMM(b, 3), 1e-12) {
					t.Errorf("profile %d optic sag %v", i, got)
				}
			}
			if d.BOZRMM != flatB || !near(d.ToricStepUM, 1000*(lens.SphereSagMM(steepB, 4)-lens.SphereSagMM(flatB, 4)), 1e-9) {
				t.Errorf("BOZR %v, toric step %v", d.BOZRMM, d.ToricStepUM)
			}
			// Per meridian: the refraction there, vertexed on its own, less
			// that meridian's tear lens.
			sph, cyl := in.RefractionD, in.CylinderD
			for i, want := range []struct{ m, k, b, rx float64 }{{180, 7.80, flatB, sph}, {90, eye.Steep.R0MM, steepB, sph + cyl}} {
				m := d.Meridians[i]
				tl := lens.TearLensD(want.b, want.k, 1.336)
				corneal := lens.VertexD(want.rx, 12)
				if m.MeridianDeg != want.m || m.BOZRMM != want.b || m.K.RadiusMM != want.k || !near(m.TearLensD, tl, 1e-12) ||
					!near(m.CornealPlaneRxD, corneal, 1e-12) || m.PowerD != roundTo(corneal-tl, 0.25) {
					t.Errorf("meridian %d: %+v; want K %v BOZR %v tear lens %v rx %v", i, m, want.k, want.b, tl, corneal)
				}
				if got := lens.BackVertexPowerD(m.FrontRadiusMM, m.BOZRMM, d.CentreThicknessMM, d.MaterialIndex); !near(got, m.PowerD, 1e-9) {
					t.Errorf("meridian %d: front radius %v gives %v D, want %v", i, m.FrontRadiusMM, got, m.PowerD)
				}
			}
			if d.PowerD != d.Meridians[0].PowerD || d.FrontRadiusMM != d.Meridians[0].FrontRadiusMM || d.TearLensD != d.Meridians[0].TearLensD {
				t.Errorf("top level is not the flat meridian: %v %v %v", d.PowerD, d.FrontRadiusMM, d.TearLensD)
			}
			// The kind of bitoric.
			b := g.Bitoric
			toricity := 337.5/steepB - 337.5/flatB
			if !near(b.BaseCurveToricityD, toricity, 1e-9) || b.PowerDifferenceD != d.Meridians[0].PowerD-d.Meridians[1].PowerD {
				t.Errorf("toricity %v (want %v), power difference %v", b.BaseCurveToricityD, toricity, b.PowerDifferenceD)
			}
			wantEffect := lens.EffectCylinder
			if tt.spe {
				wantEffect = lens.EffectSpherical
			}
			if b.SphericalPowerEffect != tt.spe || b.Effect != wantEffect || !strings.Contains(b.Summary, wantEffect) {
				t.Errorf("SPE %v (%q), want %v; %s", b.SphericalPowerEffect, b.Effect, tt.spe, b.Summary)
			}
			// A spherical front on these base curves gives about
			// (1.43 - 1) / 0.3375 = 1.27 times the toricity in air: not
			// what any of these need, so a front toric is.
			if r := b.BackToricCylinderD / toricity; !(r > 1.25 && r < 1.30) || !b.FrontToric || !strings.Contains(b.Summary, "front toric is needed") {
				t.Errorf("back toric cylinder %v (%.3f times), front toric %v", b.BackToricCylinderD, r, b.FrontToric)
			}
			if b.SteepSecondaryCurve.RadiusMM != steepB+1 || !near(b.SteepAxialEdgeLiftMM, lens.SphereSagMM(steepB, 4.8)-ps[1].SagMM(4.8), 1e-12) {
				t.Errorf("steep curves %+v lift %v", b.SteepSecondaryCurve, b.SteepAxialEdgeLiftMM)
			}
			if len(d.Warnings) != 0 {
				t.Errorf("warnings %q", d.Warnings)
			}
			// The lens rests on the eye along both meridians.
			least := math.Inf(1)
			for _, c := range d.Clearance {
				least = min(least, c.MinClearanceUM)
			}
			if !near(least, 0, 1e-6) {
				t.Errorf("least clearance %v", least)
			}
			js, _ := json.Marshal(d)
			for _, k := range []string{`"form":"bitoric"`, `"meridians":[`, `"bitoric":{`, `"spherical_power_effect":`, `"residual_astigmatism":{`,
				`"corneal_cylinder_D":`, `"corneal_plane_rx":{`, `"corneal_plane_meridians":[`, `"k_reading":"sim-k"`, `"refraction":{"sphere_D":-2,`,
				`"toric":true`, `"bozr_mm":7.75`, `"refraction_D":-2,`} {
				if !bytes.Contains(js, []byte(k)) {
					t.Errorf("design JSON lacks %s", k)
				}
			}
		})
	}
}

func TestRGPAstigmatismWarnings(t *testing.T) {
	noWarn := lens.DefaultRGPNomogram()
	noWarn.ResidualAstigmatismWarnD = 0
	tests := []struct {
		name   string
		cyl    float64
		rx     string
		n      lens.RGPNomogram
		warns  string
		noWarn bool
	}{
		// -1.50 at the spectacle plane is -1.41 at the cornea; less the
		// cornea's -0.50 leaves -0.91 x 180.
		{"residual on a spherical lens", 0.5, "-2.00 / -1.50 x 180", lens.DefaultRGPNomogram(), "leaves 0.91 D of residual astigmatism (-0.91 x 180 at the cornea)", false},
		{"refraction matches the cornea", 0.5, "-2.00 / -0.50 x 180", lens.DefaultRGPNomogram(), "", true},
		{"toric refraction on a spherical cornea", 0, "-2.00 / -1.00 x 90", lens.DefaultRGPNomogram(), "-0.94 x 90", false},
		{"just under the threshold", 0, "-2.00 / -0.75 x 90", lens.DefaultRGPNomogram(), "", true},
		{"warning turned off", 0.5, "-2.00 / -1.50 x 180", noWarn, "", true},
		{"sphere alone on a toric cornea", 1, "-2.00", lens.DefaultRGPNomogram(), "given without a cylinder: if it has none, a spherical lens leaves the cornea's 1.00 D", false},
		{"bitoric, oblique refraction", 3, "-2.00 / -3.00 x 45", lens.DefaultRGPNomogram(), "oblique to the cornea", false},
		{"bitoric, cylinder power effect", 3, "-2.00 / -1.00 x 180", lens.DefaultRGPNomogram(), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := lens.DesignRGP(astigEye(tt.cyl, 180), rx(t, tt.rx), tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if tt.noWarn {
				if len(d.Warnings) != 0 {
					t.Errorf("warnings %q", d.Warnings)
				}
				return
			}
			if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], tt.warns) {
				t.Errorf("warnings %q, want one saying %q", d.Warnings, tt.warns)
			}
		})
	}
}

// TestRGPPowerAlongTheFlatMeridian: a spherical lens orders the refraction
// along the flat meridian at the cornea, whichever way the refraction is
// written.
func TestRGPPowerAlongTheFlatMeridian(t *testing.T) {
	eye := astigEye(1, 180)
	var powers []float64
	for _, s := range []string{"-2.00 / -1.00 x 90", "-3.00 / +1.00 x 180"} {
		d, err := lens.DesignRGP(eye, rx(t, s), lens.DefaultRGPNomogram())
		if err != nil {
			t.Fatal(err)
		}
		want := roundTo(lens.VertexD(-3, 12)-d.TearLensD, 0.25)
		if d.PowerD != want || !near(d.RGP.CornealPlaneMeridians[0].PowerD, lens.VertexD(-3, 12), 1e-12) {
			t.Errorf("%s: power %v, want %v (corneal plane %+v)", s, d.PowerD, want, d.RGP.CornealPlaneMeridians)
		}
		powers = append(powers, d.PowerD)
	}
	if powers[0] != powers[1] {
		t.Errorf("minus and plus cylinder forms order %v", powers)
	}
}

func TestRGPVertexDistance(t *testing.T) {
	for _, tt := range []struct{ given, used float64 }{{0, 12}, {10, 10}, {14, 14}} {
		in := lens.Clinical{RefractionD: -6, CylinderD: -2, AxisDeg: 180, VertexMM: tt.given, HVIDMM: 11.8}
		d, err := lens.DesignRGP(lenstest.Reference(), in, lens.DefaultRGPNomogram())
		if err != nil {
			t.Fatal(err)
		}
		cp := d.RGP.CornealPlaneRx
		if d.Refraction.VertexMM != tt.used || !near(d.CornealPlaneRxD, lens.VertexD(-6, tt.used), 1e-12) ||
			!near(cp.SphereD+cp.CylinderD, lens.VertexD(-8, tt.used), 1e-12) || cp.VertexMM != 0 {
			t.Errorf("vertex %v: used %v, corneal plane %v / %+v", tt.given, d.Refraction.VertexMM, d.CornealPlaneRxD, cp)
		}
	}
}

func TestRefractionInputErrors(t *testing.T) {
	ok := lens.Clinical{RefractionD: -3, CylinderD: -1, AxisDeg: 180, HVIDMM: 11.8}
	with := func(f func(*lens.Clinical)) lens.Clinical { c := ok; f(&c); return c }
	tests := []struct {
		name, field, says string
		in                lens.Clinical
	}{
		{"plus cylinder", "cylinder_D", "minus-cylinder form (-2.00 / -1.00 x 90)", with(func(c *lens.Clinical) { c.CylinderD = 1 })},
		{"cylinder too large", "cylinder_D", "not a plausible cylinder", with(func(c *lens.Clinical) { c.CylinderD = -11 })},
		{"cylinder NaN", "cylinder_D", "not a plausible cylinder", with(func(c *lens.Clinical) { c.CylinderD = math.NaN() })},
		{"axis 200", "axis_deg", "not an axis", with(func(c *lens.Clinical) { c.AxisDeg = 200 })},
		{"axis without a cylinder", "axis_deg", "without a cylinder", with(func(c *lens.Clinical) { c.CylinderD = 0 })},
		{"vertex too far", "vertex_mm", "not a plausible vertex distance", with(func(c *lens.Clinical) { c.VertexMM = 25 })},
		{"vertex negative", "vertex_mm", "not a plausible vertex distance", with(func(c *lens.Clinical) { c.VertexMM = -1 })},
	}
	for _, tt := range tests {
		for _, typ := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
			t.Run(tt.name+"/"+string(typ), func(t *testing.T) {
				_, err := lens.New(typ, lenstest.Reference(), tt.in, lens.DefaultNomograms())
				if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tt.field || !strings.Contains(errs.Message(err), tt.says) {
					t.Errorf("err = %v (field %q), want Invalid on %q saying %q", err, errs.FieldOf(err), tt.field, tt.says)
				}
			})
		}
	}
}

// TestCylinderOnOtherLenses: ortho-k and scleral designs keep using the
// sphere, and say the cylinder is left out.
func TestCylinderOnOtherLenses(t *testing.T) {
	for _, typ := range []lens.Type{lens.OrthoK, lens.Scleral} {
		t.Run(string(typ), func(t *testing.T) {
			sphere := mustNew(t, typ, lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8})
			toric := mustNew(t, typ, lenstest.Reference(), lens.Clinical{RefractionD: -3, CylinderD: -1.25, AxisDeg: 180, HVIDMM: 11.8})
			if toric.PowerD != sphere.PowerD || toric.BOZRMM != sphere.BOZRMM || toric.KReading != lens.KReadingSimK {
				t.Errorf("power %v BOZR %v, sphere alone %v %v", toric.PowerD, toric.BOZRMM, sphere.PowerD, sphere.BOZRMM)
			}
			if len(toric.Warnings) != len(sphere.Warnings)+1 || !strings.Contains(toric.Warnings[len(toric.Warnings)-1], "-3.00 / -1.25 x 180") {
				t.Errorf("warnings %q", toric.Warnings)
			}
		})
	}
}

func TestKReading(t *testing.T) {
	set := lens.DefaultNomograms()
	for _, typ := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
		if d := mustNew(t, typ, lenstest.Reference(), lens.Clinical{RefractionD: -2, HVIDMM: 11.8}); d.KReading != lens.KReadingSimK {
			t.Errorf("%s: k_reading %q", typ, d.KReading)
		}
	}
	n, err := lens.ParseRGPNomogram(strings.NewReader(`{"name": "apical-lab", "version": "1", "k_reading": "apical"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := lens.DesignRGP(lenstest.Reference(), lens.Clinical{HVIDMM: 11.8}, n); err != nil || d.KReading != lens.KReadingApical {
		t.Errorf("apical nomogram: %v, %v", d.KReading, err)
	}
	if b, _ := json.Marshal(set.OrthoK); !bytes.Contains(b, []byte(`"k_reading":"sim-k"`)) {
		t.Errorf("nomogram JSON %s", b)
	}
	for _, s := range []string{`{"name": "x", "version": "1", "k_reading": "3mm"}`, `{"name": "x", "version": "1", "k_reading": ""}`} {
		if _, err := lens.ParseScleralNomogram(strings.NewReader(s)); errs.FieldOf(err) != "k_reading" {
			t.Errorf("%s: %v", s, err)
		}
	}
}

func TestRGPNomogramAstigmatismFields(t *testing.T) {
	def := lens.DefaultRGPNomogram()
	if def.SphericalMaxCylinderD != 2 || def.BOZRCylinderFraction != 0.25 || def.ResidualAstigmatismWarnD != 0.75 || def.Version != "2026.1" {
		t.Errorf("defaults %+v", def)
	}
	for _, tt := range []struct {
		json, field string
	}{
		{`"spherical_max_cylinder_D": 0.5`, "spherical_max_cylinder_D"},
		{`"spherical_max_cylinder_D": 7`, "spherical_max_cylinder_D"},
		{`"bozr_cylinder_fraction": 0.6`, "bozr_cylinder_fraction"},
		{`"bozr_cylinder_fraction": -0.1`, "bozr_cylinder_fraction"},
		{`"residual_astigmatism_warn_D": 0.1`, "residual_astigmatism_warn_D"},
		{`"residual_astigmatism_warn_D": "0.75"`, "residual_astigmatism_warn_D"},
	} {
		_, err := lens.ParseRGPNomogram(strings.NewReader(`{"name": "x", "version": "1", ` + tt.json + `}`))
		if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tt.field {
			t.Errorf("%s: %v", tt.json, err)
		}
	}
	// Zero turns each rule off.
	n, err := lens.ParseRGPNomogram(strings.NewReader(`{"name": "x", "version": "1", "spherical_max_cylinder_D": 0, "bozr_cylinder_fraction": 0, "residual_astigmatism_warn_D": 0}`))
	if err != nil || n.SphericalMaxCylinderD != 0 || n.BOZRCylinderFraction != 0 || n.ResidualAstigmatismWarnD != 0 {
		t.Errorf("%+v, %v", n, err)
	}
}

func TestDesignClinical(t *testing.T) {
	in := lens.Clinical{RefractionD: -2, CylinderD: -3.25, AxisDeg: 180, VertexMM: 13, HVIDMM: 11.6, PupilMM: 4.5}
	d := mustNew(t, lens.RGP, astigEye(3, 180), in)
	if got := d.Clinical(); got != in {
		t.Errorf("Clinical() = %+v, want %+v", got, in)
	}
	// Without a vertex distance the design records the one it used.
	in.VertexMM, in.HVIDMM = 0, 0
	d = mustNew(t, lens.RGP, astigEye(3, 180), in)
	if got := d.Clinical(); got.VertexMM != 12 || got.HVIDMM != 11.8 || got.CylinderD != -3.25 {
		t.Errorf("Clinical() = %+v", got)
	}
}
func TestClinicalRefraction(t *testing.T) {
	r, err := lens.ParseRefraction("-2.00 / -1.50 x 0")
	if err != nil {
		t.Fatal(err)
	}
	r.VertexMM = 10
	in := lens.Clinical{HVIDMM: 11.8}.WithRefraction(r)
	if in.RefractionD != -2 || in.CylinderD != -1.5 || in.AxisDeg != 180 || in.VertexMM != 10 || in.HVIDMM != 11.8 {
		t.Fatalf("WithRefraction: %+v", in)
	}
	if got := in.Refraction(); got != r {
		t.Errorf("Refraction() = %+v, want %+v", got, r)
	}
	// An axis 0 given with a cylinder is the 180 meridian.
	if got := (lens.Clinical{RefractionD: -1, CylinderD: -1}).Refraction(); got.AxisDeg != 180 {
		t.Errorf("axis 0 read as %v", got.AxisDeg)
	}
}

func TestReviseBitoric(t *testing.T) {
	eye, in := astigEye(3, 180), rx(t, "-2.00 / -3.25 x 180")
	d := mustNew(t, lens.RGP, eye, in)
	if !d.RGP.Bitoric.SphericalPowerEffect {
		t.Fatal("the design is not SPE")
	}
	toricity := d.RGP.Bitoric.BaseCurveToricityD

	t.Run("BOZR applies to the flat meridian and keeps the toricity", func(t *testing.T) {
		r, err := lens.Revise(d, eye, in, lens.Overrides{BOZRMM: 7.85})
		if err != nil {
			t.Fatal(err)
		}
		checkRevised(t, r, eye)
		steep := roundTo(337.5/(337.5/7.85+toricity), 0.01)
		if r.RGP.Form != lens.FormBitoric || r.BOZRMM != 7.85 || r.Meridians[1].BOZRMM != steep || r.BackSurface.Profiles[1].Zones[0].RadiusMM != steep {
			t.Fatalf("form %q BOZR %v / %v, want 7.85 / %v", r.RGP.Form, r.BOZRMM, r.Meridians[1].BOZRMM, steep)
		}
		if !near(r.RGP.Bitoric.BaseCurveToricityD, toricity, 0.05) || !r.RGP.Bitoric.SphericalPowerEffect {
			t.Errorf("toricity %v (was %v), SPE %v", r.RGP.Bitoric.BaseCurveToricityD, toricity, r.RGP.Bitoric.SphericalPowerEffect)
		}
		// Flatter base curves: less plus tear lens, less minus power.
		if !(r.Meridians[0].PowerD > d.Meridians[0].PowerD && r.Meridians[1].PowerD > d.Meridians[1].PowerD) {
			t.Errorf("powers %v/%v, were %v/%v", r.Meridians[0].PowerD, r.Meridians[1].PowerD, d.Meridians[0].PowerD, d.Meridians[1].PowerD)
		}
		v := r.Revision.From
		if v.Steep == nil || v.Steep.BOZRMM != d.Meridians[1].BOZRMM || v.Steep.PowerD != d.Meridians[1].PowerD || v.Steep.MeridianDeg != 90 {
			t.Errorf("from %+v", v.Steep)
		}
	})
	t.Run("power applies to the flat meridian and keeps the difference", func(t *testing.T) {
		r, err := lens.Revise(d, eye, in, lens.Overrides{PowerD: ptr(-1.75)})
		if err != nil {
			t.Fatal(err)
		}
		checkRevised(t, r, eye)
		if r.Meridians[0].PowerD != -1.75 || r.Meridians[1].PowerD != -1.75-3 || r.RGP.Bitoric.PowerDifferenceD != 3 {
			t.Errorf("powers %+v", r.Meridians)
		}
		for _, m := range r.Meridians {
			if got := lens.BackVertexPowerD(m.FrontRadiusMM, m.BOZRMM, r.CentreThicknessMM, r.MaterialIndex); !near(got, m.PowerD, 1e-9) {
				t.Errorf("meridian %v: front radius gives %v, want %v", m.MeridianDeg, got, m.PowerD)
			}
		}
	})
	t.Run("toric false makes it spherical", func(t *testing.T) {
		r, err := lens.Revise(d, eye, in, lens.Overrides{Toric: ptr(false)})
		if err != nil {
			t.Fatal(err)
		}
		checkRevised(t, r, eye)
		if r.Toric || r.RGP.Form != lens.FormSpherical || len(r.Meridians) != 0 || r.BOZRMM != roundTo(337.5/(337.5/7.8+0.75)-0.05, 0.01) {
			t.Errorf("toric %v form %q BOZR %v", r.Toric, r.RGP.Form, r.BOZRMM)
		}
		// The refraction matches the cornea, so a spherical lens leaves no
		// residual astigmatism; it warns of the fit.
		if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "3.00 D of corneal astigmatism, more than the nomogram's 2 D") {
			t.Errorf("warnings %q", r.Warnings)
		}
		if o := r.Revision.Overrides; len(o) != 1 || o[0] != (lens.Override{Field: "toric", From: 1, To: 0}) {
			t.Errorf("overrides %+v", o)
		}
	})
	t.Run("toric true on a spherical lens makes it bitoric", func(t *testing.T) {
		low, lowIn := astigEye(1.5, 180), rx(t, "-1.00 / -1.50 x 180")
		s := mustNew(t, lens.RGP, low, lowIn)
		r, err := lens.Revise(s, low, lowIn, lens.Overrides{Toric: ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		checkRevised(t, r, low)
		if s.Toric || !r.Toric || r.RGP.Form != lens.FormBitoric || len(r.BackSurface.Profiles) != 2 {
			t.Errorf("toric %v -> %v, form %q", s.Toric, r.Toric, r.RGP.Form)
		}
	})
	t.Run("a revision of a bitoric stays bitoric", func(t *testing.T) {
		r, err := lens.Revise(d, eye, in, lens.Overrides{TDMM: 9.4})
		if err != nil {
			t.Fatal(err)
		}
		checkRevised(t, r, eye)
		again, err := lens.Revise(r, eye, r.Clinical(), lens.Overrides{TDMM: 9.4, BOZRMM: 7.80})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Toric || !again.Toric || again.Revision.Number != 2 || again.TDMM != 9.4 || len(again.Meridians) != 2 {
			t.Errorf("toric %v/%v revision %d TD %v", r.Toric, again.Toric, again.Revision.Number, again.TDMM)
		}
	})
	for _, tt := range []struct {
		name, field string
		in          lens.Clinical
	}{
		{"another cylinder", "cylinder_D", rx(t, "-2.00 / -3.00 x 180")},
		{"another axis", "axis_deg", rx(t, "-2.00 / -3.25 x 170")},
		{"another vertex distance", "vertex_mm", func() lens.Clinical { c := in; c.VertexMM = 10; return c }()},
		{"another pupil", "pupil_mm", func() lens.Clinical { c := in; c.PupilMM = 5; return c }()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := lens.Revise(d, eye, tt.in, lens.Overrides{}); !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tt.field {
				t.Errorf("got %v, want Invalid on %q", err, tt.field)
			}
		})
	}
	// The vertex distance the design used is the same as leaving it out,
	// and axis 0 is axis 180.
	same := in
	same.VertexMM, same.AxisDeg = 12, 0
	if _, err := lens.Revise(d, eye, same, lens.Overrides{}); err != nil {
		t.Errorf("explicit default vertex, axis 0: %v", err)
	}
}

// TestReviseLegacyDesign: a design stored before designs recorded the
// refraction's cylinder, the keratometry and the astigmatism rules is
// revised as it was made (spherical, unsteepened, apical K).
func TestReviseLegacyDesign(t *testing.T) {
	eye, in := astigEye(3, 180), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}
	legacyNomogram := lens.DefaultRGPNomogram()
	legacyNomogram.KReading = lens.KReadingApical
	legacyNomogram.SphericalMaxCylinderD, legacyNomogram.BOZRCylinderFraction, legacyNomogram.ResidualAstigmatismWarnD = 0, 0, 0
	made := mustNewRGP(t, eye, in, legacyNomogram)
	// What the store holds: the design's JSON without the new keys.
	b, err := json.Marshal(made)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"refraction", "k_reading", "meridians"} {
		delete(m, k)
	}
	nv := m["rgp"].(map[string]any)["nomogram_values"].(map[string]any)
	for _, k := range []string{"k_reading", "spherical_max_cylinder_D", "bozr_cylinder_fraction", "residual_astigmatism_warn_D"} {
		delete(nv, k)
	}
	b, _ = json.Marshal(m)
	var stored lens.Design
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	r, err := lens.Revise(&stored, eye, stored.Clinical(), lens.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if r.BOZRMM != 7.75 || r.Toric || r.KReading != lens.KReadingApical || r.Refraction.VertexMM != 12 || r.PowerD != made.PowerD {
		t.Errorf("BOZR %v toric %v k %q vertex %v power %v", r.BOZRMM, r.Toric, r.KReading, r.Refraction.VertexMM, r.PowerD)
	}
}

func mustNewRGP(t *testing.T, eye lens.Eye, in lens.Clinical, n lens.RGPNomogram) *lens.Design {
	t.Helper()
	d, err := lens.DesignRGP(eye, in, n)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
