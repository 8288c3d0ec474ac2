package screening_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/screening"
	"github.com/lensflow/lensflow/shared/domain/screening/screeningtest"
	"github.com/lensflow/lensflow/shared/errs"
)

// fitted returns the inputs of c as a scan of it gives them: the analytic
// map, and the rest from the lab's corneal model fitted to its heights
// (apex position free, as the handbook asks for real corneas).
func fitted(t testing.TB, c screeningtest.Cornea) screening.Inputs {
	t.Helper()
	in, _, err := c.FitInputs(cornea.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func val(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *p)
}

// logIndices writes the indices of a result on one line (go test -v).
func logIndices(t *testing.T, r screening.Result) {
	t.Helper()
	x := r.Indices
	t.Logf("%s: K %s, I-S %s, SRAX %s (axes %s/%s), AST %.2f, KISA%% %s, apical K %.2f, Q %.3f, residual %.1f, steepest %.2f D at %.0f deg %.1f mm; terms %v",
		r.Pattern, val(x.CentralKD), val(x.ISD), val(x.SRAXDeg), val(x.SteepestAxisSuperiorDeg), val(x.SteepestAxisInferiorDeg),
		x.ASTD, val(x.KISAPercent), x.ApicalKD, x.Q, x.ResidualRMSUM, x.Steepest.PowerD, x.Steepest.SemiMeridianDeg, x.Steepest.RadiusMM, r.DominantTerms)
}

func hasReason(r screening.Result, sub string) bool {
	for _, s := range r.Reasons {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestScreenTestCorneas(t *testing.T) {
	highResidual := screeningtest.Reference().Inputs()
	highResidual.ResidualRMSUM = 14
	tests := []struct {
		name    string
		in      screening.Inputs
		want    []screening.Pattern // any of
		reasons []string            // each must be in some reason
		none    bool                // no reason at all
	}{
		{"reference R0 7.80 p 0.75", fitted(t, screeningtest.Reference()), []screening.Pattern{screening.Regular}, nil, true},
		{"reference, analytic inputs", screeningtest.Reference().Inputs(), []screening.Pattern{screening.Regular}, nil, true},
		{"with-the-rule toric 7.80/7.60", fitted(t, screeningtest.Toric()), []screening.Pattern{screening.Regular}, nil, true},
		{"inferior cone 20 microns", fitted(t, screeningtest.InferiorCone(20)),
			[]screening.Pattern{screening.Suspect, screening.Keratoconus}, []string{"I-S 1.80 D is above the suspect threshold 1.4 D", "SRAX"}, false},
		{"inferior cone 20 microns, analytic inputs", screeningtest.InferiorCone(20).Inputs(),
			[]screening.Pattern{screening.Suspect}, []string{"I-S 1.80 D is above the suspect threshold 1.4 D", "SRAX 123 degrees is above the suspect threshold 21 degrees"}, false},
		{"inferior cone 40 microns", fitted(t, screeningtest.InferiorCone(40)),
			[]screening.Pattern{screening.Keratoconus}, []string{"I-S 3.58 D is above the keratoconus threshold 1.8 D", "KISA%", "vertical coma"}, false},
		{"inferior cone 60 microns", fitted(t, screeningtest.InferiorCone(60)),
			[]screening.Pattern{screening.Keratoconus}, []string{"I-S 5.36 D is above the keratoconus threshold 1.8 D", "KISA%"}, false},
		// The cone leaves a residual above the irregular threshold: still
		// keratoconus.
		{"inferior cone 100 microns", fitted(t, screeningtest.InferiorCone(100)),
			[]screening.Pattern{screening.Keratoconus}, []string{"I-S 8.88 D is above the keratoconus threshold 1.8 D", "microns is above the irregular threshold 10 microns"}, false},
		{"inferior cone 100 microns, analytic inputs", screeningtest.InferiorCone(100).Inputs(),
			[]screening.Pattern{screening.Keratoconus}, []string{"I-S 8.88 D is above the keratoconus threshold 1.8 D"}, false},
		{"oblate R0 8.6 p 1.5 (post-myopic LASIK)", fitted(t, screeningtest.Oblate()),
			[]screening.Pattern{screening.Oblate}, []string{"Q 0.50 is above the oblate threshold 0.1"}, false},
		{"peripheral scar", fitted(t, screeningtest.Scarred()),
			[]screening.Pattern{screening.Irregular}, []string{"microns is above the irregular threshold 10 microns"}, false},
		{"regular map, residual 14 microns", highResidual,
			[]screening.Pattern{screening.Irregular}, []string{"residual RMS 14.0 microns is above the irregular threshold 10 microns"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := screening.Screen(tt.in, screening.DefaultTable())
			if err != nil {
				t.Fatal(err)
			}
			logIndices(t, r)
			ok := false
			for _, p := range tt.want {
				ok = ok || r.Pattern == p
			}
			if !ok {
				t.Errorf("pattern %q, want one of %q; reasons %q", r.Pattern, tt.want, r.Reasons)
			}
			for _, sub := range tt.reasons {
				if !hasReason(r, sub) {
					t.Errorf("no reason says %q: %q", sub, r.Reasons)
				}
			}
			if tt.none && len(r.Reasons) != 0 {
				t.Errorf("reasons %q for a regular cornea", r.Reasons)
			}
			if r.Table != "lensflow-screening@2026.1" {
				t.Errorf("table %q", r.Table)
			}
		})
	}
}

// Bigger cones make bigger indices.
func TestConesGrow(t *testing.T) {
	var prevIS, prevK, prevPeak float64
	for _, h := range []float64{20, 40, 60, 100} {
		r, err := screening.Screen(screeningtest.InferiorCone(h).Inputs(), screening.DefaultTable())
		if err != nil {
			t.Fatal(err)
		}
		x := r.Indices
		if !(*x.ISD > prevIS && *x.CentralKD > prevK && x.Steepest.PowerD > prevPeak) {
			t.Errorf("%g microns: I-S %.2f, K %.2f, peak %.2f do not grow", h, *x.ISD, *x.CentralKD, x.Steepest.PowerD)
		}
		// The steepest point lies inferior, towards the cone (251.6 degrees).
		if d := x.Steepest.SemiMeridianDeg; d < 210 || d > 290 {
			t.Errorf("%g microns: steepest point at %g degrees", h, d)
		}
		prevIS, prevK, prevPeak = *x.ISD, *x.CentralKD, x.Steepest.PowerD
	}
}

func TestRegularIndices(t *testing.T) {
	r, err := screening.Screen(fitted(t, screeningtest.Toric()), screening.DefaultTable())
	if err != nil {
		t.Fatal(err)
	}
	x := r.Indices
	// Axial power of 7.80 and 7.60 mm conics (p 0.75) between 1 and 2 mm.
	if math.Abs(*x.CentralKD-43.62) > 0.01 || math.Abs(*x.ISD) > 1e-9 || *x.SRAXDeg != 0 || *x.KISAPercent != 0 {
		t.Errorf("K %v I-S %v SRAX %v KISA %v", *x.CentralKD, *x.ISD, *x.SRAXDeg, *x.KISAPercent)
	}
	if math.Abs(*x.SteepestAxisSuperiorDeg-90) > 0.01 || math.Abs(*x.SteepestAxisInferiorDeg-270) > 0.01 {
		t.Errorf("steepest axes %v, %v; want 90 and 270", *x.SteepestAxisSuperiorDeg, *x.SteepestAxisInferiorDeg)
	}
	// AST is Sim-K's: the axial powers of the principal meridians on the
	// 3 mm ring.
	simK := func(r float64) float64 { return 337.5 / math.Sqrt(r*r+0.25*1.5*1.5) }
	if math.Abs(x.ASTD-(simK(7.60)-simK(7.80))) > 1e-3 || math.Abs(x.ApicalKD-(337.5/7.60+337.5/7.80)/2) > 1e-6 {
		t.Errorf("AST %v apical K %v", x.ASTD, x.ApicalKD)
	}
	if x.Steepest.SemiMeridianDeg != 90 && x.Steepest.SemiMeridianDeg != 270 || x.Steepest.RadiusMM != 1 {
		t.Errorf("steepest point %+v, want the steep meridian at 1 mm", x.Steepest)
	}
	if len(r.Notes) != 0 {
		t.Errorf("notes %q", r.Notes)
	}
	// A rotationally symmetric cornea has no steepest radial axes: SRAX is
	// 0 and a note says why.
	r, err = screening.Screen(screeningtest.Reference().Inputs(), screening.DefaultTable())
	if err != nil {
		t.Fatal(err)
	}
	if *r.Indices.SRAXDeg != 0 || r.Indices.SteepestAxisSuperiorDeg != nil || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "SRAX is 0") {
		t.Errorf("SRAX %v axis %v notes %q", *r.Indices.SRAXDeg, r.Indices.SteepestAxisSuperiorDeg, r.Notes)
	}
}

// powerMap is a synthetic axial map: a function of the semi-meridian and
// the radius.
type powerMap func(deg, r float64) float64

func (f powerMap) AxialPowerD(deg, r float64) (float64, error) { return f(deg, r), nil }

// angle returns the signed difference a - b in degrees, in (-180, 180].
func angle(a, b float64) float64 {
	d := math.Mod(a-b, 360)
	if d > 180 {
		d -= 360
	} else if d <= -180 {
		d += 360
	}
	return d
}

// bowTie is 43 D with a steep lobe (2 D, 25 degrees wide) along each of
// two semi-meridians.
func bowTie(sup, inf float64) powerMap {
	return func(deg, r float64) float64 {
		l := func(axis float64) float64 { d := angle(deg, axis) / 25; return 2 * math.Exp(-d*d/2) }
		return 43 + l(sup) + l(inf)
	}
}

func inputs(m screening.Map, flat, steep float64) screening.Inputs {
	return screening.Inputs{Map: m, SimK: screening.SimK{FlatD: flat, SteepD: steep, FlatAxisDeg: 180}, ApicalKD: (flat + steep) / 2, Q: -0.25}
}

func TestSRAX(t *testing.T) {
	tests := []struct {
		name     string
		sup, inf float64
		want     float64
	}{
		{"straight vertical bow tie", 90, 270, 0},
		{"straight oblique bow tie", 45, 225, 0},
		{"straight horizontal bow tie", 0, 180, 0},
		{"Rabinowitz's example, 80 and 290", 80, 290, 30},
		{"skewed between samples, 83 and 292", 83, 292, 29},
		{"skewed the other way, 100 and 250", 100, 250, 30},
		{"skewed 15 degrees, 95 and 260", 95, 260, 15},
		// Both halves find a single lobe on the horizontal: by the
		// definition, their axes are far from a straight line.
		{"one lobe along 0", 0, 0, 175},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := screening.Screen(inputs(bowTie(tt.sup, tt.inf), 43, 45), screening.DefaultTable())
			if err != nil {
				t.Fatal(err)
			}
			x := r.Indices
			if math.Abs(*x.SRAXDeg-tt.want) > 0.6 {
				t.Errorf("SRAX %.2f, want %g (axes %.2f, %.2f)", *x.SRAXDeg, tt.want, *x.SteepestAxisSuperiorDeg, *x.SteepestAxisInferiorDeg)
			}
			if crossed := hasReason(r, "SRAX"); crossed != (tt.want > 21) {
				t.Errorf("SRAX reason %v for SRAX %.2f: %q", crossed, *x.SRAXDeg, r.Reasons)
			}
		})
	}
}

