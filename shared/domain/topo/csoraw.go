package topo

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lensflow/lensflow/shared/errs"
)

// FormatCSORaw is the name of the raw export a CSO Placido topographer
// (Sirius, Antares, MS-39 and the like) writes, read as the device writes
// it.
//
// Layout (UTF-8, or Latin-1 in the header; CRLF or LF):
//
//	Paziente : Rossi Mario            <- a header of about 22 lines of
//	Esame : 15/01/2026 09:30:12          "Key : value" in the interface's
//	Occhio : True                        language
//	Note :
//	-------------------------------   <- separator lines
//	SIM-k :
//	K1 = 41,46 D @ 177°               <- the device's Sim-K, flat then steep
//	K2 = 41,98 D @ 87°
//	Diametro Corneale : 11,85 mm
//	Diametro Pupilla : 3,20 mm
//	Dato misurato : Elevazioni
//	N° Anelli : 24
//	N° Semimeridiani : 256
//	sph -1000 cyl -1000 ax -1000 @ -1000   <- refraction; -1000 = not given
//	0,2013                            <- one value per line: rings x
//	0,2009                               semi-meridians ring radii (mm),
//	...                                  ring by ring, then as many heights
//	-0,0026                              (mm), ring by ring
//	...
//
// Semi-meridian j is at j * 360 / semi-meridians degrees, counterclockwise
// from the examiner's right; point (ring i, semi-meridian j) is at its own
// radius rho, x = rho cos, y = rho sin, examiner's view for both eyes. The
// counts come from the header ("N° Anelli", "N° Semimeridiani"; "Rings",
// "Semi-meridians"), never from a constant: a file whose number of values
// is not twice rings x semi-meridians is refused, naming the line and the
// counts. Values take a decimal comma or point. -1 (or -1000) marks a
// missing value in either block; a point is dropped when its radius or its
// height is missing. A radius of 0 is the centre: its heights become one
// point at their mean.
//
// Heights are measured from the apex tangent plane. The device writes
// elevations, negative below the apex; the sign is read from the content
// and elevations are negated to depth (see Options.HeightSign, which
// settles a content that does not tell). "Dato misurato" must say
// elevations: a curvature export is refused.
//
// Header keys are matched after folding case, accents and punctuation,
// with "N°", "Nº", "No.", "Nr.", "Number of" and "Numero di" read alike.
// Known keys, Italian (English):
//   - Paziente, Cognome, Nome (Patient, Name, Last/First name), Data di
//     nascita (Date of birth, DOB), ID paziente, Codice, Cartella (Patient
//     ID, Chart, MRN), Matricola, Numero di serie (Serial number): to
//     Identifiers;
//   - Note, Commento (Notes, Comment) and every unknown key: to
//     Identifiers.Other;
//   - Esame, Data esame, Data (Exam, Exam date, Date): the capture time,
//     day first (an English date read either way is kept in
//     Identifiers.Other unread);
//   - Occhio (Eye, Laterality): OD/OS, destro/sinistro, right/left, DX/SX
//     are read (and must agree); the True/False flag the devices write is
//     not documented and is never read: the eye then comes from the upload;
//   - Strumento, Dispositivo, Modello (Device, Instrument, Model);
//   - SIM-k (Sim K) with the lines K1 = P D @ A° and K2 = P D @ A° (or a
//     radius in mm), Diametro Corneale (Corneal diameter, HVID, WTW),
//     Diametro Pupilla, Pupilla (Pupil diameter, Pupil), the refraction line
//     "sph S cyl C ax A @ V": to Surface.Measurements;
//   - Dato misurato (Measured data), N° Anelli (Rings), N° Semimeridiani
//     (Semi-meridians).
const FormatCSORaw = "cso-raw"

// Bounds on a raw export's counts.
const (
	csoRawMaxRings     = 64
	csoRawMaxMeridians = 1024
	// csoRawDetect is the confidence of a file whose header carries the
	// raw export's keys before one value per line: above Likely, because a
	// CSO matrix header naming the device is Likely for the cso format too.
	csoRawDetect = Likely + 10
)

type csoRawFormat struct{}

func (csoRawFormat) Name() string { return FormatCSORaw }

