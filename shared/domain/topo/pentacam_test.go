package topo_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
)

func TestPentacamConformance(t *testing.T) {
	c := topotest.Reference()
	c.NoiseUM = 1
	f, ok := topo.Lookup(topo.FormatPentacam)
	if !ok {
		t.Fatal("pentacam is not registered")
	}
	ids := topotest.HeaderLines("Last Name:;Roe", "First Name:;Jane", "Patient ID:;C-991", "Serial number;SN-4242")
	topotest.TestFormat(t, f, c.PentacamFile(topotest.Semicolons(), ids), "Jane", "Roe", "C-991", "SN-4242")
	t.Run("BFS microns with labels", func(t *testing.T) {
		topotest.TestFormat(t, f, c.PentacamFile(topotest.BFS(7.9), topotest.Microns(), topotest.Labels(), ids), "Jane", "Roe", "C-991", "SN-4242")
	})
}

func TestPentacamRecovers(t *testing.T) {
	ref := topotest.Reference()
	os := ref
	os.Eye = topo.OS
	decentred := ref
	decentred.ApexXMM, decentred.ApexYMM, decentred.ApexZMM = 0.3, -0.2, 0.01
	steep := noisy(ref, 3, 5)
	steep.R0MM, steep.P = 7.2, 0.6
	apexMM := topo.Options{GridUnits: topo.GridUnitsMM, GridReference: topo.GridReferenceApex}
	bfsUM := topo.Options{GridUnits: topo.GridUnitsUM, GridReference: topo.GridReferenceBFS, GridBFSRadiusMM: 7.9}
	exact := func(r recovery) recovery { r.exactZ, r.tolR0, r.tolP = true, 1e-6, 1e-5; return r }
	tests := []recovery{
		exact(recovery{name: "apex mm", c: ref, data: ref.PentacamFile()}),
		exact(recovery{name: "apex microns", c: ref, data: ref.PentacamFile(topotest.Microns())}),
		exact(recovery{name: "BFS mm: elevation comes back to the true sag", c: ref, data: ref.PentacamFile(topotest.BFS(7.9))}),
		exact(recovery{name: "BFS microns, labels", c: ref, data: ref.PentacamFile(topotest.BFS(8.2), topotest.Microns(), topotest.Labels())}),
		exact(recovery{name: "BFS microns, y ascending, decimal commas", c: ref, data: ref.PentacamFile(topotest.BFS(7.7), topotest.Microns(), topotest.AscendingY(), topotest.DecimalComma())}),
		exact(recovery{name: "semicolons, CRLF, -1 markers", c: ref, data: ref.PentacamFile(topotest.Semicolons(), topotest.CRLF(), topotest.Missing("-1"))}),
		exact(recovery{name: "no header, units and reference from options", c: noEye(ref), data: ref.PentacamFile(topotest.NoHeader()), opts: apexMM}),
		exact(recovery{name: "no header, BFS microns from options", c: noEye(ref), data: ref.PentacamFile(topotest.NoHeader(), topotest.Microns(), topotest.BFS(7.9)), opts: bfsUM}),
		exact(recovery{name: "header and options agree", c: ref, data: ref.PentacamFile(), opts: apexMM}),
		exact(recovery{name: "OS", c: os, data: os.PentacamFile(topotest.BFS(7.9), topotest.Microns())}),
		exact(recovery{name: "lid", c: withLid(ref, 2.5), data: withLid(ref, 2.5).PentacamFile(topotest.Labels())}),
		exact(recovery{name: "decentred apex", c: decentred, data: decentred.PentacamFile(topotest.BFS(7.9)), fit: cornea.ConicOptions{FitDecentration: true}}),
		exact(recovery{name: "decentred apex, y ascending", c: decentred, data: decentred.PentacamFile(topotest.AscendingY()), fit: cornea.ConicOptions{FitDecentration: true}}),
		{name: "1 um noise", c: noisy(ref, 1, 1), data: noisy(ref, 1, 1).PentacamFile(topotest.BFS(7.9), topotest.Microns())},
		{name: "2 um noise, OS", c: noisy(os, 2, 2), data: noisy(os, 2, 2).PentacamFile(topotest.Semicolons())},
		{name: "3 um noise, steep", c: steep, data: steep.PentacamFile(topotest.BFS(7.3), topotest.Microns())},
		{name: "2 um noise, lid at 3.5 mm", c: withLid(noisy(ref, 2, 3), 3.5), data: withLid(noisy(ref, 2, 3), 3.5).PentacamFile(topotest.Missing("-1"))},
		{name: "1 um noise, lid at 2 mm", c: withLid(noisy(ref, 1, 4), 2), data: withLid(noisy(ref, 1, 4), 2).PentacamFile(topotest.BFS(7.9))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkRecovery(t, topo.FormatPentacam, tc) })
	}
}