// isMap is 44 D steepened inferiorly and flattened superiorly by c sin,
// so I-S = 2 c (0.5 + 0.866 + 1 + 0.866 + 0.5) / 5.
func isMap(c float64) powerMap {
	return func(deg, r float64) float64 { return 44 - c*math.Sin(deg*math.Pi/180) }
}

func TestISAndKISA(t *testing.T) {
	perC := 2 * (1 + math.Sqrt(3) + 1) / 5
	tests := []struct {
		name   string
		c      float64
		wantIS float64
		reason string
	}{
		{"inferior steepening, I-S 2", 2 / perC, 2, "I-S 2.00 D is above the keratoconus threshold 1.8 D"},
		{"inferior steepening, I-S 1.5", 1.5 / perC, 1.5, "I-S 1.50 D is above the suspect threshold 1.4 D"},
		{"just below the threshold, I-S 1.39", 1.39 / perC, 1.39, ""},
		{"superior steepening, I-S -2", -2 / perC, -2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A bow tie skewed symmetrically about the horizontal, for a
			// SRAX that leaves I-S alone.
			m := func(deg, r float64) float64 { return isMap(tt.c)(deg, r) + bowTie(80, 280)(deg, r) - 43 }
			r, err := screening.Screen(inputs(powerMap(m), 44, 46), screening.DefaultTable())
			if err != nil {
				t.Fatal(err)
			}
			x := r.Indices
			if math.Abs(*x.ISD-tt.wantIS) > 1e-9 {
				t.Errorf("I-S %.6f, want %g", *x.ISD, tt.wantIS)
			}
			want := *x.CentralKD * max(*x.ISD, 0) * 2 * *x.SRAXDeg * 100 / 300
			if math.Abs(*x.KISAPercent-want) > 1e-9 || *x.KISAPercent < 0 {
				t.Errorf("KISA%% %g, want K x I-S x AST x SRAX / 3 = %g", *x.KISAPercent, want)
			}
			if tt.reason != "" && !hasReason(r, tt.reason) || tt.reason == "" && hasReason(r, "I-S") {
				t.Errorf("reasons %q, want %q", r.Reasons, tt.reason)
			}
			if tt.wantIS <= 0 && *x.KISAPercent != 0 {
				t.Errorf("KISA%% %g with I-S %g, want 0", *x.KISAPercent, tt.wantIS)
			}
		})
	}
	// A tiny AST gives a KISA% far below the thresholds, whatever I-S and
	// SRAX are.
	m := func(deg, r float64) float64 { return isMap(3/perC)(deg, r) + bowTie(80, 280)(deg, r) - 43 }
	r, err := screening.Screen(inputs(powerMap(m), 44, 44.01), screening.DefaultTable())
	if err != nil {
		t.Fatal(err)
	}
	if k := *r.Indices.KISAPercent; !(k > 0 && k < 60) || hasReason(r, "KISA") {
		t.Errorf("KISA%% %g with AST 0.01 D; reasons %q", k, r.Reasons)
	}
}

