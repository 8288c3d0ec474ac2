package lens

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
)

// ClearanceStepMM is the spacing of clearance samples; zone boundaries and
// the landing chord are sampled too.
const ClearanceStepMM = 0.1

// ClearanceProfile is the lens against the eye along one meridian, with
// the lens resting on the eye (touching where it comes closest, and
// nowhere closer). At each r: the eye's sag, the lens's own back-surface
// sag (from the lens apex) and the clearance between them:
//
//	ClearanceUM = 1000 * (EyeSagMM + ApexClearanceUM/1000 - LensSagMM)
//
// so a plot draws the eye at EyeSagMM and the lens at LensSagMM -
// ApexClearanceUM/1000.
type ClearanceProfile struct {
	// MeridianDeg is the meridian (TABO 0-180); for the "steepest"
	// profile, the semi-meridian through the cone (0-360).
	MeridianDeg float64 `json:"meridian_deg"`
	Label       string  `json:"label"` // "flat", "steep" or "steepest"
	// ApexClearanceUM is the central clearance: how far the lens apex sits
	// in front of the corneal apex.
	ApexClearanceUM float64   `json:"apex_clearance_um"`
	RMM             []float64 `json:"r_mm"`
	EyeSagMM        []float64 `json:"eye_sag_mm"`
	LensSagMM       []float64 `json:"lens_sag_mm"`
	ClearanceUM     []float64 `json:"clearance_um"`
	// MinClearanceUM is the least clearance, at MinAtMM.
	MinClearanceUM float64 `json:"min_clearance_um"`
	MinAtMM        float64 `json:"min_at_mm"`
	// ExtrapolatedFromMM is the first r whose eye sag was not measured
	// (0 when all were), and ExtrapolationSource how the eye said it was
	// obtained.
	ExtrapolatedFromMM  float64 `json:"extrapolated_from_mm,omitempty"`
	ExtrapolationSource string  `json:"extrapolation_source,omitempty"`
}

// At returns the clearance (microns) at the sample nearest r.
func (c *ClearanceProfile) At(r float64) float64 {
	i, _ := slices.BinarySearch(c.RMM, r)
	if i == len(c.RMM) || (i > 0 && r-c.RMM[i-1] < c.RMM[i]-r) {
		i--
	}
	return c.ClearanceUM[i]
}