// Detect is csoRawDetect when head holds a header key only the raw export
// has (rings, semi-meridians, measured data, SIM-k, a K line, the
// refraction line) followed by a line of one number; Likely when head ends
// before the values start.
func (csoRawFormat) Detect(head []byte) int {
	if hasNUL(head) {
		return NoMatch
	}
	var buf [64]byte
	sig := 0
	r := newLineReader(head)
	for line, ok := r.next(); ok; line, ok = r.next() {
		if len(line) == 0 || line[0] == '#' || isDashes(line) {
			continue
		}
		if _, _, ok := parseDecimal(line); ok {
			if sig > 0 {
				return csoRawDetect
			}
			return NoMatch
		}
		if isRefraction(line) {
			sig++
			continue
		}
		k, _, _, ok := rawKV(line)
		if !ok {
			continue
		}
		switch string(foldKey(buf[:0], k)) {
		case "nanelli", "anelli", "nsemimeridiani", "semimeridiani", "datomisurato", "simk",
			"nsemimeridians", "semimeridians", "measureddata", "k1", "k2":
			sig++
		}
	}
	if sig >= 2 {
		return Likely
	}
	return NoMatch
}

// csoRawKey is what a known header key means.
type csoRawKey int

const (
	rkUnknown csoRawKey = iota
	rkPatient
	rkBirth
	rkChart
	rkSerial
	rkExam
	rkEye
	rkDevice
	rkSimK
	rkK1
	rkK2
	rkCornea
	rkPupil
	rkMeasured
	rkRings
	rkMeridians
	rkRefraction
)

// csoRawKeys maps folded keys to their meaning and language ('i' Italian,
// 'e' English, 0 either).
var csoRawKeys = map[string]struct {
	key  csoRawKey
	lang byte
}{
	"paziente": {rkPatient, 'i'}, "nomepaziente": {rkPatient, 'i'}, "cognome": {rkPatient, 'i'}, "nome": {rkPatient, 'i'},
	"cognomenome": {rkPatient, 'i'}, "nomecognome": {rkPatient, 'i'},
	"patient": {rkPatient, 'e'}, "patientname": {rkPatient, 'e'}, "name": {rkPatient, 'e'}, "lastname": {rkPatient, 'e'},
	"firstname": {rkPatient, 'e'}, "surname": {rkPatient, 'e'},
	"datadinascita": {rkBirth, 'i'}, "datanascita": {rkBirth, 'i'}, "nascita": {rkBirth, 'i'}, "natoil": {rkBirth, 'i'}, "natail": {rkBirth, 'i'},
	"dateofbirth": {rkBirth, 'e'}, "birthdate": {rkBirth, 'e'}, "dob": {rkBirth, 'e'}, "birthday": {rkBirth, 'e'},
	"idpaziente": {rkChart, 'i'}, "codicepaziente": {rkChart, 'i'}, "codice": {rkChart, 'i'}, "cartella": {rkChart, 'i'}, "ncartella": {rkChart, 'i'},
	"patientid": {rkChart, 'e'}, "id": {rkChart, 0}, "chart": {rkChart, 'e'}, "chartid": {rkChart, 'e'}, "mrn": {rkChart, 'e'},
	"matricola": {rkSerial, 'i'}, "nserie": {rkSerial, 'i'},
	"serial": {rkSerial, 'e'}, "serialnumber": {rkSerial, 'e'}, "serialno": {rkSerial, 'e'}, "sn": {rkSerial, 'e'}, "nserial": {rkSerial, 'e'},
	"esame": {rkExam, 'i'}, "dataesame": {rkExam, 'i'}, "data": {rkExam, 'i'}, "dataora": {rkExam, 'i'},
	"exam": {rkExam, 'e'}, "examdate": {rkExam, 'e'}, "examination": {rkExam, 'e'}, "date": {rkExam, 'e'}, "acquisitiondate": {rkExam, 'e'},
	"occhio": {rkEye, 'i'}, "eye": {rkEye, 'e'}, "laterality": {rkEye, 'e'},
	"strumento": {rkDevice, 'i'}, "dispositivo": {rkDevice, 'i'}, "modello": {rkDevice, 'i'},
	"device": {rkDevice, 'e'}, "instrument": {rkDevice, 'e'}, "model": {rkDevice, 'e'},
	"simk": {rkSimK, 0}, "k1": {rkK1, 0}, "k2": {rkK2, 0},
	"diametrocorneale": {rkCornea, 'i'}, "diametrocornea": {rkCornea, 'i'},
	"cornealdiameter": {rkCornea, 'e'}, "corneadiameter": {rkCornea, 'e'}, "hvid": {rkCornea, 0}, "wtw": {rkCornea, 0},
	"diametropupilla": {rkPupil, 'i'}, "diametropupillare": {rkPupil, 'i'}, "pupilla": {rkPupil, 'i'},
	"pupildiameter": {rkPupil, 'e'}, "pupil": {rkPupil, 'e'},
	"datomisurato": {rkMeasured, 'i'}, "measureddata": {rkMeasured, 'e'},
	"nanelli": {rkRings, 'i'}, "anelli": {rkRings, 'i'}, "nrings": {rkRings, 'e'}, "rings": {rkRings, 'e'},
	"nsemimeridiani": {rkMeridians, 'i'}, "semimeridiani": {rkMeridians, 'i'},
	"nsemimeridians": {rkMeridians, 'e'}, "semimeridians": {rkMeridians, 'e'},
	"refrazione": {rkRefraction, 'i'}, "refraction": {rkRefraction, 'e'}, "rx": {rkRefraction, 0},
}