func TestPrecedence(t *testing.T) {
	table := screening.DefaultTable()
	with := func(in screening.Inputs, f func(*screening.Inputs)) screening.Inputs { f(&in); return in }
	ectasia := screeningtest.Oblate()
	ectasia.Bumps = screeningtest.InferiorCone(60).Bumps
	tests := []struct {
		name string
		in   screening.Inputs
		want screening.Pattern
	}{
		{"keratoconus over irregular", with(screeningtest.InferiorCone(60).Inputs(), func(in *screening.Inputs) { in.ResidualRMSUM = 30 }), screening.Keratoconus},
		{"keratoconus over oblate (ectasia after LASIK)", ectasia.Inputs(), screening.Keratoconus},
		{"oblate over irregular", with(screeningtest.Oblate().Inputs(), func(in *screening.Inputs) { in.ResidualRMSUM = 30 }), screening.Oblate},
		{"oblate over suspect", with(screeningtest.Oblate().Inputs(), func(in *screening.Inputs) { in.ApicalKD = 49 }), screening.Oblate},
		{"irregular over suspect", with(screeningtest.Reference().Inputs(), func(in *screening.Inputs) { in.ResidualRMSUM = 30; in.ApicalKD = 49 }), screening.Irregular},
		{"suspect: apical K 49 D", with(screeningtest.Reference().Inputs(), func(in *screening.Inputs) { in.ApicalKD = 49 }), screening.Suspect},
		{"keratoconus: apical K 50.5 D alone", with(screeningtest.Reference().Inputs(), func(in *screening.Inputs) { in.ApicalKD = 50.5 }), screening.Keratoconus},
		{"keratoconus: central K above 48.7 D alone", inputs(powerMap(func(float64, float64) float64 { return 49 }), 49, 49), screening.Keratoconus},
		{"suspect: central K 48 D", inputs(powerMap(func(float64, float64) float64 { return 48 }), 47.9, 48), screening.Suspect},
		{"regular: Q at the oblate threshold", with(screeningtest.Reference().Inputs(), func(in *screening.Inputs) { in.Q = 0.1 }), screening.Regular},
		{"regular: residual at the irregular threshold", with(screeningtest.Reference().Inputs(), func(in *screening.Inputs) { in.ResidualRMSUM = 10 }), screening.Regular},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := screening.Screen(tt.in, table)
			if err != nil {
				t.Fatal(err)
			}
			if r.Pattern != tt.want {
				t.Errorf("pattern %q, want %q; reasons %q", r.Pattern, tt.want, r.Reasons)
			}
			// Every pattern but regular says why; every reason names a threshold.
			if (r.Pattern == screening.Regular) != (len(r.Reasons) == 0) {
				t.Errorf("pattern %q with reasons %q", r.Pattern, r.Reasons)
			}
			for _, s := range r.Reasons {
				if !strings.Contains(s, "threshold") && !strings.Contains(s, "coma") {
					t.Errorf("reason %q names no threshold", s)
				}
			}
		})
	}
}

