package aftercare

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/errs"
)

// Outcomes of an assessment.
const (
	OutcomeContinue = "continue" // the lens stays as it is
	OutcomeAdjust   = "adjust"   // the design is revised by the adjustment rules
)

// Centration statuses.
const (
	Centred   = "centred"
	Decentred = "decentred"
)

// Decentration directions, as seen on the eye (nasal and temporal are the
// patient's; the lab needs no eye to map them onto a meridian).
var directions = map[string]bool{
	"superior": true, "inferior": true, "nasal": true, "temporal": true,
	"superonasal": true, "superotemporal": true, "inferonasal": true, "inferotemporal": true,
}

// Validation limits.
const (
	// MaxNotesBytes bounds the fluorescein notes (UTF-8 bytes).
	MaxNotesBytes = 2000
	// MinLogMAR and MaxLogMAR bound visual acuity: 6/3 (20/10) to 6/600
	// (20/2000).
	MinLogMAR = -0.3
	MaxLogMAR = 2.0
	// MaxDioptres bounds every dioptric value (sphere, cylinder, residual).
	MaxDioptres = 30.0
	// MaxClearanceUM bounds central and limbal clearance and the central
	// tear film (microns).
	MaxClearanceUM = 1500.0
	// MaxDecentrationMM bounds a decentration.
	MaxDecentrationMM = 5.0
)

// Assessment is what a practitioner records at one visit. Optional
// measurements are pointers: absent is not the same as zero (a central
// clearance of 0 is touch).
//
// Which fields apply: centralClearanceUM and limbalClearanceUM are
// scleral measurements; centralTearFilmUM and residualRefractionD are
// ortho-k measurements. A field given for a lens type it does not apply to
// is rejected, not ignored: it is almost always a client filing the
// assessment against the wrong order, and silently dropping clinical data
// hides that.
type Assessment struct {
	// VisitKey is the schedule's visit key ("week-1", "year-2") or
	// "unscheduled".
	VisitKey string `json:"visitKey"`
	// VisualAcuity is Snellen ("6/6", "20/20", "6/7.5") or logMAR
	// ("0.10", or a JSON number), with the lens on.
	VisualAcuity Acuity `json:"visualAcuity"`
	// OverRefraction is the refraction over the lens (optional).
	OverRefraction *OverRefraction `json:"overRefraction,omitempty"`
	// Centration is where the lens sits (optional; absent means not
	// recorded).
	Centration *Centration `json:"centration,omitempty"`
	// CentralClearanceUM is the settled central clearance of a scleral
	// lens (microns, 0-1500), measured after the lens has settled.
	CentralClearanceUM *float64 `json:"centralClearanceUM,omitempty"`
	// LimbalClearanceUM is the settled limbal clearance of a scleral lens.
	LimbalClearanceUM *float64 `json:"limbalClearanceUM,omitempty"`
	// CentralTearFilmUM is the central tear film under an ortho-k lens.
	CentralTearFilmUM *float64 `json:"centralTearFilmUM,omitempty"`
	// ResidualRefractionD is the ortho-k residual refraction without the
	// lens (spherical equivalent, D): negative is under-correction
	// (myopia remains), positive over-correction.
	ResidualRefractionD *float64 `json:"residualRefractionD,omitempty"`
	// FluoresceinNotes describe the fluorescein pattern: free text that may
	// identify a patient. At most MaxNotesBytes; never logged, never in an
	// error message.
	FluoresceinNotes string `json:"fluoresceinNotes,omitempty"`
	// Comfort is the wearer's rating, 1 (worst) to 10 (best).
	Comfort int `json:"comfort"`
	// Outcome is "continue" or "adjust".
	Outcome string `json:"outcome"`
}

// OverRefraction is a refraction over the lens. An empty object is plano.
type OverRefraction struct {
	SphereD float64 `json:"sphereD"`
	// CylD is the cylinder (either sign convention); AxisDeg (0-180) is
	// required with a cylinder and refused without one.
	CylD    float64  `json:"cylD,omitempty"`
	AxisDeg *float64 `json:"axisDeg,omitempty"`
}

