package screening_test

import (
	"testing"

	"github.com/lensflow/lensflow/shared/domain/screening"
	"github.com/lensflow/lensflow/shared/domain/screening/screeningtest"
)

// BenchmarkScreen screens analytic corneas (120 exact axial powers each):
// the cost of the screening itself, without a fitted model's map.
func BenchmarkScreen(b *testing.B) {
	for _, tt := range []struct {
		name string
		c    screeningtest.Cornea
	}{{"toric", screeningtest.Toric()}, {"cone60", screeningtest.InferiorCone(60)}} {
		b.Run(tt.name, func(b *testing.B) {
			in := tt.c.Inputs()
			table := screening.DefaultTable()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := screening.Screen(in, table); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScreenFitted screens with a fitted model's inputs (45 Zernike
// terms to rank), the map still analytic.
func BenchmarkScreenFitted(b *testing.B) {
	in := fitted(b, screeningtest.InferiorCone(60))
	table := screening.DefaultTable()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := screening.Screen(in, table); err != nil {
			b.Fatal(err)
		}
	}
}
