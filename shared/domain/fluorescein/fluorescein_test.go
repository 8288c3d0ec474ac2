package fluorescein_test

import (
	"image/color"
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/fluorescein"
	"github.com/lensflow/lensflow/shared/domain/lens"
)

// TestImageShowsBearingDarkAndPoolingGreen: a film thinner than the
// model's dark limit is drawn dark, a thick one bright green, a cell
// outside the lens as the background, and an extrapolated cell hatched.
func TestImageShowsBearingDarkAndPoolingGreen(t *testing.T) {
	// A 7 x 7 grid whose middle 3 x 3 cells hold film; (i, j) is row i
	// from y = -0.3 up, column j from x = -0.3 right.
	const n = 7
	tl := &lens.TearLayer{PitchMM: 0.1, AxisMM: []float64{-0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.3},
		ThicknessUM: make([]float64, n*n), Extrapolated: make([]bool, n*n)}
	for k := range tl.ThicknessUM {
		tl.ThicknessUM[k] = math.NaN()
	}
	set := func(i, j int, um float64, extrapolated bool) {
		tl.ThicknessUM[i*n+j], tl.Extrapolated[i*n+j] = um, extrapolated
	}
	set(3, 3, 120, false)
	set(3, 4, 5, false)
	set(4, 3, 60, true)
	img, err := fluorescein.Image(tl, lens.DefaultFluorescein())
	if err != nil {
		t.Fatal(err)
	}
	// The grid starts 12 px in and 30 px down; row i is drawn n-1-i cells
	// from the top.
	at := func(i, j, dx, dy int) color.RGBA {
		return color.RGBAModel.Convert(img.At(12+j*fluorescein.CellPx+dx, 30+(n-1-i)*fluorescein.CellPx+dy)).(color.RGBA)
	}
	centre, bearing, outside := at(3, 3, 1, 2), at(3, 4, 1, 2), at(0, 0, 1, 2)
	if !(centre.G > 200 && centre.G > centre.R && centre.G > centre.B) {
		t.Errorf("120 microns drawn %v, want bright green", centre)
	}
	if bearing.G > 40 {
		t.Errorf("5 microns drawn %v, want dark", bearing)
	}
	if outside != (color.RGBA{12, 14, 20, 255}) {
		t.Errorf("outside the lens drawn %v, want the background", outside)
	}
	if at(4, 3, 0, 0) == at(4, 3, 1, 0) {
		t.Error("an extrapolated cell is not hatched")
	}
	if _, err := fluorescein.Image(tl, lens.FluoresceinModel{}); err == nil {
		t.Error("a model without a version was accepted")
	}
	if _, err := fluorescein.Image(&lens.TearLayer{}, lens.DefaultFluorescein()); err == nil {
		t.Error("an empty tear layer was drawn")
	}
}
