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

func TestCSOConformance(t *testing.T) {
	c := topotest.Reference()
	c.NoiseUM = 1
	sample := c.CSOFile(topotest.HeaderLines("Patient: Jane Roe", "ID: C-991", "Serial number: SN-4242"))
	f, ok := topo.Lookup(topo.FormatCSO)
	if !ok {
		t.Fatal("cso is not registered")
	}
	topotest.TestFormat(t, f, sample, "Jane Roe", "C-991", "SN-4242")
	semi := c.CSOFile(topotest.Semicolons(), topotest.RhoZBlocks(), topotest.HeaderLines("Patient;Jane Roe"))
	t.Run("semicolons and rho+z", func(t *testing.T) { topotest.TestFormat(t, f, semi, "Jane Roe") })
}

func TestCSORecovers(t *testing.T) {
	ref := topotest.Reference()
	os := ref
	os.Eye = topo.OS
	lid := noisy(ref, 2, 3)
	lid.Lid, lid.LidYMM = true, 3.5
	lowLid := noisy(ref, 1, 4)
	lowLid.Lid, lowLid.LidYMM = true, 2
	steep := noisy(ref, 3, 5)
	steep.R0MM, steep.P = 7.2, 0.6
	decentred := ref
	decentred.ApexXMM, decentred.ApexYMM, decentred.ApexZMM = 0.3, -0.2, 0.01
	tests := []recovery{
		{name: "noise-free, header", c: ref, data: ref.CSOFile(), exactZ: true, tolR0: 1e-5, tolP: 1e-4},
		{name: "noise-free, no header", c: noEye(ref), data: ref.CSOFile(topotest.NoHeader()), exactZ: true, tolR0: 1e-5, tolP: 1e-4},
		{name: "noise-free, rho and z blocks", c: ref, data: ref.CSOFile(topotest.RhoZBlocks()), exactZ: true, tolR0: 1e-5, tolP: 1e-4},
		{name: "noise-free, rho and z blocks, no header", c: noEye(ref), data: ref.CSOFile(topotest.RhoZBlocks(), topotest.NoHeader()), exactZ: true, tolR0: 1e-5, tolP: 1e-4},
		{name: "noise-free, microns", c: ref, data: ref.CSOFile(topotest.Microns()), exactZ: true, tolR0: 1e-5, tolP: 1e-4},
		{name: "noise-free, semicolons, decimal commas, CRLF", c: ref, data: ref.CSOFile(topotest.DecimalComma(), topotest.CRLF()), exactZ: true, tolR0: 1e-5, tolP: 1e-4},
		{name: "noise-free OS", c: os, data: os.CSOFile(topotest.Semicolons()), exactZ: true, tolR0: 1e-5, tolP: 1e-4},
		{name: "1 um noise", c: noisy(ref, 1, 1), data: noisy(ref, 1, 1).CSOFile()},
		{name: "2 um noise, OS, semicolons", c: noisy(os, 2, 2), data: noisy(os, 2, 2).CSOFile(topotest.Semicolons())},
		{name: "3 um noise, steep", c: steep, data: steep.CSOFile(topotest.RhoZBlocks())},
		{name: "lid at 3.5 mm, -1 markers", c: lid, data: lid.CSOFile(topotest.Missing("-1"))},
		{name: "lid at 2 mm, empty cells", c: lowLid, data: lowLid.CSOFile(topotest.Missing(""), topotest.Semicolons())},
		{name: "noise-free lid, -1000 markers", c: withLid(ref, 3), data: withLid(ref, 3).CSOFile(), exactZ: true, tolR0: 1e-5, tolP: 1e-4},
		{name: "decentred apex", c: decentred, data: decentred.CSOFile(), exactZ: true, fit: cornea.ConicOptions{FitDecentration: true}, tolR0: 1e-5, tolP: 1e-4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkRecovery(t, topo.FormatCSO, tc) })
	}
}

func noEye(c topotest.Cornea) topotest.Cornea { c.Eye = ""; return c }

func withLid(c topotest.Cornea, y float64) topotest.Cornea {
	c.Lid, c.LidYMM = true, y
	return c
}