func TestPentacamSameAsSurface(t *testing.T) {
	// A grid file holds exactly Surface's points, noise included.
	c := topotest.Reference()
	c.NoiseUM = 2
	want := c.Surface()
	at := make(map[[2]float64]float64, want.Len())
	for i := range want.X {
		at[[2]float64{want.X[i], want.Y[i]}] = want.Z[i]
	}
	s, _, err := topo.Parse(c.PentacamFile(topotest.BFS(7.9), topotest.Microns()), topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != want.Len() {
		t.Fatalf("%d points, want %d", s.Len(), want.Len())
	}
	for i := range s.X {
		z, ok := at[[2]float64{s.X[i], s.Y[i]}]
		if !ok || abs(z-s.Z[i]) > 2e-9 {
			t.Fatalf("point (%g, %g): z %.10f, surface %.10f (found %v)", s.X[i], s.Y[i], s.Z[i], z, ok)
		}
	}
}

func TestPentacamErrors(t *testing.T) {
	ref := topotest.Reference()
	plain := ref.PentacamFile(topotest.HeaderLines("Patient: Jane Roe")) // header lines 1-5, grid rows on lines 6-146
	bare := ref.PentacamFile(topotest.NoHeader())                        // grid row k on line k
	apexMM := topo.Options{GridUnits: topo.GridUnitsMM, GridReference: topo.GridReferenceApex}
	cells := func(data []byte, k int) []string { return strings.Split(strings.Split(string(data), "\n")[k-1], ",") }
	setCell := func(data []byte, k, col int, v string) string {
		c := cells(data, k)
		c[col-1] = v
		return replaceLine(data, k, strings.Join(c, ","))
	}
	lines := strings.Split(string(plain), "\n")
	tests := []errCase{
		{name: "no units nor reference", data: string(bare), field: "gridUnits",
			msg: `the file does not state its height units (set gridUnits to "mm" or "um"), nor what its heights are measured from (set gridReference to "apex" or "bfs"`},
		{name: "no units", data: string(ref.PentacamFile(topotest.OmitUnits())), field: "gridUnits", msg: "does not state its height units (set gridUnits"},
		{name: "no reference", data: string(ref.PentacamFile(topotest.OmitReference())), field: "gridReference", msg: `does not state what its heights are measured from (set gridReference to "apex" or "bfs"`},
		{name: "no reference, units from options", data: string(bare), opts: topo.Options{GridUnits: "mm"}, field: "gridReference", msg: "does not state what its heights are measured from"},
		{name: "BFS without a radius", data: string(ref.PentacamFile(topotest.BFS(7.9), topotest.OmitReference(), topotest.HeaderLines("Reference: best fit sphere"))),
			field: "gridBfs", msg: "does not state the radius of its best-fit sphere (set gridBfs, in mm)"},
		{name: "units contradict options", data: string(plain), opts: topo.Options{GridUnits: "um"}, field: "line 4", msg: "the file says units mm but gridUnits says um"},
		{name: "reference contradicts options", data: string(plain), opts: topo.Options{GridReference: "bfs", GridBFSRadiusMM: 7.8}, field: "line 5", msg: "the file says reference apex but gridReference says bfs"},
		{name: "radius contradicts options", data: string(ref.PentacamFile(topotest.BFS(7.9))), opts: topo.Options{GridBFSRadiusMM: 8}, field: "line 5", msg: "best-fit sphere of 7.9 mm but gridBfs says 8 mm"},
		{name: "bad units option", data: string(bare), opts: topo.Options{GridUnits: "inch", GridReference: "apex"}, field: "gridUnits", msg: `must be "mm" or "um"`},
		{name: "bad reference option", data: string(bare), opts: topo.Options{GridUnits: "mm", GridReference: "flat"}, field: "gridReference", msg: `must be "apex" or "bfs"`},
		{name: "bad units", data: "Units: inches\n" + string(bare), field: "line 1", msg: "units must be mm or um"},
		{name: "bad reference", data: "Reference: moon\n" + string(bare), field: "line 1", msg: "reference must be apex or bfs"},
		{name: "BFS radius out of range", data: "Units: mm\nReference: BFS\nBFS radius: 70\n" + string(bare), field: "line 3", msg: "radius must be from 5 to 20 mm"},
		{name: "BFS radius option out of range", data: string(bare), opts: topo.Options{GridUnits: "mm", GridReference: "bfs", GridBFSRadiusMM: -3}, field: "gridBfs", msg: "radius must be from 5 to 20 mm"},
		{name: "points beyond the sphere", data: "Units: mm\nReference: BFS 6 mm\n" + string(bare), field: "line 3", msg: "column 71 lies beyond the best-fit sphere (radius 6 mm)"},
		{name: "row of 140", data: replaceLine(plain, 70, strings.Join(cells(plain, 70)[:140], ",")), field: "line 70", msg: "expected 141 values, got 140"},
		{name: "row of 143", data: replaceLine(plain, 70, lines[69]+",1,2"), field: "line 70", msg: "expected 141 values, got 143"},
		{name: "NaN", data: setCell(plain, 76, 71, "NaN"), field: "line 76", msg: "column 71 is not a finite number"},
		{name: "Inf", data: setCell(plain, 76, 70, "Inf"), field: "line 76", msg: "column 70 is not a finite number"},
		{name: "text", data: setCell(plain, 77, 70, "n/a"), field: "line 77", msg: "column 70 is not a number"},
		{name: "height out of range", data: setCell(plain, 77, 70, "6.5"), field: "line 77", msg: "column 70: height is outside +-6 mm"},
		{name: "too few rows", data: strings.Join(lines[:100], "\n"), field: "line 100", msg: "the grid ends after 95 rows; expected 141"},
		{name: "too many rows", data: string(plain) + string(bare), field: "line 147", msg: "more than 141 grid rows"},
		{name: "huge grid claimed", data: "Rows: 1000000000\n" + string(plain), field: "line 1", msg: "only the 141 x 141 grid is supported"},
		{name: "1 GB claimed", data: "Size;141 x 1073741824\n" + string(plain), field: "line 1", msg: "only the 141 x 141 grid is supported"},
		{name: "other step", data: "Step: 0.2 mm\n" + string(plain), field: "line 1", msg: "only a 0.1 mm grid step is supported"},
		{name: "bad y label", data: replaceLine(ref.PentacamFile(topotest.NoHeader(), topotest.Labels()), 12, "5.9"+lines[10][strings.IndexByte(lines[10], ','):]+","),
			opts: apexMM, field: "line 12", msg: "row label says y = 5.9 mm; expected 6 mm"},
		{name: "every cell empty", data: strings.Repeat(strings.Repeat(",", 140)+"\n", 141), opts: apexMM, msg: "no points: every cell is empty"},
		{name: "more than MaxPoints", data: string(plain), opts: topo.Options{MaxPoints: 10000}, kind: errs.TooLarge, msg: "more than 10000 points"},
		{name: "NUL bytes", data: "Units: mm\x00\n" + string(bare), as: true, msg: "not a text file"},
		{name: "reference after the grid started", data: string(plain) + "Reference: BFS\n", field: "line 147", msg: "reference must be given before the grid"},
		{name: "endless header", data: strings.Repeat("Key: v\n", 1001) + string(plain), field: "line 1001", msg: "more than 1000 header lines"},
		{name: "no grid", data: "Device: Pentacam\nUnits: mm\n", msg: "no grid rows"},
	}
	checkErrors(t, topo.FormatPentacam, tests, "Jane", "Roe")
}

func TestPentacamTrailingMetadata(t *testing.T) {
	// Metadata after the grid is read like the header's.
	data := string(topotest.Reference().PentacamFile()) + "Operator: A. B.\nEye: right\n"
	s, id, err := topo.Parse([]byte(data), topo.Options{})
	if err != nil || s.Len() != 15365 || id.Other["operator"] != "A. B." {
		t.Errorf("Parse: %v, %d points, %v", err, s.Len(), id.Other)
	}
}

func TestPentacamDetect(t *testing.T) {
	f, _ := topo.Lookup(topo.FormatPentacam)
	ref := topotest.Reference()
	tests := []struct {
		name string
		head []byte
		want int
	}{
		{"header", ref.PentacamFile(), topo.Likely},
		{"bare grid", ref.PentacamFile(topotest.NoHeader()), topo.Likely},
		{"labels", ref.PentacamFile(topotest.NoHeader(), topotest.Labels(), topotest.Semicolons()), topo.Likely},
		{"device keyword", []byte("Device: Oculus Pentacam HR\n"), topo.Likely},
		{"rows of another length", []byte(strings.Repeat("0.1,", 119) + "0.1\n"), topo.Weak},
		{"cso", ref.CSOFile(topotest.NoHeader()), topo.NoMatch},
		{"xyz", ref.CSV(), topo.NoMatch},
		{"binary", []byte("\x00\x01\x02"), topo.NoMatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.Detect(tc.head[:min(len(tc.head), topo.DetectBytes)]); got != tc.want {
				t.Errorf("Detect = %d, want %d", got, tc.want)
			}
		})
	}
	// The lab's own format and text that is none of them are still told apart.
	for _, data := range []string{"x,y,w\n1,2,3\n", "hello world\n", "a;b;c\n1;2;3\n"} {
		_, _, err := topo.Parse([]byte(data), topo.Options{})
		if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "no parser accepts this file. xyz-csv: line 1: ") || !strings.Contains(err.Error(), "; pentacam: ") {
			t.Errorf("Parse(%q) = %v", data, err)
		}
	}
}