// csoRawHeader is what the header said.
type csoRawHeader struct {
	rings, meridians  int
	italian, english  int // known keys of each language
	latin1, tabHeader bool
	eyeFlag           bool // the undocumented True/False flag was seen
	eyeLine           int
	exam              string // the exam date as written, read at the end
	examKey           string
	simK              [2]*[2]float64 // K1, K2: power (D), axis (deg)
	m                 DeviceMeasurements
	hasM              bool
}

// Parse parses a raw export in one pass over its bytes.
func (csoRawFormat) Parse(data []byte, opts Options) (*Surface, *Identifiers, error) {
	const op = "topo.csoraw"
	opts, sign, err := vendorStart(op, data, opts)
	if err != nil {
		return nil, nil, err
	}
	s := &Surface{}
	id := &Identifiers{}
	var (
		h         csoRawHeader
		vals      []float64 // radii then heights; NaN marks a missing value
		want      int       // values the header's counts need
		first     int       // the line of the first value
		lastLine  int       // the line of the last value
		blanks    []int     // the value index before which each blank data line lies
		comma     bool
		missing   missingMarkers
		metaLines headerLines
		buf       [64]byte
	)
	lr := newLineReader(data)
	for b, ok := lr.next(); ok; b, ok = lr.next() {
		line := lr.line
		if vals == nil {
			// The header.
			if len(b) == 0 || b[0] == '#' || isDashes(b) {
				continue
			}
			if _, _, ok := parseDecimal(b); !ok {
				if err := metaLines.add(op, line); err != nil {
					return nil, nil, err
				}
				if err := h.read(op, b, line, s, id, buf[:0]); err != nil {
					return nil, nil, err
				}
				continue
			}
			// The first value: the counts must be known by now.
			switch {
			case h.rings == 0:
				return nil, nil, errs.Field(op, lineField(line), "the values start but the header has not given the number of rings (N° Anelli, or Rings)")
			case h.meridians == 0:
				return nil, nil, errs.Field(op, lineField(line), "the values start but the header has not given the number of semi-meridians (N° Semimeridiani, or Semi-meridians)")
			}
			want = 2 * h.rings * h.meridians
			vals = make([]float64, 0, want)
			first = line
		}
		if len(b) == 0 {
			blanks = append(blanks, len(vals))
			continue
		}
		v, c, ok := parseDecimal(b)
		if !ok {
			return nil, nil, errs.Field(op, lineField(line), "%s", valueProblem(b))
		}
		if len(vals) == want {
			return nil, nil, errs.Field(op, lineField(line), "more values than the header's %d rings x %d semi-meridians hold (%d: ring radii, then elevations)", h.rings, h.meridians, want)
		}
		comma = comma || c
		if missing.see(v) {
			v = math.NaN()
		}
		vals = append(vals, v)
		lastLine = line
	}
	switch {
	case vals == nil:
		return nil, nil, errs.Ef(op, errs.Invalid, "no values after the header")
	case len(vals) < want:
		return nil, nil, errs.Field(op, lineField(lastLine), "the file ends after %d values; the header's %d rings x %d semi-meridians need %d (ring radii, then elevations)", len(vals), h.rings, h.meridians, want)
	}
	if err := h.finish(op, s, id, opts); err != nil {
		return nil, nil, err
	}
	lineOf := func(k int) int {
		n := first + k
		for _, b := range blanks {
			if b <= k {
				n++
			}
		}
		return n
	}
	if err := csoRawPoints(op, s, h.rings, h.meridians, vals, lineOf, opts); err != nil {
		return nil, nil, err
	}

	s.Layout = lr.layout(s.Layout)
	if h.latin1 {
		s.Layout = append(s.Layout, LayoutLatin1)
	}
	switch {
	case h.italian > 0 && h.italian >= h.english:
		s.Layout = append(s.Layout, LayoutItalianKeys)
	case h.english > 0:
		s.Layout = append(s.Layout, LayoutEnglishKeys)
	}
	if h.tabHeader {
		s.Layout = append(s.Layout, LayoutTabHeader)
	}
	s.Layout = append(s.Layout, LayoutOneValuePerLine)
	if comma {
		s.Layout = append(s.Layout, LayoutDecimalComma)
	}
	s.Layout = append(s.Layout, LayoutRadiiThenHeights)
	s.Layout = missing.layout(s.Layout)
	if h.eyeFlag {
		s.Layout = append(s.Layout, LayoutEyeFlagNotRead)
	}
	if k := s.Measurements; k != nil && k.SimK != nil && h.simK[0][0] > h.simK[1][0] {
		s.Layout = append(s.Layout, LayoutSimKSwapped)
	}
	if err := settleSign(op, s, sign); err != nil {
		return nil, nil, err
	}
	s.Format = FormatCSORaw
	return s, id, nil
}

