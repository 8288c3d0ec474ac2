package topo_test

import (
	"fmt"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
)

func ExampleParse() {
	// A vendor-neutral export: metadata, a header, then x,y,z rows in mm.
	data := topotest.Reference().CSV("# patient: Jane Roe", "# chart: C-991")

	s, id, err := topo.Parse(data, topo.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Format, s.Eye, s.Len(), "points")
	fmt.Println(id) // identifiers are kept apart, for encryption, and print redacted

	// An error names the line and never quotes the file.
	_, _, err = topo.Parse([]byte("x,y,z\n0,0,0\n0.1,0.2\n"), topo.Options{})
	fmt.Println(err)
	// Output:
	// xyz-csv OD 15365 points
	// topo.Identifiers{2 fields redacted}
	// topo.xyzcsv: line 3: expected 3 values, got 2
}

func ExampleParse_csoRaw() {
	// A CSO Placido raw export as the device writes it: an Italian header,
	// CRLF, decimal commas, one value per line, elevations negative below
	// the apex. The eye comes from the upload: "Occhio : True" is not read.
	data := topotest.Reference().CSORawFile(topotest.HeaderLines("Paziente : Rossi Mario"))
	s, id, err := topo.Parse(data, topo.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %d points, eye %q\n", s.Format, s.Len(), s.Eye)
	for _, l := range s.Layout {
		fmt.Println("-", l)
	}
	k := s.Measurements.SimK
	fmt.Printf("device Sim-K %.2f D @ %g, %.2f D @ %g\n", k.FlatKD, k.FlatAxisDeg, k.SteepKD, k.SteepAxisDeg)
	fmt.Println(id)
	// Output:
	// cso-raw 6144 points, eye ""
	// - CRLF line ends
	// - Italian header keys
	// - one value per line
	// - decimal comma
	// - ring radii then elevations
	// - True/False eye flag not read
	// - elevations negative below the apex, read as depth
	// device Sim-K 43.07 D @ 180, 43.07 D @ 90
	// topo.Identifiers{3 fields redacted}
}
