package lathe

import (
	"io"
	"math"
	"strconv"

	"github.com/lensflow/lensflow/shared/errs"
)

// valueWidth is the column the "\ comment" of a value line starts at.
const valueWidth = 20

// The structural comment lines.
const (
	surfaceDefinitionComment = `\-- SURFACE DEFINITION #1 --`
	radialDefinitionComment  = `\ --- radial definition ---`
)

// The comment of each header and surface definition line, in file order.
var (
	headerComments = [...]string{
		"side: BR back surface, FR front surface",
		"rotational symmetry: 0 symmetric, 1 not",
		"number of continuous surfaces",
		"base curve radius, horizontal meridian (mm, information only)",
		"base curve radius, vertical meridian (mm, information only)",
		"base curve optic zone diameter (mm)",
		"lens diameter (mm)",
		"number of parts to cut",
		"sag without edge radius (mm, information only)",
	}
	surfaceComments = [...]string{
		"rotational symmetry: 0 symmetric, 1 not",
		"x start: distance from centre (mm)",
		"x end (mm)",
		"junction blend radius (mm)",
		"angular filtering (MAF iterations)",
		"number of meridians",
		"rotation angle of the first meridian (deg)",
	}
)

// Write validates s (see Surface.Validate) and writes it to w as a DAC ALM
// point file: the .V5B text for a back surface, .V5F for a front surface
// (every z offset by the centre thickness). Points are written with ten
// decimals; the centre point exactly as (0, 0) or (0, CT).
func Write(w io.Writer, s Surface) error {
	b, err := Marshal(s)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return errs.E("lathe.Write", errs.Other, err)
	}
	return nil
}

// Marshal validates s and returns its point file text, as Write writes it.
func Marshal(s Surface) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	size := 1024
	for _, m := range s.Meridians {
		size += 80 + 30*len(m.Points)
	}
	b := make([]byte, 0, size)

	sym := 0
	if !s.Symmetric() {
		sym = 1
	}
	var v [32]byte
	b = valueLine(b, []byte(s.Side.Marker()), headerComments[0])
	b = valueLine(b, appendInt(v[:0], int64(sym)), headerComments[1])
	b = valueLine(b, appendInt(v[:0], 1), headerComments[2])
	b = valueLine(b, appendHeaderFloat(v[:0], s.BaseCurveHMM), headerComments[3])
	b = valueLine(b, appendHeaderFloat(v[:0], s.BaseCurveVMM), headerComments[4])
	b = valueLine(b, appendHeaderFloat(v[:0], s.OpticZoneMM), headerComments[5])
	b = valueLine(b, appendHeaderFloat(v[:0], s.DiameterMM), headerComments[6])
	b = valueLine(b, appendInt(v[:0], int64(s.Parts)), headerComments[7])
	b = valueLine(b, appendHeaderFloat(v[:0], s.SagMM), headerComments[8])

	b = append(b, surfaceDefinitionComment...)
	b = append(b, '\n')
	b = valueLine(b, appendInt(v[:0], int64(sym)), surfaceComments[0])
	b = valueLine(b, appendHeaderFloat(v[:0], s.XStartMM()), surfaceComments[1])
	b = valueLine(b, appendHeaderFloat(v[:0], 0), surfaceComments[2])
	b = valueLine(b, appendHeaderFloat(v[:0], s.BlendRadiusMM), surfaceComments[3])
	b = valueLine(b, appendInt(v[:0], int64(s.MAFIterations)), surfaceComments[4])
	b = valueLine(b, appendInt(v[:0], int64(len(s.Meridians))), surfaceComments[5])
	b = valueLine(b, appendHeaderFloat(v[:0], fileAngle(s.Meridians[0].AngleDeg)), surfaceComments[6])

	b = append(b, radialDefinitionComment...)
	b = append(b, '\n')
	ct := s.CenterThicknessMM // zero on a back surface
	for i, m := range s.Meridians {
		b = appendInt(b, int64(len(m.Points)))
		b = pad(b, len(appendInt(v[:0], int64(len(m.Points)))))
		b = append(b, `\ number of points, meridian `...)
		b = appendInt(b, int64(i+1))
		b = append(b, " at "...)
		b = appendHeaderFloat(b, fileAngle(m.AngleDeg))
		b = append(b, " deg\n"...)
		last := len(m.Points) - 1
		for j, p := range m.Points {
			z := p.ZMM + ct
			if j == last {
				z = ct // the centre, exactly
			}
			b = appendFixed10(b, p.XMM)
			b = append(b, " ; "...)
			b = appendFixed10(b, z)
			b = append(b, '\n')
		}
	}
	return b, nil
}

// valueLine appends "value<padding>\ comment\n".
func valueLine(b, value []byte, comment string) []byte {
	b = append(b, value...)
	b = pad(b, len(value))
	b = append(b, `\ `...)
	b = append(b, comment...)
	return append(b, '\n')
}

// pad appends the spaces that take a value of n bytes to valueWidth
// columns, and at least one.
func pad(b []byte, n int) []byte {
	for i := n; i < valueWidth || i == n; i++ {
		b = append(b, ' ')
	}
	return b
}

// appendHeaderFloat appends a header value in millimetres or degrees: up to
// ten decimals (the file's resolution), trailing zeros dropped but at least
// one decimal kept.
func appendHeaderFloat(b []byte, v float64) []byte {
	b = appendFixed10(b, v)
	end := len(b)
	for b[end-1] == '0' && b[end-2] != '.' {
		end--
	}
	return b[:end]
}

// fileAngle returns an angle in [0, 360) as it is written: an angle that
// rounds to 360 at ten decimals is written as 0.
func fileAngle(deg float64) float64 {
	if math.Round(deg*fixedScale) >= 360*fixedScale {
		return deg - 360
	}
	return deg
}

const fixedScale = 1e10

// appendFixed10 appends v with exactly ten decimals. Values are bounded by
// validation (|v| <= MaxAbsMM + MaxCenterThicknessMM), so the scaled value
// fits an int64 with room to spare; formatting the integer is several
// times faster than strconv's decimal conversion, which matters for files
// of thousands of points. A value that rounds to zero is written without a
// sign.
func appendFixed10(b []byte, v float64) []byte {
	n := int64(math.Round(v * fixedScale))
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	const scale = int64(fixedScale)
	b = appendInt(b, n/scale)
	b = append(b, '.')
	frac := n % scale
	var d [10]byte
	for i := 8; i >= 0; i -= 2 {
		q := frac % 100
		frac /= 100
		d[i], d[i+1] = digitPairs[2*q], digitPairs[2*q+1]
	}
	return append(b, d[:]...)
}

const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// appendInt appends the decimal form of i.
func appendInt(b []byte, i int64) []byte {
	if i >= 0 && i < 10 {
		return append(b, byte('0'+i))
	}
	return strconv.AppendInt(b, i, 10)
}
