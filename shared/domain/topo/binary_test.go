package topo_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
)

// binaryCase is a scan file of a real layout and the options it is
// uploaded with.
type binaryCase struct {
	name string
	data []byte
	opts topo.Options
}

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// binaryCases are the checked-in samples of every format and generated
// variants that exercise the metadata: layouts, a left eye under a lid, a
// raw CSO export with its device Sim-K and diameters, a micron grid.
func binaryCases(t testing.TB) []binaryCase {
	lid := topotest.Reference()
	lid.Eye, lid.Lid, lid.LidYMM, lid.NoiseUM, lid.Seed = topo.OS, true, 3.2, 1.5, 7
	return []binaryCase{
		{"sample xyz-csv", readSample(t, "sample-od.csv"), topo.Options{}},
		{"sample cso", readSample(t, "sample-cso-od.csv"), topo.Options{}},
		{"sample cso-raw", readSample(t, "sample-cso-raw-od.txt"), topo.Options{}},
		{"sample pentacam", readSample(t, "sample-pentacam-od.csv"), topo.Options{}},
		{"reference 15,365 points", topotest.Reference().CSV(), topo.Options{}},
		{"left eye under a lid", lid.CSV(), topo.Options{}},
		{"cso decimal comma CRLF", lid.CSOFile(topotest.DecimalComma(), topotest.CRLF()), topo.Options{}},
		{"cso-raw English depth", lid.CSORawFile(topotest.EnglishHeader(), topotest.DepthSign()), topo.Options{}},
		{"pentacam microns, no header", lid.PentacamFile(topotest.Microns(), topotest.NoHeader()),
			topo.Options{GridUnits: topo.GridUnitsUM, GridReference: topo.GridReferenceApex}},
	}
}

// A surface read back from its binary form equals the parsed one field
// for field, writes the same bytes again, and fits and designs exactly as
// the parsed one does, for every format.
func TestBinaryRoundTripMatchesParse(t *testing.T) {
	for _, tc := range binaryCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			parsed, _, err := topo.Parse(tc.data, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			b, err := parsed.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d points: file %d bytes, binary %d", parsed.Len(), len(tc.data), len(b))
			var got topo.Surface
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&got, parsed) {
				t.Fatalf("decoded surface differs from the parsed one:\n got %+v\nwant %+v", summary(&got), summary(parsed))
			}
			again, err := got.MarshalBinary()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs (%v)", err)
			}
			sameFit(t, parsed, &got)
			for _, lt := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
				sameDesign(t, lt, parsed, &got)
			}
		})
	}
}

func summary(s *topo.Surface) topo.Surface {
	c := *s
	c.X, c.Y, c.Z = nil, nil, nil
	return c
}

func sameFit(t *testing.T, want, got *topo.Surface) {
	t.Helper()
	m1, err1 := cornea.Fit(want, cornea.ModelOptions{})
	m2, err2 := cornea.Fit(got, cornea.ModelOptions{})
	if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
		t.Fatalf("fit: parsed %v, decoded %v", err1, err2)
	}
	if !reflect.DeepEqual(m1, m2) {
		t.Fatal("the fit of the decoded surface differs from the parsed one's")
	}
}

func sameDesign(t *testing.T, lt lens.Type, want, got *topo.Surface) {
	t.Helper()
	in := pipeline.Inputs{LensType: lt, Clinical: lens.Clinical{RefractionD: -2}}
	r1, err1 := pipeline.Design(want, in)
	r2, err2 := pipeline.Design(got, in)
	if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
		t.Fatalf("%s design: parsed %v, decoded %v", lt, err1, err2)
	}
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("%s design of the decoded surface differs from the parsed one's", lt)
	}
}

