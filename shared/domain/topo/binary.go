package topo

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
)

// The binary form of a Surface is what lensflow stores once a file has been
// parsed, so that later steps read the points back without parsing text
// again. It holds everything a Surface holds, bit for bit: a Surface read
// back from it fits and designs exactly as the one that was written.
//
// Version 1, every integer little-endian:
//
//	magic        6 bytes  "LFSURF"
//	version      uint16   BinaryVersion
//	flags        uint8    1 nasal frame, 2 measurements, 4 device Sim-K,
//	                      8 device refraction, 16 layout present (even empty)
//	eye          uint8    0 unknown, 1 OD, 2 OS
//	capture time uint8 zone (0 none, 1 UTC, 2 fixed offset), int64 Unix
//	             seconds, uint32 nanoseconds, int32 offset east of UTC (s)
//	format       uint16 length, bytes
//	device       uint16 length, bytes
//	layout       uint16 count, then each entry as uint16 length, bytes
//	measurements (flag 2) corneal and pupil diameters, float64 each;
//	             (flag 4) flat K, steep K, flat axis, steep axis;
//	             (flag 8) sphere, cylinder, axis, vertex
//	points       uint32 n, then the n x, the n y and the n z, each as a
//	             column (see below)
//	checksum     uint32   CRC-32C (Castagnoli) of every byte before it
//
// A column is written in one of two codecs, the first that holds it:
//
//	1 decimal    uint8 d (0 to 12), then for each value v_i the zigzag
//	             varint (binary.AppendVarint) of k_i - k_(i-1), where
//	             float64(k_i) / 10^d is v_i bit for bit, |k_i| <= 2^50,
//	             k_(-1) = 0, and d is the smallest such
//	0 raw        each value's float64 bits, 8 bytes
//
// Coordinates read from text are decimals, so most columns take 1 to 4
// bytes a point instead of 8; a column computed by a reader (polar rings
// turned into x and y) is written raw.
//
// Every value is checked on the way in: an unknown version, flag or codec,
// a length running past the end, bytes left over, a value that is not
// finite or out of range, an eye or zone code out of range, a column not
// in the form the writer gives it, or a checksum that does not match is an
// errs.Invalid error naming the part at fault. So what is accepted is
// exactly what MarshalBinary writes for the surface it gives back. A
// capture time keeps its instant and offset but not a zone's name (a time
// in a named zone reads back in a fixed zone of the same offset).

// BinaryVersion is the version of the binary form this build writes, and
// the only one it reads.
const BinaryVersion = 1

// binaryMagic opens every binary surface.
const binaryMagic = "LFSURF"

// ErrBinaryVersion is wrapped by the error of UnmarshalBinary on a binary
// surface of a version this build does not read, so callers can fall back
// to the original file.
var ErrBinaryVersion = errors.New("a version of the binary surface this build does not read")

// Flag bits of the binary form.
const (
	binNasal       = 1 << iota // NasalFrame
	binMeasured                // Measurements != nil
	binSimK                    // Measurements.SimK != nil
	binRefraction              // Measurements.Refraction != nil
	binLayout                  // Layout != nil
	binKnownFlags  = binNasal | binMeasured | binSimK | binRefraction | binLayout
	binHeaderBytes = len(binaryMagic) + 2
)

// Zone codes of the capture time.
const (
	zoneNone  = 0 // the zero time: not given
	zoneUTC   = 1
	zoneFixed = 2
)

// Bounds of a capture time: years 1 to 9999, and an offset within a day.
const (
	minUnix   = -62135596800 // 0001-01-01T00:00:00Z
	maxUnix   = 253402300799 // 9999-12-31T23:59:59Z
	maxOffset = 24 * 3600
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	_ encoding.BinaryMarshaler   = (*Surface)(nil)
	_ encoding.BinaryAppender    = (*Surface)(nil)
	_ encoding.BinaryUnmarshaler = (*Surface)(nil)
)

// MarshalBinary returns the binary form of s (see BinaryVersion). s must
// pass Validate; its strings may be at most 65,535 bytes and its layout at
// most 65,535 entries.
func (s *Surface) MarshalBinary() ([]byte, error) {
	if s == nil {
		return nil, errs.Ef("topo.Surface.MarshalBinary", errs.Invalid, "nil surface")
	}
	return s.AppendBinary(nil)
}

