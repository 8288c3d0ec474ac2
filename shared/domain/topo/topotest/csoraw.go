package topotest

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// rawConfig holds the options only CSORawFile reads.
type rawConfig struct {
	english          bool
	lf               bool
	point            bool
	depth            bool
	noSimK           bool
	rings, meridians int
}

// EnglishHeader writes a CSO raw export's header with the English keys a
// device set to English writes ("Patient", "No. of Rings", ...) instead of
// the Italian ones.
func EnglishHeader() FileOption { return func(f *fileConfig) { f.raw.english = true } }

// LF ends a CSO raw export's lines with "\n" instead of the device's
// "\r\n".
func LF() FileOption { return func(f *fileConfig) { f.raw.lf = true } }

// DecimalPoint writes a CSO raw export's numbers with a decimal point
// instead of the device's decimal comma.
func DecimalPoint() FileOption { return func(f *fileConfig) { f.raw.point = true } }

// DepthSign writes a CSO raw export's heights as depth, positive into the
// eye, instead of the device's elevations, negative below the apex.
func DepthSign() FileOption { return func(f *fileConfig) { f.raw.depth = true } }

// NoSimK leaves the SIM-k block (K1 and K2 lines) out of a CSO raw export.
func NoSimK() FileOption { return func(f *fileConfig) { f.raw.noSimK = true } }

// RingsMeridians writes a CSO raw export with the given numbers of rings
// and semi-meridians (default 24 x 256), and says so in its header.
func RingsMeridians(rings, meridians int) FileOption {
	return func(f *fileConfig) { f.raw.rings, f.raw.meridians = rings, meridians }
}

// CSORawRing0MM and CSORawOuterMM are the mean radii of the first and last
// rings of a CSO raw export written by CSORawFile.
const (
	CSORawRing0MM = 0.2
	CSORawOuterMM = 5.5
)

// CSORawFile returns the cornea as the raw export a CSO Placido topographer
// writes by default: a header of about 22 "Key : value" lines in Italian
// (the patient "Rossi Mario", or the HeaderLines instead; the exam time;
// "Occhio : True", the laterality flag whose meaning is not documented;
// the Sim-K the cornea has; corneal and pupil diameters; "Dato misurato :
// Elevazioni"; the ring and semi-meridian counts; "sph -1000 ..." for no
// refraction entered), dashed separator lines, CRLF line ends and decimal
// commas; then one value per line: the ring radii (mm) ring by ring, then
// the elevations (mm, negative below the apex) in the same order, each
// rounded to the nanometre (Decimals changes that).
//
// Ring i of 24 lies near 0.2 + 5.3 (i/23)^0.92 mm, unevenly spaced and
// varying slightly around the ring (elliptical along the cornea's axis, as
// Placido rings on a toric cornea are), rounded to 0.1 micron; its height
// is the cornea's Height at that point plus the noise drawn from NoiseUM
// and Seed. A point the device did not measure (Measured: lids, gaps) has
// -1 for its radius and its height; one where the surface is undefined
// has -1 for its height. The Sim-K is 337.5 / r for the axial radius r =
// sqrt(R0^2 + (1-p) h^2) of each principal meridian at h = 1.5 mm, flat
// first, with TABO axes.
//
// Options: EnglishHeader, LF, DecimalPoint, DepthSign, NoSimK,
// RingsMeridians, Decimals, Missing (the marker, default "-1"), HeaderLines
// (written first, in place of the default patient line) and NoHeader.
func (c Cornea) CSORawFile(opts ...FileOption) []byte {
	c = c.withDefaults()
	f := newConfig("-1", opts)
	f.crlf = !f.raw.lf
	f.decimalComma = !f.raw.point
	rings, m := f.raw.rings, f.raw.meridians
	if rings == 0 {
		rings = 24
	}
	if m == 0 {
		m = 256
	}
	w := &writer{f: f}
	w.rawHeader(c, rings, m)

	_, round := f.heightScale()
	rng := rand.New(rand.NewPCG(c.Seed, 0xc5aa))
	axis := c.AxisDeg * math.Pi / 180
	rho := make([]float64, rings*m)
	z := make([]float64, rings*m)
	for i := range rings {
		u := 0.0
		if rings > 1 {
			u = float64(i) / float64(rings-1)
		}
		base := (CSORawRing0MM + (CSORawOuterMM-CSORawRing0MM)*math.Pow(u, 0.92)) * (1 + 0.01*math.Sin(2.3*float64(i)))
		for j := range m {
			th := 2 * math.Pi * float64(j) / float64(m)
			r := base * (1 + 0.02*math.Cos(2*(th-axis)) + 0.004*math.Sin(3*th+float64(i)))
			r = math.Round(r*1e4) / 1e4
			k := i*m + j
			// The parser's angles: the same expression, so the points it
			// reads are exactly those written.
			sin, cos := math.Sincos(2 * math.Pi * float64(j) / float64(m))
			x, y := r*cos, r*sin
			if !c.measured(x, y) {
				rho[k], z[k] = math.NaN(), math.NaN()
				continue
			}
			rho[k] = r
			h, ok := c.height(x, y)
			if !ok {
				z[k] = math.NaN()
				continue
			}
			if c.NoiseUM > 0 {
				h += rng.NormFloat64() * c.NoiseUM / 1000
			}
			if !f.raw.depth {
				h = -h
			}
			z[k] = h
		}
	}
	for _, block := range []struct {
		v     []float64
		scale float64
	}{{rho, 1e4}, {z, round}} {
		for _, v := range block.v {
			if math.IsNaN(v) {
				w.b.WriteString(f.missing)
			} else {
				w.num(v, block.scale)
			}
			w.eol()
		}
	}
	return w.b.Bytes()
}

