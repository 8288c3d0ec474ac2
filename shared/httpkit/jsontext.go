package httpkit

import (
	"strings"
	"unicode/utf8"
)

// PHI must arrive exactly as the client wrote it. encoding/json quietly
// turns two kinds of broken text in a JSON string into U+FFFD: a \u escape
// of a lone UTF-16 surrogate (a high one without the low one after it, or
// a low one alone) and bytes that are not UTF-8. A name or a note stored
// that way is a different name or note, and nobody is told, so
// UnmarshalStrict refuses both, naming the field.

// Problems with the text of a JSON string, as the error says them.
const (
	textLoneSurrogate = "contains a lone UTF-16 surrogate escape (\\uD800-\\uDFFF without its pair), which is no character"
	textInvalidUTF8   = "is not valid UTF-8"
)

// stringTextProblem checks lit, one JSON string literal with its quotes as
// it appears in the request, and says what is wrong with its text, or "".
// It does not check the JSON syntax itself (the decoder does).
func stringTextProblem(lit []byte) string {
	if len(lit) < 2 {
		return ""
	}
	s := lit[1 : len(lit)-1]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return "" // malformed escape: a syntax error the decoder reports
			}
			i += 6
			switch {
			case r >= 0xDC00 && r <= 0xDFFF:
				return textLoneSurrogate
			case r >= 0xD800 && r <= 0xDBFF:
				if i+1 >= len(s) || s[i] != '\\' || s[i+1] != 'u' {
					return textLoneSurrogate
				}
				lo, ok := hex4(s, i+2)
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return textLoneSurrogate
				}
				i += 6
			}
		case c == '\\':
			i += 2
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size <= 1 {
				return textInvalidUTF8
			}
			i += size
		}
	}
	return ""
}

// hex4 reads the four hex digits of a \u escape at s[i:].
func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// maxFieldPath bounds the dotted path of a field named in an error.
const maxFieldPath = 200

// fieldPath is the dotted name of key inside the value at path ("" for the
// body's top object): "rx.sphere". Deep paths are cut short with "...".
func fieldPath(path, key string) string {
	switch {
	case path == "":
		return key
	case strings.HasSuffix(path, "..."):
		return path
	case len(path)+1+len(key) > maxFieldPath:
		return path + "..."
	}
	return path + "." + key
}