// A changed table changes the pattern, and the result names the table.
func TestTableChangesPattern(t *testing.T) {
	strict := screening.DefaultTable()
	strict.Name, strict.Version = "clinic-strict", "1"
	strict.ISD = screening.Band{Suspect: 1.0, Keratoconus: 1.5}
	lenient := screening.DefaultTable()
	lenient.Name, lenient.Version = "clinic-lenient", "2"
	lenient.ResidualRMSUM.Irregular = 15
	lenient.Q.Oblate = 0.6
	tests := []struct {
		name  string
		in    screening.Inputs
		table screening.Table
		want  screening.Pattern
	}{
		{"cone 20, default", screeningtest.InferiorCone(20).Inputs(), screening.DefaultTable(), screening.Suspect},
		{"cone 20, I-S keratoconus above 1.5", screeningtest.InferiorCone(20).Inputs(), strict, screening.Keratoconus},
		{"scar, default", fitted(t, screeningtest.Scarred()), screening.DefaultTable(), screening.Irregular},
		{"scar, irregular above 15", fitted(t, screeningtest.Scarred()), lenient, screening.Regular},
		{"oblate, default", screeningtest.Oblate().Inputs(), screening.DefaultTable(), screening.Oblate},
		{"oblate, oblate above Q 0.6", screeningtest.Oblate().Inputs(), lenient, screening.Regular},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := screening.Screen(tt.in, tt.table)
			if err != nil {
				t.Fatal(err)
			}
			if r.Pattern != tt.want || r.Table != tt.table.String() {
				t.Errorf("pattern %q table %q, want %q with %q; reasons %q", r.Pattern, r.Table, tt.want, tt.table, r.Reasons)
			}
		})
	}
}

