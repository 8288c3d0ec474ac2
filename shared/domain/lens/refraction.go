package lens

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
)

// Refraction is a sphero-cylindrical refraction as practitioners write it,
// "sphere / cylinder x axis", in minus-cylinder form, measured at a vertex
// distance in front of the cornea.
type Refraction struct {
	// SphereD is the sphere: the power along the cylinder's axis.
	SphereD float64 `json:"sphere_D"`
	// CylinderD is the cylinder, zero or negative (minus-cylinder form);
	// zero for a spherical refraction.
	CylinderD float64 `json:"cylinder_D"`
	// AxisDeg is the cylinder's axis, TABO degrees (0-180, examiner's view;
	// 0 and 180 are the same meridian and are written 180); zero without a
	// cylinder.
	AxisDeg float64 `json:"axis_deg"`
	// VertexMM is the distance in front of the cornea it was measured at
	// (0-20 mm). A parsed refraction leaves it 0: not given, the nomogram's
	// vertex distance applies. A corneal-plane refraction has 0.
	VertexMM float64 `json:"vertex_mm"`
	// Transposed records that the refraction was written in plus-cylinder
	// form and transposed to minus cylinder (sphere + cylinder, the
	// cylinder's sign changed, the axis turned by 90 degrees).
	Transposed bool `json:"transposed,omitempty"`
}

// Refraction limits: what a lens can be designed for.
const (
	MaxSphereD   = 30.0 // |sphere|, D
	MaxCylinderD = 10.0 // |cylinder|, D
	MaxVertexMM  = 20.0 // vertex distance, mm
)

// maxRefractionLen bounds the text ParseRefraction reads.
const maxRefractionLen = 64

// rxExample is the form the parse errors show.
const rxExample = "sphere / cylinder x axis, e.g. -3.00 / -1.25 x 180, or a sphere alone, e.g. -2.50"

// ParseRefraction reads a refraction as clinics type it:
//
//	-3.00/-1.25x180   -3.00 / -1.25 x 180   -3.00/-1.25×180   -3.00-1.25x180
//	+1.50/-0.75x90    pl/-1.00x90           plano             -3.00DS   -2.5
//	-3.00 DS / -1.25 DC x 180               -3,00/-1,25x180 (decimal commas)
//
// A sphere may be "plano" or "pl" and carry "DS", "D" or "sph"; a
// cylinder "DC", "D" or "cyl"; the axis follows "x", "×", "ax", "axis"
// or "@" and may end in "°" or "deg". Without a "/" the cylinder must
// carry its sign. A plus cylinder is transposed to minus cylinder and the
// result says so (Transposed). An axis 0 is the same meridian as 180 and
// is returned as 180; a zero cylinder leaves a sphere (no axis).
//
// Errors are errs.Invalid naming the field "rx" and saying what is wrong:
// a cylinder without an axis or an axis without a cylinder, an axis outside
// 0-180, a sphere beyond ±30 D, a cylinder over 10 D, or text that is not a
// refraction.
func ParseRefraction(s string) (Refraction, error) {
	const op = "lens.ParseRefraction"
	bad := func(format string, args ...any) (Refraction, error) {
		return Refraction{}, errs.Field(op, "rx", format, args...)
	}
	if len(s) > maxRefractionLen {
		return bad("%d characters is too long for a refraction (at most %d): write %s", len(s), maxRefractionLen, rxExample)
	}
	orig := strings.TrimSpace(s)
	if orig == "" {
		return bad("no refraction given: write %s", rxExample)
	}
	p := rxScanner{s: normaliseRx(orig)}
	// Messages describe the problem without repeating the text (the
	// project's errors never quote what a client sent).
	notRx := func() (Refraction, error) { return bad("is not a refraction: write %s", rxExample) }

	var r Refraction
	switch {
	case p.word("plano"), p.word("pl."), p.word("pl"):
	default:
		v, _, ok := p.number()
		if !ok {
			return notRx()
		}
		r.SphereD = v
	}
	p.space()
	p.unit("dsph", "ds", "sph", "d")
	p.space()
	if p.done() {
		return r.checked(bad)
	}
	slash := p.lit("/")
	p.space()
	if !slash && p.axisMark() {
		return bad("an axis follows the sphere, but an axis belongs to a cylinder: write %s", rxExample)
	}
	cyl, signed, ok := p.number()
	if !ok {
		if slash {
			return bad("no cylinder after the \"/\": write %s", rxExample)
		}
		return notRx()
	}
	if !signed && cyl != 0 {
		if !slash {
			return notRx()
		}
		return bad("the cylinder %s needs its sign (- or +): write e.g. -3.00 / -%s x 180", trimNum(cyl), trimNum(cyl))
	}
	p.space()
	p.unit("dcyl", "dc", "cyl", "d")
	p.space()
	if !p.axisMark() {
		if p.done() {
			return bad("the %s D cylinder has no axis: add it, e.g. %s / %s x 180 (axis 0 to 180 degrees)",
				formatD(cyl), sphereText(r.SphereD), formatD(cyl))
		}
		return notRx()
	}
	p.space()
	axis, axisSigned, ok := p.number()
	if !ok || axisSigned {
		return bad("the axis must be a number of degrees from 0 to 180")
	}
	p.space()
	p.unit("degrees", "deg", "°")
	p.space()
	if !p.done() {
		return bad("unexpected text after the axis: write %s", rxExample)
	}
	if !(axis >= 0 && axis <= 180) {
		return bad("axis %s is not an axis: axes run from 0 to 180 degrees", trimNum(axis))
	}
	r.CylinderD, r.AxisDeg = cyl, axis
	return r.checked(bad)
}