func TestCSOCentre(t *testing.T) {
	// Ring 0 becomes one point, at the mean of its valid cells.
	var b strings.Builder
	b.WriteString("Rings: 2\nMeridians: 4\n")
	b.WriteString("0.001,0.003,-1000,0.002\n")
	b.WriteString("0.0026,0.0026,0.0026,0.0026\n")
	s, _, err := topo.Parse([]byte(b.String()), topo.Options{MinPoints: 1})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 5 || s.X[0] != 0 || s.Y[0] != 0 || s.Z[0] != 0.002 {
		t.Fatalf("got %d points, first (%g, %g, %g)", s.Len(), s.X[0], s.Y[0], s.Z[0])
	}
	// Meridian j is at j*90 degrees counter-clockwise from the examiner's right.
	want := [][2]float64{{0.2, 0}, {0, 0.2}, {-0.2, 0}, {0, -0.2}}
	for j, w := range want {
		if d := abs(s.X[j+1]-w[0]) + abs(s.Y[j+1]-w[1]); d > 1e-15 {
			t.Errorf("meridian %d at (%g, %g), want %v", j, s.X[j+1], s.Y[j+1], w)
		}
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestCSOIdentifiers(t *testing.T) {
	data := topotest.Reference().CSOFile(topotest.Semicolons(), topotest.HeaderLines(
		"Last name:;Roe", "First name:;Jane", "Date of birth;1990-02-03", "Patient ID;C-991",
		"Serial number;SN-4242", "Operator;A. B.", "Exam date;2026-03-01 10:15", "Notes;M\xfcller"))
	s, id, err := topo.Parse(data, topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := topo.Identifiers{PatientName: "Roe Jane", BirthDate: "1990-02-03", ChartID: "C-991", DeviceSerial: "SN-4242",
		Other: map[string]string{"operator": "A. B.", "notes": "Müller"}}
	if id.PatientName != want.PatientName || id.BirthDate != want.BirthDate || id.ChartID != want.ChartID ||
		id.DeviceSerial != want.DeviceSerial || fmt.Sprint(id.Other) != fmt.Sprint(want.Other) {
		t.Errorf("identifiers = %+v, want %+v", *id, want)
	}
	if s.Eye != topo.OD || s.Device != "lensflow synthetic" || s.CapturedAt.IsZero() {
		t.Errorf("eye %q device %q captured %v", s.Eye, s.Device, s.CapturedAt)
	}
	if dump := fmt.Sprintf("%+v", *s); strings.Contains(dump, "Roe") || strings.Contains(dump, "C-991") {
		t.Error("identifiers leaked into the surface")
	}
	// A date in a local style is kept, not refused.
	_, id, err = topo.Parse(topotest.Reference().CSOFile(topotest.HeaderLines("Exam date: 01/03/2026")), topo.Options{})
	if err != nil || id.Other["exam date"] != "01/03/2026" {
		t.Errorf("local date: %v, %v", err, id.Other)
	}
}

func TestCSOErrors(t *testing.T) {
	bare := topotest.Reference().CSOFile(topotest.NoHeader()) // line k is ring k-1
	lines := strings.Split(string(bare), "\n")
	row := func(k int) string { return lines[k-1] }
	cells := func(k int) []string { return strings.Split(row(k), ",") }
	setCell := func(k, col int, v string) string {
		c := cells(k)
		c[col-1] = v
		return replaceLine(bare, k, strings.Join(c, ","))
	}
	allMissing := strings.Repeat(strings.TrimSuffix(strings.Repeat("-1000,", 256), ",")+"\n", 31)
	head := "Patient: Jane Roe\nEye: OD\n"
	tests := []errCase{
		{name: "row of 255", data: replaceLine(bare, 27, strings.Join(cells(27)[:255], ",")), field: "line 27", msg: "expected 256 values, got 255"},
		{name: "row of 257", data: replaceLine(bare, 3, row(3)+",0.1,0.2"), field: "line 3", msg: "expected 256 values, got 258"},
		{name: "short row", data: replaceLine(bare, 9, "0.1,0.2"), field: "line 9", msg: "expected 256 values, got 2"},
		{name: "NaN", data: setCell(5, 10, "NaN"), field: "line 5", msg: "column 10 is not a finite number"},
		{name: "Inf", data: setCell(6, 1, "-Inf"), field: "line 6", msg: "column 1 is not a finite number"},
		{name: "overflow", data: setCell(7, 256, "1e999"), field: "line 7", msg: "column 256 is not a finite number"},
		{name: "text", data: setCell(8, 2, "abc"), field: "line 8", msg: "column 2 is not a number"},
		{name: "hex float", data: setCell(8, 3, "0x1p-2"), field: "line 8", msg: "column 3 is not a number"},
		{name: "row of NaN", data: replaceLine(bare, 4, strings.TrimSuffix(strings.Repeat("NaN,", 256), ",")), field: "line 4", msg: "column 1 is not a finite number"},
		{name: "height out of range", data: setCell(10, 3, "7.5"), field: "line 10", msg: "column 3: height is outside +-6 mm"},
		{name: "too few rows", data: strings.Join(lines[:30], "\n"), field: "line 30", msg: "the matrix ends after 30 rows; expected 31 (heights) or 62 (radii, then heights)"},
		{name: "too many rows", data: string(bare) + string(bare) + string(bare), field: "line 63", msg: "more than 62 matrix rows"},
		{name: "huge meridians", data: "Meridians: 1000000000\n" + string(bare), field: "line 1", msg: "meridians must be from 4 to 1024 (the header says 1000000000)"},
		{name: "1 GB of rings", data: head + "Rings;1073741824\n" + string(bare), field: "line 3", msg: "rings must be from 2 to 61"},
		{name: "rings beyond float64", data: "Rings: 1e400\n" + string(bare), field: "line 1", msg: "rings must be a whole number"},
		{name: "fractional meridians", data: "Meridians: 255.5\n" + string(bare), field: "line 1", msg: "meridians must be a whole number"},
		{name: "dimensions after the matrix", data: string(bare) + "Rings: 31\n", field: "line 32", msg: "rings must be given before the matrix"},
		{name: "header disagrees with rows", data: "Meridians: 128\n" + string(bare), field: "line 2", msg: "expected 128 values, got 256"},
		{name: "every cell missing", data: allMissing, msg: "no points: every cell is marked as no data"},
		{name: "bad eye", data: head + "Eye: both\n" + string(bare), field: "line 3", msg: "eye must be OD or OS"},
		{name: "contradicting eye", data: head + "Eye: left\n" + string(bare), field: "line 3", msg: "eye contradicts line 2"},
		{name: "bad units", data: head + "Units: inches\n" + string(bare), field: "line 3", msg: "units must be mm or um"},
		{name: "microns without saying so", data: string(topotest.Reference().CSOFile(topotest.NoHeader(), topotest.Microns())), field: "line 3", msg: "column 1: height is outside +-6 mm"},
		{name: "control characters", data: "Patient: Jane\x1b[31mRoe\nDevice: Sirius\n" + string(bare), field: "line 1", msg: "header holds control characters"},
		{name: "radius out of range", data: replaceLine(topotest.Reference().CSOFile(topotest.RhoZBlocks(), topotest.NoHeader()), 12, strings.Replace(row(12), row(12)[:strings.IndexByte(row(12), ',')], "13", 1)), field: "line 12", msg: "column 1: radius must be from 0 to 12 mm"},
		{name: "more than MaxPoints", data: string(bare), opts: topo.Options{MaxPoints: 1000}, kind: errs.TooLarge, msg: "more than 1000 points"},
		{name: "fewer than MinPoints", data: string(bare), opts: topo.Options{MinPoints: 10000}, msg: "only 7681 points; at least 10000"},
		{name: "NUL bytes", data: "Device: Sirius\n\x00\x00" + string(bare), as: true, msg: "not a text file"},
		{name: "binary junk", data: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01\x02", msg: "no parser accepts this file (tried: xyz-csv, cso, cso-raw, pentacam); it is not a text file"},
		{name: "binary junk as CSO", data: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01\x02", as: true, msg: "not a text file"},
		{name: "endless header", data: strings.Repeat("Key: v\n", 1001) + string(bare), field: "line 1001", msg: "more than 1000 header lines"},
		{name: "no matrix", data: "Device: Sirius\nEye: OD\n", msg: "no matrix rows"},
	}
	checkErrors(t, topo.FormatCSO, tests, "Jane", "Roe")
}

func TestCSODetect(t *testing.T) {
	f, _ := topo.Lookup(topo.FormatCSO)
	ref := topotest.Reference()
	tests := []struct {
		name string
		head []byte
		want int
	}{
		{"header", ref.CSOFile(), topo.Likely},
		{"bare matrix", ref.CSOFile(topotest.NoHeader()), topo.Likely},
		{"semicolons", ref.CSOFile(topotest.NoHeader(), topotest.Semicolons()), topo.Likely},
		{"device keyword", []byte("Device: CSO Sirius\n"), topo.Likely},
		{"long rows of another length", []byte(strings.Repeat("0.1,", 219) + "0.1\n"), topo.Weak},
		{"pentacam grid", ref.PentacamFile(), topo.NoMatch},
		{"xyz", ref.CSV(), topo.NoMatch},
		{"binary", []byte("\x00\x01\x02"), topo.NoMatch},
		{"text", []byte("hello\nworld\n"), topo.NoMatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.Detect(tc.head[:min(len(tc.head), topo.DetectBytes)]); got != tc.want {
				t.Errorf("Detect = %d, want %d", got, tc.want)
			}
		})
	}
}

func BenchmarkParseCSO(b *testing.B) {
	c := topotest.Reference()
	c.NoiseUM = 2
	data := c.CSOFile(topotest.HeaderLines("Patient: Jane Roe"))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		_, _, errSink = topo.Parse(data, topo.Options{})
		if errSink != nil {
			b.Fatal(errSink)
		}
	}
}

func FuzzParseCSO(f *testing.F) {
	small := "Rings: 2\nMeridians: 4\n0,0,0,0\n0.0026,0.0026,-1000,0.0026\n"
	f.Add([]byte(small))
	f.Add([]byte("Eye;OS\nPatient;X\nRings;3\nMeridians;4\nUnits;um\n0;0;0;0\n2,6;2,6;-1;2,6\n10;10;10;;\n"))
	f.Add([]byte("Rings: 2\nMeridians: 4\nrho\n0,0,0,0\n0.2,0.2,0.2,0.2\nz\n0,0,0,0\n0.0026,0.0026,0.0026,0.0026\n"))
	f.Add([]byte("Rings: 2\nMeridians: 4\n0,0,0,0\nNaN,Inf,1e999,0x1p-2\n"))
	f.Add([]byte("Meridians: 1e400\nRings: 99999999999\n"))
	f.Add([]byte("\x00\x01binary\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, id, err := topo.ParseAs(topo.FormatCSO, data, topo.Options{MinPoints: 1})
		checkFuzzResult(t, s, id, err)
		if err == nil && bytes.Contains(data, []byte{0}) {
			t.Fatal("a file with NUL bytes parsed")
		}
	})
}