func ExampleParse_pentacam() {
	// A grid export whose header says its heights are microns above a
	// best-fit sphere of 7.9 mm: they come back as depth below the apex
	// plane in mm.
	data := topotest.Reference().PentacamFile(topotest.BFS(7.9), topotest.Microns(), topotest.Semicolons())
	s, _, err := topo.Parse(data, topo.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Format, s.Eye, s.Len(), "points")

	// A bare grid does not say: the caller must.
	bare := topotest.Reference().PentacamFile(topotest.NoHeader())
	_, _, err = topo.Parse(bare, topo.Options{})
	fmt.Println(errs.FieldOf(err))
	s, _, err = topo.Parse(bare, topo.Options{GridUnits: topo.GridUnitsMM, GridReference: topo.GridReferenceApex})
	fmt.Println(s.Len(), err)
	// Output:
	// pentacam OD 15365 points
	// gridUnits
	// 15365 <nil>
}

func ExampleParse_cso() {
	data := topotest.Reference().CSOFile(topotest.Semicolons(), topotest.HeaderLines("Patient;Jane Roe"))
	s, id, err := topo.Parse(data, topo.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Format, s.Eye, s.Len(), "points")
	fmt.Println(id)

	// Errors name the line.
	bad := bytes.Replace(data, []byte(";0.00"), []byte(""), 1)
	_, _, err = topo.Parse(bad, topo.Options{})
	fmt.Println(err)
	// Output:
	// cso OD 7681 points
	// topo.Identifiers{1 fields redacted}
	// topo.cso: line 7: expected 256 values, got 255
}