// rawHeader writes the header block of a CSO raw export.
func (w *writer) rawHeader(c Cornea, rings, m int) {
	f := w.f
	for _, l := range f.extra {
		w.b.WriteString(l)
		w.eol()
	}
	if f.noHeader {
		return
	}
	it := !f.raw.english
	key := func(italian, english string) string {
		if it {
			return italian
		}
		return english
	}
	line := func(k, v string) {
		w.b.WriteString(k)
		w.b.WriteString(" : ")
		w.b.WriteString(v)
		w.eol()
	}
	dashes := func() {
		w.b.WriteString(strings.Repeat("-", 40))
		w.eol()
	}
	dec := func(v float64, prec int) string {
		s := strconv.FormatFloat(v, 'f', prec, 64)
		if f.decimalComma {
			s = strings.Replace(s, ".", ",", 1)
		}
		return s
	}
	if len(f.extra) == 0 {
		line(key("Paziente", "Patient"), "Rossi Mario")
	}
	line(key("Esame", "Exam"), "15/01/2026 09:30:12")
	line(key("Occhio", "Eye"), "True")
	line(key("Note", "Notes"), "")
	if c.Device != "" {
		line(key("Strumento", "Device"), c.Device)
	}
	dashes()
	if !f.raw.noSimK {
		w.b.WriteString(key("SIM-k :", "SIM-K :"))
		w.eol()
		k := c.SimK()
		for i, kv := range [2][2]float64{{k[0], k[1]}, {k[2], k[3]}} {
			w.b.WriteString("K" + strconv.Itoa(i+1) + " = " + dec(kv[0], 2) + " D @ " + strconv.Itoa(int(kv[1])) + "°")
			w.eol()
		}
	}
	line(key("Diametro Corneale", "Corneal Diameter"), dec(11.85, 2)+" mm")
	line(key("Diametro Pupilla", "Pupil Diameter"), dec(3.2, 2)+" mm")
	line(key("Pupilla X", "Pupil X"), dec(0.12, 2)+" mm")
	line(key("Pupilla Y", "Pupil Y"), dec(-0.08, 2)+" mm")
	dashes()
	line(key("Dato misurato", "Measured data"), key("Elevazioni", "Elevations"))
	line(key("N° Anelli", "No. of Rings"), strconv.Itoa(rings))
	line(key("N° Semimeridiani", "No. of Semi-meridians"), strconv.Itoa(m))
	dashes()
	w.b.WriteString(key("Refrazione :", "Refraction :"))
	w.eol()
	w.b.WriteString("sph -1000 cyl -1000 ax -1000 @ -1000")
	w.eol()
	dashes()
}

// SimK returns the Sim-K a CSO device reports for the cornea: flat K and
// its axis, steep K and its axis (D and TABO degrees, 1 to 180, rounded as
// the device writes them: 0.01 D and whole degrees). Each K is 337.5 / r
// for the axial radius r = sqrt(R0^2 + (1-p) h^2) of a principal meridian
// at h = 1.5 mm.
func (c Cornea) SimK() [4]float64 {
	c = c.withDefaults()
	const h = 1.5
	rx := math.Sqrt(c.R0MM*c.R0MM + (1-c.P)*h*h)
	ry := math.Sqrt(c.R0YMM*c.R0YMM + (1-c.P)*h*h)
	kx, ky := 337.5/rx, 337.5/ry
	ax, ay := c.AxisDeg, c.AxisDeg+90
	if kx > ky {
		kx, ky, ax, ay = ky, kx, ay, ax
	}
	tabo := func(a float64) float64 {
		d := math.Mod(math.Round(a), 180)
		if d <= 0 {
			d += 180
		}
		return d
	}
	return [4]float64{math.Round(kx*100) / 100, tabo(ax), math.Round(ky*100) / 100, tabo(ay)}
}