// checked range-checks a parsed refraction, transposes a plus cylinder
// and normalises the axis.
func (r Refraction) checked(bad func(string, ...any) (Refraction, error)) (Refraction, error) {
	if !(math.Abs(r.SphereD) <= MaxSphereD) {
		return bad("sphere %s D is beyond the ±%.2f D a lens is designed for", formatD(r.SphereD), MaxSphereD)
	}
	if !(math.Abs(r.CylinderD) <= MaxCylinderD) {
		return bad("cylinder %s D is more than the %.2f D a lens is designed for", formatD(r.CylinderD), MaxCylinderD)
	}
	if r.CylinderD > 0 {
		r = r.transposed()
		if !(math.Abs(r.SphereD) <= MaxSphereD) {
			return bad("transposed to minus cylinder the sphere is %s D, beyond the ±%.2f D a lens is designed for", formatD(r.SphereD), MaxSphereD)
		}
	}
	return r.normalised(), nil
}

// transposed returns a plus-cylinder refraction in minus-cylinder form.
func (r Refraction) transposed() Refraction {
	r.SphereD = round6(r.SphereD + r.CylinderD)
	r.CylinderD = -r.CylinderD
	r.AxisDeg = round6(normalAxis(r.AxisDeg + 90))
	r.Transposed = true
	return r
}

// normalised writes -0 as 0, an axis 0 as 180, and drops the axis of a
// zero cylinder.
func (r Refraction) normalised() Refraction {
	if r.SphereD == 0 {
		r.SphereD = 0
	}
	if r.CylinderD == 0 {
		r.CylinderD, r.AxisDeg = 0, 0
	} else {
		r.AxisDeg = normalAxis(r.AxisDeg)
	}
	return r
}