// sampleRadii returns 0, ClearanceStepMM, ... up to edge, and the key
// radii, sorted and without duplicates.
func sampleRadii(edge float64, keys ...float64) []float64 {
	n := int(math.Floor(edge/ClearanceStepMM + 1e-9))
	rs := make([]float64, 0, n+2+len(keys))
	for i := 0; i <= n; i++ {
		rs = append(rs, float64(i)/(1/ClearanceStepMM))
	}
	for _, k := range append(keys, edge) {
		if k >= 0 && k <= edge {
			rs = append(rs, k)
		}
	}
	slices.Sort(rs)
	return slices.CompactFunc(rs, func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
}

// ConeEye is an Eye that knows where the cornea is steepest, off its
// principal meridians: a keratoconic cone. Designs then check the
// clearance along the semi-meridian through it too (a profile labelled
// "steepest", over the measured cornea only: beyond it a single
// semi-meridian carried outwards says less than the principal meridians'
// chords), and the lens rests on the cone if that is where it touches.
type ConeEye interface {
	DepthEye
	// Cone returns the semi-meridian (TABO degrees, 0-360) and the
	// distance from the apex (mm) of the cone; ok is false when the cornea
	// has none worth checking.
	Cone() (semiMeridianDeg, radiusMM float64, ok bool)
}

// DepthEye is an Eye that can also say how deep the cornea is along one
// semi-meridian, so that what differs between the two halves of a
// meridian (a cone, an inferior steepening) shows; a chord's sag is the
// mean of its two ends.
type DepthEye interface {
	Eye
	// DepthMM is the cornea's depth below the apex tangent plane at
	// radiusMM along one semi-meridian, and where it comes from (as
	// SagMM's source).
	DepthMM(semiMeridianDeg, radiusMM float64) (float64, string, error)
}

// MapEye is a DepthEye a map of many points can ask cheaply: DepthKindMM
// is DepthMM with only the kind of the source (SourceMeasured or another
// word) instead of the words.
type MapEye interface {
	DepthEye
	DepthKindMM(semiMeridianDeg, radiusMM float64) (float64, string, error)
}

// ProfileSteepest labels the clearance profile through a cone.
const ProfileSteepest = "steepest"

// clearanceProfiles computes the clearance along the flat and steep
// meridians of the eye, and along the semi-meridian through its cone when
// the eye is a ConeEye that has one. The lens rests where lens sag exceeds
// eye sag the most over every profile; that excess is the apex clearance.
func clearanceProfiles(op string, eye Eye, surf *BackSurface, flatDeg, steepDeg float64, keys ...float64) ([]ClearanceProfile, error) {
	rs := sampleRadii(surf.EdgeMM(), keys...)
	type profile struct {
		label    string
		deg      float64
		sag      func(r float64) (float64, string, error)
		measured bool // stop where the eye is no longer measured
	}
	chord := func(m float64) func(float64) (float64, string, error) {
		return func(r float64) (float64, string, error) { return eyeSag(op, eye, m, 2*r) }
	}
	profiles := []profile{{"flat", flatDeg, chord(flatDeg), false}, {"steep", steepDeg, chord(steepDeg), false}}
	if ce, ok := eye.(ConeEye); ok {
		if semi, _, ok := ce.Cone(); ok {
			profiles = append(profiles, profile{ProfileSteepest, semi, func(r float64) (float64, string, error) {
				z, src, err := ce.DepthMM(semi, r)
				if err != nil {
					return 0, "", errs.E(op, kindOr(err), fmt.Errorf("eye depth at %g mm along %g degrees: %w", r, semi, err))
				}
				return z, src, nil
			}, true})
		}
	}
	out := make([]ClearanceProfile, len(profiles))
	apex := math.Inf(-1)
	for k, p := range profiles {
		c := ClearanceProfile{MeridianDeg: p.deg, Label: p.label, RMM: rs,
			EyeSagMM: make([]float64, len(rs)), LensSagMM: make([]float64, len(rs)), ClearanceUM: make([]float64, len(rs))}
		if k > 0 {
			c.RMM = slices.Clone(rs)
		}
		for i, r := range rs {
			s, src, err := p.sag(r)
			if err != nil {
				return nil, err
			}
			if p.measured && strings.HasPrefix(src, "extrapolated") {
				c.RMM, c.EyeSagMM, c.LensSagMM, c.ClearanceUM = c.RMM[:i], c.EyeSagMM[:i], c.LensSagMM[:i], c.ClearanceUM[:i]
				break
			}
			if src != SourceMeasured && c.ExtrapolationSource == "" {
				c.ExtrapolatedFromMM, c.ExtrapolationSource = r, src
			}
			z := surf.SagMM(p.deg, r)
			c.EyeSagMM[i], c.LensSagMM[i] = s, z
			apex = max(apex, z-s)
		}
		out[k] = c
	}
	for k := range out {
		c := &out[k]
		c.ApexClearanceUM = 1000 * apex
		c.MinClearanceUM = math.Inf(1)
		for i := range c.RMM {
			g := 1000 * (c.EyeSagMM[i] + apex - c.LensSagMM[i])
			c.ClearanceUM[i] = g
			if g < c.MinClearanceUM {
				c.MinClearanceUM, c.MinAtMM = g, rs[i]
			}
		}
	}
	return out, nil
}

// bearing says where a lens resting on the eye touches it, from its
// clearance profiles: the least clearance over them all.
func bearing(ps []ClearanceProfile) string {
	best := -1
	for k := range ps {
		if best < 0 || ps[k].MinClearanceUM < ps[best].MinClearanceUM {
			best = k
		}
	}
	if best < 0 {
		return "rests elsewhere"
	}
	p := ps[best]
	where := fmt.Sprintf("%.1f mm from the centre along the %s meridian (%s degrees)", p.MinAtMM, p.Label, axisText(p.MeridianDeg))
	if p.Label == ProfileSteepest {
		where = fmt.Sprintf("%.1f mm from the centre through the cone (%.0f degrees)", p.MinAtMM, p.MeridianDeg)
	}
	if p.MinAtMM < 0.05 {
		where = "at its centre"
	}
	return "bears on the eye " + where
}
