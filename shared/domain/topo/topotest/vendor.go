package topotest

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/lensflow/lensflow/shared/domain/topo"
)

// Height returns the noise-free height of the cornea model at (x, y) in
// the examiner's view: the depth below the apex tangent plane in mm, with
// the apex moved by ApexXMM, ApexYMM, ApexZMM, the cornea tilted by
// TiltXDeg, TiltYDeg and raised by its cone. ok is false where the
// biconic is undefined. Lids and gaps do not apply: they hide points, they
// do not change the cornea.
func (c Cornea) Height(xMM, yMM float64) (zMM float64, ok bool) {
	c = c.withDefaults()
	return c.height(xMM, yMM)
}

// own returns the depth of the cornea in its own frame (apex at the
// origin, axis along z) at (u, v).
func (c Cornea) own(u, v float64) (float64, bool) {
	cx, cy := 1/c.R0MM, 1/c.R0YMM
	pu, pv := u, v // along the principal meridians
	if c.AxisDeg != 0 {
		sin, cos := math.Sincos(c.AxisDeg * math.Pi / 180)
		pu, pv = u*cos+v*sin, -u*sin+v*cos
	}
	disc := 1 - c.P*(cx*cx*pu*pu+cy*cy*pv*pv)
	if disc <= 0 {
		return 0, false
	}
	z := (cx*pu*pu + cy*pv*pv) / (1 + math.Sqrt(disc))
	if c.ConeUM != 0 {
		du, dv := u-c.ConeXMM, v-c.ConeYMM
		z -= c.ConeUM / 1000 * math.Exp(-(du*du+dv*dv)/(2*c.ConeSigmaMM*c.ConeSigmaMM))
	}
	return z, true
}

// Rotation returns the tilt's rotation matrix (row major), which takes the
// cornea's own frame to the map's.
func (c Cornea) Rotation() [9]float64 {
	wx, wy := -c.TiltYDeg*math.Pi/180, c.TiltXDeg*math.Pi/180
	th := math.Hypot(wx, wy)
	if th == 0 {
		return [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}
	}
	kx, ky := wx/th, wy/th // unit axis, kz = 0
	s, co := math.Sincos(th)
	t := 1 - co
	return [9]float64{
		co + kx*kx*t, kx * ky * t, ky * s,
		kx * ky * t, co + ky*ky*t, -kx * s,
		-ky * s, kx * s, co,
	}
}

func (c Cornea) height(x, y float64) (float64, bool) {
	dx, dy := x-c.ApexXMM, y-c.ApexYMM
	if c.TiltXDeg == 0 && c.TiltYDeg == 0 {
		z, ok := c.own(dx, dy)
		return c.ApexZMM + z, ok
	}
	// Find the point (u, v, own(u, v)) of the cornea that the rotation
	// puts above (dx, dy): a fixed-point iteration that converges by a
	// factor of about sin(tilt) * slope per step.
	r := c.Rotation()
	u, v := r[0]*dx+r[3]*dy, r[1]*dx+r[4]*dy
	var w float64
	for range 60 {
		var ok bool
		if w, ok = c.own(u, v); !ok {
			return 0, false
		}
		px, py := r[0]*u+r[1]*v+r[2]*w, r[3]*u+r[4]*v+r[5]*w
		ex, ey := dx-px, dy-py
		if math.Abs(ex)+math.Abs(ey) < 1e-13 {
			break
		}
		u += r[0]*ex + r[3]*ey
		v += r[1]*ex + r[4]*ey
	}
	return c.ApexZMM + r[6]*u + r[7]*v + r[8]*w, true
}

// FileOption varies a vendor file written by CSOFile or PentacamFile.
type FileOption func(*fileConfig)

type fileConfig struct {
	sep          byte
	noHeader     bool
	extra        []string
	rhoZ         bool
	missing      string
	missingSet   bool
	microns      bool
	bfsR         float64
	omitUnits    bool
	omitRef      bool
	labels       bool
	ascendingY   bool
	decimalComma bool
	crlf         bool
	decimals     int  // 0: nanometres
	tabHeader    bool // header lines "key<TAB>value"
	raw          rawConfig
}

// Semicolons separates cells with ';' instead of ','.
func Semicolons() FileOption { return func(f *fileConfig) { f.sep = ';' } }

// DecimalComma writes decimal commas ("0,123"), as European spreadsheet
// exports do; it implies Semicolons.
func DecimalComma() FileOption {
	return func(f *fileConfig) { f.sep, f.decimalComma = ';', true }
}

// Decimals rounds heights to n decimals in the file's units (default:
// to the nanometre), to keep sample files small.
func Decimals(n int) FileOption { return func(f *fileConfig) { f.decimals = n } }

// CRLF ends lines with "\r\n".
func CRLF() FileOption { return func(f *fileConfig) { f.crlf = true } }

// NoHeader leaves out the header block: the file is the bare matrix or
// grid. A Pentacam file without a header does not state its units or
// reference: parsing it needs the Grid options.
func NoHeader() FileOption { return func(f *fileConfig) { f.noHeader = true } }