// SphericalEquivalentD is the sphere plus half the cylinder.
func (o OverRefraction) SphericalEquivalentD() float64 { return o.SphereD + o.CylD/2 }

// Centration is where the lens sits on the eye.
type Centration struct {
	// Status is "centred" or "decentred".
	Status string `json:"status"`
	// Direction (decentred only) is superior, inferior, nasal, temporal or
	// one of the four obliques (superonasal, superotemporal, inferonasal,
	// inferotemporal).
	Direction string `json:"direction,omitempty"`
	// MM (decentred only) is how far the lens centre sits from the
	// corneal centre, more than 0 and at most 5 mm.
	MM float64 `json:"mm,omitempty"`
}

// DecentredMM is the decentration in mm (0 when centred or not recorded).
func (c *Centration) DecentredMM() float64 {
	if c == nil || c.Status != Decentred {
		return 0
	}
	return c.MM
}

// Acuity is a visual acuity as recorded: Snellen "6/6", "20/20", "6/7.5"
// or a logMAR decimal. It decodes from a JSON string or a JSON number (a
// logMAR value) and encodes as a string.
type Acuity string

// UnmarshalJSON accepts a JSON string or number.
func (a *Acuity) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Acuity(s)
		return nil
	}
	if len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) {
		*a = Acuity(b)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[string](), Field: "visualAcuity"}
}

var (
	snellenRE = regexp.MustCompile(`^([0-9]{1,3}(?:\.[0-9]{1,2})?)/([0-9]{1,4}(?:\.[0-9]{1,2})?)$`)
	logMARRE  = regexp.MustCompile(`^[+-]?[0-9](?:\.[0-9]{1,3})?$`)
)

// LogMAR returns the acuity as logMAR: log10(denominator/numerator) for a
// Snellen fraction (6/6 and 20/20 are 0, 6/12 is 0.30), the value itself
// for a logMAR decimal. It is an Invalid error naming visualAcuity when
// the text is neither or lies outside MinLogMAR..MaxLogMAR.
func (a Acuity) LogMAR() (float64, error) {
	const op = "aftercare.Acuity.LogMAR"
	s := strings.TrimSpace(string(a))
	if s == "" {
		return 0, errs.Field(op, "visualAcuity", "required: Snellen (6/6, 20/20) or logMAR")
	}
	var v float64
	if m := snellenRE.FindStringSubmatch(s); m != nil {
		num, _ := strconv.ParseFloat(m[1], 64)
		den, _ := strconv.ParseFloat(m[2], 64)
		if num <= 0 || den <= 0 {
			return 0, errs.Field(op, "visualAcuity", "a Snellen fraction needs positive numbers")
		}
		v = math.Log10(den / num)
	} else if logMARRE.MatchString(s) {
		v, _ = strconv.ParseFloat(s, 64)
	} else {
		return 0, errs.Field(op, "visualAcuity", "not Snellen (6/6, 20/20) or logMAR (0.10)")
	}
	if v < MinLogMAR-0.005 || v > MaxLogMAR+0.005 { // 6/3 is -0.301
		return 0, errs.Field(op, "visualAcuity", "out of range (logMAR %g to %g)", MinLogMAR, MaxLogMAR)
	}
	return v, nil
}

