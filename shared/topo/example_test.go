package topo_test

import (
	"fmt"

	"github.com/lensflow/lensflow/shared/topo"
	"github.com/lensflow/lensflow/shared/topo/topotest"
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