// HeaderLines adds lines verbatim at the start of the header block (for
// example identifiers: "Patient: Jane Roe"). They are written even with
// NoHeader.
func HeaderLines(lines ...string) FileOption {
	return func(f *fileConfig) { f.extra = append(f.extra, lines...) }
}

// RhoZBlocks writes a CSO file as a raw export does: a block of ring radii
// (rho), then a block of heights. The radii then vary slightly around each
// ring, as Placido rings do, so that a parser ignoring them is caught.
func RhoZBlocks() FileOption { return func(f *fileConfig) { f.rhoZ = true } }

// Missing sets the no-data marker: "-1000" (CSO default), "-1" (CSO raw
// default), or "" (empty cell; Pentacam default).
func Missing(marker string) FileOption {
	return func(f *fileConfig) { f.missing, f.missingSet = marker, true }
}

// TabHeader writes header lines as "key<TAB>value", as Pentacam exports
// do ("Units<TAB>um").
func TabHeader() FileOption { return func(f *fileConfig) { f.tabHeader = true } }

// Microns writes heights in microns and says so in the header.
func Microns() FileOption { return func(f *fileConfig) { f.microns = true } }

// BFS writes a Pentacam file as elevation above a best-fit sphere of the
// given radius (mm), positive where the cornea stands in front of the
// sphere, with the radius in the header.
func BFS(radiusMM float64) FileOption { return func(f *fileConfig) { f.bfsR = radiusMM } }

// OmitUnits leaves the units out of a Pentacam header.
func OmitUnits() FileOption { return func(f *fileConfig) { f.omitUnits = true } }

// OmitReference leaves the reference (and BFS radius) out of a Pentacam
// header.
func OmitReference() FileOption { return func(f *fileConfig) { f.omitRef = true } }

// Labels writes a Pentacam grid with a row of x labels and a column of y
// labels.
func Labels() FileOption { return func(f *fileConfig) { f.labels = true } }

// AscendingY writes a labelled Pentacam grid from y = -7 mm upwards (it
// implies Labels: without labels the first row is always y = +7 mm).
func AscendingY() FileOption {
	return func(f *fileConfig) { f.labels, f.ascendingY = true, true }
}

func newConfig(missing string, opts []FileOption) *fileConfig {
	f := &fileConfig{sep: ','}
	for _, o := range opts {
		o(f)
	}
	if !f.missingSet {
		f.missing = missing
	}
	return f
}

type writer struct {
	f   *fileConfig
	b   bytes.Buffer
	tmp []byte
}

func (w *writer) eol() {
	if w.f.crlf {
		w.b.WriteByte('\r')
	}
	w.b.WriteByte('\n')
}

// meta writes "key: value" (comma files), "key;value" (semicolon files) or
// "key<TAB>value" (TabHeader).
func (w *writer) meta(key, val string) {
	w.b.WriteString(key)
	if w.f.tabHeader {
		w.b.WriteByte('\t')
	} else if w.f.sep == ';' {
		w.b.WriteByte(';')
	} else {
		w.b.WriteString(": ")
	}
	w.b.WriteString(val)
	w.eol()
}

// num writes v rounded to scale (1e9 for nanometres in mm).
func (w *writer) num(v, scale float64) {
	w.tmp = strconv.AppendFloat(w.tmp[:0], math.Round(v*scale)/scale, 'f', -1, 64)
	if w.f.decimalComma {
		for i, c := range w.tmp {
			if c == '.' {
				w.tmp[i] = ','
			}
		}
	}
	w.b.Write(w.tmp)
}

// cells writes a row of heights (mm) in the file's units (scale) rounded
// to round, separated by the file's separator; NaN is written as its
// no-data marker.
func (w *writer) cells(v []float64, scale, round float64) {
	for j, x := range v {
		if j > 0 {
			w.b.WriteByte(w.f.sep)
		}
		if math.IsNaN(x) {
			w.b.WriteString(w.f.missing)
		} else {
			w.num(x*scale, round)
		}
	}
}

func (w *writer) header(c Cornea) {
	for _, l := range w.f.extra {
		w.b.WriteString(l)
		w.eol()
	}
	if w.f.noHeader {
		return
	}
	if c.Device != "" {
		w.meta("Device", c.Device)
	}
	if c.Eye != "" {
		w.meta("Eye", string(c.Eye))
	}
}

// heightScale is the factor from mm to the file's units and the rounding
// scale that keeps nanometres.
func (f *fileConfig) heightScale() (unit, round float64) {
	unit, round = 1, 1e9
	if f.microns {
		unit, round = 1000, 1e6
	}
	if f.decimals > 0 {
		round = math.Pow(10, float64(f.decimals))
	}
	return unit, round
}