// full is a surface with every field set, hand-built.
func full() *topo.Surface {
	return &topo.Surface{
		X: []float64{0, 1.25, -2.5, math.Copysign(0, -1)}, Y: []float64{0, -0.1, 3, 1e-300}, Z: []float64{0, 0.1, 0.4, 5.999999999},
		Eye: topo.OS, Device: "Sirius — «test»", Format: topo.FormatCSORaw, NasalFrame: true,
		CapturedAt: time.Date(2026, 3, 1, 10, 15, 7, 123456789, time.FixedZone("CET", 3600)),
		Layout:     []string{topo.LayoutCRLF, topo.LayoutBFS(7.85), ""},
		Measurements: &topo.DeviceMeasurements{CornealDiameterMM: 11.85, PupilDiameterMM: 3.2,
			SimK:       &topo.DeviceSimK{FlatKD: 43.07, SteepKD: 43.5, FlatAxisDeg: 180, SteepAxisDeg: 90},
			Refraction: &topo.DeviceRefraction{SphereD: -2.25, CylinderD: -0.75, AxisDeg: 175, VertexMM: 12}},
	}
}

// Every field, and the difference between nil and empty, survives the
// binary form; a capture time keeps its instant and offset.
func TestBinaryKeepsEveryField(t *testing.T) {
	if n := reflect.TypeFor[topo.Surface]().NumField(); n != 10 {
		t.Fatalf("topo.Surface has %d fields: add the new one to the binary form and raise BinaryVersion", n)
	}
	utc := time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC)
	for name, s := range map[string]*topo.Surface{
		"every field":          full(),
		"nothing but points":   {X: []float64{1}, Y: []float64{2}, Z: []float64{3}},
		"no points":            {},
		"empty layout":         {Layout: []string{}, CapturedAt: utc},
		"bare measurements":    {Measurements: &topo.DeviceMeasurements{}},
		"measurements no SimK": {Measurements: &topo.DeviceMeasurements{Refraction: &topo.DeviceRefraction{SphereD: 1}}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := s.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got topo.Surface
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !got.CapturedAt.Equal(s.CapturedAt) || offset(got.CapturedAt) != offset(s.CapturedAt) {
				t.Fatalf("capture time %v, want %v", got.CapturedAt, s.CapturedAt)
			}
			got.CapturedAt, s.CapturedAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(&got, s) {
				t.Fatalf("got %#v\nwant %#v", got, s)
			}
			for i := range s.X {
				if math.Float64bits(got.X[i]) != math.Float64bits(s.X[i]) {
					t.Fatalf("x %d: %v, want %v bit for bit", i, got.X[i], s.X[i])
				}
			}
		})
	}
}

func offset(t time.Time) int { _, o := t.Zone(); return o }