// read reads one header line into h, s and id.
func (h *csoRawHeader) read(op string, b []byte, line int, s *Surface, id *Identifiers, buf []byte) error {
	if isRefraction(b) {
		return h.refraction(op, b, line)
	}
	k, v, tab, ok := rawKV(b)
	if !ok {
		return nil // a label ("SIM-k", "Refrazione") or a title
	}
	h.tabHeader = h.tabHeader || tab
	if !utf8.Valid(k) || !utf8.Valid(v) {
		h.latin1 = true
	}
	folded := foldKey(buf, k)
	known, isKnown := csoRawKeys[string(folded)]
	if isKnown {
		switch known.lang {
		case 'i':
			h.italian++
		case 'e':
			h.english++
		}
	}
	switch known.key {
	case rkRings:
		n, err := headerInt(op, v, line, 2, csoRawMaxRings, "rings")
		h.rings = n
		return err
	case rkMeridians:
		n, err := headerInt(op, v, line, 4, csoRawMaxMeridians, "semi-meridians")
		h.meridians = n
		return err
	case rkMeasured:
		switch string(foldKey(buf, v)) {
		case "elevazioni", "elevazione", "elevation", "elevations", "altezze", "altezza", "heights", "height":
			return nil
		}
		return errs.Field(op, lineField(line), "the measured data (Dato misurato) must be elevations; this file holds another map, such as curvature: export the elevations")
	case rkSimK:
		if len(v) == 0 {
			return nil // a label; its values follow on the K1 and K2 lines
		}
	case rkK1, rkK2:
		return h.readK(op, known.key, v, line)
	case rkCornea:
		return h.diameter(op, v, line, "corneal diameter", 8, 16, &h.m.CornealDiameterMM)
	case rkPupil:
		return h.diameter(op, v, line, "pupil diameter", 1, 10, &h.m.PupilDiameterMM)
	case rkRefraction:
		if len(v) == 0 {
			return nil // a label; the sph line follows
		}
		return h.refraction(op, v, line)
	}
	val, err := headerText(op, v, line)
	if err != nil || val == "" {
		return err
	}
	switch known.key {
	case rkEye:
		return h.eye(op, val, line, s)
	case rkDevice:
		s.Device = truncateUTF8(val, 200)
	case rkExam:
		h.exam, h.examKey = val, string(folded)
	case rkPatient:
		id.addNamePart(val)
	case rkBirth:
		id.BirthDate = val
	case rkChart:
		id.ChartID = val
	case rkSerial:
		id.DeviceSerial = val
	default:
		key, err := headerText(op, k, line)
		if err != nil {
			return err
		}
		addOther(id, normKey([]byte(key)), val)
	}
	return nil
}