// A lid that hides part of the map leaves the indices that need it
// uncomputed, with notes, and the rest of the screening stands.
func TestMissingData(t *testing.T) {
	tests := []struct {
		name              string
		lidMM             float64
		k, is, srax, kisa bool // computed
		notes             []string
		wantPattern       screening.Pattern
	}{
		{"lid at 2.5 mm hides the superior I-S points", 2.5, true, false, true, false,
			[]string{"I-S not computed: the map holds no data 3 mm from the apex along 60 degrees", "KISA% not computed"}, screening.Keratoconus},
		{"lid at 1.2 mm hides the 3 mm ring", 1.2, false, false, false, false,
			[]string{"central K not computed: the map holds no data 1.5 mm from the apex along 60 degrees", "SRAX not computed", "I-S not computed"}, screening.Keratoconus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := screeningtest.InferiorCone(60)
			c.SuperiorLidMM = tt.lidMM
			in := c.Inputs()
			in.ApicalKD = 51 // so the pattern does not rest on the map
			r, err := screening.Screen(in, screening.DefaultTable())
			if err != nil {
				t.Fatal(err)
			}
			x := r.Indices
			if (x.CentralKD != nil) != tt.k || (x.ISD != nil) != tt.is || (x.SRAXDeg != nil) != tt.srax || (x.KISAPercent != nil) != tt.kisa {
				t.Errorf("computed: K %v, I-S %v, SRAX %v, KISA %v", val(x.CentralKD), val(x.ISD), val(x.SRAXDeg), val(x.KISAPercent))
			}
			for _, n := range tt.notes {
				found := false
				for _, got := range r.Notes {
					found = found || strings.HasPrefix(got, n)
				}
				if !found {
					t.Errorf("no note starts %q: %q", n, r.Notes)
				}
			}
			if r.Pattern != tt.wantPattern {
				t.Errorf("pattern %q", r.Pattern)
			}
			if y := x.Steepest.RadiusMM * math.Sin(x.Steepest.SemiMeridianDeg*math.Pi/180); y > tt.lidMM {
				t.Errorf("steepest point %+v lies above the lid", x.Steepest)
			}
			b, _ := json.Marshal(r)
			if !strings.Contains(string(b), `"iS_D":null`) {
				t.Errorf("JSON %s lacks a null I-S", b)
			}
		})
	}
	// No point of the central rings: nothing to screen.
	in := screeningtest.Reference().Inputs()
	in.Map = failingMap{errs.Ef("test", errs.NotFound, "no data")}
	if _, err := screening.Screen(in, screening.DefaultTable()); !errs.Is(errs.Invalid, err) {
		t.Errorf("err %v, want invalid", err)
	}
}

