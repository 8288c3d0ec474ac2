package topo_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
)

// rawLine returns the 1-based number of the first line of data that starts
// with prefix, and -1 if none does.
func rawLine(data []byte, prefix string) int {
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, prefix) {
			return i + 1
		}
	}
	return -1
}

// setRawLine replaces line n (1-based) of a CRLF or LF file.
func setRawLine(data []byte, n int, with string) []byte {
	lines := strings.Split(string(data), "\n")
	cr := ""
	if strings.HasSuffix(lines[n-1], "\r") {
		cr = "\r"
	}
	lines[n-1] = with + cr
	return []byte(strings.Join(lines, "\n"))
}

// replaceRaw replaces the first old with new, and fails the test if data
// does not hold old.
func replaceRaw(t *testing.T, data []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("the file does not hold %q", old)
	}
	return bytes.Replace(data, []byte(old), []byte(new), 1)
}

func TestCSORawConformance(t *testing.T) {
	f, ok := topo.Lookup(topo.FormatCSORaw)
	if !ok {
		t.Fatal("cso-raw is not registered")
	}
	sample, err := os.ReadFile("testdata/sample-cso-raw-od.txt")
	if err != nil {
		t.Fatal(err)
	}
	topotest.TestFormat(t, f, sample)
	c := topotest.Reference()
	c.NoiseUM = 1
	ids := []string{"Paziente : Bianchi Anna", "Data di nascita : 03/04/1971", "ID paziente : C-991", "Matricola : SN-4242", "Note : allergica"}
	t.Run("Italian header with identifiers", func(t *testing.T) {
		topotest.TestFormat(t, f, c.CSORawFile(topotest.HeaderLines(ids...)), "Bianchi", "03/04/1971", "C-991", "SN-4242", "allergica")
	})
	t.Run("English header, LF, decimal point", func(t *testing.T) {
		topotest.TestFormat(t, f, c.CSORawFile(topotest.EnglishHeader(), topotest.LF(), topotest.DecimalPoint(),
			topotest.HeaderLines("Patient : Anna Bianchi", "Date of birth : 1971-04-03")), "Bianchi", "1971-04-03")
	})
}

