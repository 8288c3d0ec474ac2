package lens

import (
	"math"
	"slices"
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
	MeridianDeg float64 `json:"meridian_deg"`
	Label       string  `json:"label"` // "flat" or "steep"
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

// clearanceProfiles computes the clearance along the flat and steep
// meridians of the eye. The lens rests where lens sag exceeds eye sag the
// most over both meridians; that excess is the apex clearance.
func clearanceProfiles(op string, eye Eye, surf *BackSurface, flatDeg, steepDeg float64, keys ...float64) ([]ClearanceProfile, error) {
	rs := sampleRadii(surf.EdgeMM(), keys...)
	out := make([]ClearanceProfile, 2)
	apex := math.Inf(-1)
	for k, m := range [2]float64{flatDeg, steepDeg} {
		c := ClearanceProfile{MeridianDeg: m, Label: "flat", RMM: rs,
			EyeSagMM: make([]float64, len(rs)), LensSagMM: make([]float64, len(rs)), ClearanceUM: make([]float64, len(rs))}
		if k == 1 {
			c.Label, c.RMM = "steep", slices.Clone(rs)
		}
		for i, r := range rs {
			s, src, err := eyeSag(op, eye, m, 2*r)
			if err != nil {
				return nil, err
			}
			if src != SourceMeasured && c.ExtrapolationSource == "" {
				c.ExtrapolatedFromMM, c.ExtrapolationSource = r, src
			}
			z := surf.SagMM(m, r)
			c.EyeSagMM[i], c.LensSagMM[i] = s, z
			apex = max(apex, z-s)
		}
		out[k] = c
	}
	for k := range out {
		c := &out[k]
		c.ApexClearanceUM = 1000 * apex
		c.MinClearanceUM = math.Inf(1)
		for i := range rs {
			g := 1000 * (c.EyeSagMM[i] + apex - c.LensSagMM[i])
			c.ClearanceUM[i] = g
			if g < c.MinClearanceUM {
				c.MinClearanceUM, c.MinAtMM = g, rs[i]
			}
		}
	}
	return out, nil
}
