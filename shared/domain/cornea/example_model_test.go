package cornea_test

import (
	"fmt"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
)

func ExampleFit() {
	// A with-the-rule toric cornea, K 7.80 / 7.60 mm, e 0.5 on both
	// meridians, scanned to 7 mm with 2 microns of noise; in production the
	// surface comes from topo.Parse.
	scan := topotest.Reference()
	scan.R0YMM, scan.NoiseUM = 7.6, 2
	m, err := cornea.Fit(scan.Surface(), cornea.ModelOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	flat, steep := m.FlatK(), m.SteepK()
	fmt.Printf("Sim-K %.2f / %.2f mm = %.2f / %.2f D, flat axis %.0f, fitted over %g mm\n",
		flat.RadiusMM, steep.RadiusMM, flat.Dioptres, steep.Dioptres, m.FlatAxisDeg(), m.ZoneDiameterMM)
	ak := m.ApicalK
	fmt.Printf("apical K %.2f / %.2f mm = %.2f / %.2f D\n", ak.Flat.RadiusMM, ak.Steep.RadiusMM, ak.Flat.Dioptres, ak.Steep.Dioptres)
	fmt.Printf("p %.2f / %.2f, residual %.1f microns RMS\n", m.Flat.P, m.Steep.P, m.ResidualRMSUM)
	for _, chord := range []float64{8, 10, 12} {
		sag, src, _ := m.SagMM(m.SteepAxisDeg(), chord)
		fmt.Printf("steep meridian sag at %g mm: %.3f mm (%s)\n", chord, sag, src)
	}
	scleral := m.WithExtrapolation(cornea.ExtrapolateTangentLine)
	sag, src, _ := scleral.SagMM(m.FlatAxisDeg(), 15)
	fmt.Printf("flat meridian sag at 15 mm: %.3f mm (%s)\n", sag, src)
	angle, _ := m.TangentAngleDeg(m.FlatAxisDeg(), 4)
	fmt.Printf("tangent angle at the 8 mm chord: %.1f degrees\n", angle)
	fmt.Printf("Zernike order %d over %g mm: defocus Z4 %.0f microns, astigmatism Z5 %.1f microns\n",
		m.Zernike.Order, m.Zernike.ZoneDiameterMM, m.Zernike.Coefficient(2, 0), m.Zernike.Coefficient(2, 2))
	// Output:
	// Sim-K 7.84 / 7.63 mm = 43.03 / 44.21 D, flat axis 178, fitted over 10 mm
	// apical K 7.80 / 7.60 mm = 43.27 / 44.41 D
	// p 0.75 / 0.75, residual 2.0 microns RMS
	// steep meridian sag at 8 mm: 1.114 mm (measured)
	// steep meridian sag at 10 mm: 1.806 mm (measured)
	// steep meridian sag at 12 mm: 2.739 mm (measured)
	// flat meridian sag at 15 mm: 3.677 mm (extrapolated: the tangent line from the 10 mm chord)
	// tangent angle at the 8 mm chord: 29.8 degrees
	// Zernike order 8 over 8 mm: defocus Z4 317 microns, astigmatism Z5 -6.2 microns
}