// eye reads the eye line: an unambiguous eye is read and checked; the
// True/False flag is noted and never read.
func (h *csoRawHeader) eye(op, val string, line int, s *Surface) error {
	e, ok := parseEye(val)
	if !ok {
		switch w := strings.ToLower(strings.TrimSpace(val)); w {
		case "true", "false", "vero", "falso":
			h.eyeFlag = true
			return nil
		case "destro", "dx":
			e, ok = OD, true
		case "sinistro", "sx":
			e, ok = OS, true
		}
	}
	if !ok {
		return errs.Field(op, lineField(line), "eye must be OD or OS (or right, left, destro, sinistro)")
	}
	return setEye(op, s, e, line, &h.eyeLine)
}

// readK reads "41,46 D @ 177°" (or a radius, "8,14 mm @ 177°").
func (h *csoRawHeader) readK(op string, key csoRawKey, v []byte, line int) error {
	name, i := "K1", 0
	if key == rkK2 {
		name, i = "K2", 1
	}
	at := bytes.IndexByte(v, '@')
	if at < 0 {
		return errs.Field(op, lineField(line), "%s must read like 43,25 D @ 90°", name)
	}
	p, ok1 := firstNumber(v[:at])
	a, ok2 := firstNumber(v[at+1:])
	if !ok1 || !ok2 {
		return errs.Field(op, lineField(line), "%s must read like 43,25 D @ 90°", name)
	}
	if bytes.Contains(bytes.ToLower(v[:at]), []byte("mm")) && p > 0 {
		p = 337.5 / p
	}
	switch {
	case !(p >= 20 && p <= 80):
		return errs.Field(op, lineField(line), "%s must be from 20 to 80 D", name)
	case !(a >= 0 && a <= 180):
		return errs.Field(op, lineField(line), "%s axis must be from 0 to 180 degrees", name)
	}
	h.simK[i] = &[2]float64{p, a}
	h.hasM = true
	return nil
}

// diameter reads a diameter in mm into *to; -1000, -1 or 0 mean not
// measured.
func (h *csoRawHeader) diameter(op string, v []byte, line int, what string, lo, hi float64, to *float64) error {
	if len(v) == 0 {
		return nil
	}
	d, ok := firstNumber(v)
	if !ok {
		return errs.Field(op, lineField(line), "%s must be a number of mm", what)
	}
	switch {
	case d == -1000 || d == -1 || d == 0:
		return nil
	case d < lo || d > hi:
		return errs.Field(op, lineField(line), "%s must be from %g to %g mm", what, lo, hi)
	}
	*to = d
	h.hasM = true
	return nil
}

// refraction reads "sph S cyl C ax A [@ V]", where -1000 is not given.
func (h *csoRawHeader) refraction(op string, b []byte, line int) error {
	bad := func() error {
		return errs.Field(op, lineField(line), "the refraction must read sph S cyl C ax A @ V (-1000 where not given)")
	}
	var v [4]float64
	labels := [4]string{"sph", "cyl", "ax", "@"}
	v[3] = -1000
	rest := b
	for i, l := range labels {
		w, r := nextWord(rest)
		if len(w) == 0 && i == 3 {
			break // no vertex distance
		}
		if !strings.EqualFold(string(w), l) && !(i == 2 && strings.EqualFold(string(w), "axis")) {
			return bad()
		}
		w, rest = nextWord(r)
		f, _, ok := parseDecimal(w)
		if !ok {
			return bad()
		}
		v[i] = f
	}
	if w, _ := nextWord(rest); len(w) > 0 {
		return bad()
	}
	sph, cyl, ax, vd := v[0], v[1], v[2], v[3]
	if sph == -1000 {
		if cyl != -1000 || ax != -1000 {
			return errs.Field(op, lineField(line), "the refraction gives a cylinder or an axis without a sphere (-1000 means not given)")
		}
		return nil // nothing entered
	}
	if cyl == -1000 {
		cyl = 0
	}
	if vd == -1000 {
		vd = 0
	}
	switch {
	case math.Abs(sph) > 30:
		return errs.Field(op, lineField(line), "the refraction's sphere must be from -30 to 30 D")
	case math.Abs(cyl) > 15:
		return errs.Field(op, lineField(line), "the refraction's cylinder must be from -15 to 15 D")
	case cyl != 0 && ax == -1000:
		return errs.Field(op, lineField(line), "the refraction gives a cylinder without an axis")
	case ax != -1000 && !(ax >= 0 && ax <= 180):
		return errs.Field(op, lineField(line), "the refraction's axis must be from 0 to 180 degrees")
	case vd < 0 || vd > 25:
		return errs.Field(op, lineField(line), "the refraction's vertex distance must be from 0 to 25 mm")
	}
	if ax == -1000 {
		ax = 0
	}
	h.m.Refraction = &DeviceRefraction{SphereD: sph, CylinderD: cyl, AxisDeg: ax, VertexMM: vd}
	h.hasM = true
	return nil
}