// CSOFile returns the cornea as a CSO polar elevation export: 31 rings
// 0.2 mm apart by 256 semi-meridians, sampled from the same model as
// Surface (biconic, decentration, noise, lid, eye; points beyond RadiusMM
// or above the lid are written as no data). The header (unless NoHeader)
// gives the device, eye, rings, meridians and, with Microns, the units.
// The centre is measured once and written in all 256 cells of ring 0.
// Noise is drawn from c.Seed in the file's cell order, so the noise
// differs from Surface's, sample for sample, but has the same spread.
func (c Cornea) CSOFile(opts ...FileOption) []byte {
	c = c.withDefaults()
	f := newConfig("-1000", opts)
	w := &writer{f: f}
	w.header(c)
	if !f.noHeader {
		w.meta("Rings", strconv.Itoa(topo.CSORings))
		w.meta("Meridians", strconv.Itoa(topo.CSOMeridians))
		if f.microns {
			w.meta("Units", "um")
		}
	}
	unit, round := f.heightScale()
	rng := rand.New(rand.NewPCG(c.Seed, 0xc50))
	const m = topo.CSOMeridians
	rho := make([]float64, topo.CSORings*m)
	z := make([]float64, topo.CSORings*m)
	for i := range topo.CSORings {
		for j := range m {
			th := 2 * math.Pi * float64(j) / m
			r := float64(i) * topo.CSORingStepMM
			if f.rhoZ {
				r = math.Round(r*(1+0.03*math.Cos(2*th))*1e4) / 1e4
			}
			rho[i*m+j] = r
			if i == 0 && j > 0 {
				z[j] = z[0]
				continue
			}
			x, y := r*math.Cos(th), r*math.Sin(th)
			h, ok := c.height(x, y)
			if !ok || !c.measured(x, y) {
				z[i*m+j] = math.NaN()
				continue
			}
			if c.NoiseUM > 0 {
				h += rng.NormFloat64() * c.NoiseUM / 1000
			}
			z[i*m+j] = h
		}
	}
	block := func(v []float64, scale, rnd float64) {
		for i := range topo.CSORings {
			w.cells(v[i*m:(i+1)*m], scale, rnd)
			w.eol()
		}
	}
	if f.rhoZ {
		if !f.noHeader {
			w.b.WriteString("rho")
			w.eol()
		}
		block(rho, 1, 1e4)
		if !f.noHeader {
			w.b.WriteString("z")
			w.eol()
		}
	}
	block(z, unit, round)
	return w.b.Bytes()
}

// PentacamFile returns the cornea as a Pentacam-style 141 x 141 elevation
// grid (-7..+7 mm, 0.1 mm), first row y = +7 mm. The cells are exactly the
// points of Surface sampled on a 0.1 mm grid (StepMM is ignored): same
// noise, lid and decentration, each point in its cell; cells without a
// point are written as no data. By default heights are mm of depth below
// the apex plane and the header says so; Microns and BFS change that, and
// the header (unless NoHeader, OmitUnits or OmitReference) says what they
// are.
func (c Cornea) PentacamFile(opts ...FileOption) []byte {
	c = c.withDefaults()
	c.StepMM = topo.PentacamStepMM
	f := newConfig("", opts)
	w := &writer{f: f}
	w.header(c)
	if !f.noHeader {
		if !f.omitUnits {
			if f.microns {
				w.meta("Units", "um")
			} else {
				w.meta("Units", "mm")
			}
		}
		if !f.omitRef {
			if f.bfsR > 0 {
				w.meta("Reference", "BFS")
				w.tmp = strconv.AppendFloat(w.tmp[:0], f.bfsR, 'f', -1, 64)
				w.meta("BFS radius", string(w.tmp))
			} else {
				w.meta("Reference", "apex")
			}
		}
	}
	const n, half = topo.PentacamSize, (topo.PentacamSize - 1) / 2
	grid := make([]float64, n*n)
	for i := range grid {
		grid[i] = math.NaN()
	}
	s := c.Surface()
	for k := range s.X {
		col := int(math.Round(s.X[k]*10)) + half
		row := half - int(math.Round(s.Y[k]*10))
		if f.ascendingY {
			row = n - 1 - row
		}
		if row < 0 || row >= n || col < 0 || col >= n {
			continue
		}
		z := s.Z[k]
		if f.bfsR > 0 {
			r2 := s.X[k]*s.X[k] + s.Y[k]*s.Y[k]
			z = r2/(f.bfsR+math.Sqrt(f.bfsR*f.bfsR-r2)) - z
		}
		grid[row*n+col] = z
	}
	unit, round := f.heightScale()
	label := func(t int) {
		w.tmp = strconv.AppendFloat(w.tmp[:0], float64(t)/10, 'f', 1, 64)
		if f.decimalComma {
			w.tmp[len(w.tmp)-2] = ','
		}
		w.b.Write(w.tmp)
	}
	if f.labels {
		w.b.WriteString("y\\x")
		for j := range n {
			w.b.WriteByte(f.sep)
			label(j - half)
		}
		w.eol()
	}
	for i := range n {
		if f.labels {
			if f.ascendingY {
				label(i - half)
			} else {
				label(half - i)
			}
			w.b.WriteByte(f.sep)
		}
		w.cells(grid[i*n:(i+1)*n], unit, round)
		w.eol()
	}
	return w.b.Bytes()
}
