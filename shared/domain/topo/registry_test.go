package topo_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
)

// fakeFormat detects files starting with its prefix at a fixed confidence.
type fakeFormat struct {
	name, prefix string
	score        int
}

func (f fakeFormat) Name() string { return f.name }
func (f fakeFormat) Detect(head []byte) int {
	if bytes.HasPrefix(head, []byte(f.prefix)) {
		return f.score
	}
	return topo.NoMatch
}
func (f fakeFormat) Parse([]byte, topo.Options) (*topo.Surface, *topo.Identifiers, error) {
	s := &topo.Surface{Format: "wrong"}
	for i := range topo.DefaultMinPoints {
		s.X = append(s.X, float64(i%10)*0.3)
		s.Y = append(s.Y, float64(i/10)*0.3)
		s.Z = append(s.Z, 0)
	}
	return s, nil, nil
}

func TestRegistryDetection(t *testing.T) {
	r := topo.NewRegistry(
		fakeFormat{name: "weak", prefix: "AB", score: topo.Weak},
		fakeFormat{name: "likely", prefix: "ABC", score: topo.Likely},
		fakeFormat{name: "likely-too", prefix: "ABC", score: topo.Likely},
	)
	if got := r.Formats(); !slices.Equal(got, []string{"weak", "likely", "likely-too"}) {
		t.Fatalf("Formats = %v", got)
	}
	tests := []struct{ data, want string }{
		{"ABZ", "weak"},
		{"ABCD", "likely"}, // tie goes to the first registered
	}
	for _, tt := range tests {
		t.Run(tt.data, func(t *testing.T) {
			s, id, err := r.Parse([]byte(tt.data), topo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if s.Format != tt.want {
				t.Errorf("parsed by %q, want %q", s.Format, tt.want)
			}
			if id == nil {
				t.Error("nil Identifiers")
			}
		})
	}
	_, _, err := r.Parse([]byte("ZZZ"), topo.Options{})
	if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "no parser accepts this file. weak: not its layout; likely: not its layout; likely-too: not its layout") {
		t.Errorf("unknown file: %v", err)
	}
	if strings.Contains(err.Error(), "not a text file") {
		t.Errorf("text file called binary: %v", err)
	}
	_, _, err = r.Parse([]byte("\x00\x01\x02"), topo.Options{})
	if !strings.Contains(fmt.Sprint(err), "not a text file") {
		t.Errorf("binary file: %v", err)
	}
	if f, ok := r.Lookup("weak"); !ok || f.Name() != "weak" {
		t.Errorf("Lookup(weak) = %v, %v", f, ok)
	}
	if _, ok := r.Lookup("nope"); ok {
		t.Error("Lookup(nope) found something")
	}
	s, _, err := r.ParseAs("likely-too", []byte("anything"), topo.Options{})
	if err != nil || s.Format != "likely-too" {
		t.Errorf("ParseAs = %v, %v", s, err)
	}
	_, _, err = r.ParseAs("pentacam", []byte("x"), topo.Options{})
	if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "format" || !strings.Contains(err.Error(), "known: weak, likely, likely-too") {
		t.Errorf("ParseAs unknown = %v", err)
	}
}

func TestRegisterPanics(t *testing.T) {
	for name, f := range map[string]topo.Format{
		"duplicate": fakeFormat{name: topo.FormatXYZCSV},
		"unnamed":   fakeFormat{},
		"nil":       nil,
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			topo.Register(f)
		})
	}
}

func TestDefaultRegistry(t *testing.T) {
	if !slices.Contains(topo.Formats(), topo.FormatXYZCSV) {
		t.Errorf("default formats %v lack xyz-csv", topo.Formats())
	}
}

func TestDetectCutMultibyte(t *testing.T) {
	// A UTF-8 character cut by the DetectBytes window must not make a text
	// file look binary.
	head := "# note: " + strings.Repeat("é", topo.DetectBytes) + "\nx,y,z\n"
	s, _, err := topo.Parse([]byte(head+points(60, "\n")), topo.Options{})
	if err != nil || s.Len() != 60 {
		t.Errorf("long UTF-8 comment: %v", err)
	}
}

func TestIdentifiersRedacted(t *testing.T) {
	id := topo.Identifiers{PatientName: "Jane Roe", BirthDate: "1990-02-03", Other: map[string]string{"note": "Roe"}}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "id", id, "idp", &id)
	for _, s := range []string{fmt.Sprint(id), fmt.Sprintf("%+v", id), fmt.Sprintf("%#v", id), fmt.Sprintf("%v", &id), logs.String()} {
		if strings.Contains(s, "Roe") || strings.Contains(s, "1990") {
			t.Errorf("identifiers leak: %s", s)
		}
	}
	if !strings.Contains(fmt.Sprint(id), "3 fields redacted") {
		t.Errorf("String = %s", id)
	}
	if id.Empty() || !(&topo.Identifiers{}).Empty() {
		t.Error("Empty is wrong")
	}
}