// AppendBinary appends the binary form of s to b (see MarshalBinary),
// growing b once to hold three bytes a value, which decimal columns from
// text files rarely outgrow.
func (s *Surface) AppendBinary(b []byte) ([]byte, error) {
	const op = "topo.Surface.MarshalBinary"
	if err := s.Validate(); err != nil {
		return b, err
	}
	if err := s.checkBinaryLimits(op); err != nil {
		return b, err
	}
	b = slices.Grow(b, s.metadataSize()+4+3*(2+3*len(s.X))+4)
	start := len(b)
	b = append(b, binaryMagic...)
	b = binary.LittleEndian.AppendUint16(b, BinaryVersion)
	b = append(b, s.binaryFlags(), eyeCode(s.Eye))
	b = appendTime(b, s.CapturedAt)
	b = appendString(b, s.Format)
	b = appendString(b, s.Device)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s.Layout)))
	for _, l := range s.Layout {
		b = appendString(b, l)
	}
	b = appendMeasurements(b, s.Measurements)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.X)))
	for _, col := range [3][]float64{s.X, s.Y, s.Z} {
		b = appendColumn(b, col)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli)), nil
}

// metadataSize is the length of the binary form up to the points.
func (s *Surface) metadataSize() int {
	n := binHeaderBytes + 2 + 17 + 2 + len(s.Format) + 2 + len(s.Device) + 2
	for _, l := range s.Layout {
		n += 2 + len(l)
	}
	if m := s.Measurements; m != nil {
		n += 16
		if m.SimK != nil {
			n += 32
		}
		if m.Refraction != nil {
			n += 32
		}
	}
	return n
}

func (s *Surface) checkBinaryLimits(op string) error {
	switch {
	case len(s.Format) > math.MaxUint16:
		return errs.Field(op, "format", "longer than %d bytes", math.MaxUint16)
	case len(s.Device) > math.MaxUint16:
		return errs.Field(op, "device", "longer than %d bytes", math.MaxUint16)
	case len(s.Layout) > math.MaxUint16:
		return errs.Field(op, "layout", "more than %d entries", math.MaxUint16)
	case len(s.X) > math.MaxUint32:
		return errs.Ef(op, errs.TooLarge, "more than %d points", uint32(math.MaxUint32))
	}
	for i, l := range s.Layout {
		if len(l) > math.MaxUint16 {
			return errs.Field(op, fmt.Sprintf("layout entry %d", i+1), "longer than %d bytes", math.MaxUint16)
		}
	}
	if t := s.CapturedAt; !t.IsZero() && (t.Unix() < minUnix || t.Unix() > maxUnix) {
		return errs.Field(op, "capturedAt", "outside the years 1 to 9999")
	}
	return nil
}

func (s *Surface) binaryFlags() byte {
	var f byte
	if s.NasalFrame {
		f |= binNasal
	}
	if s.Layout != nil {
		f |= binLayout
	}
	if m := s.Measurements; m != nil {
		f |= binMeasured
		if m.SimK != nil {
			f |= binSimK
		}
		if m.Refraction != nil {
			f |= binRefraction
		}
	}
	return f
}

func eyeCode(e Eye) byte {
	switch e {
	case OD:
		return 1
	case OS:
		return 2
	}
	return 0
}

func appendTime(b []byte, t time.Time) []byte {
	zone, sec, nsec, off := byte(zoneNone), int64(0), uint32(0), int32(0)
	if !t.IsZero() {
		zone, sec, nsec = zoneUTC, t.Unix(), uint32(t.Nanosecond())
		if t.Location() != time.UTC {
			_, o := t.Zone()
			zone, off = zoneFixed, int32(o)
		}
	}
	b = append(b, zone)
	b = binary.LittleEndian.AppendUint64(b, uint64(sec))
	b = binary.LittleEndian.AppendUint32(b, nsec)
	return binary.LittleEndian.AppendUint32(b, uint32(off))
}

func appendString(b []byte, v string) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func appendFloats(b []byte, v ...float64) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func appendMeasurements(b []byte, m *DeviceMeasurements) []byte {
	if m == nil {
		return b
	}
	b = appendFloats(b, m.CornealDiameterMM, m.PupilDiameterMM)
	if k := m.SimK; k != nil {
		b = appendFloats(b, k.FlatKD, k.SteepKD, k.FlatAxisDeg, k.SteepAxisDeg)
	}
	if r := m.Refraction; r != nil {
		b = appendFloats(b, r.SphereD, r.CylinderD, r.AxisDeg, r.VertexMM)
	}
	return b
}

