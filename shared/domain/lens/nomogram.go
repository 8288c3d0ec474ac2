package lens

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/lensflow/lensflow/shared/errs"
)

// Default nomogram names and the version of the values below. A lab that
// changes a value should publish its nomogram under its own name or a new
// version: the design records both.
const (
	DefaultRGPNomogramName     = "lensflow-rgp-standard"
	DefaultOrthoKNomogramName  = "lensflow-orthok-jessen"
	DefaultScleralNomogramName = "lensflow-scleral-standard"
	DefaultNomogramVersion     = "2026.1"
)

// Ortho-k BOZR methods.
const (
	// Jessen: flat K (D) - |target| - compression factor.
	MethodJessen = "jessen"
	// ChanChoMountford: flat K (D) - (slope * |target| + intercept), the
	// 2008 revision (slope 1.23, intercept 1.27 D).
	MethodChanChoMountford = "chan-cho-mountford"
)

// Keratometry a nomogram is written for (Common.KReading).
const (
	// KReadingSimK: the device's simulated K, the sagittal curvature of
	// the principal meridians on a ring of about 3 mm. What practitioners
	// mean by "flat K", and every default nomogram's.
	KReadingSimK = "sim-k"
	// KReadingApical: the apical curvature of the fitted conic or biconic,
	// steeper than Sim-K on a prolate cornea (by 0.1-0.4 D on real eyes).
	KReadingApical = "apical"
)

// Common holds the conventions every nomogram has. Its fields appear at
// the top level of a nomogram's JSON.
type Common struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// KReading is the keratometry the nomogram's rules are written for:
	// KReadingSimK (default) or KReadingApical. The engine feeds the eye's
	// flat and steep K accordingly; a design records it.
	KReading string `json:"k_reading"`
	// KeratometricIndex converts radii to K: D = index / r (mm); 337.5
	// (n 1.3375, ISO 19980). Range 330-340.
	KeratometricIndex float64 `json:"keratometric_index"`
	// DefaultHVIDMM stands in when the HVID is not given (the design warns).
	// Range 10-13.5 mm.
	DefaultHVIDMM float64 `json:"default_hvid_mm"`
	// BOZRStepMM rounds the BOZR (0 = no rounding). Range 0-0.1 mm.
	BOZRStepMM float64 `json:"bozr_step_mm"`
	// MaterialIndex is the lens material's refractive index. Range 1.38-1.60.
	MaterialIndex float64 `json:"material_index"`
	// CentreThicknessMM is the centre thickness of a plano or minus lens;
	// plus lenses add PlusThicknessPerDMM per dioptre. Range 0.08-0.60 mm
	// and 0-0.05 mm/D.
	CentreThicknessMM   float64 `json:"centre_thickness_mm"`
	PlusThicknessPerDMM float64 `json:"plus_thickness_per_D_mm"`
	// TearIndex is the tear film's index (1.336 gives the handbook's 336).
	// Range 1.330-1.340.
	TearIndex float64 `json:"tear_index"`
	// VertexDistanceMM is where the spectacle refraction was measured.
	// Range 0-20 mm.
	VertexDistanceMM float64 `json:"vertex_distance_mm"`
	// PowerStepD rounds the ordered power (0 = no rounding). Range 0-0.5 D.
	PowerStepD float64 `json:"power_step_D"`
}

func defaultCommon(name string) Common {
	return Common{
		Name: name, Version: DefaultNomogramVersion, KReading: KReadingSimK,
		KeratometricIndex: 337.5, DefaultHVIDMM: 11.8, BOZRStepMM: 0.01,
		MaterialIndex: 1.43, CentreThicknessMM: 0.20, PlusThicknessPerDMM: 0.02,
		TearIndex: 1.336, VertexDistanceMM: 12, PowerStepD: 0.25,
	}
}

