package auth

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
)

// FuzzBearerToken feeds arbitrary Authorization headers (one, or two when
// second is set) to BearerToken. It must never panic; a refusal is
// Unauthenticated with ErrMissingToken or ErrMalformedHeader and does not
// echo the header; an accepted token is a bounded RFC 6750 b64token that
// the header carries after the Bearer scheme, and a header rebuilt from it
// yields it again.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []struct {
		first, second string
		two           bool
	}{
		{"Bearer abc.def.ghi", "", false}, {"bearer abc==", "", false}, {"BEARER   a-b_c~d+e/f", "", false},
		{"Bearer", "", false}, {"Bearer ", "", false}, {"", "", false}, {"Basic dXNlcjpwYXNz", "", false},
		{"Bearer ab=c", "", false}, {"Bearer a b", "", false}, {"Bearer\ta", "", false}, {"Bearer a\x00b", "", false},
		{"Bearer \xff\xfe", "", false}, {"Bearer a.b.c", "Bearer d.e.f", true}, {"", "", true},
		{"Bearer " + strings.Repeat("A", maxTokenLen+1), "", false}, {"Bearer " + strings.Repeat("A", maxTokenLen), "", false},
	} {
		f.Add(s.first, s.second, s.two)
	}
	f.Fuzz(func(t *testing.T, first, second string, two bool) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{first}
		if two {
			r.Header["Authorization"] = append(r.Header["Authorization"], second)
		}
		tok, err := BearerToken(r)
		if err != nil {
			if !errs.Is(errs.Unauthenticated, err) || !(errors.Is(err, ErrMissingToken) || errors.Is(err, ErrMalformedHeader)) || tok != "" {
				t.Fatalf("refusal %q, %v", tok, err)
			}
			assertNoEcho(t, err, strings.TrimSpace(first))
			return
		}
		if two || tok == "" || len(tok) > maxTokenLen || !isB64Token(tok) {
			t.Fatalf("accepted %q from %q", tok, first)
		}
		scheme, rest, _ := strings.Cut(first, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimLeft(rest, " ") != tok {
			t.Fatalf("token %q is not what %q carries", tok, first)
		}
		r.Header["Authorization"] = []string{"Bearer " + tok}
		if again, err := BearerToken(r); err != nil || again != tok {
			t.Fatalf("rebuilt header gives %q, %v", again, err)
		}
	})
}