// Columns of decimals, as text files give them, take a few bytes a point;
// a column with one value that is not a short decimal (a computed one, a
// negative zero, one too fine or too large) is written raw, exactly.
func TestBinaryDecimalColumns(t *testing.T) {
	c := topotest.Reference()
	c.NoiseUM = 2
	ref, _, err := topo.Parse(c.CSV(), topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ref.MarshalBinary()
	if n := ref.Len(); len(b) > 7*n {
		t.Fatalf("%d bytes for %d points of decimals, want at most 7 a point", len(b), n)
	}
	for name, v := range map[string]float64{
		"computed":      math.Sqrt(2),
		"negative zero": math.Copysign(0, -1),
		"too fine":      1e-13,
		"too large":     1 << 51,
	} {
		t.Run(name, func(t *testing.T) {
			s := ref.Clone()
			s.X[1] = v
			b2, err := s.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(b2) < len(b)+6*s.Len() {
				t.Fatalf("%d bytes: x was not written raw (decimals: %d)", len(b2), len(b))
			}
			var got topo.Surface
			if err := got.UnmarshalBinary(b2); err != nil || math.Float64bits(got.X[1]) != math.Float64bits(v) || !reflect.DeepEqual(got.Y, s.Y) {
				t.Fatalf("%v: x[1] = %v, want %v", err, got.X[1], v)
			}
		})
	}
}

// The three coordinate slices share one allocation, but appending to one
// never reaches another.
func TestBinaryCoordinatesAreIndependent(t *testing.T) {
	b, _ := full().MarshalBinary()
	var s topo.Surface
	if err := s.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	y := append([]float64(nil), s.Y...)
	s.X = append(s.X, 99)
	if !reflect.DeepEqual(s.Y, y) {
		t.Fatal("appending to X changed Y")
	}
}

// withChecksum returns b with its checksum recomputed: a change that
// passes the checksum must still be caught by the structure checks.
func withChecksum(b []byte) []byte {
	c := bytes.Clone(b)
	if len(c) >= 4 {
		binary.LittleEndian.PutUint32(c[len(c)-4:], crc32.Checksum(c[:len(c)-4], crc32.MakeTable(crc32.Castagnoli)))
	}
	return c
}

func TestBinaryRefusesWhatItDidNotWrite(t *testing.T) {
	good, err := full().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	setIn := func(b []byte, i int, v ...byte) []byte { c := bytes.Clone(b); copy(c[i:], v); return withChecksum(c) }
	set := func(i int, v ...byte) []byte { return setIn(good, i, v...) }
	tiny, err := (&topo.Surface{X: []float64{0, 1}, Y: []float64{0, 1}, Z: []float64{0, 0.5}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Offsets of version 1: magic 0, version 6, flags 8, eye 9, zone 10,
	// seconds 11, nanoseconds 19, offset 23, format length 27. full's x
	// and y are raw columns (a negative zero, 1e-300), its z a decimal
	// one of 9 digits.
	le := func(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }
	xAt := bytes.Index(good, le(1.25)) - 8 // x[0]
	countAt, yAt := xAt-5, xAt+32+1        // the count; y[0]
	zAt := yAt + 32                        // z's codec
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "magic header"},
		{"text file", []byte("x,y,z\n0,0,0\n"), "magic header"},
		{"newer version", set(6, 2, 0), "version 2"},
		{"version 0", set(6, 0, 0), "version 0"},
		{"unknown flag", set(8, 0x20|0x1f), "unknown flags"},
		{"Sim-K without measurements", set(8, 0x04), "Sim-K or refraction without measurements"},
		{"layout without its flag", set(8, 0x0f), "layout entries without the layout flag"},
		{"unknown eye", set(9, 3), "unknown eye code 3"},
		{"unknown zone", set(10, 3), "unknown zone code 3"},
		{"nanoseconds over a second", set(19, 0x00, 0xca, 0x9a, 0x3b), "capture time is out of range"},
		{"format length past the end", set(27, 0xff, 0xff), "truncated in the format name"},
		{"a NaN coordinate", set(xAt+8, le(math.NaN())...), "value 2 of the x coordinates is not finite"},
		{"an infinite coordinate", set(yAt+16, le(math.Inf(-1))...), "value 3 of the y coordinates is not finite"},
		{"point count too large", set(countAt, 0xff, 0xff, 0xff, 0x7f), "2147483647 points need at least 6442450948 bytes"},
		{"unknown codec", set(xAt-1, 2), "unknown codec 2 for the x coordinates"},
		{"decimals written raw", set(yAt+24, le(2)...), "the y coordinates are written raw but are decimals"},
		{"too many digits", set(zAt+1, 13), "13 decimal digits for the z coordinates"},
		// tiny's z, 0 and 0.5, is written with 1 digit as 0 and 5; as 0
		// and 50 with 2 digits it is the same surface, not in its form.
		{"more digits than needed", setIn(tiny, len(tiny)-4-3, 2, 0x00, 0x64), "the z coordinates have more decimal digits than they need"},
		{"overlong varint", set(zAt+2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), "value 1 of the z coordinates is truncated or overlong"},
		{"a decimal out of range", set(zAt+2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10), "value 1 of the z coordinates is out of range"},
		{"padded varint", withChecksum(append(append(bytes.Clone(tiny[:len(tiny)-5]), 0x8a, 0x00), 0, 0, 0, 0)), "value 2 of the z coordinates is truncated or overlong"},
		{"flipped bit", func() []byte { c := bytes.Clone(good); c[xAt+3] ^= 0x10; return c }(), "checksum mismatch"},
		{"bytes after the end", append(bytes.Clone(good), 0), "bytes after the checksum: 1"},
		{"truncated checksum", good[:len(good)-1], "truncated in the checksum: it needs 4 bytes, 3 are left"},
		{"truncated header", good[:20], "truncated in the capture time: it needs 17 bytes, 10 are left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := topo.Surface{Device: "unchanged"}
			err := s.UnmarshalBinary(tc.data)
			if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want Invalid saying %q", err, tc.want)
			}
			if s.Device != "unchanged" {
				t.Fatal("a failed decode changed the surface")
			}
		})
	}
	var s topo.Surface
	if err := s.UnmarshalBinary(set(6, 9, 0)); !errors.Is(err, topo.ErrBinaryVersion) {
		t.Fatalf("another version: %v, want ErrBinaryVersion", err)
	}
}