func BenchmarkParsePentacam(b *testing.B) {
	c := topotest.Reference()
	c.NoiseUM = 2
	for _, v := range []struct {
		name string
		opts []topotest.FileOption
	}{
		{"apex-mm", nil},
		{"bfs-um", []topotest.FileOption{topotest.BFS(7.9), topotest.Microns()}},
	} {
		b.Run(v.name, func(b *testing.B) {
			data := c.PentacamFile(v.opts...)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				_, _, errSink = topo.Parse(data, topo.Options{})
				if errSink != nil {
					b.Fatal(errSink)
				}
			}
		})
	}
}

func FuzzParsePentacam(f *testing.F) {
	// A tiny grid is never valid (141 x 141 is fixed), so small seeds
	// exercise the error paths and the header; the full samples the rest.
	f.Add([]byte("Units;um\nReference;BFS 7.8 mm\n;;;1,5;-1;\n"))
	f.Add([]byte("Units: mm\nReference: apex\nRows: 1e400\nSize: 141 x 141\nStep: 0.1\n"))
	f.Add([]byte("Eye: left\nPatient: X\nUnits: µm\nReference: sphere\nBFS radius: 7.9\n1,NaN,Inf,0x1p-2,,-1\n"))
	f.Add([]byte("\x00\x01binary\xff"))
	ref := topotest.Reference()
	f.Add(ref.PentacamFile(topotest.HeaderLines("Name: Jane Roe")))
	f.Add(withLid(ref, 1).PentacamFile(topotest.BFS(7.9), topotest.Microns(), topotest.Labels(), topotest.Semicolons()))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, id, err := topo.ParseAs(topo.FormatPentacam, data, topo.Options{MinPoints: 1})
		checkFuzzResult(t, s, id, err)
	})
}