// TestCSORawSample checks the checked-in sample (regenerate it with go
// generate): the reference cornea with 1 micron of noise, CRLF kept.
func TestCSORawSample(t *testing.T) {
	data, err := os.ReadFile("testdata/sample-cso-raw-od.txt")
	if err != nil {
		t.Fatal(err)
	}
	s, id, err := topo.Parse(data, topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Format != topo.FormatCSORaw || s.Eye != "" || !strings.HasPrefix(s.Device, "lensflow synthetic") || id.PatientName != "" {
		t.Errorf("sample: format %q eye %q device %q identifiers %v", s.Format, s.Eye, s.Device, id)
	}
	for _, l := range []string{topo.LayoutCRLF, topo.LayoutDecimalComma, topo.LayoutElevation} {
		if !slices.Contains(s.Layout, l) {
			t.Errorf("Layout %q lacks %q (was the file's CRLF lost?)", s.Layout, l)
		}
	}
	k, err := cornea.FitConic(s, cornea.ConicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(k.R0MM-7.8) > 0.01 || math.Abs(k.P-0.75) > 0.03 || k.ResidualRMSUM > 1.2 {
		t.Errorf("sample fit R0 %.4f p %.4f RMS %.2f um", k.R0MM, k.P, k.ResidualRMSUM)
	}
}

// TestCSORawVariants parses, by detection, the variants real exports take,
// and checks that each is named in Layout and read right.
func TestCSORawVariants(t *testing.T) {
	ref := topotest.Reference()
	lids := ref
	lids.Lid, lids.LidYMM, lids.LowerLid, lids.LowerLidYMM = true, 3.2, true, -3.5
	base := []string{topo.LayoutOneValuePerLine}
	with := func(head []string, tail ...string) []string {
		return append(append(append([]string(nil), head...), base...), tail...)
	}
	const radii, flag, elev, depth = topo.LayoutRadiiThenHeights, topo.LayoutEyeFlagNotRead, topo.LayoutElevation, topo.LayoutDepth
	const comma = topo.LayoutDecimalComma
	italian := []string{topo.LayoutCRLF, topo.LayoutItalianKeys}
	tests := []struct {
		name             string
		c                topotest.Cornea
		data             []byte
		rings, meridians int
		layout           []string
	}{
		{"as the device writes it: Italian, CRLF, decimal comma, 24 rings", ref, ref.CSORawFile(), 24, 256,
			with(italian, comma, radii, flag, elev)},
		{"English keys, LF, decimal point", ref, ref.CSORawFile(topotest.EnglishHeader(), topotest.LF(), topotest.DecimalPoint()), 24, 256,
			with([]string{topo.LayoutEnglishKeys}, radii, flag, elev)},
		{"English keys, CRLF, decimal comma", ref, ref.CSORawFile(topotest.EnglishHeader()), 24, 256,
			with([]string{topo.LayoutCRLF, topo.LayoutEnglishKeys}, comma, radii, flag, elev)},
		{"positive depth", ref, ref.CSORawFile(topotest.DepthSign()), 24, 256,
			with(italian, comma, radii, flag, depth)},
		{"positive depth, English, LF, decimal point", ref, ref.CSORawFile(topotest.DepthSign(), topotest.EnglishHeader(), topotest.LF(), topotest.DecimalPoint()), 24, 256,
			with([]string{topo.LayoutEnglishKeys}, radii, flag, depth)},
		{"20 rings x 128 semi-meridians", ref, ref.CSORawFile(topotest.RingsMeridians(20, 128)), 20, 128,
			with(italian, comma, radii, flag, elev)},
		{"32 rings x 300 semi-meridians, LF", ref, ref.CSORawFile(topotest.RingsMeridians(32, 300), topotest.LF()), 32, 300,
			with([]string{topo.LayoutItalianKeys}, comma, radii, flag, elev)},
		{"lids: -1 marks missing points", lids, lids.CSORawFile(), 24, 256,
			with(italian, comma, radii, topo.LayoutMissingMinus1, flag, elev)},
		{"lids, -1000 markers", lids, lids.CSORawFile(topotest.Missing("-1000")), 24, 256,
			with(italian, comma, radii, topo.LayoutMissingMinus1000, flag, elev)},
		{"Latin-1 header", ref, bytes.ReplaceAll(ref.CSORawFile(), []byte("°"), []byte{0xB0}), 24, 256,
			with([]string{topo.LayoutCRLF, topo.LayoutLatin1, topo.LayoutItalianKeys}, comma, radii, flag, elev)},
		{"byte order mark", ref, append([]byte("\xEF\xBB\xBF"), ref.CSORawFile()...), 24, 256,
			with([]string{topo.LayoutBOM, topo.LayoutCRLF, topo.LayoutItalianKeys}, comma, radii, flag, elev)},
		{"tab-separated header", ref, bytes.ReplaceAll(ref.CSORawFile(topotest.LF()), []byte(" : "), []byte("\t")), 24, 256,
			with([]string{topo.LayoutItalianKeys, topo.LayoutTabHeader}, comma, radii, flag, elev)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := topo.Parse(tt.data, topo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if s.Format != topo.FormatCSORaw || s.Eye != "" {
				t.Errorf("format %q eye %q, want cso-raw and no eye (the True/False flag is never read)", s.Format, s.Eye)
			}
			if !slices.Equal(s.Layout, tt.layout) {
				t.Errorf("Layout = %q\nwant     %q", s.Layout, tt.layout)
			}
			// Every point the device measured, and only those, comes back at
			// the cornea's depth.
			for i := range s.X {
				if !tt.c.Measured(s.X[i], s.Y[i]) {
					t.Fatalf("point %d (%g, %g) was not measured", i, s.X[i], s.Y[i])
				}
				z, ok := tt.c.Height(s.X[i], s.Y[i])
				if !ok || math.Abs(s.Z[i]-z) > 2e-9 {
					t.Fatalf("point %d (%g, %g): z %.10f, cornea %.10f", i, s.X[i], s.Y[i], s.Z[i], z)
				}
			}
			if tt.c.Lid {
				if s.Len() >= tt.rings*tt.meridians {
					t.Errorf("%d points: the lids hid none", s.Len())
				}
			} else if s.Len() != tt.rings*tt.meridians {
				t.Errorf("%d points, want %d x %d", s.Len(), tt.rings, tt.meridians)
			}
		})
	}
}

// TestCSORawHeights: heights read back equal the cornea's Height at each
// point within the file's rounding, for real corneas' shapes.
func TestCSORawHeights(t *testing.T) {
	ref := topotest.Reference()
	decentred := ref
	decentred.ApexXMM, decentred.ApexYMM, decentred.ApexZMM = 0.4, -0.6, 0.01
	tilted := decentred
	tilted.TiltXDeg, tilted.TiltYDeg = 2, -1.5
	coned := tilted
	coned.ConeUM, coned.ConeXMM, coned.ConeYMM = 60, -0.3, -1
	toric := ref
	toric.R0MM, toric.R0YMM, toric.P, toric.AxisDeg = 7.9, 7.55, 0.7, 20
	gaps := tilted
	gaps.Lid, gaps.LidYMM = true, 3
	gaps.Gaps = []topotest.Gap{{FromDeg: 200, ToDeg: 250, BeyondMM: 2}, {FromDeg: 350, ToDeg: 5, BeyondMM: 4}}
	tests := []struct {
		name string
		c    topotest.Cornea
		opts []topotest.FileOption
		tol  float64
	}{
		{"reference", ref, nil, 2e-9},
		{"decentred", decentred, nil, 2e-9},
		{"decentred and tilted", tilted, nil, 2e-9},
		{"decentred, tilted, coned", coned, nil, 2e-9},
		{"toric at 20 degrees", toric, nil, 2e-9},
		{"lid and gaps", gaps, nil, 2e-9},
		{"coned, rounded to 0.1 micron, depth sign", coned, []topotest.FileOption{topotest.Decimals(4), topotest.DepthSign()}, 0.5e-4 + 1e-12},
		{"tilted, English, LF, decimal point", tilted, []topotest.FileOption{topotest.EnglishHeader(), topotest.LF(), topotest.DecimalPoint()}, 2e-9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := topo.Parse(tt.c.CSORawFile(tt.opts...), topo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			measured := 0
			for i := range s.X {
				z, ok := tt.c.Height(s.X[i], s.Y[i])
				if !ok || math.Abs(s.Z[i]-z) > tt.tol {
					t.Fatalf("point %d (%g, %g): z %.10f, cornea %.10f", i, s.X[i], s.Y[i], s.Z[i], z)
				}
				if tt.c.Measured(s.X[i], s.Y[i]) {
					measured++
				}
			}
			if measured != s.Len() || s.Len() < 1000 {
				t.Errorf("%d points, %d of them measured", s.Len(), measured)
			}
		})
	}
	// A decentred cornea fits to its own shape once the apex is free.
	d := decentred
	d.Eye = ""
	checkRecovery(t, topo.FormatCSORaw, recovery{name: "decentred fit", c: d, data: decentred.CSORawFile(), exactZ: true,
		fit: cornea.ConicOptions{FitDecentration: true}, tolR0: 1e-5, tolP: 1e-4})
}

func TestCSORawMeasurements(t *testing.T) {
	ref := topotest.Reference()
	toric := ref
	toric.R0MM, toric.R0YMM, toric.AxisDeg = 7.7, 8.1, 177
	simK := func(c topotest.Cornea) *topo.DeviceSimK {
		k := c.SimK()
		return &topo.DeviceSimK{FlatKD: k[0], FlatAxisDeg: k[1], SteepKD: k[2], SteepAxisDeg: k[3]}
	}
	plain := ref.CSORawFile()
	tests := []struct {
		name   string
		data   []byte
		want   topo.DeviceMeasurements
		nilM   bool
		layout string // expected in Layout
	}{
		{name: "reference", data: plain, want: topo.DeviceMeasurements{SimK: simK(ref), CornealDiameterMM: 11.85, PupilDiameterMM: 3.2}},
		{name: "toric", data: toric.CSORawFile(), want: topo.DeviceMeasurements{SimK: simK(toric), CornealDiameterMM: 11.85, PupilDiameterMM: 3.2}},
		{name: "English", data: toric.CSORawFile(topotest.EnglishHeader(), topotest.DecimalPoint()), want: topo.DeviceMeasurements{SimK: simK(toric), CornealDiameterMM: 11.85, PupilDiameterMM: 3.2}},
		{name: "K1 steeper than K2", data: replaceRaw(t, replaceRaw(t, replaceRaw(t, toric.CSORawFile(), "K1 =", "Kx ="), "K2 =", "K1 ="), "Kx =", "K2 ="),
			want: topo.DeviceMeasurements{SimK: simK(toric), CornealDiameterMM: 11.85, PupilDiameterMM: 3.2}, layout: topo.LayoutSimKSwapped},
		{name: "K as radii in mm", data: replaceRaw(t, replaceRaw(t, plain, "K1 = 43,07 D @ 180°", "K1 = 8,00 mm @ 10°"), "K2 = 43,07 D @ 90°", "K2 = 7,50 mm @ 100°"),
			want: topo.DeviceMeasurements{SimK: &topo.DeviceSimK{FlatKD: 337.5 / 8, SteepKD: 337.5 / 7.5, FlatAxisDeg: 10, SteepAxisDeg: 100}, CornealDiameterMM: 11.85, PupilDiameterMM: 3.2}},
		{name: "no SIM-k", data: ref.CSORawFile(topotest.NoSimK()), want: topo.DeviceMeasurements{CornealDiameterMM: 11.85, PupilDiameterMM: 3.2}},
		{name: "refraction entered", data: replaceRaw(t, plain, "sph -1000 cyl -1000 ax -1000 @ -1000", "sph -2,50 cyl -0,75 ax 175 @ 12"),
			want: topo.DeviceMeasurements{SimK: simK(ref), CornealDiameterMM: 11.85, PupilDiameterMM: 3.2,
				Refraction: &topo.DeviceRefraction{SphereD: -2.5, CylinderD: -0.75, AxisDeg: 175, VertexMM: 12}}},
		{name: "sphere only", data: replaceRaw(t, plain, "sph -1000 cyl -1000 ax -1000 @ -1000", "sph +1.25 cyl -1000 ax -1000 @ -1000"),
			want: topo.DeviceMeasurements{SimK: simK(ref), CornealDiameterMM: 11.85, PupilDiameterMM: 3.2,
				Refraction: &topo.DeviceRefraction{SphereD: 1.25}}},
		{name: "diameters not measured", data: replaceRaw(t, replaceRaw(t, ref.CSORawFile(topotest.NoSimK()), "Diametro Corneale : 11,85 mm", "Diametro Corneale : -1000"),
			"Diametro Pupilla : 3,20 mm", "Diametro Pupilla : "), nilM: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := topo.Parse(tt.data, topo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.nilM {
				if s.Measurements != nil {
					t.Errorf("Measurements = %+v, want nil", *s.Measurements)
				}
				return
			}
			got, _ := json.Marshal(s.Measurements)
			want, _ := json.Marshal(tt.want)
			if !bytes.Equal(got, want) {
				t.Errorf("Measurements = %s\nwant           %s", got, want)
			}
			if tt.layout != "" && !slices.Contains(s.Layout, tt.layout) {
				t.Errorf("Layout %q lacks %q", s.Layout, tt.layout)
			}
			if tt.layout == "" && slices.Contains(s.Layout, topo.LayoutSimKSwapped) {
				t.Errorf("Layout %q says K1 and K2 were swapped", s.Layout)
			}
		})
	}
	// The JSON names the units.
	s, _, err := topo.Parse(replaceRaw(t, plain, "sph -1000 cyl -1000 ax -1000 @ -1000", "sph -2,50 cyl -0,75 ax 175 @ 12"), topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(s.Measurements)
	const want = `{"simK":{"flatK_D":43.07,"steepK_D":43.07,"flatAxis_deg":180,"steepAxis_deg":90},"cornealDiameter_mm":11.85,"pupilDiameter_mm":3.2,"refraction":{"sphere_D":-2.5,"cylinder_D":-0.75,"axis_deg":175,"vertex_mm":12}}`
	if string(js) != want {
		t.Errorf("JSON = %s\nwant   %s", js, want)
	}
}

func TestCSORawEye(t *testing.T) {
	ref := topotest.Reference() // its Eye is OD; the file never says so
	tests := []struct {
		name  string
		lines []string
		eye   topo.Eye
	}{
		{"True flag only", nil, ""},
		{"False flag only", []string{"Paziente : X"}, ""},
		{"OD before the flag", []string{"Occhio : OD"}, topo.OD},
		{"destro", []string{"Occhio : destro"}, topo.OD},
		{"sinistro", []string{"Occhio : Sinistro"}, topo.OS},
		{"SX", []string{"Lato : x", "Occhio : SX"}, topo.OS},
		{"English left", []string{"Eye : left"}, topo.OS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := ref.CSORawFile(topotest.HeaderLines(tt.lines...))
			if tt.name == "False flag only" {
				data = replaceRaw(t, data, "Occhio : True", "Occhio : False")
			}
			s, _, err := topo.Parse(data, topo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if s.Eye != tt.eye {
				t.Errorf("eye %q, want %q", s.Eye, tt.eye)
			}
		})
	}
}

func TestCSORawIdentifiers(t *testing.T) {
	ref := topotest.Reference()
	data := ref.CSORawFile(topotest.HeaderLines("Paziente : Bianchi Anna", "Data di nascita : 03/04/1971", "ID paziente : C-991",
		"Matricola : SN-4242", "Note : M\xfcller, allergica", "Et\xe0 : 54", "Nº Anélli : 24"))
	s, id, err := topo.Parse(data, topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := topo.Identifiers{PatientName: "Bianchi Anna", BirthDate: "03/04/1971", ChartID: "C-991", DeviceSerial: "SN-4242",
		Other: map[string]string{"note": "Müller, allergica", "età": "54", "pupilla x": "0,12 mm", "pupilla y": "-0,08 mm"}}
	if id.PatientName != want.PatientName || id.BirthDate != want.BirthDate || id.ChartID != want.ChartID ||
		id.DeviceSerial != want.DeviceSerial || fmt.Sprint(id.Other) != fmt.Sprint(want.Other) {
		t.Errorf("identifiers differ:\n%v %v %v %v %v\nwant %v %v %v %v %v", id.PatientName, id.BirthDate, id.ChartID, id.DeviceSerial, id.Other,
			want.PatientName, want.BirthDate, want.ChartID, want.DeviceSerial, want.Other)
	}
	if !s.CapturedAt.Equal(time.Date(2026, 1, 15, 9, 30, 12, 0, time.UTC)) || s.Device != "lensflow synthetic" {
		t.Errorf("captured %v device %q", s.CapturedAt, s.Device)
	}
	dump := fmt.Sprintf("%+v %+v", *s, *s.Measurements)
	for _, secret := range []string{"Bianchi", "03/04/1971", "C-991", "SN-4242", "Müller", "allergica"} {
		if strings.Contains(dump, secret) {
			t.Errorf("the surface holds %q", secret)
		}
	}

	// Exam dates: day first in Italian; an English date that reads both
	// ways is kept unread.
	for _, tt := range []struct {
		name string
		data []byte
		want time.Time
		kept string
	}{
		{"Italian, day first", replaceRaw(t, ref.CSORawFile(), "15/01/2026 09:30:12", "03/04/2026 10.15.00"), time.Date(2026, 4, 3, 10, 15, 0, 0, time.UTC), ""},
		{"English, unambiguous", ref.CSORawFile(topotest.EnglishHeader()), time.Date(2026, 1, 15, 9, 30, 12, 0, time.UTC), ""},
		{"English, ambiguous", replaceRaw(t, ref.CSORawFile(topotest.EnglishHeader()), "15/01/2026 09:30:12", "03/04/2026 10:15"), time.Time{}, "03/04/2026 10:15"},
		{"ISO", replaceRaw(t, ref.CSORawFile(), "15/01/2026 09:30:12", "2026-04-03 10:15"), time.Date(2026, 4, 3, 10, 15, 0, 0, time.UTC), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, id, err := topo.Parse(tt.data, topo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !s.CapturedAt.Equal(tt.want) || id.Other["exam"] != tt.kept {
				t.Errorf("captured %v, kept %q", s.CapturedAt, id.Other["exam"])
			}
		})
	}
}

// TestCSORawKeys: the ways devices and locales write the count keys.
func TestCSORawKeys(t *testing.T) {
	plain := topotest.Reference().CSORawFile(topotest.RingsMeridians(6, 32), topotest.LF())
	for _, tt := range []struct{ rings, meridians string }{
		{"N° Anelli", "N° Semimeridiani"},       // U+00B0
		{"Nº Anelli", "Nº Semimeridiani"},       // U+00BA
		{"N\xb0 Anelli", "N\xba Semimeridiani"}, // Latin-1
		{"No. Anelli", "No. Semi-meridiani"},
		{"Nr. anelli", "NR. SEMIMERIDIANI"},
		{"Numero di anelli", "Numero di semimeridiani"},
		{"Number of rings", "Number of semi-meridians"},
		{"Rings", "Semimeridians"},
		{"N. Ànelli", "N.Semimeridiàni"},
	} {
		t.Run(tt.rings, func(t *testing.T) {
			data := replaceRaw(t, replaceRaw(t, plain, "N° Anelli", tt.rings), "N° Semimeridiani", tt.meridians)
			s, _, err := topo.Parse(data, topo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if s.Format != topo.FormatCSORaw || s.Len() != 6*32 {
				t.Errorf("format %q, %d points", s.Format, s.Len())
			}
		})
	}
}

func TestCSORawErrors(t *testing.T) {
	ref := topotest.Reference()
	plain := ref.CSORawFile(topotest.LF())
	const values = 2 * 24 * 256
	lines := strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n")
	first := len(lines) - values + 1 // the first value's line
	last := len(lines)
	if first != 22 || !strings.HasPrefix(lines[first-1], "0,2") || rawLine(plain, "sph ") != 20 {
		t.Fatalf("the file has %d lines, the values start with %q on line %d", len(lines), lines[first-1], first)
	}
	rho := func(i int) int { return first + i }               // line of radius i
	height := func(i int) int { return first + values/2 + i } // line of height i
	set := func(n int, v string) string { return string(setRawLine(plain, n, v)) }
	rep := func(old, new string) string { return string(replaceRaw(t, plain, old, new)) }
	// Every other height's sign flipped: outer heights of both signs.
	flipped := append([]string(nil), lines...)
	for i := 0; i < values/2; i += 2 {
		flipped[height(i)-1] = strings.TrimPrefix(lines[height(i)-1], "-")
	}
	mixed := strings.Join(flipped, "\n")
	secrets := []string{"Rossi", "Mario"}
	const counts = "the header's 24 rings x 256 semi-meridians"
	tests := []errCase{
		{name: "one value short", data: strings.Join(lines[:last-1], "\n"), field: "line " + strconv.Itoa(last-1),
			msg: "the file ends after 12287 values; " + counts + " need 12288 (ring radii, then elevations)"},
		{name: "only the radii", data: strings.Join(lines[:height(0)-1], "\n"), field: "line " + strconv.Itoa(height(0)-1), msg: "the file ends after 6144 values"},
		{name: "one value too many", data: string(plain) + "-2,5\n", field: "line " + strconv.Itoa(last+1),
			msg: "more values than " + counts + " hold (12288: ring radii, then elevations)"},
		{name: "header counts disagree with the values", data: rep("N° Semimeridiani : 256", "N° Semimeridiani : 128"), field: "line " + strconv.Itoa(first+6144),
			msg: "more values than the header's 24 rings x 128 semi-meridians hold (6144: ring radii, then elevations)"},
		{name: "a non-number line", data: set(height(100), "abc"), field: "line " + strconv.Itoa(height(100)), msg: "is not a number"},
		{name: "a NaN line", data: set(rho(7), "NaN"), field: "line " + strconv.Itoa(rho(7)), msg: "is not a finite number"},
		{name: "two values on a line", data: set(rho(8), "0,2 0,3"), field: "line " + strconv.Itoa(rho(8)), msg: "expected one value per line, got 2"},
		{name: "two decimal commas", data: set(rho(9), "0,2,3"), field: "line " + strconv.Itoa(rho(9)), msg: "is not a number"},
		{name: "a header line among the values", data: set(height(5), "Note : x"), field: "line " + strconv.Itoa(height(5)), msg: "is not a number"},
		{name: "radius out of range", data: set(rho(300), "13"), field: "line " + strconv.Itoa(rho(300)), msg: "ring radius must be from 0 to 12 mm"},
		{name: "height out of range", data: set(height(300), "-7,5"), field: "line " + strconv.Itoa(height(300)), msg: "height is outside +-6 mm"},
		{name: "-1000 refraction with a cylinder", data: rep("sph -1000 cyl -1000 ax -1000 @ -1000", "sph -1000 cyl -1,25 ax 180 @ 12"),
			field: "line 20", msg: "the refraction gives a cylinder or an axis without a sphere (-1000 means not given)"},
		{name: "refraction cut short", data: rep("sph -1000 cyl -1000 ax -1000 @ -1000", "sph -1000 cyl -1000 ax"),
			field: "line 20", msg: "the refraction must read sph S cyl C ax A @ V (-1000 where not given)"},
		{name: "refraction with text", data: rep("sph -1000 cyl -1000 ax -1000 @ -1000", "sph plano cyl -1000 ax -1000 @ -1000"),
			field: "line 20", msg: "the refraction must read sph S cyl C ax A @ V"},
		{name: "refraction cylinder without an axis", data: rep("sph -1000 cyl -1000 ax -1000 @ -1000", "sph -2 cyl -1 ax -1000 @ 12"),
			field: "line 20", msg: "the refraction gives a cylinder without an axis"},
		{name: "refraction axis out of range", data: rep("sph -1000 cyl -1000 ax -1000 @ -1000", "sph -2 cyl -1 ax 270 @ 12"),
			field: "line 20", msg: "the refraction's axis must be from 0 to 180 degrees"},
		{name: "curvature data", data: rep("Dato misurato : Elevazioni", "Dato misurato : Curvatura"), field: "line 15",
			msg: "the measured data (Dato misurato) must be elevations; this file holds another map, such as curvature: export the elevations"},
		{name: "English curvature data", data: string(replaceRaw(t, ref.CSORawFile(topotest.EnglishHeader()), "Measured data : Elevations", "Measured data : Tangential curvature")),
			field: "line 15", msg: "must be elevations"},
		{name: "no ring count", data: rep("N° Anelli : 24", "Anelli contati"), field: "line " + strconv.Itoa(first),
			msg: "the values start but the header has not given the number of rings (N° Anelli, or Rings)"},
		{name: "no semi-meridian count", data: rep("N° Semimeridiani : 256", ""), field: "line " + strconv.Itoa(first),
			msg: "the values start but the header has not given the number of semi-meridians"},
		{name: "rings out of range", data: rep("N° Anelli : 24", "N° Anelli : 100"), field: "line 16", msg: "rings must be from 2 to 64 (the header says 100)"},
		{name: "fractional semi-meridians", data: rep("N° Semimeridiani : 256", "N° Semimeridiani : 25,6"), field: "line 17", msg: "semi-meridians must be a whole number"},
		{name: "malformed K1", data: rep("K1 = 43,07 D @ 180°", "K1 = non misurato"), field: "line 8", msg: "K1 must read like 43,25 D @ 90°"},
		{name: "K2 out of range", data: rep("K2 = 43,07 D @ 90°", "K2 = 95,00 D @ 90°"), field: "line 9", msg: "K2 must be from 20 to 80 D"},
		{name: "K1 axis out of range", data: rep("K1 = 43,07 D @ 180°", "K1 = 43,07 D @ 181°"), field: "line 8", msg: "K1 axis must be from 0 to 180 degrees"},
		{name: "corneal diameter out of range", data: rep("Diametro Corneale : 11,85 mm", "Diametro Corneale : 30 mm"), field: "line 10", msg: "corneal diameter must be from 8 to 16 mm"},
		{name: "pupil diameter not a number", data: rep("Diametro Pupilla : 3,20 mm", "Diametro Pupilla : grande"), field: "line 11", msg: "pupil diameter must be a number of mm"},
		{name: "bad eye", data: rep("Occhio : True", "Occhio : entrambi"), field: "line 3", msg: "eye must be OD or OS (or right, left, destro, sinistro)"},
		{name: "contradicting eyes", data: string(ref.CSORawFile(topotest.LF(), topotest.HeaderLines("Occhio : OD", "Occhio : sinistro"))), field: "line 2", msg: "eye contradicts line 1"},
		{name: "control characters", data: rep("Paziente : Rossi Mario", "Paziente : Rossi\x1b[31mMario"), field: "line 1", msg: "header holds control characters"},
		{name: "ambiguous sign", data: mixed, field: "heightSign",
			msg: `cannot tell the sign of the heights: the heights beyond 2 mm from the centre are of both signs, with a mean small against their spread; set heightSign to "depth"`},
		{name: "stated sign contradicts the content", data: string(plain), opts: topo.Options{HeightSign: topo.HeightSignDepth}, field: "heightSign",
			msg: "says depth, but the heights fall away from the centre as elevations negative below the apex do"},
		{name: "every point missing", data: string(topotest.Cornea{Lid: true, LidYMM: -6}.CSORawFile(topotest.LF())), msg: "no points: every radius or height is marked as missing"},
		{name: "more than MaxPoints", data: string(plain), opts: topo.Options{MaxPoints: 1000}, kind: errs.TooLarge, msg: "more than 1000 points"},
		{name: "fewer than MinPoints", data: string(plain), opts: topo.Options{MinPoints: 10000}, msg: "only 6144 points; at least 10000"},
		{name: "NUL bytes", data: "Paziente : Rossi\x00\n" + string(plain), as: true, msg: "not a text file"},
		{name: "header only", data: strings.Join(lines[:first-1], "\n"), msg: "no values after the header"},
		{name: "endless header", data: strings.Repeat("Chiave : v\n", 1001) + string(plain), field: "line 1001", msg: "more than 1000 header lines"},
	}
	checkErrors(t, topo.FormatCSORaw, tests, secrets...)
}

func TestCSORawDetect(t *testing.T) {
	f, _ := topo.Lookup(topo.FormatCSORaw)
	ref := topotest.Reference()
	ref.Device = "CSO Sirius"
	tests := []struct {
		name string
		head []byte
		min  int // at least
		max  int // at most
	}{
		{"Italian raw export", ref.CSORawFile(), topo.Likely + 1, topo.Certain - 1},
		{"English raw export naming a CSO device", ref.CSORawFile(topotest.EnglishHeader()), topo.Likely + 1, topo.Certain - 1},
		{"header cut before the values", ref.CSORawFile()[:400], topo.Likely, topo.Likely},
		{"cso matrix", ref.CSOFile(), topo.NoMatch, topo.NoMatch},
		{"pentacam grid", ref.PentacamFile(), topo.NoMatch, topo.NoMatch},
		{"xyz", ref.CSV(), topo.NoMatch, topo.NoMatch},
		{"numbers without the header", []byte("0,2\n0,3\n0,4\n"), topo.NoMatch, topo.NoMatch},
		{"binary", []byte("\x00\x01\x02"), topo.NoMatch, topo.NoMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.Detect(tt.head[:min(len(tt.head), topo.DetectBytes)]); got < tt.min || got > tt.max {
				t.Errorf("Detect = %d, want %d to %d", got, tt.min, tt.max)
			}
		})
	}
	// A raw export whose header names a CSO device is Likely for the cso
	// matrix format too; the raw reader must win.
	cso, _ := topo.Lookup(topo.FormatCSO)
	data := ref.CSORawFile(topotest.EnglishHeader())
	if cso.Detect(data[:topo.DetectBytes]) != topo.Likely {
		t.Fatal("the test no longer covers a tie with cso")
	}
	if s, _, err := topo.Parse(data, topo.Options{}); err != nil || s.Format != topo.FormatCSORaw {
		t.Errorf("Parse = %v, %v", s, err)
	}
}

func TestPentacamTabHeaderAndMinus1000(t *testing.T) {
	ref := topotest.Reference()
	lid := withLid(noisy(ref, 0, 1), 3)
	exact := func(r recovery) recovery { r.exactZ, r.tolR0, r.tolP = true, 1e-6, 1e-5; return r }
	tests := []struct {
		r      recovery
		layout []string
	}{
		{exact(recovery{name: "tab header, -1000", c: lid, data: lid.PentacamFile(topotest.TabHeader(), topotest.Missing("-1000"))}),
			[]string{topo.LayoutTabHeader, topo.LayoutMissingMinus1000, topo.LayoutDepth}},
		{exact(recovery{name: "tab header, semicolons, BFS microns, -1000, CRLF", c: lid,
			data: lid.PentacamFile(topotest.TabHeader(), topotest.Semicolons(), topotest.BFS(7.85), topotest.Microns(), topotest.Missing("-1000"), topotest.CRLF())}),
			[]string{topo.LayoutCRLF, topo.LayoutTabHeader, topo.LayoutSemicolons, topo.LayoutMissingMinus1000, topo.LayoutMicrons, topo.LayoutBFS(7.85)}},
		{exact(recovery{name: "tab header, tab cells, decimal comma BFS radius", c: ref,
			data: bytes.Replace(bytes.ReplaceAll(ref.PentacamFile(topotest.TabHeader(), topotest.BFS(7.9), topotest.Missing("-1000")), []byte(","), []byte("\t")), []byte("7.9"), []byte("7,9"), 1)}),
			[]string{topo.LayoutTabHeader, topo.LayoutTabCells, topo.LayoutMissingMinus1000, topo.LayoutBFS(7.9)}},
	}
	for _, tt := range tests {
		t.Run(tt.r.name, func(t *testing.T) {
			checkRecovery(t, topo.FormatPentacam, tt.r)
			s, _, err := topo.Parse(tt.r.data, topo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Layout, tt.layout) {
				t.Errorf("Layout = %q, want %q", s.Layout, tt.layout)
			}
		})
	}
}

func BenchmarkParseCSORaw(b *testing.B) {
	c := topotest.Reference()
	c.NoiseUM = 2
	data := c.CSORawFile() // 24 rings x 256 semi-meridians
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		_, _, errSink = topo.Parse(data, topo.Options{})
		if errSink != nil {
			b.Fatal(errSink)
		}
	}
}

func FuzzParseCSORaw(f *testing.F) {
	small := "Paziente : X\r\nOcchio : True\r\nSIM-k :\r\nK1 = 43,1 D @ 10°\r\nK2 = 44 D @ 100°\r\nN° Anelli : 2\r\nN° Semimeridiani : 4\r\n" +
		"sph -1000 cyl -1000 ax -1000 @ -1000\r\n-----\r\n0,5\r\n0,5\r\n-1\r\n0,5\r\n2,1\r\n2,1\r\n2,1\r\n2,1\r\n" +
		"-0,016\r\n-0,016\r\n-1\r\n-0,016\r\n-0,3\r\n-0,3\r\n-0,3\r\n-0,3\r\n"
	f.Add([]byte(small))
	f.Add([]byte(strings.ReplaceAll(strings.ReplaceAll(small, ",", "."), "\r\n", "\n")))
	f.Add([]byte("Patient : Y\nEye : left\nNo. of Rings : 2\nNo. of Semi-meridians : 4\nMeasured data : Elevations\nsph -2,5 cyl -1 ax 90 @ 12\n0\n0\n0\n0\n1\n1\n1\n1\n0\n0\n0\n0\n0,07\n0,07\n0,07\n0,07\n"))
	f.Add([]byte("N\xb0 Anelli : 3\nN\xba Semimeridiani : 8\nDato misurato : Curvatura\n1\n"))
	f.Add([]byte("Rings : 99999999999\nSemi-meridians : 1e400\nsph\n0,1,2\nNaN\n"))
	f.Add([]byte("\x00\x01binary\xff"))
	c := topotest.Reference()
	c.Lid, c.LidYMM = true, 3
	f.Add(c.CSORawFile(topotest.RingsMeridians(4, 16)))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, id, err := topo.ParseAs(topo.FormatCSORaw, data, topo.Options{MinPoints: 1})
		checkFuzzResult(t, s, id, err)
		if err == nil && bytes.Contains(data, []byte{0}) {
			t.Fatal("a file with NUL bytes parsed")
		}
		if err == nil && s.Measurements != nil {
			if k := s.Measurements.SimK; k != nil && k.FlatKD > k.SteepKD {
				t.Fatal("flat K steeper than steep K")
			}
		}
	})
}