type failingMap struct{ err error }

func (f failingMap) AxialPowerD(float64, float64) (float64, error) { return 0, f.err }

func TestScreenRefuses(t *testing.T) {
	good := screeningtest.Reference().Inputs()
	with := func(f func(*screening.Inputs)) screening.Inputs { in := good; f(&in); return in }
	tests := []struct {
		name  string
		in    screening.Inputs
		table screening.Table
		kind  errs.Kind
		field string
	}{
		{"no map", with(func(in *screening.Inputs) { in.Map = nil }), screening.DefaultTable(), errs.Invalid, "Map"},
		{"flat K not a power", with(func(in *screening.Inputs) { in.SimK.FlatD = math.NaN() }), screening.DefaultTable(), errs.Invalid, "SimK.FlatD"},
		{"steep flatter than flat", with(func(in *screening.Inputs) { in.SimK.SteepD = 42 }), screening.DefaultTable(), errs.Invalid, "SimK.SteepD"},
		{"flat axis", with(func(in *screening.Inputs) { in.SimK.FlatAxisDeg = 200 }), screening.DefaultTable(), errs.Invalid, "SimK.FlatAxisDeg"},
		{"apical K", with(func(in *screening.Inputs) { in.ApicalKD = 0 }), screening.DefaultTable(), errs.Invalid, "ApicalKD"},
		{"Q", with(func(in *screening.Inputs) { in.Q = math.Inf(1) }), screening.DefaultTable(), errs.Invalid, "Q"},
		{"residual", with(func(in *screening.Inputs) { in.ResidualRMSUM = -1 }), screening.DefaultTable(), errs.Invalid, "ResidualRMSUM"},
		{"Zernike coefficient", with(func(in *screening.Inputs) {
			in.ZernikeUM = []float64{0, 0, 0, 0, 1, 0, 0, math.NaN()}
			in.ZernikeZoneMM = 8
		}),
			screening.DefaultTable(), errs.Invalid, "ZernikeUM[7]"},
		{"Zernike zone", with(func(in *screening.Inputs) { in.ZernikeUM = []float64{0, 0, 0, 0, 1} }), screening.DefaultTable(), errs.Invalid, "ZernikeZoneMM"},
		{"zero table", good, screening.Table{}, errs.Invalid, "name"},
		{"map unavailable", with(func(in *screening.Inputs) { in.Map = failingMap{errs.Ef("test", errs.Unavailable, "down")} }), screening.DefaultTable(), errs.Unavailable, ""},
		{"map fails", with(func(in *screening.Inputs) { in.Map = failingMap{errors.New("boom")} }), screening.DefaultTable(), errs.Other, ""},
		{"map gives NaN", with(func(in *screening.Inputs) { in.Map = powerMap(func(float64, float64) float64 { return math.NaN() }) }), screening.DefaultTable(), errs.Invalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := screening.Screen(tt.in, tt.table)
			if err == nil || errs.KindOf(err) != tt.kind || errs.FieldOf(err) != tt.field {
				t.Errorf("err %v (kind %v, field %q), want kind %v naming %q", err, errs.KindOf(err), errs.FieldOf(err), tt.kind, tt.field)
			}
		})
	}
}

