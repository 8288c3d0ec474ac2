package lathe_test

import (
	"io"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lathe"
)

// scleralSurface is a two-meridian scleral back surface of 3,126 points
// per meridian (the density of a real scleral file).
func scleralSurface(b *testing.B) lathe.Surface {
	sag := toricSag(8.2, 8.0, -0.2, 0)
	ms, err := lathe.Sampler{MaxStepMM: 0.0028}.Meridians(sag, 2, 0, 8.75)
	if err != nil {
		b.Fatal(err)
	}
	return lathe.Surface{
		Side: lathe.Back, Meridians: ms,
		BaseCurveHMM: 8.2, BaseCurveVMM: 8.0, OpticZoneMM: 8, DiameterMM: 17.5, Parts: 1,
		SagMM: ms[0].Points[0].ZMM,
	}
}

func BenchmarkWriteScleral(b *testing.B) {
	s := scleralSurface(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := lathe.Write(io.Discard, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseScleral(b *testing.B) {
	data, err := lathe.Marshal(scleralSurface(b))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lathe.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSampleOrthoK(b *testing.B) {
	rg, breaks := reverseGeometry()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lathe.SampleWithBreaks(rg, 5.2, 0.1, breaks); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSampleScleralMeridians(b *testing.B) {
	sag := toricSag(8.2, 8.0, -0.2, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (lathe.Sampler{MaxStepMM: 0.0028}).Meridians(sag, 2, 0, 8.75); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyScleral(b *testing.B) {
	s := scleralSurface(b)
	sag := toricSag(8.2, 8.0, -0.2, 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := lathe.Verify(s, sag, 0.1); err != nil {
			b.Fatal(err)
		}
	}
}