// RGPNomogram holds the RGP (corneal) conventions of lens-design.md.
type RGPNomogram struct {
	Common
	// BOZRSteeperThanKMM: BOZR = flat K - this ("on K" is 0; the handbook's
	// common start is on K to 0.10 mm steeper). Range -0.20 to 0.30 mm.
	BOZRSteeperThanKMM float64 `json:"bozr_steeper_than_k_mm"`
	// TDSmallerThanHVIDMM: TD = HVID - this (handbook 2.0-2.5), rounded to
	// TDStepMM. Range 1.5-3.0 mm; step 0-0.5 mm.
	TDSmallerThanHVIDMM float64 `json:"td_smaller_than_hvid_mm"`
	TDStepMM            float64 `json:"td_step_mm"`
	// PupilAddMM: BOZD = pupil + this when the pupil is given (handbook 2).
	// Without a pupil the BOZD is what the TD leaves after the peripheral
	// zones: TD - 2 * (SecondaryCurveWidthMM + PeripheralCurveWidthMM).
	// Range 1-3 mm.
	PupilAddMM float64 `json:"pupil_add_mm"`
	// SecondaryCurveFlatterMM: SCR = BOZR + this (handbook 1.0);
	// PeripheralCurveFlatterMM: PCR = SCR + this (handbook 1.5).
	// Ranges 0.2-3 mm.
	SecondaryCurveFlatterMM  float64 `json:"secondary_curve_flatter_mm"`
	PeripheralCurveFlatterMM float64 `json:"peripheral_curve_flatter_mm"`
	// Zone widths (radial, mm). With a pupil, the secondary zone takes what
	// the BOZD and the peripheral zone leave. Ranges 0.1-1.5 mm.
	SecondaryCurveWidthMM  float64 `json:"secondary_curve_width_mm"`
	PeripheralCurveWidthMM float64 `json:"peripheral_curve_width_mm"`

	// Corneal astigmatism (the corneal cylinder is steep K - flat K in
	// keratometric dioptres). Each rule's zero turns it off, which is also
	// what a design recorded before the rules existed carries.
	//
	// SphericalMaxCylinderD: up to this much corneal cylinder the lens is
	// spherical; above it, bitoric (handbook: a spherical lens fits up to
	// about 2.0 D, above 2.25-2.5 D a back-toric or bitoric; default 2.0).
	// 0 designs spherical lenses only. Range 0 or 1-6 D.
	SphericalMaxCylinderD float64 `json:"spherical_max_cylinder_D"`
	// BOZRCylinderFraction: a spherical lens's BOZR is made steeper than
	// the flat K by this fraction of the corneal cylinder (in dioptres)
	// before BOZRSteeperThanKMM applies (handbook: a quarter to a third;
	// default 0.25). A spherical cornea is fitted exactly as without it.
	// Range 0-0.5.
	BOZRCylinderFraction float64 `json:"bozr_cylinder_fraction"`
	// ResidualAstigmatismWarnD: a spherical lens warns when the residual
	// astigmatism it leaves reaches this, and a bitoric when the part of
	// the refraction's astigmatism oblique to the cornea (which it cannot
	// correct) does (handbook: 0.75 D costs vision; default 0.75). 0 never
	// warns. Range 0 or 0.25-3 D.
	ResidualAstigmatismWarnD float64 `json:"residual_astigmatism_warn_D"`
}

// DefaultRGPNomogram returns lensflow-rgp-standard 2026.1.
func DefaultRGPNomogram() RGPNomogram {
	return RGPNomogram{
		Common:              defaultCommon(DefaultRGPNomogramName),
		BOZRSteeperThanKMM:  0.05,
		TDSmallerThanHVIDMM: 2.2, TDStepMM: 0.1,
		PupilAddMM:              2.0,
		SecondaryCurveFlatterMM: 1.0, PeripheralCurveFlatterMM: 1.5,
		SecondaryCurveWidthMM: 0.4, PeripheralCurveWidthMM: 0.4,
		SphericalMaxCylinderD: 2.0, BOZRCylinderFraction: 0.25, ResidualAstigmatismWarnD: 0.75,
	}
}

