package topo_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
)

// points returns n valid data rows of a small sphere-like cap, each ending
// in nl.
func points(n int, nl string) string {
	var b strings.Builder
	for i := range n {
		x := float64(i%10)*0.3 - 1.5
		y := float64(i/10)*0.3 - 1.5
		fmt.Fprintf(&b, "%.4f,%.4f,%.6f%s", x, y, (x*x+y*y)/15.6, nl)
	}
	return b.String()
}

func TestParseXYZValid(t *testing.T) {
	body := points(60, "\n")
	tests := []struct {
		name     string
		data     string
		wantN    int
		wantEye  topo.Eye
		wantDev  string
		wantTime time.Time
		wantID   topo.Identifiers
	}{
		{name: "plain", data: "x,y,z\n" + body, wantN: 60},
		{name: "no trailing newline", data: "x,y,z\n" + strings.TrimSuffix(body, "\n"), wantN: 60},
		{name: "CRLF", data: "# eye: OS\r\nx,y,z\r\n" + points(60, "\r\n"), wantN: 60, wantEye: topo.OS},
		{name: "trailing blank lines", data: "x,y,z\n" + body + "\n\n  \r\n\n", wantN: 60},
		{name: "blank lines inside", data: "\n# eye: OD\n\nx,y,z\n\n" + body, wantN: 60, wantEye: topo.OD},
		{name: "BOM", data: "\xEF\xBB\xBFx,y,z\n" + body, wantN: 60},
		{name: "upper-case header with spaces", data: " X , Y , Z \n" + body, wantN: 60},
		{name: "spaces around values", data: "x,y,z\n" + strings.ReplaceAll(body, ",", " , "), wantN: 60},
		{name: "comments after the header are ignored", data: "x,y,z\n# a note: 1\n" + body, wantN: 60},
		{name: "eye names", data: "# Eye: right\nx,y,z\n" + body, wantN: 60, wantEye: topo.OD},
		{
			name: "metadata and identifiers",
			data: "# lensflow export\n# eye: od\n# device: Pentacam HR\n# captured: 2026-03-01T10:15:00+01:00\n" +
				"# units: mm\n# patient: Jane Roe\n# DOB: 1990-02-03\n# chart_id: C-991\n# serial: SN42\n# operator: A. B.\n" +
				"x,y,z\n" + body,
			wantN: 60, wantEye: topo.OD, wantDev: "Pentacam HR",
			wantTime: time.Date(2026, 3, 1, 9, 15, 0, 0, time.UTC),
			wantID: topo.Identifiers{PatientName: "Jane Roe", BirthDate: "1990-02-03", ChartID: "C-991",
				DeviceSerial: "SN42", Other: map[string]string{"operator": "A. B."}},
		},
		{name: "capture time without zone", data: "# captured: 2026-03-01 10:15\nx,y,z\n" + body, wantN: 60,
			wantTime: time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, id, err := topo.Parse([]byte(tt.data), topo.Options{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if s.Len() != tt.wantN || len(s.Y) != tt.wantN || len(s.Z) != tt.wantN {
				t.Errorf("got %d/%d/%d points, want %d", len(s.X), len(s.Y), len(s.Z), tt.wantN)
			}
			if s.Eye != tt.wantEye || s.Device != tt.wantDev || !s.CapturedAt.Equal(tt.wantTime) {
				t.Errorf("metadata = %q %q %v, want %q %q %v", s.Eye, s.Device, s.CapturedAt, tt.wantEye, tt.wantDev, tt.wantTime)
			}
			if s.Format != topo.FormatXYZCSV {
				t.Errorf("Format = %q", s.Format)
			}
			if fmt.Sprint(*id) != fmt.Sprint(tt.wantID) || id.PatientName != tt.wantID.PatientName ||
				id.BirthDate != tt.wantID.BirthDate || id.ChartID != tt.wantID.ChartID ||
				id.DeviceSerial != tt.wantID.DeviceSerial || len(id.Other) != len(tt.wantID.Other) {
				t.Errorf("identifiers = %+v, want %+v", *id, tt.wantID) // redacted on purpose; compare fields above
			}
			for k, v := range tt.wantID.Other {
				if id.Other[k] != v {
					t.Errorf("Other[%q] wrong", k)
				}
			}
			// First data point is (-1.5, -1.5, 4.5/15.6) in every case.
			if s.X[0] != -1.5 || s.Y[0] != -1.5 || math.Abs(s.Z[0]-0.288462) > 1e-12 {
				t.Errorf("first point = %v %v %v", s.X[0], s.Y[0], s.Z[0])
			}
		})
	}
}

func TestParseXYZColumnOrder(t *testing.T) {
	// The rows of points, written z first.
	var rows []string
	for _, row := range strings.Split(strings.TrimSpace(points(60, "\n")), "\n") {
		v := strings.Split(row, ",")
		rows = append(rows, v[2]+","+v[0]+","+v[1])
	}
	data := "z,x,y\n" + strings.Join(rows, "\n") + "\n"
	s, _, err := topo.Parse([]byte(data), topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.X[0] != -1.5 || s.Y[0] != -1.5 || math.Abs(s.Z[0]-0.288462) > 1e-12 {
		t.Errorf("columns not mapped by header: %v %v %v", s.X[0], s.Y[0], s.Z[0])
	}
}

func TestParseXYZErrors(t *testing.T) {
	body := points(60, "\n")
	// Rows 1..3 of the file are the header block below, so data row k is on line 3+k.
	head := "# eye: OD\n# patient: Jane Roe\nx,y,z\n"
	replaceRow := func(k int, row string) string {
		rows := strings.Split(body, "\n")
		rows[k-1] = row
		return head + strings.Join(rows, "\n")
	}
	tests := []struct {
		name      string
		data      string
		opts      topo.Options
		kind      errs.Kind
		field     string
		msg       string
		parseOnly bool // detection would reject it first; use ParseAs
	}{
		{name: "empty", data: "", kind: errs.Invalid, msg: "empty file"},
		{name: "whitespace only", data: " \n\r\n", kind: errs.Invalid, msg: "empty file"},
		{name: "header only", data: "x,y,z\n", kind: errs.Invalid, msg: "no points"},
		{name: "metadata only", data: "# eye: OD\n", kind: errs.Invalid, msg: "no header row"},
		{name: "too few points", data: "x,y,z\n" + points(49, "\n"), kind: errs.Invalid, msg: "only 49 points; at least 50"},
		{name: "fewer than MinPoints", data: "x,y,z\n" + points(60, "\n"), opts: topo.Options{MinPoints: 100}, kind: errs.Invalid, msg: "only 60 points"},
		{name: "more than MaxPoints", data: "x,y,z\n" + points(60, "\n"), opts: topo.Options{MaxPoints: 59}, kind: errs.TooLarge, msg: "more than 59 points"},
		{name: "missing header", data: body, kind: errs.Invalid, field: "line 1", msg: "expected the header row x,y,z"},
		{name: "two values", data: replaceRow(14, "0.1,0.2"), kind: errs.Invalid, field: "line 17", msg: "expected 3 values, got 2"},
		{name: "four values", data: replaceRow(2, "0.1,0.2,0.3,0.4"), kind: errs.Invalid, field: "line 5", msg: "expected 3 values, got 4"},
		{name: "trailing comma", data: replaceRow(2, "0.1,0.2,0.3,"), kind: errs.Invalid, field: "line 5", msg: "expected 3 values, got 4"},
		{name: "empty value", data: replaceRow(3, "0.1,,0.3"), kind: errs.Invalid, field: "line 6", msg: "column 2 (y) is empty"},
		{name: "non-numeric", data: replaceRow(3, "0.1,abc,0.3"), kind: errs.Invalid, field: "line 6", msg: "column 2 (y) is not a number"},
		{name: "NaN", data: replaceRow(4, "0.1,0.2,NaN"), kind: errs.Invalid, field: "line 7", msg: "column 3 (z) is not a finite number"},
		{name: "Inf", data: replaceRow(4, "-Inf,0.2,0.3"), kind: errs.Invalid, field: "line 7", msg: "column 1 (x) is not a finite number"},
		{name: "overflow", data: replaceRow(4, "1e999,0.2,0.3"), kind: errs.Invalid, field: "line 7", msg: "column 1 (x) is not a finite number"},
		{name: "x out of range", data: replaceRow(5, "12.5,0,0.1"), kind: errs.Invalid, field: "line 8", msg: "x is outside +-12 mm"},
		{name: "y out of range", data: replaceRow(5, "0,-12.01,0.1"), kind: errs.Invalid, field: "line 8", msg: "y is outside"},
		{name: "z out of range", data: replaceRow(5, "0,0,6.5"), kind: errs.Invalid, field: "line 8", msg: "z is outside +-6 mm"},
		{name: "duplicate header", data: replaceRow(30, "x,y,z"), kind: errs.Invalid, field: "line 33", msg: "duplicate header row (the header is on line 3)"},
		{name: "bad header", data: "x,y,w\n" + body, kind: errs.Invalid, field: "line 1", msg: "expected the header row", parseOnly: true},
		{name: "repeated header column", data: "x,x,z\n" + body, kind: errs.Invalid, field: "line 1", msg: "expected the header row", parseOnly: true},
		{name: "bad eye", data: "# eye: both\nx,y,z\n" + body, kind: errs.Invalid, field: "line 1", msg: "eye must be OD or OS"},
		{name: "contradicting eye", data: "# eye: OD\n# eye: OS\nx,y,z\n" + body, kind: errs.Invalid, field: "line 2", msg: "eye contradicts line 1"},
		{name: "bad units", data: "# units: um\nx,y,z\n" + body, kind: errs.Invalid, field: "line 1", msg: "units must be mm"},
		{name: "bad capture time", data: "# captured: yesterday\nx,y,z\n" + body, kind: errs.Invalid, field: "line 1", msg: "captured: unrecognised time"},
		{name: "control characters", data: "# device: a\x1b[31mb\nx,y,z\n" + body, kind: errs.Invalid, field: "line 1", msg: "control characters"},
		{name: "invalid UTF-8 metadata", data: "# device: \xff\xfe\nx,y,z\n" + body, kind: errs.Invalid, msg: "not a text file", parseOnly: true},
		{name: "binary", data: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", kind: errs.Invalid, msg: "not a text file", parseOnly: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.parseOnly {
				_, _, err = topo.ParseAs(topo.FormatXYZCSV, []byte(tt.data), tt.opts)
			} else {
				_, _, err = topo.Parse([]byte(tt.data), tt.opts)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if got := errs.KindOf(err); got != tt.kind {
				t.Errorf("kind = %v, want %v (%v)", got, tt.kind, err)
			}
			if got := errs.FieldOf(err); got != tt.field {
				t.Errorf("field = %q, want %q (%v)", got, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), "Jane") {
				t.Errorf("error %q quotes the patient's name", err)
			}
		})
	}
}

func TestParseXYZDetectRejectsOthers(t *testing.T) {
	for _, data := range []string{"x,y,w\n1,2,3\n", "hello world\n", "a;b;c\n1;2;3\n"} {
		_, _, err := topo.Parse([]byte(data), topo.Options{})
		if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "no parser accepts this file. xyz-csv: line 1: expected the header row x,y,z; cso: ") {
			t.Errorf("Parse(%q) = %v", data, err)
		}
	}
}

