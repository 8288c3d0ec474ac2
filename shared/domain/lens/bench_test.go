package lens_test

import (
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
)

// BenchmarkDesignAll designs all three lens types for the reference eye.
func BenchmarkDesignAll(b *testing.B) {
	eye := lenstest.Reference()
	set := lens.DefaultNomograms()
	in := lens.Clinical{RefractionD: -3, HVIDMM: 11.8}
	b.ReportAllocs()
	for b.Loop() {
		for _, t := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
			if _, err := lens.New(t, eye, in, set); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkDesign(b *testing.B) {
	set := lens.DefaultNomograms()
	in := lens.Clinical{RefractionD: -3, HVIDMM: 11.8}
	for _, t := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
		b.Run(string(t), func(b *testing.B) {
			eye := lenstest.Toric()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := lens.New(t, eye, in, set); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSampleBack samples a toric scleral back surface as a lathe file
// does: about 3,100 points on each of two meridians.
func BenchmarkSampleBack(b *testing.B) {
	d, err := lens.DesignScleral(lenstest.Toric(), lens.Clinical{HVIDMM: 11.8}, lens.DefaultScleralNomogram())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range []float64{180, 90} {
			f := d.BackSurface.Func(m)
			for i := range 3100 {
				_ = f(8.75 * float64(i) / 3099)
			}
		}
	}
}

// BenchmarkDesignBitoric designs a bitoric RGP: 3.00 D of corneal
// cylinder and a matching refraction.
func BenchmarkDesignBitoric(b *testing.B) {
	eye := astigEye(3, 180)
	in := lens.Clinical{RefractionD: -2, CylinderD: -3.25, AxisDeg: 180, HVIDMM: 11.8}
	n := lens.DefaultRGPNomogram()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lens.DesignRGP(eye, in, n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRefraction reads a refraction as a clinic types it.
func BenchmarkParseRefraction(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lens.ParseRefraction("-3.00 / +1.25 x 90"); err != nil {
			b.Fatal(err)
		}
	}
}
