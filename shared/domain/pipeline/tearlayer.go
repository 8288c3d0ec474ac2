package pipeline

import (
	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/errs"
)

// TearLayerModel maps the tear film under a design's lens on a corneal
// model already fitted to its scan (cornea.Fit, as Design does), with the
// eye extrapolated beyond the data as the design was: by the tangent line
// for a scleral lens, by the fitted conic otherwise. The lens rests as
// lens.Design.TearLayer finds it, its centre decentred by (decX, decY) mm.
func TearLayerModel(m *cornea.Model, r *Result, decX, decY float64) (*lens.TearLayer, error) {
	const op = "engine.TearLayer"
	if r == nil || r.Lens == nil {
		return nil, errs.Ef(op, errs.Invalid, "no design")
	}
	if r.Lens.Type == lens.Scleral {
		m = m.WithExtrapolation(cornea.ExtrapolateTangentLine)
	} else {
		m = m.WithExtrapolation(cornea.ExtrapolateConic)
	}
	t, err := r.Lens.TearLayer(Eye{M: m, KReading: r.Lens.KReading}, decX, decY)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	return t, nil
}