// OrthoKNomogram holds the reverse-geometry (myopia) conventions.
type OrthoKNomogram struct {
	Common
	// Method is MethodJessen or MethodChanChoMountford.
	Method string `json:"method"`
	// CompressionFactorD is Jessen's factor (handbook 0.50-0.75 D; range
	// enforced). It is also the lens's ordered power.
	CompressionFactorD float64 `json:"compression_factor_D"`
	// ChanSlope and ChanInterceptD: flat K - (slope*|target| + intercept)
	// (1.23 and 1.27 D published). Ranges 0.8-1.6 and 0-2.5 D.
	ChanSlope      float64 `json:"chan_slope"`
	ChanInterceptD float64 `json:"chan_intercept_D"`
	// VertexTarget vertexes the refraction to the cornea before the BOZR
	// formula (Jessen and Chan used the refraction as given: false).
	VertexTarget bool `json:"vertex_target"`
	// MaxMyopiaD is the most myopia the nomogram designs for. Range 1-10 D.
	MaxMyopiaD float64 `json:"max_myopia_D"`
	// CentralClearanceUM is the target central tear film (handbook 10-30
	// microns, never bearing; range enforced). Default 10, the handbook's
	// worked example and the firmest compression that keeps a tear film.
	CentralClearanceUM float64 `json:"central_clearance_um"`
	// BOZDMM is the back optic zone diameter (6.0). Range 4.5-7.5 mm.
	BOZDMM float64 `json:"bozd_mm"`
	// LandingChordMM is where the sag is matched and the landing zone is
	// centred (8 mm); LandingZoneWidthMM its radial width (1.0). Ranges
	// 6.5-10 mm and 0.3-2 mm.
	LandingChordMM     float64 `json:"landing_chord_mm"`
	LandingZoneWidthMM float64 `json:"landing_zone_width_mm"`
	// ToricLandingThresholdUM: a toric landing when the principal
	// meridians' sag at the landing chord differ by this much or more
	// (handbook about 25-30; default 30). Range 10-100 microns.
	ToricLandingThresholdUM float64 `json:"toric_landing_threshold_um"`
	// TDSmallerThanHVIDMM: TD = HVID - this (1.2), rounded to TDStepMM.
	// Range 0-3 mm.
	TDSmallerThanHVIDMM float64 `json:"td_smaller_than_hvid_mm"`
	TDStepMM            float64 `json:"td_step_mm"`
	// EdgeCurveFlatterThanKMM: the edge curve outside the landing zone has
	// radius flat K + this (1.0). Range 0-3 mm.
	EdgeCurveFlatterThanKMM float64 `json:"edge_curve_flatter_than_k_mm"`
}

// DefaultOrthoKNomogram returns lensflow-orthok-jessen 2026.1.
func DefaultOrthoKNomogram() OrthoKNomogram {
	c := defaultCommon(DefaultOrthoKNomogramName)
	c.MaterialIndex, c.CentreThicknessMM, c.PlusThicknessPerDMM = 1.415, 0.22, 0
	return OrthoKNomogram{
		Common: c, Method: MethodJessen, CompressionFactorD: 0.75,
		ChanSlope: 1.23, ChanInterceptD: 1.27, MaxMyopiaD: 6,
		CentralClearanceUM: 10, BOZDMM: 6.0, LandingChordMM: 8.0, LandingZoneWidthMM: 1.0,
		ToricLandingThresholdUM: 30, TDSmallerThanHVIDMM: 1.2, TDStepMM: 0.1,
		EdgeCurveFlatterThanKMM: 1.0,
	}
}

