// Package topo turns corneal topography exports into one canonical Surface.
//
// Every supported file layout is a Format held in a Registry. Parse detects
// the layout from the first bytes of the file and hands the whole file to
// the most confident Format; ParseAs skips detection. Adding a layout means
// adding one file that declares a Format and registers it in init, plus its
// test file, which runs the conformance suite topotest.TestFormat on a
// sample (see xyzcsv.go for the vendor-neutral point cloud).
//
// Frames follow the lab handbook: x, y in millimetres in the apex tangent
// plane in the examiner's view (+x the examiner's right, +y superior), z the
// depth below that plane in millimetres, positive into the eye. Missing
// points are dropped, never set to zero. Vendor files written as
// elevations (negative below the apex) are read back as depth: the sign is
// judged from the content, and Options.HeightSign settles a file whose
// content does not tell.
//
// A Surface also says how its file was written (Layout: the variants the
// reader detected, such as CRLF line ends, decimal commas or the sign
// convention, in plain words safe to show) and what the device measured
// itself (Measurements: its Sim-K, diameters and an entered refraction).
//
// Scans are patient data. Patient identifiers found in a file (name, birth
// date, chart id, device serial, unknown header keys) are returned apart
// from the Surface, in Identifiers, so that callers can encrypt them; they
// never stay in a Surface, and error messages never quote file content.
package topo

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
)

//go:generate go run ./internal/gensample -o testdata/sample-od.csv

// Eye is the eye a scan belongs to: OD (right), OS (left), or "" when the
// file does not say.
type Eye string

// The eyes.
const (
	OD Eye = "OD" // right eye (oculus dexter)
	OS Eye = "OS" // left eye (oculus sinister)
)

// Surface is the canonical form of a corneal topography scan: valid points
// only, in millimetres, in the examiner's-view frame described in the
// package comment (or in the nasal frame after Nasal).
//
// X, Y and Z always have the same length; point i is (X[i], Y[i], Z[i]).
type Surface struct {
	X, Y, Z []float64 // mm; z is depth below the apex tangent plane, positive into the eye

	Eye        Eye       // OD, OS, or "" when unknown
	Device     string    // device model as the file names it, "" when unknown
	CapturedAt time.Time // capture time; zero when the file does not say
	Format     string    // name of the Format that parsed the file, e.g. "xyz-csv"

	// NasalFrame is true when X has been mirrored by Nasal so that +x is
	// nasal for both eyes. Axes reported to people are always in the
	// examiner's view, whatever this says.
	NasalFrame bool

	// Layout names the real-world variants of the file that its reader
	// detected and read, in the reader's fixed order: the Layout*
	// constants and LayoutBFS, plain words that quote nothing from the
	// file and are safe to show (for example "CRLF line ends", "decimal
	// comma", "elevations negative below the apex, read as depth"). The
	// format's documented default is not named. Nil when nothing was
	// detected.
	Layout []string

	// Measurements is what the device measured and wrote in the file's
	// header (its own Sim-K, corneal and pupil diameters, an entered
	// refraction); nil when the file has none. It is device metadata,
	// never derived from the points.
	Measurements *DeviceMeasurements
}

// DeviceMeasurements is what the device itself measured and wrote in the
// file's header. Zero fields were not given.
type DeviceMeasurements struct {
	SimK              *DeviceSimK       `json:"simK,omitempty"` // the device's own Sim-K
	CornealDiameterMM float64           `json:"cornealDiameter_mm,omitempty"`
	PupilDiameterMM   float64           `json:"pupilDiameter_mm,omitempty"`
	Refraction        *DeviceRefraction `json:"refraction,omitempty"` // entered on the device; nil when -1000 (not given)
}

// DeviceSimK is the Sim-K the device computed: the flat and steep
// keratometric powers in dioptres (337.5 / radius in mm) and their
// meridians, TABO degrees (0-180, counterclockwise from the examiner's
// right) in the examiner's view. Nasal never mirrors them.
type DeviceSimK struct {
	FlatKD       float64 `json:"flatK_D"`
	SteepKD      float64 `json:"steepK_D"`
	FlatAxisDeg  float64 `json:"flatAxis_deg"`
	SteepAxisDeg float64 `json:"steepAxis_deg"`
}

// DeviceRefraction is a refraction entered on the device: sphere and
// cylinder in dioptres, cylinder axis in TABO degrees, vertex distance in
// mm (0 when not given).
type DeviceRefraction struct {
	SphereD   float64 `json:"sphere_D"`
	CylinderD float64 `json:"cylinder_D"`
	AxisDeg   float64 `json:"axis_deg"`
	VertexMM  float64 `json:"vertex_mm"`
}

