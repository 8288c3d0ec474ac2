package pipeline_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lathe"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/domain/screening"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6f, want %.6f ± %g", name, got, want, tol)
	}
}

// files writes one synthetic cornea in every supported format.
func files(c topotest.Cornea) map[string][]byte {
	return map[string][]byte{
		topo.FormatXYZCSV:   c.CSV(),
		topo.FormatCSO:      c.CSOFile(),
		topo.FormatPentacam: c.PentacamFile(),
	}
}

func TestDesignEveryFormatAndLensType(t *testing.T) {
	for _, eye := range []topo.Eye{topo.OD, topo.OS} {
		c := topotest.Reference()
		c.Eye, c.NoiseUM = eye, 2
		for format, data := range files(c) {
			s, _, err := topo.Parse(data, topo.Options{})
			if err != nil {
				t.Fatalf("%s %s: %v", eye, format, err)
			}
			if s.Format != format {
				t.Fatalf("detected %s, want %s", s.Format, format)
			}
			for _, lt := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
				t.Run(string(eye)+"/"+format+"/"+string(lt), func(t *testing.T) {
					r, err := pipeline.Design(s, pipeline.Inputs{LensType: lt, Clinical: lens.Clinical{RefractionD: -3, HVIDMM: 11.8}})
					if err != nil {
						t.Fatal(err)
					}
					cr := r.Cornea
					near(t, "apical radius", cr.ApicalRadiusMM, 7.80, 0.01)
					near(t, "p", cr.ShapeFactorP, 0.75, 0.02)
					// Sim-K, on the 3 mm ring: sqrt(7.8^2 + 0.25 * 1.5^2).
					near(t, "flat K mm", cr.FlatKMM, 7.836, 0.02)
					near(t, "steep K mm", cr.SteepKMM, 7.836, 0.02)
					near(t, "apical flat K", cr.ApicalK.FlatKD, 337.5/7.8, 0.1)
					near(t, "sag 8", cr.SagMM["8"], 1.0819, 0.002)
					near(t, "sag 10", cr.SagMM["10"], 1.7498, 0.002)
					if r.Eye != string(eye) || r.Lens.Type != lt || r.Lens.Nomogram == "" || r.Lens.NomogramVersion == "" {
						t.Fatalf("result %+v", r)
					}
					if lt == lens.Scleral {
						near(t, "ocular sag 15", cr.SagMM["15"], 3.6765, 0.003)
						if !strings.Contains(cr.SagSource["15"], "tangent line") {
							t.Fatalf("15 mm sag source %q", cr.SagSource["15"])
						}
						near(t, "scleral TD", r.Lens.TDMM, 17.5, 1e-9)
					}
					if lt == lens.OrthoK {
						// Jessen from the practitioner's flat K, Sim-K: 43.07 D
						// on this cornea (7.836 mm), not its apical 43.27 D
						// (7.80 mm, which gives the handbook's 8.54).
						near(t, "ortho-k BOZR", r.Lens.BOZRMM, 337.5/(337.5/7.836-3-0.75), 0.02)
					}
					// The JSON names the issue asks for.
					b, _ := json.Marshal(r)
					for _, k := range []string{`"eye"`, `"apicalRadius_mm"`, `"shapeFactorP"`, `"eccentricity"`, `"flatK_mm"`, `"steepK_mm"`,
						`"flatK_D"`, `"steepK_D"`, `"flatAxis_deg"`, `"sag_mm"`, `"rmsResidual_um"`, `"coverage_mm"`, `"type"`, `"nomogram"`,
						`"bozr_mm"`, `"bozd_mm"`, `"td_mm"`, `"power_D"`, `"toric"`, `"clearance"`, `"back_surface"`} {
						if !strings.Contains(string(b), k) {
							t.Errorf("design JSON lacks %s", k)
						}
					}
					// Point files reproduce the design's sag within 0.1 micron.
					pfs, err := pipeline.PointFiles("job-1", r.Lens)
					if err != nil {
						t.Fatal(err)
					}
					back, err := lathe.Parse(pfs[0].Data)
					if err != nil {
						t.Fatal(err)
					}
					if err := lathe.Verify(back, r.Lens.BackSurface.SagMM, 0.1); err != nil {
						t.Fatalf("back point file: %v", err)
					}
					if pfs[0].Name != "job-1.V5B" || (len(pfs) > 1 && pfs[1].Name != "job-1.V5F") {
						t.Fatalf("names %s", pfs[0].Name)
					}
				})
			}
		}
	}
}