// UnmarshalBinary reads a Surface written by MarshalBinary into s. Input
// that is not exactly such a surface, of this build's BinaryVersion, is an
// errs.Invalid error naming what is wrong (wrapping ErrBinaryVersion for
// another version), and leaves s unchanged. X, Y and Z share one
// allocation; each has its own capacity, so appending to one never
// overwrites another.
func (s *Surface) UnmarshalBinary(data []byte) error {
	d := binReader{data: data}
	out, err := d.surface()
	if err != nil {
		return err
	}
	*s = *out
	return nil
}

// binReader reads the binary form front to back; every read checks that
// the bytes it needs are there.
type binReader struct {
	data []byte
	off  int
}

const unmarshalOp = "topo.Surface.UnmarshalBinary"

func corrupt(format string, args ...any) error {
	return errs.Ef(unmarshalOp, errs.Invalid, "binary surface: "+format, args...)
}

func (d *binReader) take(n int, what string) ([]byte, error) {
	if left := len(d.data) - d.off; n > left {
		return nil, corrupt("truncated in the %s: it needs %d bytes, %d are left", what, n, left)
	}
	b := d.data[d.off : d.off+n]
	d.off += n
	return b, nil
}

func (d *binReader) u8(what string) (byte, error) {
	b, err := d.take(1, what)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (d *binReader) u16(what string) (int, error) {
	b, err := d.take(2, what)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint16(b)), nil
}

func (d *binReader) str(what string) (string, error) {
	n, err := d.u16(what + " length")
	if err != nil {
		return "", err
	}
	b, err := d.take(n, what)
	return string(b), err
}

// floats reads len(dst) finite float64 values.
func (d *binReader) floats(dst []float64, what string) error {
	b, err := d.take(8*len(dst), what)
	if err != nil {
		return err
	}
	for i := range dst {
		u := binary.LittleEndian.Uint64(b[8*i : 8*i+8])
		if u&expBits == expBits { // NaN or an infinity
			return corrupt("value %d of the %s is not finite", i+1, what)
		}
		dst[i] = math.Float64frombits(u)
	}
	return nil
}

// expBits are the exponent bits of a float64: all set only in NaNs and
// infinities.
const expBits = 0x7ff << 52

func (d *binReader) surface() (*Surface, error) {
	if err := d.header(); err != nil {
		return nil, err
	}
	flags, err := d.u8("flags")
	if err != nil {
		return nil, err
	}
	switch {
	case flags&^binKnownFlags != 0:
		return nil, corrupt("unknown flags %#02x", flags&^binKnownFlags)
	case flags&(binSimK|binRefraction) != 0 && flags&binMeasured == 0:
		return nil, corrupt("flags %#02x give a device Sim-K or refraction without measurements", flags)
	}
	s := &Surface{NasalFrame: flags&binNasal != 0}
	if err := d.eye(s); err != nil {
		return nil, err
	}
	if err := d.captured(s); err != nil {
		return nil, err
	}
	if err := d.strings(s, flags); err != nil {
		return nil, err
	}
	if err := d.measurements(s, flags); err != nil {
		return nil, err
	}
	if err := d.points(s); err != nil {
		return nil, err
	}
	return s, d.checksum()
}

func (d *binReader) header() error {
	magic, err := d.take(len(binaryMagic), "magic header")
	if err != nil || string(magic) != binaryMagic {
		return corrupt("not a binary surface (the magic header %q is missing)", binaryMagic)
	}
	v, err := d.u16("version")
	if err != nil {
		return err
	}
	if v != BinaryVersion {
		return errs.E(unmarshalOp, errs.Invalid, fmt.Errorf("binary surface: version %d: %w (it reads version %d)", v, ErrBinaryVersion, BinaryVersion))
	}
	return nil
}

func (d *binReader) eye(s *Surface) error {
	c, err := d.u8("eye")
	if err != nil {
		return err
	}
	switch c {
	case 0:
	case 1:
		s.Eye = OD
	case 2:
		s.Eye = OS
	default:
		return corrupt("unknown eye code %d", c)
	}
	return nil
}

