package lathe_test

import (
	"bytes"
	"fmt"
	"math"
	"os"

	"github.com/lensflow/lensflow/shared/domain/lathe"
)

// bozr854 is the sag of a spherical back optic zone of radius 8.54 mm.
func bozr854(r float64) float64 { return r * r / (8.54 + math.Sqrt(8.54*8.54-r*r)) }

func ExampleWrite() {
	// A tiny back surface of three points, to show the layout; real files
	// come from Sample and have about a thousand points per meridian.
	s := lathe.Surface{
		Side: lathe.Back,
		Meridians: []lathe.Meridian{{AngleDeg: 0, Points: []lathe.Point{
			{XMM: 1, ZMM: bozr854(1)}, {XMM: 0.5, ZMM: bozr854(0.5)}, {XMM: 0, ZMM: 0},
		}}},
		BaseCurveHMM: 8.54, BaseCurveVMM: 8.54, OpticZoneMM: 2, DiameterMM: 2,
		Parts: 1, SagMM: bozr854(1),
	}
	fmt.Println(lathe.FileName("job-000042", s.Side))
	if err := lathe.Write(os.Stdout, s); err != nil {
		fmt.Println(err)
	}
	// Output:
	// job-000042.V5B
	// BR                  \ side: BR back surface, FR front surface
	// 0                   \ rotational symmetry: 0 symmetric, 1 not
	// 1                   \ number of continuous surfaces
	// 8.54                \ base curve radius, horizontal meridian (mm, information only)
	// 8.54                \ base curve radius, vertical meridian (mm, information only)
	// 2.0                 \ base curve optic zone diameter (mm)
	// 2.0                 \ lens diameter (mm)
	// 1                   \ number of parts to cut
	// 0.0587500921        \ sag without edge radius (mm, information only)
	// \-- SURFACE DEFINITION #1 --
	// 0                   \ rotational symmetry: 0 symmetric, 1 not
	// 1.0                 \ x start: distance from centre (mm)
	// 0.0                 \ x end (mm)
	// 0.0                 \ junction blend radius (mm)
	// 0                   \ angular filtering (MAF iterations)
	// 1                   \ number of meridians
	// 0.0                 \ rotation angle of the first meridian (deg)
	// \ --- radial definition ---
	// 3                   \ number of points, meridian 1 at 0.0 deg
	// 1.0000000000 ; 0.0587500921
	// 0.5000000000 ; 0.0146495673
	// 0.0000000000 ; 0.0000000000
}

func ExampleSample() {
	// An ortho-k-like back surface: optic zone BOZR 8.54 mm to 3 mm, then a
	// straight landing zone at 30 degrees: a slope change at r = 3.
	slope := math.Tan(30 * math.Pi / 180)
	profile := func(r float64) float64 {
		if r <= 3 {
			return bozr854(r)
		}
		return bozr854(3) + slope*(r-3)
	}
	pts, err := lathe.SampleWithBreaks(profile, 5.2, lathe.DefaultTolUM, []float64{3})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d points from %.1f mm (sag %.4f mm) to %.1f mm\n", len(pts), pts[0].XMM, pts[0].ZMM, pts[len(pts)-1].XMM)
	// Output:
	// 1041 points from 5.2 mm (sag 1.8144 mm) to 0.0 mm
}

func ExampleParse() {
	design := func(_, r float64) float64 { return bozr854(r) }
	ms, err := lathe.Sampler{}.Meridians(design, 1, 0, 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	var file bytes.Buffer
	err = lathe.Write(&file, lathe.Surface{
		Side: lathe.Front, Meridians: ms, CenterThicknessMM: 0.18,
		BaseCurveHMM: 8.54, BaseCurveVMM: 8.54, OpticZoneMM: 8, DiameterMM: 10, Parts: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The lab side reads the file back and checks it against the design.
	s, err := lathe.Parse(file.Bytes())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s surface, %d meridian, CT %.2f mm, %d points\n", s.Side, len(s.Meridians), s.CenterThicknessMM, len(s.Meridians[0].Points))
	fmt.Println("matches the design to 0.1 µm:", lathe.Verify(s, design, 0.1) == nil)
	// Output:
	// front surface, 1 meridian, CT 0.18 mm, 1001 points
	// matches the design to 0.1 µm: true
}

func ExampleVerify() {
	design := func(_, r float64) float64 { return bozr854(r) }
	// Every 0.25 mm is far too coarse for a lathe.
	var pts []lathe.Point
	for x := 4.0; x > 0; x -= 0.25 {
		pts = append(pts, lathe.Point{XMM: x, ZMM: bozr854(x)})
	}
	pts = append(pts, lathe.Point{})
	s := lathe.Surface{Side: lathe.Back, Meridians: []lathe.Meridian{{Points: pts}}, DiameterMM: 8, Parts: 1}
	fmt.Println(lathe.Verify(s, design, 0.1))
	// Output:
	// lathe.Verify: meridians[0]: at 0 deg the profile is off the design by 1.293 µm at r = 3.875000 mm (tolerance 0.1 µm)
}
