// Package fluorescein draws a tear-layer map (lens.TearLayer) as the
// fluorescein pattern a practitioner sees at the slit lamp: the lens on a
// dark background, black where it bears on the cornea, green where tears
// pool, brighter as the film thickens, by a versioned lens.FluoresceinModel.
// A scale beside the lens gives the film thickness each green stands for,
// and cells where the cornea under the lens was extrapolated rather than
// measured are hatched.
package fluorescein

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/lens"
)

// CellPx is the side of one 0.1 mm grid cell in the picture.
const CellPx = 4

var (
	background = color.RGBA{12, 14, 20, 255}
	ink        = color.RGBA{225, 230, 235, 255}
	rim        = color.RGBA{90, 110, 140, 255}
)

// Green is the colour of fluorescein at brightness v (0 dark to 1): the
// familiar yellow-green of the dye under cobalt-blue light, on the dark of
// a film too thin to show.
func Green(v float64) color.RGBA {
	v = math.Max(0, math.Min(1, v))
	return color.RGBA{uint8(20 + 130*v*v), uint8(22 + 233*v), uint8(18 + 40*v), 255}
}

// Image draws t with model m: the lens disc, its rim, and a scale of film
// thickness (0 to the model's saturation and beyond) on the right.
func Image(t *lens.TearLayer, m lens.FluoresceinModel) (*image.RGBA, error) {
	const op = "fluorescein.Image"
	if err := m.Validate(); err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	n := len(t.AxisMM)
	if n == 0 || len(t.ThicknessUM) != n*n {
		return nil, errs.Ef(op, errs.Invalid, "the tear layer has no grid")
	}
	const margin, scaleW, labelW = 12, 18, 70
	side := n * CellPx
	h := max(side, 220) + 2*margin + 30
	img := image.NewRGBA(image.Rect(0, 0, side+2*margin+scaleW+labelW+12, h))
	fill(img, img.Bounds(), background)
	top := margin + 18
	for i := range n {
		for j := range n {
			th := t.ThicknessUM[i*n+j]
			if math.IsNaN(th) {
				continue
			}
			c := Green(m.Intensity(th))
			// Image rows run down, the grid's y up.
			x0, y0 := margin+j*CellPx, top+(n-1-i)*CellPx
			for dy := range CellPx {
				for dx := range CellPx {
					px := c
					if t.Extrapolated[i*n+j] && (dx+dy)%4 == 0 {
						px = rim // hatched: the cornea was extrapolated here
					}
					img.SetRGBA(x0+dx, y0+dy, px)
				}
			}
		}
	}
	// The lens edge.
	cx, cy, r := float64(margin)+float64(side)/2, float64(top)+float64(side)/2, float64(side)/2
	for a := 0.0; a < 2*math.Pi; a += 0.5 / r {
		img.SetRGBA(int(cx+r*math.Cos(a)), int(cy+r*math.Sin(a)), rim)
	}
	label(img, margin, margin+10, fmt.Sprintf("tear film, %s", m.Version))
	// The scale: thickness from 0 (bottom) to 1.5 x saturation (top).
	sx, sh := margin+side+12, max(side, 220)-20
	maxUM := 1.5 * m.SaturationUM
	for y := range sh {
		th := maxUM * float64(sh-1-y) / float64(sh-1)
		fill(img, image.Rect(sx, top+y, sx+scaleW, top+y+1), Green(m.Intensity(th)))
	}
	for _, th := range []float64{0, m.DarkBelowUM, m.SaturationUM, maxUM} {
		y := top + int(float64(sh-1)*(1-th/maxUM))
		fill(img, image.Rect(sx+scaleW, y, sx+scaleW+4, y+1), ink)
		label(img, sx+scaleW+6, y+4, fmt.Sprintf("%.0f um", th))
	}
	label(img, margin, top+side+18, fmt.Sprintf("min %.0f um, max %.0f um; hatched: cornea extrapolated", t.MinUM, t.MaxUM))
	return img, nil
}

// PNG writes Image(t, m) to w as a PNG.
func PNG(w io.Writer, t *lens.TearLayer, m lens.FluoresceinModel) error {
	img, err := Image(t, m)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return errs.E("fluorescein.PNG", errs.Other, err)
	}
	return nil
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// label writes s with its baseline at (x, y) in the 7x13 bitmap face.
func label(img *image.RGBA, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(ink), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
