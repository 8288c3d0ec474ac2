// Package topotest builds synthetic corneal surfaces for tests and
// benchmarks: a conic or biconic cornea sampled on a Pentacam-like square
// grid, with optional Gaussian noise, eyelid cropping and apex decentration.
// It is real code, deterministic for a given seed, and imports nothing but
// package topo.
package topotest

import (
	"bytes"
	"math"
	"math/rand/v2"

	"github.com/lensflow/lensflow/shared/topo"
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
	// eyelid does.
	LidYMM float64
	Lid    bool
	// ApexXMM, ApexYMM, ApexZMM shift the apex from the origin (a decentred
	// scan, or heights measured from a plane below the apex).
	ApexXMM, ApexYMM, ApexZMM float64
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
	return c
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
			if gx*gx+gy*gy > c.RadiusMM*c.RadiusMM || (c.Lid && gy > c.LidYMM) {
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