func (d *binReader) captured(s *Surface) error {
	b, err := d.take(17, "capture time")
	if err != nil {
		return err
	}
	zone := b[0]
	sec := int64(binary.LittleEndian.Uint64(b[1:]))
	nsec := binary.LittleEndian.Uint32(b[9:])
	off := int32(binary.LittleEndian.Uint32(b[13:]))
	switch {
	case zone == zoneNone && (sec != 0 || nsec != 0 || off != 0):
		return corrupt("the capture time is absent but has a value")
	case zone == zoneNone:
		return nil
	case zone > zoneFixed:
		return corrupt("unknown zone code %d in the capture time", zone)
	case sec < minUnix || sec > maxUnix || nsec >= 1e9 || off < -maxOffset || off > maxOffset || zone == zoneUTC && off != 0:
		return corrupt("the capture time is out of range")
	}
	s.CapturedAt = time.Unix(sec, int64(nsec)).UTC()
	if zone == zoneFixed {
		s.CapturedAt = s.CapturedAt.In(time.FixedZone("", int(off)))
	}
	return nil
}

func (d *binReader) strings(s *Surface, flags byte) error {
	var err error
	if s.Format, err = d.str("format name"); err != nil {
		return err
	}
	if s.Device, err = d.str("device"); err != nil {
		return err
	}
	n, err := d.u16("layout count")
	switch {
	case err != nil:
		return err
	case n > 0 && flags&binLayout == 0:
		return corrupt("layout entries without the layout flag")
	case n == 0 && flags&binLayout != 0:
		s.Layout = []string{}
		return nil
	case n == 0:
		return nil
	}
	s.Layout = make([]string, n)
	for i := range s.Layout {
		if s.Layout[i], err = d.str(fmt.Sprintf("layout entry %d", i+1)); err != nil {
			return err
		}
	}
	return nil
}

func (d *binReader) measurements(s *Surface, flags byte) error {
	if flags&binMeasured == 0 {
		return nil
	}
	m := &DeviceMeasurements{}
	v := make([]float64, 2, 10)
	if err := d.floats(v, "device diameters"); err != nil {
		return err
	}
	m.CornealDiameterMM, m.PupilDiameterMM = v[0], v[1]
	if flags&binSimK != 0 {
		k := v[2:6]
		if err := d.floats(k, "device Sim-K"); err != nil {
			return err
		}
		m.SimK = &DeviceSimK{FlatKD: k[0], SteepKD: k[1], FlatAxisDeg: k[2], SteepAxisDeg: k[3]}
	}
	if flags&binRefraction != 0 {
		r := v[6:10]
		if err := d.floats(r, "device refraction"); err != nil {
			return err
		}
		m.Refraction = &DeviceRefraction{SphereD: r[0], CylinderD: r[1], AxisDeg: r[2], VertexMM: r[3]}
	}
	s.Measurements = m
	return nil
}

func (d *binReader) points(s *Surface) error {
	b, err := d.take(4, "point count")
	if err != nil {
		return err
	}
	n := int(binary.LittleEndian.Uint32(b))
	// Each column takes at least a byte for its codec and one for each
	// value, and the checksum 4: what cannot be there is not allocated.
	if need, left := 3*int64(n)+3+4, int64(len(d.data)-d.off); need > left {
		return corrupt("%d points need at least %d bytes, %d are left", n, need, left)
	}
	var all []float64
	if n > 0 {
		all = make([]float64, 3*n)
		s.X, s.Y, s.Z = all[:n:n], all[n:2*n:2*n], all[2*n:]
	}
	for i, col := range [3][]float64{s.X, s.Y, s.Z} {
		if err := d.column(col, i); err != nil {
			return err
		}
	}
	return nil
}

func (d *binReader) checksum() error {
	body := d.data[:d.off]
	b, err := d.take(4, "checksum")
	if err != nil {
		return err
	}
	if binary.LittleEndian.Uint32(b) != crc32.Checksum(body, castagnoli) {
		return corrupt("checksum mismatch: the bytes changed after they were written")
	}
	if d.off != len(d.data) {
		return corrupt("bytes after the checksum: %d", len(d.data)-d.off)
	}
	return nil
}
