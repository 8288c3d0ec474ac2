// Command genvendor writes the vendor-format sample scans in
// shared/domain/topo/testdata, for the README walkthrough and the lens calculator:
// the handbook's reference cornea (R0 7.80 mm, p 0.75) with 1 micron of
// noise, right eye, as
//
//   - sample-cso-od.csv: a CSO polar export (31 rings x 256 meridians,
//     semicolons, header block, heights in mm to 10 nm);
//   - sample-pentacam-od.csv: a Pentacam-style 141 x 141 grid (semicolons,
//     header block, elevation in microns above a 7.9 mm best-fit sphere,
//     to 10 nm);
//   - sample-cso-raw-od.txt: a CSO raw export as the device writes it
//     (Italian header without a patient, CRLF, decimal commas, 24 rings x
//     256 semi-meridians of radii then elevations, to 0.1 micron).
//
// Run it with go generate in shared/topo.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
)

func main() {
	dir := flag.String("dir", "testdata", "output directory")
	flag.Parse()
	c := topotest.Sample()
	note := topotest.HeaderLines(topotest.SampleNote, "Exam date;"+topotest.SampleCapturedAt.Format("2006-01-02 15:04"))
	files := map[string][]byte{
		"sample-cso-od.csv":      c.CSOFile(topotest.Semicolons(), topotest.Decimals(5), note),
		"sample-pentacam-od.csv": c.PentacamFile(topotest.Semicolons(), topotest.BFS(7.9), topotest.Microns(), topotest.Decimals(2), note),
		"sample-cso-raw-od.txt":  c.CSORawFile(topotest.Decimals(4), topotest.HeaderLines(topotest.SampleNote)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(*dir, name), data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "genvendor:", err)
			os.Exit(1)
		}
	}
}