// finish reads what needs the whole header: the exam date (its order
// depends on the language) and the device measurements.
func (h *csoRawHeader) finish(op string, s *Surface, id *Identifiers, opts Options) error {
	if h.exam != "" {
		if t, ok := examTime(h.exam, opts.Location, h.english > h.italian); ok {
			s.CapturedAt = t
		} else {
			addOther(id, h.examKey, h.exam)
		}
	}
	if !h.hasM {
		return nil
	}
	m := h.m
	if k1, k2 := h.simK[0], h.simK[1]; k1 != nil && k2 != nil {
		flat, steep := k1, k2
		if k1[0] > k2[0] {
			flat, steep = k2, k1
		}
		m.SimK = &DeviceSimK{FlatKD: flat[0], SteepKD: steep[0], FlatAxisDeg: flat[1], SteepAxisDeg: steep[1]}
	}
	if m != (DeviceMeasurements{}) {
		s.Measurements = &m
	}
	return nil
}

// examTime reads an exam date: ISO forms, or day/month/year with '/', '-'
// or '.' and an optional time. An English header's date that reads both
// day first and month first as different days is not read.
func examTime(v string, loc *time.Location, english bool) (time.Time, bool) {
	if t, err := parseCaptured(v, loc); err == nil {
		return t, true
	}
	parse := func(dayFirst bool) (time.Time, bool) {
		date := "1/2/2006"
		if dayFirst {
			date = "2/1/2006"
		}
		for _, sep := range []string{"/", "-", "."} {
			d := strings.ReplaceAll(date, "/", sep)
			for _, clock := range []string{" 15:04:05", " 15:04", " 15.04.05", " 15.04", " 3:04:05 PM", " 3:04 PM", ""} {
				if t, err := time.ParseInLocation(d+clock, v, loc); err == nil {
					return t, true
				}
			}
		}
		return time.Time{}, false
	}
	day, okDay := parse(true)
	if !english {
		return day, okDay
	}
	month, okMonth := parse(false)
	switch {
	case okDay && okMonth && !day.Equal(month):
		return time.Time{}, false
	case okDay:
		return day, true
	}
	return month, okMonth
}

// csoRawPoints turns the radii and heights into points.
func csoRawPoints(op string, s *Surface, rings, m int, vals []float64, lineOf func(int) int, opts Options) error {
	rho, z := vals[:rings*m], vals[rings*m:]
	n := 0
	for k := range rho {
		if !math.IsNaN(rho[k]) && !math.IsNaN(z[k]) {
			n++
		}
	}
	pts, err := newPolarPoints(op, s, m, n, opts)
	if err != nil {
		return err
	}
	for k, r := range rho {
		v := z[k]
		if math.IsNaN(r) || math.IsNaN(v) {
			continue
		}
		if r < 0 || r > MaxAbsXYMM {
			return errs.Field(op, lineField(lineOf(k)), "ring radius must be from 0 to %g mm", MaxAbsXYMM)
		}
		if math.Abs(v) > MaxAbsZMM {
			return errs.Field(op, lineField(lineOf(rings*m+k)), "height is outside +-%g mm", MaxAbsZMM)
		}
		pts.add(r, k%m, v)
	}
	return pts.finish(op, opts, "every radius or height is marked as missing")
}

// rawKV splits a raw export's header line at its first ':', '=' or tab
// ("Key : value", "K1 = 41,46 D @ 177°", "Key<TAB>value"). The value may
// be empty ("SIM-k :"). ok is false for a line without a separator or
// without a letter before it.
func rawKV(b []byte) (key, val []byte, tab, ok bool) {
	i := bytes.IndexAny(b, ":=\t")
	if i <= 0 {
		return nil, nil, false, false
	}
	key = trimSpaceBytes(b[:i])
	letter := false
	for _, c := range key {
		if 'a' <= c|0x20 && c|0x20 <= 'z' || c >= 0x80 {
			letter = true
			break
		}
	}
	if !letter {
		return nil, nil, false, false
	}
	return key, trimSpaceBytes(bytes.TrimLeft(b[i+1:], ":= \t")), b[i] == '\t', true
}