// ScleralNomogram holds the scleral conventions.
type ScleralNomogram struct {
	Common
	// TD = HVID + TDLargerThanHVIDMM (5.5), rounded up to TDRoundUpMM
	// (0.5). Ranges 3-8 mm and 0-1 mm.
	TDLargerThanHVIDMM float64 `json:"td_larger_than_hvid_mm"`
	TDRoundUpMM        float64 `json:"td_round_up_mm"`
	// LandingChordMM is where the ocular and lens sags are matched (15).
	// The haptic (a cone at the eye's tangent angle there) starts
	// LandingInsideMM inside it (0: at it) and runs to the edge. Ranges
	// 12-18 mm and 0-2 mm; the landing chord must lie inside the TD.
	LandingChordMM  float64 `json:"landing_chord_mm"`
	LandingInsideMM float64 `json:"landing_inside_mm"`
	// BOZDMM is the optic zone diameter (10.0); the BOZR is the sphere with
	// the eye's sag at that chord, so the optic zone vaults the cornea
	// evenly and the clearance falls off only outside it, over the limbus.
	// Range 6-12 mm.
	BOZDMM float64 `json:"bozd_mm"`
	// InsertionClearanceUM is the central clearance at insertion (handbook
	// 300-400; range enforced); SettlingUM how far the lens settles
	// (handbook 90-150; default 150, the worst case; range 0-300);
	// MinSettledClearanceUM the least central clearance after settling
	// (never below 100; range 100-300). Insertion - settling must reach it.
	InsertionClearanceUM  float64 `json:"insertion_clearance_um"`
	SettlingUM            float64 `json:"settling_um"`
	MinSettledClearanceUM float64 `json:"min_settled_clearance_um"`
	// ToricHapticThresholdUM: toric haptics when the principal meridians'
	// sag at the landing chord differ by more than this (about 100).
	// Range 30-400 microns.
	ToricHapticThresholdUM float64 `json:"toric_haptic_threshold_um"`
}

// DefaultScleralNomogram returns lensflow-scleral-standard 2026.1.
func DefaultScleralNomogram() ScleralNomogram {
	c := defaultCommon(DefaultScleralNomogramName)
	c.MaterialIndex, c.CentreThicknessMM, c.PlusThicknessPerDMM = 1.415, 0.30, 0.02
	return ScleralNomogram{
		Common:             c,
		TDLargerThanHVIDMM: 5.5, TDRoundUpMM: 0.5,
		LandingChordMM: 15, LandingInsideMM: 0, BOZDMM: 10.0,
		InsertionClearanceUM: 300, SettlingUM: 150, MinSettledClearanceUM: 100,
		ToricHapticThresholdUM: 100,
	}
}

// Nomograms is one nomogram per lens type.
type Nomograms struct {
	RGP     RGPNomogram     `json:"rgp"`
	OrthoK  OrthoKNomogram  `json:"orthok"`
	Scleral ScleralNomogram `json:"scleral"`
}

// DefaultNomograms returns the default nomogram of every type.
func DefaultNomograms() Nomograms {
	return Nomograms{DefaultRGPNomogram(), DefaultOrthoKNomogram(), DefaultScleralNomogram()}
}

// rangeCheck is one field's allowed closed range.
type rangeCheck struct {
	field  string
	v      float64
	lo, hi float64
}

func checkRanges(op, prefix string, cs ...rangeCheck) error {
	for _, c := range cs {
		if !(c.v >= c.lo && c.v <= c.hi) {
			return errs.Field(op, prefix+c.field, "%g is out of range (%g to %g)", c.v, c.lo, c.hi)
		}
	}
	return nil
}

// checkOffOrRanges checks fields whose 0 means "off" and whose other
// values must lie in their range.
func checkOffOrRanges(op, prefix string, cs ...rangeCheck) error {
	for _, c := range cs {
		if c.v != 0 && !(c.v >= c.lo && c.v <= c.hi) {
			return errs.Field(op, prefix+c.field, "%g is out of range (0 to turn it off, or %g to %g)", c.v, c.lo, c.hi)
		}
	}
	return nil
}