// Validate checks the assessment for a lens type ("rgp", "orthok",
// "scleral"). The error is Invalid and names the JSON field (nested as
// "overRefraction.cylD"); it states the rule, never the value given.
func (a Assessment) Validate(lensType string) error {
	const op = "aftercare.Assessment.Validate"
	t, err := lens.ParseType(lensType)
	if err != nil {
		return errs.Field(op, "lensType", "unknown lens type (want rgp, orthok or scleral)")
	}
	if !keyRE.MatchString(a.VisitKey) {
		return errs.Field(op, "visitKey", "required: a visit key such as week-1 or year-2, or %q", UnscheduledKey)
	}
	if _, err := a.VisualAcuity.LogMAR(); err != nil {
		return errs.Field(op, "visualAcuity", "%s", errs.Message(err))
	}
	if o := a.OverRefraction; o != nil {
		if err := dioptres(op, "overRefraction.sphereD", o.SphereD); err != nil {
			return err
		}
		if err := dioptres(op, "overRefraction.cylD", o.CylD); err != nil {
			return err
		}
		switch {
		case o.CylD != 0 && o.AxisDeg == nil:
			return errs.Field(op, "overRefraction.axisDeg", "required with a cylinder")
		case o.CylD == 0 && o.AxisDeg != nil:
			return errs.Field(op, "overRefraction.axisDeg", "given without a cylinder")
		case o.AxisDeg != nil && !(*o.AxisDeg >= 0 && *o.AxisDeg <= 180):
			return errs.Field(op, "overRefraction.axisDeg", "must be 0 to 180 degrees")
		}
	}
	if c := a.Centration; c != nil {
		switch c.Status {
		case Centred:
			if c.Direction != "" || c.MM != 0 {
				return errs.Field(op, "centration", "a centred lens has no direction or mm")
			}
		case Decentred:
			if !directions[c.Direction] {
				return errs.Field(op, "centration.direction", "must be superior, inferior, nasal, temporal, superonasal, superotemporal, inferonasal or inferotemporal")
			}
			if !(c.MM > 0 && c.MM <= MaxDecentrationMM) {
				return errs.Field(op, "centration.mm", "must be more than 0 and at most %g mm", MaxDecentrationMM)
			}
		default:
			return errs.Field(op, "centration.status", "must be %q or %q", Centred, Decentred)
		}
	}
	for _, f := range []struct {
		name  string
		v     *float64
		isFor lens.Type
	}{
		{"centralClearanceUM", a.CentralClearanceUM, lens.Scleral},
		{"limbalClearanceUM", a.LimbalClearanceUM, lens.Scleral},
		{"centralTearFilmUM", a.CentralTearFilmUM, lens.OrthoK},
	} {
		if f.v == nil {
			continue
		}
		if t != f.isFor {
			return errs.Field(op, f.name, "applies to %s lenses only", f.isFor)
		}
		if !(*f.v >= 0 && *f.v <= MaxClearanceUM) {
			return errs.Field(op, f.name, "must be 0 to %g microns", MaxClearanceUM)
		}
	}
	if a.ResidualRefractionD != nil {
		if t != lens.OrthoK {
			return errs.Field(op, "residualRefractionD", "applies to orthok lenses only")
		}
		if err := dioptres(op, "residualRefractionD", *a.ResidualRefractionD); err != nil {
			return err
		}
	}
	if len(a.FluoresceinNotes) > MaxNotesBytes {
		return errs.Field(op, "fluoresceinNotes", "at most %d bytes", MaxNotesBytes)
	}
	if !utf8.ValidString(a.FluoresceinNotes) || strings.IndexFunc(a.FluoresceinNotes, badNoteRune) >= 0 {
		return errs.Field(op, "fluoresceinNotes", "must be UTF-8 text without control characters other than newline and tab")
	}
	if a.Comfort < 1 || a.Comfort > 10 {
		return errs.Field(op, "comfort", "required: 1 to 10")
	}
	if a.Outcome != OutcomeContinue && a.Outcome != OutcomeAdjust {
		return errs.Field(op, "outcome", "must be %q or %q", OutcomeContinue, OutcomeAdjust)
	}
	return nil
}

func badNoteRune(r rune) bool {
	return r != '\n' && r != '\t' && unicode.IsControl(r)
}

func dioptres(op, field string, v float64) error {
	if !(v >= -MaxDioptres && v <= MaxDioptres) {
		return errs.Field(op, field, "must be %g to %g D", -MaxDioptres, MaxDioptres)
	}
	return nil
}