// The fixed Layout entries. A reader names only what it detected; each
// string is stable (the design JSON shows it) and quotes nothing from the
// file.
const (
	LayoutBOM              = "UTF-8 byte order mark"
	LayoutCRLF             = "CRLF line ends"
	LayoutLatin1           = "Latin-1 header text"
	LayoutItalianKeys      = "Italian header keys"
	LayoutEnglishKeys      = "English header keys"
	LayoutTabHeader        = "tab-separated header"
	LayoutSemicolons       = "semicolon-separated cells"
	LayoutTabCells         = "tab-separated cells"
	LayoutDecimalComma     = "decimal comma"
	LayoutOneValuePerLine  = "one value per line"
	LayoutRadiiThenHeights = "ring radii then elevations"
	LayoutGridLabels       = "labelled grid rows and columns"
	LayoutRowsAscending    = "grid rows from inferior to superior"
	LayoutMissingMinus1000 = "-1000 marks missing cells"
	LayoutMissingMinus1    = "-1 marks missing cells"
	LayoutMicrons          = "heights in microns"
	LayoutDepth            = "heights positive into the eye"
	LayoutElevation        = "elevations negative below the apex, read as depth"
	LayoutSignFromOption   = "height sign from heightSign"
	LayoutSimKSwapped      = "K1 steeper than K2, read as steep and flat"
	LayoutEyeFlagNotRead   = "True/False eye flag not read"
)

// LayoutBFS is the Layout entry of heights measured above a best-fit
// sphere, for example "heights above a best-fit sphere of 7.85 mm".
func LayoutBFS(radiusMM float64) string {
	return "heights above a best-fit sphere of " + strconv.FormatFloat(radiusMM, 'f', -1, 64) + " mm"
}

// Len returns the number of points.
func (s *Surface) Len() int { return len(s.X) }

// Clone returns a deep copy of s.
func (s *Surface) Clone() *Surface {
	c := *s
	c.X = append([]float64(nil), s.X...)
	c.Y = append([]float64(nil), s.Y...)
	c.Z = append([]float64(nil), s.Z...)
	if s.Layout != nil {
		c.Layout = append([]string(nil), s.Layout...)
	}
	if m := s.Measurements; m != nil {
		mc := *m
		if m.SimK != nil {
			k := *m.SimK
			mc.SimK = &k
		}
		if m.Refraction != nil {
			r := *m.Refraction
			mc.Refraction = &r
		}
		c.Measurements = &mc
	}
	return &c
}

// Validate checks the invariants every Format guarantees: equal-length
// coordinate slices, finite values, and a known eye value. Code that builds
// a Surface by hand (tests, converters) can call it before fitting.
func (s *Surface) Validate() error {
	const op = "topo.Surface.Validate"
	if s == nil {
		return errs.Ef(op, errs.Invalid, "nil surface")
	}
	if len(s.X) != len(s.Y) || len(s.X) != len(s.Z) {
		return errs.Ef(op, errs.Invalid, "coordinate slices differ in length (x %d, y %d, z %d)", len(s.X), len(s.Y), len(s.Z))
	}
	for i := range s.X {
		if !finite(s.X[i]) || !finite(s.Y[i]) || !finite(s.Z[i]) {
			return errs.Ef(op, errs.Invalid, "point %d is not finite", i)
		}
	}
	switch s.Eye {
	case OD, OS, "":
	default:
		return errs.Ef(op, errs.Invalid, "eye must be OD, OS or empty")
	}
	if m := s.Measurements; m != nil {
		v := []float64{m.CornealDiameterMM, m.PupilDiameterMM}
		if k := m.SimK; k != nil {
			v = append(v, k.FlatKD, k.SteepKD, k.FlatAxisDeg, k.SteepAxisDeg)
		}
		if r := m.Refraction; r != nil {
			v = append(v, r.SphereD, r.CylinderD, r.AxisDeg, r.VertexMM)
		}
		for _, x := range v {
			if !finite(x) {
				return errs.Ef(op, errs.Invalid, "a device measurement is not finite")
			}
		}
	}
	return nil
}

// Nasal returns a copy of s in the nasal frame, where +x points nasally for
// both eyes: a right eye (OD) is copied unchanged, because in the examiner's
// view its nasal side is already on the examiner's right; a left eye (OS) has
// x mirrored. A surface already in the nasal frame is copied unchanged.
//
// Use it only for computations that need nasal/temporal (scleral haptics);
// axes reported to people stay in the examiner's view. A surface of unknown
// eye cannot be put in the nasal frame: that is an errs.Invalid error.
func (s *Surface) Nasal() (*Surface, error) {
	c := s.Clone()
	if s.NasalFrame {
		return c, nil
	}
	switch s.Eye {
	case OD:
	case OS:
		for i, x := range c.X {
			c.X[i] = -x
		}
	default:
		return nil, errs.Ef("topo.Surface.Nasal", errs.Invalid, "the eye is unknown, so nasal and temporal are unknown")
	}
	c.NasalFrame = true
	return c, nil
}