func (c Common) validate(op, prefix string) error {
	if c.Name == "" {
		return errs.Field(op, prefix+"name", "a nomogram needs a name")
	}
	if c.Version == "" {
		return errs.Field(op, prefix+"version", "a nomogram needs a version")
	}
	if len(c.Name) > 100 || len(c.Version) > 40 {
		return errs.Field(op, prefix+"name", "name (100) or version (40 characters) too long")
	}
	if c.KReading != KReadingSimK && c.KReading != KReadingApical {
		return errs.Field(op, prefix+"k_reading", "unknown keratometry %q (want %q or %q)", c.KReading, KReadingSimK, KReadingApical)
	}
	return checkRanges(op, prefix,
		rangeCheck{"keratometric_index", c.KeratometricIndex, 330, 340},
		rangeCheck{"default_hvid_mm", c.DefaultHVIDMM, 10, 13.5},
		rangeCheck{"bozr_step_mm", c.BOZRStepMM, 0, 0.1},
		rangeCheck{"material_index", c.MaterialIndex, 1.38, 1.60},
		rangeCheck{"centre_thickness_mm", c.CentreThicknessMM, 0.08, 0.60},
		rangeCheck{"plus_thickness_per_D_mm", c.PlusThicknessPerDMM, 0, 0.05},
		rangeCheck{"tear_index", c.TearIndex, 1.330, 1.340},
		rangeCheck{"vertex_distance_mm", c.VertexDistanceMM, 0, 20},
		rangeCheck{"power_step_D", c.PowerStepD, 0, 0.5},
	)
}

// Validate checks every field against its documented range; an error
// names the JSON field.
func (n RGPNomogram) Validate() error { return n.validate("lens.RGPNomogram.Validate", "") }

func (n RGPNomogram) validate(op, prefix string) error {
	if err := n.Common.validate(op, prefix); err != nil {
		return err
	}
	if err := checkRanges(op, prefix,
		rangeCheck{"bozr_steeper_than_k_mm", n.BOZRSteeperThanKMM, -0.20, 0.30},
		rangeCheck{"td_smaller_than_hvid_mm", n.TDSmallerThanHVIDMM, 1.5, 3.0},
		rangeCheck{"td_step_mm", n.TDStepMM, 0, 0.5},
		rangeCheck{"pupil_add_mm", n.PupilAddMM, 1, 3},
		rangeCheck{"secondary_curve_flatter_mm", n.SecondaryCurveFlatterMM, 0.2, 3},
		rangeCheck{"peripheral_curve_flatter_mm", n.PeripheralCurveFlatterMM, 0.2, 3},
		rangeCheck{"secondary_curve_width_mm", n.SecondaryCurveWidthMM, 0.1, 1.5},
		rangeCheck{"peripheral_curve_width_mm", n.PeripheralCurveWidthMM, 0.1, 1.5},
		rangeCheck{"bozr_cylinder_fraction", n.BOZRCylinderFraction, 0, 0.5},
	); err != nil {
		return err
	}
	return checkOffOrRanges(op, prefix,
		rangeCheck{"spherical_max_cylinder_D", n.SphericalMaxCylinderD, 1, 6},
		rangeCheck{"residual_astigmatism_warn_D", n.ResidualAstigmatismWarnD, 0.25, 3},
	)
}

// Validate checks every field against its documented range; an error
// names the JSON field.
func (n OrthoKNomogram) Validate() error { return n.validate("lens.OrthoKNomogram.Validate", "") }