func TestDominantTerms(t *testing.T) {
	c := make([]float64, 28) // to order 6
	c[4] = 2000              // defocus: not a higher-order term
	c[3], c[5] = 40, -30     // astigmatism: not either
	c[7] = -6                // vertical coma
	c[12] = 4                // spherical aberration
	c[8] = 1                 // horizontal coma
	c[6] = -4.5              // vertical trefoil
	c[27] = 0.5              // Z(6,6)
	in := screeningtest.Reference().Inputs()
	in.ZernikeUM, in.ZernikeZoneMM = c, 8
	r, err := screening.Screen(in, screening.DefaultTable())
	if err != nil {
		t.Fatal(err)
	}
	want := []screening.Term{
		{J: 7, N: 3, M: -1, Name: "vertical coma", CoefficientUM: -6},
		{J: 6, N: 3, M: -3, Name: "vertical trefoil", CoefficientUM: -4.5},
		{J: 12, N: 4, M: 0, Name: "spherical aberration", CoefficientUM: 4},
	}
	if fmt.Sprint(r.DominantTerms) != fmt.Sprint(want) || r.ZernikeZoneMM != 8 {
		t.Errorf("terms %v over %g mm, want %v", r.DominantTerms, r.ZernikeZoneMM, want)
	}
	// Coma leading a regular cornea's higher orders sets nothing: a
	// decentred apex makes coma too.
	if r.Pattern != screening.Regular || len(r.Reasons) != 0 {
		t.Errorf("pattern %q reasons %q", r.Pattern, r.Reasons)
	}
	for _, tt := range []struct {
		n, m int
		want string
	}{{3, 1, "horizontal coma"}, {3, 3, "oblique trefoil"}, {4, 2, "vertical secondary astigmatism"}, {6, 0, "secondary spherical aberration"}, {6, 6, "Z(6,6)"}} {
		if got := screening.TermName(tt.n, tt.m); got != tt.want {
			t.Errorf("TermName(%d, %d) = %q, want %q", tt.n, tt.m, got, tt.want)
		}
	}
	in.ZernikeUM = nil
	r, _ = screening.Screen(in, screening.DefaultTable())
	if r.DominantTerms == nil || len(r.DominantTerms) != 0 || r.ZernikeZoneMM != 0 {
		t.Errorf("no expansion: terms %#v zone %g", r.DominantTerms, r.ZernikeZoneMM)
	}
}

func TestResultJSON(t *testing.T) {
	r, err := screening.Screen(fitted(t, screeningtest.InferiorCone(60)), screening.DefaultTable())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"pattern":"keratoconus"`, `"indices":{`, `"centralK_D":`, `"iS_D":`, `"srax_deg":`, `"kisaPercent":`,
		`"ast_D":`, `"apicalK_D":`, `"q":`, `"residualRMS_um":`, `"steepest":{"semiMeridian_deg":`, `"steepestAxisSuperior_deg":`,
		`"dominantTerms":[{"j":7,"n":3,"m":-1,"name":"vertical coma","coefficient_um":`, `"table":"lensflow-screening@2026.1"`, `"reasons":["`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s:\n%s", key, b)
		}
	}
	var back screening.Result
	if err := json.Unmarshal(b, &back); err != nil || back.Pattern != r.Pattern || *back.Indices.ISD != *r.Indices.ISD {
		t.Errorf("round trip: %v %+v", err, back)
	}
	// A regular cornea has an empty list of reasons, not null.
	r, _ = screening.Screen(screeningtest.Toric().Inputs(), screening.DefaultTable())
	b, _ = json.Marshal(r)
	if !strings.Contains(string(b), `"reasons":[]`) || !strings.Contains(string(b), `"dominantTerms":[]`) {
		t.Errorf("JSON %s", b)
	}
}

// countingMap counts the calls of a map.
type countingMap struct {
	screening.Map
	n int
}

func (c *countingMap) AxialPowerD(deg, r float64) (float64, error) {
	c.n++
	return c.Map.AxialPowerD(deg, r)
}

// The engine's budget is a few milliseconds for the whole path: the
// screening reads 120 points of the map, whatever the cornea.
func TestScreenSamplesModestly(t *testing.T) {
	for _, c := range []screeningtest.Cornea{screeningtest.Reference(), screeningtest.InferiorCone(100)} {
		m := &countingMap{Map: c}
		in := c.Inputs()
		in.Map = m
		if _, err := screening.Screen(in, screening.DefaultTable()); err != nil {
			t.Fatal(err)
		}
		if m.n != 120 {
			t.Errorf("%d calls of AxialPowerD, want 120", m.n)
		}
	}
}
