// Package topotest builds synthetic corneal surfaces for tests and
// benchmarks: a conic or biconic cornea sampled on a Pentacam-like square
// grid, with what real exams add to a textbook conic: Gaussian noise,
// eyelids cutting the map, notches and missing sectors, an apex off the
// instrument axis, a tilted cornea and a keratoconic cone. It is real code,
// deterministic for a given seed, and imports nothing but package topo.
package topotest

import (
	"bytes"
	"math"
	"math/rand/v2"
	"time"

	"github.com/lensflow/lensflow/shared/domain/topo"
)

// Cornea describes a synthetic cornea. The zero value of each field takes
// the default noted beside it; Reference returns the handbook's reference
// cornea.
type Cornea struct {
	R0MM     float64 // apical radius along x, mm (default 7.8)
	R0YMM    float64 // apical radius along y for a toric cornea, mm (default R0MM)
	P        float64 // shape factor p = 1 - e^2, shared by both meridians (default 0.75); use PSet for 0
	PSet     bool    // P is meant literally even when 0 (a paraboloid)
	RadiusMM float64 // sampled radius, mm (default 7.0)
	StepMM   float64 // grid step, mm (default 0.1)
	NoiseUM  float64 // standard deviation of Gaussian noise on z, microns
	Seed     uint64  // noise seed (default 1)
	// LidYMM, when Lid is true, drops points with y above it, as an upper
	// eyelid does; LowerLidYMM, when LowerLid is true, drops points with y
	// below it (a negative number), as a lower lid does.
	LidYMM      float64
	Lid         bool
	LowerLidYMM float64
	LowerLid    bool
	// Gaps are sectors the device did not measure (a lash shadow, a
	// notch, a whole missing quadrant).
	Gaps []Gap
	// ApexXMM, ApexYMM, ApexZMM shift the apex from the origin (a decentred
	// scan, or heights measured from a plane below the apex).
	ApexXMM, ApexYMM, ApexZMM float64
	// TiltXDeg and TiltYDeg tilt the cornea rigidly about its apex, as an
	// eye turned slightly away from the instrument axis is: the corneal
	// axis leans by TiltXDeg towards +x and by TiltYDeg towards +y. The
	// rotation is the one with rotation vector (-TiltYDeg, TiltXDeg, 0)
	// (radians), so it leaves no twist about the axis.
	TiltXDeg, TiltYDeg float64
	// ConeUM raises an anterior bulge on the cornea, as keratoconus does:
	// the depth is reduced by ConeUM microns times a Gaussian of standard
	// deviation ConeSigmaMM (default 1.0 mm) centred at (ConeXMM, ConeYMM)
	// from the apex, in the cornea's own frame (before tilt). Real cones
	// sit inferior and off centre (ConeYMM about -1 mm).
	ConeUM, ConeXMM, ConeYMM, ConeSigmaMM float64
	// AxisDeg turns a toric cornea so the R0MM meridian lies at this TABO
	// angle (counterclockwise from the examiner's right) instead of along x.
	AxisDeg float64
	Eye     topo.Eye
	Device  string
}

// Reference is the handbook's reference cornea: R0 7.80 mm, e 0.5 (p 0.75),
// sampled to 7 mm radius on a 0.1 mm grid (15,365 points), right eye.
func Reference() Cornea {
	return Cornea{R0MM: 7.8, P: 0.75, RadiusMM: 7, StepMM: 0.1, Eye: topo.OD, Device: "lensflow synthetic"}
}