func TestEncodeXYZRoundTrip(t *testing.T) {
	c := topotest.Reference()
	c.NoiseUM = 3
	want := c.Surface()
	want.CapturedAt = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	var b bytes.Buffer
	if err := topo.EncodeXYZ(&b, want); err != nil {
		t.Fatal(err)
	}
	got, id, err := topo.Parse(b.Bytes(), topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !id.Empty() {
		t.Errorf("identifiers from an encoded surface: %v", id)
	}
	if got.Eye != want.Eye || got.Device != want.Device || !got.CapturedAt.Equal(want.CapturedAt) || got.Len() != want.Len() {
		t.Fatalf("metadata or length differ: %+v", got)
	}
	for i := range want.X {
		if got.X[i] != want.X[i] || got.Y[i] != want.Y[i] || got.Z[i] != want.Z[i] {
			t.Fatalf("point %d differs", i)
		}
	}

	nasal, err := want.Nasal()
	if err != nil {
		t.Fatal(err)
	}
	if err := topo.EncodeXYZ(&b, nasal); !errs.Is(errs.Invalid, err) {
		t.Errorf("EncodeXYZ of a nasal-frame surface = %v, want invalid", err)
	}
	bad := want.Clone()
	bad.Device = "a\nb"
	if err := topo.EncodeXYZ(&b, bad); !errs.Is(errs.Invalid, err) {
		t.Errorf("EncodeXYZ with a newline in the device = %v, want invalid", err)
	}
}

func TestSampleFile(t *testing.T) {
	data, err := os.ReadFile("testdata/sample-od.csv")
	if err != nil {
		t.Fatal(err)
	}
	s, id, err := topo.Parse(data, topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 15365 || s.Eye != topo.OD || !strings.HasPrefix(s.Device, "lensflow synthetic") || s.CapturedAt.IsZero() || !id.Empty() {
		t.Errorf("sample: %d points, eye %q, device %q, captured %v, identifiers %v", s.Len(), s.Eye, s.Device, s.CapturedAt, id)
	}
	// The file is the reference cornea plus 1 micron noise: compare heights.
	ref := topotest.Reference().Surface()
	var ss float64
	for i := range ref.Z {
		d := s.Z[i] - ref.Z[i]
		ss += d * d
	}
	if rms := math.Sqrt(ss/float64(len(ref.Z))) * 1000; rms < 0.8 || rms > 1.2 {
		t.Errorf("sample noise RMS = %.3f microns, want about 1 (regenerate with go generate)", rms)
	}
}

func TestTopotestReferenceGrid(t *testing.T) {
	// Same grid as the lab's benchmark generator: 15,365 points to 7 mm.
	if n := topotest.Reference().Surface().Len(); n != 15365 {
		t.Errorf("reference grid has %d points, want 15365", n)
	}
	lid := topotest.Reference()
	lid.Lid, lid.LidYMM = true, 3.5
	for _, y := range lid.Surface().Y {
		if y > 3.5 {
			t.Fatal("lid crop left a point above it")
		}
	}
}

var errSink error

func BenchmarkParseXYZ(b *testing.B) {
	// The reference scan with 2 microns of noise, written as the lab's
	// benchmark generator writes it (fixed decimals: about 450 KB).
	c := topotest.Reference()
	c.NoiseUM = 2
	s := c.Surface()
	var buf bytes.Buffer
	buf.WriteString("# eye: OD\n# patient: Jane Roe\nx,y,z\n")
	for i := range s.X {
		fmt.Fprintf(&buf, "%.4f,%.4f,%.6f\n", s.X[i], s.Y[i], s.Z[i])
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		_, _, errSink = topo.Parse(data, topo.Options{})
		if errSink != nil {
			b.Fatal(errSink)
		}
	}
}

func FuzzParseXYZ(f *testing.F) {
	f.Add([]byte("x,y,z\n" + points(60, "\n")))
	f.Add([]byte("# eye: OS\r\n# patient: X\r\nz,x,y\r\n" + points(55, "\r\n")))
	f.Add([]byte("x,y,z\n1,2\n3,4,5,6\n,,\n"))
	f.Add([]byte("x,y,z\n" + points(49, "\n") + "NaN,1,2\n"))
	f.Add([]byte("x,y,z\nx,y,z\n"))
	f.Add([]byte("\x00\x01\x02binary\xff\xfe"))
	f.Add([]byte("\xEF\xBB\xBF# eye: right\n\n x , y , z \n 1e-3 , -0x1p-2 , 1_0\n"))
	f.Add([]byte("x,y,z\n" + strings.Repeat("0.5,0.5,0.1\n", 60)))
	f.Add([]byte("x,y,z\n0,0,0\n0,1,0\n0,2,0\n1,1,1\n"))
	f.Add([]byte("x,y,z\n0,0,0\n1,1,0\n2,2,0\n3,3.000001,0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, id, err := topo.Parse(data, topo.Options{MinPoints: 1})
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || (e.Kind != errs.Invalid && e.Kind != errs.TooLarge) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if id == nil || s.Len() == 0 {
			t.Fatal("success without points or identifiers")
		}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if slices.Min(s.X) == slices.Max(s.X) || slices.Min(s.Y) == slices.Max(s.Y) {
			t.Fatal("accepted points without extent in x or y")
		}
		for i := range s.X {
			if math.Abs(s.X[i]) > topo.MaxAbsXYMM || math.Abs(s.Y[i]) > topo.MaxAbsXYMM || math.Abs(s.Z[i]) > topo.MaxAbsZMM {
				t.Fatalf("point %d out of range", i)
			}
		}
	})
}

func TestXYZConformance(t *testing.T) {
	c := topotest.Reference()
	c.NoiseUM = 1
	sample := c.CSV("# patient: Jane Roe", "# chart: C-991", "# serial: SN-4242")
	f, ok := topo.Lookup(topo.FormatXYZCSV)
	if !ok {
		t.Fatal("xyz-csv is not registered")
	}
	topotest.TestFormat(t, f, sample, "Jane Roe", "C-991", "SN-4242")
}