func (n OrthoKNomogram) validate(op, prefix string) error {
	if err := n.Common.validate(op, prefix); err != nil {
		return err
	}
	if n.Method != MethodJessen && n.Method != MethodChanChoMountford {
		return errs.Field(op, prefix+"method", "unknown method %q (want %q or %q)", n.Method, MethodJessen, MethodChanChoMountford)
	}
	if err := checkRanges(op, prefix,
		rangeCheck{"compression_factor_D", n.CompressionFactorD, 0.50, 0.75},
		rangeCheck{"chan_slope", n.ChanSlope, 0.8, 1.6},
		rangeCheck{"chan_intercept_D", n.ChanInterceptD, 0, 2.5},
		rangeCheck{"max_myopia_D", n.MaxMyopiaD, 1, 10},
		rangeCheck{"central_clearance_um", n.CentralClearanceUM, 10, 30},
		rangeCheck{"bozd_mm", n.BOZDMM, 4.5, 7.5},
		rangeCheck{"landing_chord_mm", n.LandingChordMM, 6.5, 10},
		rangeCheck{"landing_zone_width_mm", n.LandingZoneWidthMM, 0.3, 2},
		rangeCheck{"toric_landing_threshold_um", n.ToricLandingThresholdUM, 10, 100},
		rangeCheck{"td_smaller_than_hvid_mm", n.TDSmallerThanHVIDMM, 0, 3},
		rangeCheck{"td_step_mm", n.TDStepMM, 0, 0.5},
		rangeCheck{"edge_curve_flatter_than_k_mm", n.EdgeCurveFlatterThanKMM, 0, 3},
	); err != nil {
		return err
	}
	if n.LandingChordMM-n.LandingZoneWidthMM <= n.BOZDMM {
		return errs.Field(op, prefix+"landing_chord_mm", "the landing zone (%g mm chord, %g mm wide) must start outside the %g mm optic zone",
			n.LandingChordMM, n.LandingZoneWidthMM, n.BOZDMM)
	}
	return nil
}

// Validate checks every field against its documented range; an error
// names the JSON field.
func (n ScleralNomogram) Validate() error { return n.validate("lens.ScleralNomogram.Validate", "") }

func (n ScleralNomogram) validate(op, prefix string) error {
	if err := n.Common.validate(op, prefix); err != nil {
		return err
	}
	if err := checkRanges(op, prefix,
		rangeCheck{"td_larger_than_hvid_mm", n.TDLargerThanHVIDMM, 3, 8},
		rangeCheck{"td_round_up_mm", n.TDRoundUpMM, 0, 1},
		rangeCheck{"landing_chord_mm", n.LandingChordMM, 12, 18},
		rangeCheck{"landing_inside_mm", n.LandingInsideMM, 0, 2},
		rangeCheck{"bozd_mm", n.BOZDMM, 6, 12},
		rangeCheck{"insertion_clearance_um", n.InsertionClearanceUM, 300, 400},
		rangeCheck{"settling_um", n.SettlingUM, 0, 300},
		rangeCheck{"min_settled_clearance_um", n.MinSettledClearanceUM, 100, 300},
		rangeCheck{"toric_haptic_threshold_um", n.ToricHapticThresholdUM, 30, 400},
	); err != nil {
		return err
	}
	if n.InsertionClearanceUM-n.SettlingUM < n.MinSettledClearanceUM {
		return errs.Field(op, prefix+"insertion_clearance_um", "%g microns at insertion less %g of settling leaves less than the minimum %g",
			n.InsertionClearanceUM, n.SettlingUM, n.MinSettledClearanceUM)
	}
	if n.LandingChordMM-2*n.LandingInsideMM <= n.BOZDMM {
		return errs.Field(op, prefix+"landing_chord_mm", "the haptic must start outside the %g mm optic zone", n.BOZDMM)
	}
	return nil
}

// maxNomogramBytes bounds a nomogram file.
const maxNomogramBytes = 64 << 10

// decodeStrict decodes one JSON object from data onto v, refusing unknown
// fields and trailing data, and requiring the fields named in required.
func decodeStrict(op, prefix string, data []byte, v any, required ...string) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return errs.E(op, errs.Invalid, fmt.Errorf("%snomogram is not a JSON object: %w", prefix, err))
	}
	for _, f := range required {
		if _, ok := probe[f]; !ok {
			return errs.Field(op, prefix+f, "is required: a nomogram that changes values must say its name and version")
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return errs.Field(op, prefix+ute.Field, "must be a %s (got %s)", jsonKind(ute.Type), ute.Value)
		}
		return errs.E(op, errs.Invalid, fmt.Errorf("%snomogram: %w", prefix, err))
	}
	if dec.More() {
		return errs.Ef(op, errs.Invalid, "%snomogram: data after the JSON object", prefix)
	}
	return nil
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Float64, reflect.Float32, reflect.Int, reflect.Int64:
		return "finite number"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	}
	return "JSON " + t.String()
}