func (c Cornea) withDefaults() Cornea {
	if c.R0MM == 0 {
		c.R0MM = 7.8
	}
	if c.R0YMM == 0 {
		c.R0YMM = c.R0MM
	}
	if c.P == 0 && !c.PSet {
		c.P = 0.75
	}
	if c.RadiusMM == 0 {
		c.RadiusMM = 7
	}
	if c.StepMM == 0 {
		c.StepMM = 0.1
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.ConeSigmaMM == 0 {
		c.ConeSigmaMM = 1
	}
	return c
}

// Gap is a sector of the map with no data: semi-meridians from FromDeg to
// ToDeg (TABO degrees counterclockwise from the examiner's right, 0-360;
// FromDeg > ToDeg wraps through 0) beyond BeyondMM from the map centre.
type Gap struct {
	FromDeg, ToDeg float64
	BeyondMM       float64
}

func (g Gap) holds(x, y float64) bool {
	if x*x+y*y <= g.BeyondMM*g.BeyondMM {
		return false
	}
	a := math.Atan2(y, x) * 180 / math.Pi
	if a < 0 {
		a += 360
	}
	if g.FromDeg <= g.ToDeg {
		return a >= g.FromDeg && a <= g.ToDeg
	}
	return a >= g.FromDeg || a <= g.ToDeg
}

// Measured reports whether the device measured the point (x, y) of the
// map (mm, examiner's view): inside RadiusMM, below the upper lid, above
// the lower lid and outside every gap. Noise and the surface's own domain
// do not enter: a measured point may still be undefined (Height's ok).
func (c Cornea) Measured(xMM, yMM float64) bool {
	c = c.withDefaults()
	return c.measured(xMM, yMM)
}

func (c Cornea) measured(x, y float64) bool {
	if x*x+y*y > c.RadiusMM*c.RadiusMM+1e-12 || c.Lid && y > c.LidYMM || c.LowerLid && y < c.LowerLidYMM {
		return false
	}
	for _, g := range c.Gaps {
		if g.holds(x, y) {
			return false
		}
	}
	return true
}

// Surface samples the cornea. Points where the biconic is undefined are
// left out, as a device leaves out points it could not measure. Coordinates
// are rounded to 0.1 micron in x, y and 1 nm in z, as files carry them.
func (c Cornea) Surface() *topo.Surface {
	c = c.withDefaults()
	rng := rand.New(rand.NewPCG(c.Seed, 0x5eed))
	n := int(math.Round(c.RadiusMM / c.StepMM))
	s := &topo.Surface{Eye: c.Eye, Device: c.Device, Format: topo.FormatXYZCSV}
	for i := -n; i <= n; i++ {
		for j := -n; j <= n; j++ {
			// The radius test uses the unrounded grid, as the lab's benchmark
			// generator does, so the reference grid has the same 15,365 points.
			gx, gy := float64(j)*c.StepMM, float64(i)*c.StepMM
			if gx*gx+gy*gy > c.RadiusMM*c.RadiusMM || !c.measured(gx, gy) {
				continue
			}
			x, y := round(gx, 1e4), round(gy, 1e4)
			z, ok := c.height(x, y)
			if !ok {
				continue
			}
			if c.NoiseUM > 0 {
				z += rng.NormFloat64() * c.NoiseUM / 1000
			}
			s.X = append(s.X, x)
			s.Y = append(s.Y, y)
			s.Z = append(s.Z, round(z, 1e9))
		}
	}
	return s
}

// CSV returns the cornea as an xyz-csv file, with any extra header lines
// (written verbatim, each without its newline) before the metadata.
func (c Cornea) CSV(extraHeader ...string) []byte {
	var b bytes.Buffer
	for _, h := range extraHeader {
		b.WriteString(h + "\n")
	}
	if err := topo.EncodeXYZ(&b, c.Surface()); err != nil {
		panic(err) // synthetic surfaces are always valid
	}
	return b.Bytes()
}

func round(v, scale float64) float64 { return math.Round(v*scale) / scale }

// Sample is the cornea of the sample scans in shared/domain/topo/testdata (the
// README walkthrough's and the lens calculator's): the reference cornea
// with 1 micron of noise, its device naming it synthetic. The files start
// with SampleNote and were captured at SampleCapturedAt.
func Sample() Cornea {
	c := Reference()
	c.NoiseUM = 1
	c.Device = "lensflow synthetic (conic R0 7.80 mm, p 0.75, noise 1 um)"
	return c
}

// SampleNote is the comment line the sample scan files start with.
const SampleNote = "# lensflow sample scan; synthetic, no patient data"

// SampleCapturedAt is when the sample scans say they were captured.
var SampleCapturedAt = time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC)

// Large is the reference cornea sampled finely enough (0.0141 mm to a 6.3 mm
// radius, about 626,000 points) that its xyz-csv file is just under 16 MiB,
// the largest scan file lensflow accepts: for memory tests and benchmarks.
func Large() Cornea {
	c := Reference()
	c.RadiusMM, c.StepMM = 6.3, 0.0141
	return c
}