// normalAxis reduces a meridian to TABO (0, 180].
func normalAxis(a float64) float64 {
	a = math.Mod(a, 180)
	if a <= 0 {
		a += 180
	}
	return a
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// String writes the refraction in minus-cylinder form as a prescription
// reads: "-3.00 / -1.25 x 180", "plano / -1.00 x 90", "-3.00 DS" or
// "plano". Powers get at least two decimals (more when they have them),
// so ParseRefraction(r.String()) gives r back; the vertex distance is not
// part of the text.
func (r Refraction) String() string {
	if r.CylinderD == 0 {
		if r.SphereD == 0 {
			return "plano"
		}
		return formatD(r.SphereD) + " DS"
	}
	return sphereText(r.SphereD) + " / " + formatD(r.CylinderD) + " x " + trimNum(r.AxisDeg)
}

func sphereText(v float64) string {
	if v == 0 {
		return "plano"
	}
	return formatD(v)
}

// formatD writes a power with its sign and at least two decimals.
func formatD(v float64) string {
	s := strconv.FormatFloat(math.Abs(v), 'f', -1, 64)
	if i := strings.IndexByte(s, '.'); i < 0 {
		s += ".00"
	} else if len(s)-i == 2 {
		s += "0"
	}
	if v < 0 {
		return "-" + s
	}
	return "+" + s
}

func trimNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// MeridianPowerD returns the refraction's power along a meridian (TABO
// degrees): sphere + cylinder * sin^2(meridian - axis). Along the axis it
// is the sphere, 90 degrees away sphere + cylinder.
func (r Refraction) MeridianPowerD(meridianDeg float64) float64 {
	s := math.Sin((meridianDeg - r.AxisDeg) * math.Pi / 180)
	return r.SphereD + r.CylinderD*s*s
}

// AtCornea returns the refraction moved from its vertex distance (vertexMM
// when r.VertexMM is 0) to the corneal plane, each principal meridian
// separately: F / (1 - d F) along the axis (the sphere) and 90 degrees
// from it (sphere + cylinder). The result has vertex 0.
func (r Refraction) AtCornea(vertexMM float64) Refraction {
	if r.VertexMM != 0 {
		vertexMM = r.VertexMM
	}
	s := VertexD(r.SphereD, vertexMM)
	c := Refraction{SphereD: s, AxisDeg: r.AxisDeg}
	if r.CylinderD != 0 {
		c.CylinderD = VertexD(r.SphereD+r.CylinderD, vertexMM) - s
	}
	return c.normalised()
}

// PowerVector is a refraction as a power vector (Thibos): M the spherical
// equivalent and J0, J45 the Jackson cross-cylinders along 0/90 and 45/135
// degrees, all in dioptres. Astigmatisms add and subtract as vectors, which
// cylinders at different axes do not.
type PowerVector struct {
	MD   float64 `json:"m_D"`
	J0D  float64 `json:"j0_D"`
	J45D float64 `json:"j45_D"`
}

// PowerVector returns the refraction's power vector:
// M = S + C/2, J0 = -(C/2) cos 2A, J45 = -(C/2) sin 2A.
func (r Refraction) PowerVector() PowerVector {
	a := 2 * r.AxisDeg * math.Pi / 180
	return PowerVector{MD: r.SphereD + r.CylinderD/2, J0D: -r.CylinderD / 2 * math.Cos(a), J45D: -r.CylinderD / 2 * math.Sin(a)}
}

// Refraction returns the sphero-cylinder of the power vector in
// minus-cylinder form (vertex 0): C = -2 |J|, A = atan2(J45, J0) / 2,
// S = M - C/2. A cylinder under 1e-9 D is a sphere.
func (p PowerVector) Refraction() Refraction {
	j := math.Hypot(p.J0D, p.J45D)
	if j < 0.5e-9 {
		return Refraction{SphereD: p.MD}.normalised()
	}
	c := -2 * j
	a := round6(math.Atan2(p.J45D, p.J0D) / 2 * 180 / math.Pi)
	return Refraction{SphereD: p.MD - c/2, CylinderD: c, AxisDeg: a}.normalised()
}

// Sub returns p - q.
func (p PowerVector) Sub(q PowerVector) PowerVector {
	return PowerVector{MD: p.MD - q.MD, J0D: p.J0D - q.J0D, J45D: p.J45D - q.J45D}
}

// Astigmatism is a cylinder in minus-cylinder form (the refractive error it
// is, or causes) with its power vector components.
type Astigmatism struct {
	CylinderD float64 `json:"cylinder_D"`
	AxisDeg   float64 `json:"axis_deg"`
	J0D       float64 `json:"j0_D"`
	J45D      float64 `json:"j45_D"`
}

// String writes the astigmatism as a prescription's cylinder, to the
// quarter-dioptre practitioners read and the nearest degree:
// "-0.75 x 180", or "none".
func (a Astigmatism) String() string {
	if math.Abs(a.CylinderD) < 0.005 {
		return "none"
	}
	return fmt.Sprintf("%+.2f x %s", a.CylinderD, axisText(a.AxisDeg))
}

// axisText writes an axis as practitioners do: whole degrees from 1 to
// 180, the horizontal meridian as 180.
func axisText(deg float64) string {
	a := math.Mod(math.Round(deg), 180)
	if a <= 0 {
		a += 180
	}
	return fmt.Sprintf("%.0f", a)
}

// astigmatism is the cylinder of a power vector (its M ignored).
func astigmatism(p PowerVector) Astigmatism {
	r := PowerVector{J0D: p.J0D, J45D: p.J45D}.Refraction()
	return Astigmatism{CylinderD: r.CylinderD, AxisDeg: r.AxisDeg, J0D: p.J0D, J45D: p.J45D}
}

// CornealAstigmatism is the astigmatism the cornea's front surface causes,
// from its K readings: the steep K less the flat K (keratometric
// dioptres), which as a refractive error is that much minus cylinder at the
// flat axis (-C x flat).
func CornealAstigmatism(flat, steep KReading) Astigmatism {
	return astigmatism(Refraction{CylinderD: -(steep.D - flat.D), AxisDeg: flat.AxisDeg}.PowerVector())
}

// ResidualAstigmatism is the astigmatism a spherical rigid lens leaves:
// the corneal-plane refraction's astigmatism less the cornea's (its tear
// lens neutralises the cornea's), as power vectors. cornealPlane is the
// refraction at the cornea (see Refraction.AtCornea).
func ResidualAstigmatism(cornealPlane Refraction, flat, steep KReading) Astigmatism {
	c := CornealAstigmatism(flat, steep)
	return astigmatism(cornealPlane.PowerVector().Sub(PowerVector{J0D: c.J0D, J45D: c.J45D}))
}

// rxScanner reads a normalised refraction text.
type rxScanner struct {
	s string
	i int
}

// normaliseRx lower-cases s and maps the characters clinics type for the
// same thing onto one: the multiplication sign to x, Unicode minus and
// en dash to '-', decimal commas to points.
func normaliseRx(s string) string { return rxReplacer.Replace(strings.ToLower(s)) }

var rxReplacer = strings.NewReplacer("×", "x", "−", "-", "–", "-", ",", ".")

func (p *rxScanner) done() bool { return p.i >= len(p.s) }

func (p *rxScanner) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// lit consumes t if the text continues with it.
func (p *rxScanner) lit(t string) bool {
	if strings.HasPrefix(p.s[p.i:], t) {
		p.i += len(t)
		return true
	}
	return false
}

// word consumes a word not followed by a letter.
func (p *rxScanner) word(w string) bool {
	rest := p.s[p.i:]
	if !strings.HasPrefix(rest, w) {
		return false
	}
	if len(rest) > len(w) {
		if c := rest[len(w)]; c >= 'a' && c <= 'z' {
			return false
		}
	}
	p.i += len(w)
	return true
}

// unit consumes the first of the words that the text continues with.
func (p *rxScanner) unit(words ...string) {
	for _, w := range words {
		if p.word(w) {
			return
		}
	}
}

// axisMark consumes what introduces an axis.
func (p *rxScanner) axisMark() bool {
	return p.word("axis") || p.word("ax") || p.lit("x") || p.lit("@")
}

// number reads [+-]digits[.digits]; signed says whether a sign was given.
func (p *rxScanner) number() (v float64, signed, ok bool) {
	start := p.i
	if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
		signed = true
		p.i++
	}
	digits := 0
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
		digits++
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			digits++
		}
	}
	if digits == 0 {
		p.i = start
		return 0, false, false
	}
	v, err := strconv.ParseFloat(p.s[start:p.i], 64)
	if err != nil || math.IsInf(v, 0) {
		p.i = start
		return 0, false, false
	}
	return v, signed, true
}