func readAll(op string, r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxNomogramBytes+1))
	if err != nil {
		return nil, errs.E(op, errs.Invalid, fmt.Errorf("reading nomogram: %w", err))
	}
	if len(data) > maxNomogramBytes {
		return nil, errs.Ef(op, errs.TooLarge, "nomogram is larger than %d bytes", maxNomogramBytes)
	}
	return data, nil
}

// ParseRGPNomogram reads an RGP nomogram from JSON. Fields left out keep
// the default's value; "name" and "version" are required; unknown fields,
// wrong types and out-of-range values are errs.Invalid errors naming the
// field.
func ParseRGPNomogram(r io.Reader) (RGPNomogram, error) {
	return parseNomogram("lens.ParseRGPNomogram", r, DefaultRGPNomogram())
}

// ParseOrthoKNomogram reads an ortho-k nomogram from JSON, as
// ParseRGPNomogram does.
func ParseOrthoKNomogram(r io.Reader) (OrthoKNomogram, error) {
	return parseNomogram("lens.ParseOrthoKNomogram", r, DefaultOrthoKNomogram())
}

// ParseScleralNomogram reads a scleral nomogram from JSON, as
// ParseRGPNomogram does.
func ParseScleralNomogram(r io.Reader) (ScleralNomogram, error) {
	return parseNomogram("lens.ParseScleralNomogram", r, DefaultScleralNomogram())
}

// parseNomogram reads JSON over the default n and validates the result.
func parseNomogram[N interface {
	RGPNomogram | OrthoKNomogram | ScleralNomogram
	validate(op, prefix string) error
}](op string, r io.Reader, n N) (N, error) {
	data, err := readAll(op, r)
	if err == nil {
		err = decodeStrict(op, "", data, &n, "name", "version")
	}
	if err == nil {
		err = n.validate(op, "")
	}
	return n, err
}

// ParseNomograms reads {"rgp": {...}, "orthok": {...}, "scleral": {...}};
// a type left out keeps its default nomogram, a type given is read as its
// Parse function reads it (field names in errors are prefixed, e.g.
// "orthok.compression_factor_D").
func ParseNomograms(r io.Reader) (Nomograms, error) {
	const op = "lens.ParseNomograms"
	set := DefaultNomograms()
	data, err := readAll(op, r)
	if err != nil {
		return set, err
	}
	var raw struct {
		RGP     json.RawMessage `json:"rgp"`
		OrthoK  json.RawMessage `json:"orthok"`
		Scleral json.RawMessage `json:"scleral"`
	}
	if err := decodeStrict(op, "", data, &raw); err != nil {
		return set, err
	}
	if raw.RGP != nil {
		if err := decodeStrict(op, "rgp.", raw.RGP, &set.RGP, "name", "version"); err != nil {
			return set, err
		}
	}
	if raw.OrthoK != nil {
		if err := decodeStrict(op, "orthok.", raw.OrthoK, &set.OrthoK, "name", "version"); err != nil {
			return set, err
		}
	}
	if raw.Scleral != nil {
		if err := decodeStrict(op, "scleral.", raw.Scleral, &set.Scleral, "name", "version"); err != nil {
			return set, err
		}
	}
	return set, set.validate(op)
}

// Validate checks every nomogram of the set.
func (s Nomograms) Validate() error { return s.validate("lens.Nomograms.Validate") }

func (s Nomograms) validate(op string) error {
	if err := s.RGP.validate(op, "rgp."); err != nil {
		return err
	}
	if err := s.OrthoK.validate(op, "orthok."); err != nil {
		return err
	}
	return s.Scleral.validate(op, "scleral.")
}