// foldKey appends to dst the key k folded for matching: lower-case ASCII
// letters and digits only, accents dropped (UTF-8, or Latin-1 when k is not
// UTF-8), and a leading "N°", "Nº", "No.", "Nr.", "Num.", "Number of" or
// "Numero di" written as "n". Only the first 64 bytes of k count. It does
// not allocate when dst has room.
func foldKey(dst, k []byte) []byte {
	k = k[:min(len(k), 64)]
	out := dst[:0]
	latin1 := !utf8.Valid(k)
	for i := 0; i < len(k); {
		r := rune(k[i])
		if latin1 || r < utf8.RuneSelf {
			i++
		} else {
			var n int
			r, n = utf8.DecodeRune(k[i:])
			i += n
		}
		c := foldRune(r)
		if c == 0 {
			if len(out) > 0 && out[len(out)-1] != ' ' {
				out = append(out, ' ')
			}
			continue
		}
		out = append(out, c)
	}
	out = bytes.TrimRight(out, " ")
	if sp := bytes.IndexByte(out, ' '); sp > 0 {
		switch string(out[:sp]) {
		case "n", "no", "nr", "num", "number", "numero":
			rest := out[sp+1:]
			for _, w := range []string{"of ", "di ", "dei ", "degli ", "delle "} {
				if bytes.HasPrefix(rest, []byte(w)) {
					rest = rest[len(w):]
					break
				}
			}
			out[0] = 'n'
			out = append(out[:1], rest...)
		}
	}
	j := 0
	for _, c := range out {
		if c != ' ' {
			out[j] = c
			j++
		}
	}
	return out[:j]
}

// foldRune lower-cases an ASCII letter or keeps a digit, drops the accent
// of a Latin-1 letter, and returns 0 for anything else (a word break).
func foldRune(r rune) byte {
	switch {
	case 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
		return byte(r)
	case 'A' <= r && r <= 'Z':
		return byte(r) + 'a' - 'A'
	case r < 0xC0 || r > 0xFF:
		return 0
	}
	const folds = "aaaaaaaceeeeiiiidnooooo_ouuuuy_saaaaaaaceeeeiiiidnooooo_ouuuuy_y" // U+00C0..U+00FF
	if c := folds[r-0xC0]; c != '_' {
		return c
	}
	return 0
}

// parseDecimal parses one number with a decimal point or a decimal comma
// ("-0,0123"); comma reports a decimal comma.
func parseDecimal(b []byte) (v float64, comma, ok bool) {
	if i := bytes.IndexByte(b, ','); i >= 0 {
		var buf [64]byte
		if len(b) > len(buf) || bytes.IndexByte(b[i+1:], ',') >= 0 || bytes.IndexByte(b, '.') >= 0 {
			return 0, false, false
		}
		n := copy(buf[:], b)
		buf[i] = '.'
		v, ok = ParseNumber(buf[:n])
		return v, ok, ok
	}
	v, ok = ParseNumber(b)
	return v, false, ok
}

// valueProblem explains why a line of the values is not one number: it
// holds several numbers, or it is not a number. It is only called on the
// error path.
func valueProblem(b []byte) string {
	fields := bytes.FieldsFunc(b, func(r rune) bool { return r == ' ' || r == '\t' || r == ';' })
	if len(fields) > 1 {
		if _, _, ok := parseDecimal(fields[0]); ok {
			return "expected one value per line, got " + strconv.Itoa(len(fields))
		}
	}
	return numberProblem(bytes.Replace(b, []byte{','}, []byte{'.'}, 1))
}

// isDashes reports whether a line is a separator: three or more of '-',
// '=', '_' or '*' and nothing else.
func isDashes(b []byte) bool {
	if len(b) < 3 {
		return false
	}
	for _, c := range b {
		if c != '-' && c != '=' && c != '_' && c != '*' {
			return false
		}
	}
	return true
}

// isRefraction reports whether a line is the refraction line, "sph ...".
func isRefraction(b []byte) bool {
	return len(b) > 4 && b[0]|0x20 == 's' && b[1]|0x20 == 'p' && b[2]|0x20 == 'h' && (b[3] == ' ' || b[3] == '\t')
}

// nextWord returns the first word of b (separated by spaces or tabs) and
// what follows it.
func nextWord(b []byte) (word, rest []byte) {
	b = trimSpaceBytes(b)
	i := bytes.IndexAny(b, " \t")
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i+1:]
}