func TestToricCornea(t *testing.T) {
	c := topotest.Reference()
	c.R0YMM, c.NoiseUM = 7.60, 1
	s := c.Surface()
	for _, lt := range []lens.Type{lens.OrthoK, lens.Scleral} {
		r, err := pipeline.Design(s, pipeline.Inputs{LensType: lt, Clinical: lens.Clinical{RefractionD: -2, HVIDMM: 11.8}})
		if err != nil {
			t.Fatal(err)
		}
		near(t, "flat K", r.Cornea.FlatKMM, math.Sqrt(7.80*7.80+0.25*2.25), 0.02)
		near(t, "steep K", r.Cornea.SteepKMM, math.Sqrt(7.60*7.60+0.25*2.25), 0.02)
		if d := math.Abs(r.Cornea.FlatAxisDeg); d > 2 && d < 178 {
			t.Errorf("flat axis %g, want 0 (x is the flatter meridian)", r.Cornea.FlatAxisDeg)
		}
		if lt == lens.OrthoK && !r.Lens.Toric {
			t.Errorf("a 7.80/7.60 cornea needs a toric ortho-k landing (31.9 µm difference at the 8 mm chord)")
		}
		if r.Lens.Toric {
			pfs, err := pipeline.PointFiles("t", r.Lens)
			if err != nil {
				t.Fatal(err)
			}
			back, _ := lathe.Parse(pfs[0].Data)
			if len(back.Meridians) != pipeline.ToricMeridians {
				t.Fatalf("toric back surface with %d meridians", len(back.Meridians))
			}
			if err := lathe.Verify(back, r.Lens.BackSurface.SagMM, 0.1); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestInsufficientCoverageSaysWhatIsMissing(t *testing.T) {
	c := topotest.Reference()
	c.RadiusMM = 3.1
	_, err := pipeline.Design(c.Surface(), pipeline.Inputs{LensType: lens.RGP})
	if !errs.Is(errs.Invalid, err) || !strings.Contains(errs.Message(err), "mm") {
		t.Fatalf("got %v", err)
	}
}

// BenchmarkWholePath is the engine's budget on one core: parse the
// 15,365-point scan, fit every model (mean conic, biconic and Sim-K,
// Zernike order 8), design all three lens types and write their point files.
func BenchmarkWholePath(b *testing.B) {
	data := topotest.Reference().CSV()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s, _, err := topo.Parse(data, topo.Options{})
		if err != nil {
			b.Fatal(err)
		}
		m, err := cornea.Fit(s, cornea.ModelOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, lt := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
			r, err := pipeline.DesignModel(m, s, pipeline.Inputs{LensType: lt, Clinical: lens.Clinical{RefractionD: -3, HVIDMM: 11.8}})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := pipeline.PointFiles("bench", r.Lens); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkEnginePath is the budget issue 17 sets on one core: the
// engine path (fit the corneal model, then design) for the 15,365-point
// reference scan, one lens of each type. The scan is parsed once, outside
// the loop, and no point files are written.
func BenchmarkEnginePath(b *testing.B) {
	s, _, err := topo.Parse(topotest.Reference().CSV(), topo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, lt := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
		b.Run(string(lt), func(b *testing.B) {
			b.ReportAllocs()
			in := pipeline.Inputs{LensType: lt, Clinical: lens.Clinical{RefractionD: -3, HVIDMM: 11.8}}
			for b.Loop() {
				if _, err := pipeline.Design(s, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestToricTruthInEveryFormat: a turned toric cornea with noise, an eyelid
// gap or a decentred apex, for either eye, written in every format, comes
// back with its K readings, axis and sags (issue 3's "Done when").
func TestToricTruthInEveryFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    topotest.Cornea
	}{
		{"axis 30 noise 1", topotest.Cornea{R0MM: 7.9, R0YMM: 7.6, P: 0.75, AxisDeg: 30, NoiseUM: 1, Eye: topo.OD}},
		{"axis 135 noise 3 OS", topotest.Cornea{R0MM: 7.8, R0YMM: 7.55, P: 0.8, AxisDeg: 135, NoiseUM: 3, Eye: topo.OS, Seed: 7}},
		{"axis 90 lid", topotest.Cornea{R0MM: 7.7, R0YMM: 7.5, P: 0.7, AxisDeg: 90, NoiseUM: 2, Lid: true, LidYMM: 3.5, Eye: topo.OD}},
		{"axis 10 decentred", topotest.Cornea{R0MM: 7.85, R0YMM: 7.6, P: 0.75, AxisDeg: 10, NoiseUM: 2, ApexXMM: 0.2, ApexYMM: -0.1, Eye: topo.OS}},
	} {
		flat := cornea.Conic{R0MM: tc.c.R0MM, P: tc.c.P}
		steep := cornea.Conic{R0MM: tc.c.R0YMM, P: tc.c.P}
		for format, data := range files(tc.c) {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				s, _, err := topo.Parse(data, topo.Options{})
				if err != nil {
					t.Fatal(err)
				}
				opts := cornea.ModelOptions{}
				r, err := pipeline.Design(s, pipeline.Inputs{LensType: lens.RGP, Model: opts, Clinical: lens.Clinical{RefractionD: -1}})
				if err != nil {
					t.Fatal(err)
				}
				c := r.Cornea
				axial := func(r0 float64) float64 { return math.Sqrt(r0*r0 + (1-tc.c.P)*1.5*1.5) }
				near(t, "flat Sim-K", c.FlatKMM, axial(tc.c.R0MM), 0.02)
				near(t, "steep Sim-K", c.SteepKMM, axial(tc.c.R0YMM), 0.02)
				near(t, "flat apical K", 337.5/c.ApicalK.FlatKD, tc.c.R0MM, 0.02)
				near(t, "steep apical K", 337.5/c.ApicalK.SteepKD, tc.c.R0YMM, 0.02)
				axisOff := func(a float64) float64 {
					d := math.Abs(math.Mod(a-tc.c.AxisDeg+540, 180))
					return min(d, 180-d)
				}
				if axisOff(c.FlatMeridian.AxisDeg) > 2 || axisOff(c.FlatAxisDeg) > 3 {
					t.Errorf("flat axis %.2f (Sim-K) and %.2f (biconic), want %.0f", c.FlatAxisDeg, c.FlatMeridian.AxisDeg, tc.c.AxisDeg)
				}
				for _, chord := range []float64{8, 10} {
					f, _ := flat.Sag(chord)
					st, _ := steep.Sag(chord)
					key := map[float64]string{8: "8", 10: "10"}[chord]
					near(t, "sag "+key, c.SagMM[key], (f+st)/2, 0.002)
				}
			})
		}
	}
}

// TestBitoricPointFiles: a bitoric RGP is cut from toric point files on
// both sides, each meridian reproducing the design's sag, and the front
// carrying each principal meridian's own front radius over the optic zone.
func TestBitoricPointFiles(t *testing.T) {
	steep := 337.5 / (337.5/7.80 + 3)
	eye := lenstest.Biconic{Flat: cornea.Conic{R0MM: 7.80, P: 0.75}, Steep: cornea.Conic{R0MM: steep, P: 0.75}}
	fromScan := func(t *testing.T, in lens.Clinical) *lens.Design {
		c := topotest.Reference()
		c.R0YMM, c.NoiseUM = steep, 1
		r, err := pipeline.Design(c.Surface(), pipeline.Inputs{LensType: lens.RGP, Clinical: in})
		if err != nil {
			t.Fatal(err)
		}
		return r.Lens
	}
	in := lens.Clinical{RefractionD: -2, CylinderD: -3.25, AxisDeg: 180, HVIDMM: 11.8}
	for _, tc := range []struct {
		name   string
		design func(t *testing.T) *lens.Design
	}{
		{"biconic eye", func(t *testing.T) *lens.Design {
			d, err := lens.DesignRGP(eye, in, lens.DefaultRGPNomogram())
			if err != nil {
				t.Fatal(err)
			}
			return d
		}},
		{"oblique biconic eye", func(t *testing.T) *lens.Design {
			e := eye
			e.FlatAxisDeg = 30
			o := in
			o.AxisDeg = 30
			d, err := lens.DesignRGP(e, o, lens.DefaultRGPNomogram())
			if err != nil {
				t.Fatal(err)
			}
			return d
		}},
		{"scan through the engine", func(t *testing.T) *lens.Design { return fromScan(t, in) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.design(t)
			if !d.Toric || len(d.Meridians) != 2 || d.RGP.Form != lens.FormBitoric || !d.RGP.Bitoric.FrontToric {
				t.Fatalf("not a bitoric with a toric front: toric %v, %d meridians", d.Toric, len(d.Meridians))
			}
			pfs, err := pipeline.PointFiles("bitoric-1", d)
			if err != nil {
				t.Fatal(err)
			}
			if len(pfs) != 2 || pfs[0].Name != "bitoric-1.V5B" || pfs[1].Name != "bitoric-1.V5F" {
				t.Fatalf("files %d", len(pfs))
			}
			back, err := lathe.Parse(pfs[0].Data)
			if err != nil {
				t.Fatal(err)
			}
			if back.Symmetric() || len(back.Meridians) != pipeline.ToricMeridians {
				t.Fatalf("back surface with %d meridians", len(back.Meridians))
			}
			if err := lathe.Verify(back, d.BackSurface.SagMM, 0.1); err != nil {
				t.Fatalf("back point file: %v", err)
			}
			front, err := lathe.Parse(pfs[1].Data)
			if err != nil {
				t.Fatal(err)
			}
			if front.Side != lathe.Front || len(front.Meridians) != pipeline.ToricMeridians || front.CenterThicknessMM != d.CentreThicknessMM {
				t.Fatalf("front surface: side %v, %d meridians, CT %v", front.Side, len(front.Meridians), front.CenterThicknessMM)
			}
			sag, rj, err := pipeline.FrontSurface(d)
			if err != nil {
				t.Fatal(err)
			}
			if err := lathe.Verify(front, sag, 0.1); err != nil {
				t.Fatalf("front point file: %v", err)
			}
			// Over the optic zone each principal meridian of the file is
			// the sphere of that meridian's front radius, to 0.1 micron.
			for _, m := range front.Meridians {
				k := 0
				if off := math.Mod(m.AngleDeg-d.Meridians[0].MeridianDeg+360, 180); off > 45 && off < 135 {
					k = 1
				}
				r := d.Meridians[k].FrontRadiusMM
				for x := 0.0; x <= rj; x += 0.01 {
					z, ok := m.SagMM(x)
					if want := r - math.Sqrt(r*r-x*x); !ok || math.Abs(z-want) > 1e-4 {
						t.Fatalf("front meridian at %g: z(%g) = %v, the %g mm sphere has %v", m.AngleDeg, x, z, r, want)
					}
				}
			}
			// And everywhere the lens keeps a thickness.
			for _, m := range []float64{d.Meridians[0].MeridianDeg, d.Meridians[1].MeridianDeg, d.Meridians[0].MeridianDeg + 45} {
				for x := 0.0; x <= d.TDMM/2; x += 0.05 {
					if th := d.CentreThicknessMM + d.BackSurface.SagMM(m, x) - sag(m, x); !(th > 0.05) {
						t.Fatalf("meridian %g at %g mm: %v mm thick", m, x, th)
					}
				}
			}
		})
	}
	// A spherical RGP keeps one meridian on each side.
	d, err := lens.DesignRGP(lenstest.Toric(), lens.Clinical{RefractionD: -2, CylinderD: -1, AxisDeg: 180, HVIDMM: 11.8}, lens.DefaultRGPNomogram())
	if err != nil {
		t.Fatal(err)
	}
	pfs, err := pipeline.PointFiles("s", d)
	if err != nil {
		t.Fatal(err)
	}
	for _, pf := range pfs {
		s, err := lathe.Parse(pf.Data)
		if err != nil || !s.Symmetric() {
			t.Errorf("%s: symmetric %v, %v", pf.Name, s.Symmetric(), err)
		}
	}
}

// BenchmarkStages times each stage of the path on one core, for the
// 15,365-point reference scan and for a CSO raw export of a keratoconic
// eye as the device writes it (24 rings x 256 semi-meridians, Italian
// header, decimal comma): parse, fit, screening, and the design of each
// lens type with its point files.
func BenchmarkStages(b *testing.B) {
	cone := topotest.Cornea{R0MM: 7.6, P: 0.8, NoiseUM: 1, Eye: topo.OD, ApexXMM: 0.3, ApexYMM: -0.4, TiltXDeg: 1,
		ConeUM: 60, ConeXMM: -0.4, ConeYMM: -1.2, Lid: true, LidYMM: 3.5}
	for _, sc := range []struct {
		name string
		data []byte
	}{{"reference-xyz", topotest.Reference().CSV()}, {"keratoconus-cso-raw", cone.CSORawFile()}} {
		s, _, err := topo.Parse(sc.data, topo.Options{})
		if err != nil {
			b.Fatal(err)
		}
		m, err := cornea.Fit(s, cornea.ModelOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(sc.name+"/parse", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := topo.Parse(sc.data, topo.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sc.name+"/fit", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cornea.Fit(s, cornea.ModelOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sc.name+"/screening", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := screening.Screen(screening.FromModel(m), screening.DefaultTable()); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, lt := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
			b.Run(sc.name+"/design-"+string(lt), func(b *testing.B) {
				b.ReportAllocs()
				in := pipeline.Inputs{LensType: lt, OrthoKOverride: true, Clinical: lens.Clinical{RefractionD: -3, HVIDMM: 11.8}}
				for b.Loop() {
					r, err := pipeline.DesignModel(m, s, in)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := pipeline.PointFiles("bench", r.Lens); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
