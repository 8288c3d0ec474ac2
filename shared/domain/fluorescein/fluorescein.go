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

	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/errs"
)

// CellPx is the side of one 0.1 mm grid cell in the picture.
const CellPx = 4

var (
	background = color.RGBA{12, 14, 20, 255}
	ink        = color.RGBA{225, 230, 235, 255}
	rim        = color.RGBA{90, 110, 140, 255}
)

// The picture is paletted (one byte a pixel, which PNG stores without
// filtering: a quarter of the work of an RGBA picture): the background,
// ink and rim, then greens levels of brightness.
const (
	iBackground, iInk, iRim = 0, 1, 2
	firstGreen              = 3
	greens                  = 256 - firstGreen
)

// palette is background, ink, rim and the greens from dark to bright.
var palette = func() color.Palette {
	p := color.Palette{background, ink, rim}
	for k := range greens {
		p = append(p, Green(float64(k)/(greens-1)))
	}
	return p
}()

// greenIndex is the palette index of the green nearest brightness v.
func greenIndex(v float64) uint8 {
	v = math.Max(0, math.Min(1, v))
	return uint8(firstGreen + int(math.Round(v*(greens-1))))
}

// Green is the colour of fluorescein at brightness v (0 dark to 1): the
// familiar yellow-green of the dye under cobalt-blue light, on the dark of
// a film too thin to show.
func Green(v float64) color.RGBA {
	v = math.Max(0, math.Min(1, v))
	return color.RGBA{uint8(20 + 130*v*v), uint8(22 + 233*v), uint8(18 + 40*v), 255}
}

// Image draws t with model m: the lens disc, its rim, and a scale of film
// thickness (0 to the model's saturation and beyond) on the right.
func Image(t *lens.TearLayer, m lens.FluoresceinModel) (*image.Paletted, error) {
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
	img := image.NewPaletted(image.Rect(0, 0, side+2*margin+scaleW+labelW+12, h), palette) // all background
	top := margin + 18
	for i := range n {
		for j := range n {
			th := t.ThicknessUM[i*n+j]
			if math.IsNaN(th) {
				continue
			}
			c := greenIndex(m.Intensity(th))
			// Image rows run down, the grid's y up.
			x0, y0 := margin+j*CellPx, top+(n-1-i)*CellPx
			for dy := range CellPx {
				for dx := range CellPx {
					px := c
					if t.Extrapolated[i*n+j] && (dx+dy)%4 == 0 {
						px = iRim // hatched: the cornea was extrapolated here
					}
					img.SetColorIndex(x0+dx, y0+dy, px)
				}
			}
		}
	}
	// The lens edge.
	cx, cy, r := float64(margin)+float64(side)/2, float64(top)+float64(side)/2, float64(side)/2
	for a := 0.0; a < 2*math.Pi; a += 0.5 / r {
		img.SetColorIndex(int(cx+r*math.Cos(a)), int(cy+r*math.Sin(a)), iRim)
	}
	label(img, margin, margin+10, fmt.Sprintf("tear film, %s", m.Version))
	// The scale: thickness from 0 (bottom) to 1.5 x saturation (top).
	sx, sh := margin+side+12, max(side, 220)-20
	maxUM := 1.5 * m.SaturationUM
	for y := range sh {
		th := maxUM * float64(sh-1-y) / float64(sh-1)
		fill(img, image.Rect(sx, top+y, sx+scaleW, top+y+1), greenIndex(m.Intensity(th)))
	}
	for _, th := range []float64{0, m.DarkBelowUM, m.SaturationUM, maxUM} {
		y := top + int(float64(sh-1)*(1-th/maxUM))
		fill(img, image.Rect(sx+scaleW, y, sx+scaleW+4, y+1), iInk)
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
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(w, img); err != nil {
		return errs.E("fluorescein.PNG", errs.Other, err)
	}
	return nil
}

func fill(img *image.Paletted, r image.Rectangle, c uint8) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetColorIndex(x, y, c)
		}
	}
}

// label writes s with its baseline at (x, y) in the 7x13 bitmap face, in
// ink wherever a glyph's mask is more than half covered (the face is a
// bitmap: its masks are 0 or full).
func label(img *image.Paletted, x, y int, s string) {
	face := basicfont.Face7x13
	dot := fixed.P(x, y)
	for _, r := range s {
		dr, mask, mp, adv, ok := face.Glyph(dot, r)
		if !ok {
			dr, mask, mp, adv, _ = face.Glyph(dot, '?')
		}
		for py := dr.Min.Y; py < dr.Max.Y; py++ {
			for px := dr.Min.X; px < dr.Max.X; px++ {
				if _, _, _, a := mask.At(mp.X+px-dr.Min.X, mp.Y+py-dr.Min.Y).RGBA(); a > 0x7fff && image.Pt(px, py).In(img.Rect) {
					img.SetColorIndex(px, py, iInk)
				}
			}
		}
		dot.X += adv
	}
}