// Identifiers holds the patient identifiers and other unvetted header
// metadata found in a scan file. It is PHI: callers encrypt it and never log
// it. Its String, GoString and LogValue methods redact the values so that an
// accidental %v or slog attribute does not leak them.
type Identifiers struct {
	PatientName  string
	BirthDate    string // as written in the file; formats vary by device and locale
	ChartID      string // chart, patient or record id
	DeviceSerial string
	// Other holds header metadata whose keys the parser does not know to be
	// harmless, keyed by the lower-cased key. It is kept (encrypted) rather
	// than dropped so nothing in the file is silently lost.
	Other map[string]string
}

// Empty reports whether no identifier was found.
func (id *Identifiers) Empty() bool {
	return id == nil || (id.PatientName == "" && id.BirthDate == "" && id.ChartID == "" &&
		id.DeviceSerial == "" && len(id.Other) == 0)
}

func (id Identifiers) redacted() string {
	n := 0
	for _, v := range []string{id.PatientName, id.BirthDate, id.ChartID, id.DeviceSerial} {
		if v != "" {
			n++
		}
	}
	return fmt.Sprintf("topo.Identifiers{%d fields redacted}", n+len(id.Other))
}

// String redacts the identifiers.
func (id Identifiers) String() string { return id.redacted() }

// GoString redacts the identifiers.
func (id Identifiers) GoString() string { return id.redacted() }

// LogValue redacts the identifiers in structured logs.
func (id Identifiers) LogValue() slog.Value { return slog.StringValue(id.redacted()) }

// Limits on coordinates in every format, from the anatomy: a cornea plus
// limbus is well inside a 24 mm square and less than 6 mm deep.
const (
	MaxAbsXYMM = 12.0 // largest |x| or |y| accepted, mm
	MaxAbsZMM  = 6.0  // largest |z| accepted, mm
)

// Options tunes parsing. The zero value is ready to use.
type Options struct {
	// MinPoints is the fewest valid points a scan may have, and the fewest
	// distinct (x, y) positions among them (default DefaultMinPoints).
	MinPoints int
	// MaxPoints is the most points accepted (default 1,000,000); more is an
	// errs.TooLarge error. Upload size limits belong to the HTTP layer; this
	// bounds memory for a file that passed them.
	MaxPoints int
	// Location interprets capture times written without a zone (default UTC).
	Location *time.Location

	// GridUnits states the units of a grid file's heights (the pentacam
	// format) when the file's header does not: GridUnitsMM or GridUnitsUM.
	// "" states nothing, and a file that does not say either is refused:
	// units are never guessed. When both say, they must agree.
	GridUnits string
	// GridReference states what a grid file's heights are measured from
	// when the file's header does not: GridReferenceApex (depth below the
	// apex tangent plane) or GridReferenceBFS (elevation above a best-fit
	// sphere of radius GridBFSRadiusMM). "" states nothing, and a file that
	// does not say either is refused. When both say, they must agree.
	GridReference string
	// GridBFSRadiusMM is the radius of the best-fit sphere of a
	// BFS-referenced grid file whose header does not give it, in mm.
	GridBFSRadiusMM float64

	// HeightSign states the sign convention of heights measured from the
	// apex plane (the upload's query parameter heightSign):
	// HeightSignDepth (positive into the eye) or HeightSignElevation
	// (negative below the apex, read back as depth). "" lets the vendor
	// formats detect it from the content; they refuse only a file whose
	// content does not tell, naming heightSign. A statement that
	// contradicts a clear content is an error. The lab's xyz-csv is depth
	// by definition and refuses HeightSignElevation; grids measured from a
	// best-fit sphere have their own convention and ignore it.
	HeightSign string
}

// Defaults for Options.
const (
	DefaultMinPoints = 50
	DefaultMaxPoints = 1_000_000
)

func (o Options) withDefaults() Options {
	if o.MinPoints <= 0 {
		o.MinPoints = DefaultMinPoints
	}
	if o.MaxPoints <= 0 {
		o.MaxPoints = DefaultMaxPoints
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	return o
}

// finite reports whether v is neither NaN nor an infinity: v - v is 0 for
// every finite v and NaN otherwise (two instructions; Validate runs it on
// every coordinate of every surface it is given).
func finite(v float64) bool { return v-v == 0 }
