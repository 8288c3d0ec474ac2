// Command gensample writes the README walkthrough scan
// shared/domain/topo/testdata/sample-od.csv: the handbook's reference cornea (R0
// 7.80 mm, p 0.75) on a 0.1 mm grid to 7 mm radius, with 1 micron noise,
// right eye. Run it with go generate in shared/topo.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
)

func main() {
	out := flag.String("o", "", "output file (default standard output)")
	flag.Parse()
	s := topotest.Sample().Surface()
	s.CapturedAt = topotest.SampleCapturedAt
	for i := range s.Z { // microns are plenty for a walkthrough file
		s.Z[i] = math.Round(s.Z[i]*1e6) / 1e6
	}
	var b bytes.Buffer
	b.WriteString(topotest.SampleNote + "\n")
	if err := topo.EncodeXYZ(&b, s); err != nil {
		fmt.Fprintln(os.Stderr, "gensample:", err)
		os.Exit(1)
	}
	if *out == "" {
		os.Stdout.Write(b.Bytes())
		return
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gensample:", err)
		os.Exit(1)
	}
}