// Every prefix of a binary surface, and every single flipped bit, is
// refused.
func TestBinaryRefusesEveryTruncationAndBitFlip(t *testing.T) {
	good, _ := full().MarshalBinary()
	var s topo.Surface
	for n := range len(good) {
		if err := s.UnmarshalBinary(good[:n]); !errs.Is(errs.Invalid, err) {
			t.Fatalf("the first %d bytes of %d: %v", n, len(good), err)
		}
	}
	for i := range 8 * len(good) {
		c := bytes.Clone(good)
		c[i/8] ^= 1 << (i % 8)
		if err := s.UnmarshalBinary(c); !errs.Is(errs.Invalid, err) {
			t.Fatalf("bit %d flipped: %v", i, err)
		}
	}
}

func TestBinaryRefusesInvalidSurfaces(t *testing.T) {
	for name, s := range map[string]*topo.Surface{
		"ragged":     {X: []float64{1, 2}, Y: []float64{1}, Z: []float64{1}},
		"infinite":   {X: []float64{math.Inf(1)}, Y: []float64{1}, Z: []float64{1}},
		"bad eye":    {Eye: "OU"},
		"long name":  {Device: strings.Repeat("d", 1<<16)},
		"year 10000": {CapturedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := s.MarshalBinary(); !errs.Is(errs.Invalid, err) {
			t.Errorf("%s: %v, want Invalid", name, err)
		}
	}
}

// FuzzUnmarshalBinary: no input panics; an error is always errs.Invalid;
// whatever is accepted is a valid surface whose binary form is exactly the
// input, so nothing is accepted that MarshalBinary did not write. Each
// input is also tried with its checksum made right, so the checks behind
// the checksum are exercised too.
func FuzzUnmarshalBinary(f *testing.F) {
	for _, s := range []*topo.Surface{full(), {}, {X: []float64{1}, Y: []float64{2}, Z: []float64{3}, Layout: []string{}}} {
		b, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("LFSURF\x01\x00"))
	f.Add([]byte("x,y,z\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, withChecksum(data)} {
			var s topo.Surface
			err := s.UnmarshalBinary(in)
			if err != nil {
				if !errs.Is(errs.Invalid, err) {
					t.Fatalf("unclassified error %v", err)
				}
				continue
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("accepted an invalid surface: %v", err)
			}
			out, err := s.MarshalBinary()
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("accepted bytes that are not the surface's binary form (%v)", err)
			}
		}
	})
}

var surfSink *topo.Surface

// BenchmarkReferenceSurface compares the two ways to get the reference
// scan's 15,365 points back: parsing the xyz-csv file as uploaded, and
// decoding the binary form stored beside it.
func BenchmarkReferenceSurface(b *testing.B) {
	c := topotest.Reference()
	c.NoiseUM = 2
	file := c.CSV()
	parsed, _, err := topo.Parse(file, topo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	enc, err := parsed.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(file)))
		b.ReportAllocs()
		for b.Loop() {
			if surfSink, _, err = topo.Parse(file, topo.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			surfSink = &topo.Surface{}
			if err := surfSink.UnmarshalBinary(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parsed.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
