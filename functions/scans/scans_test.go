package scans

import (
	"net/url"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/scans"
)

func TestTearLayerOptions(t *testing.T) {
	for _, tc := range []struct {
		query  string
		want   scans.TearLayerOptions
		field  string
		detail string
	}{
		{"", scans.TearLayerOptions{}, "", ""},
		{"version=2&decentrationX=-0.5&decentrationY=1.25", scans.TearLayerOptions{Version: 2, DecentrationXMM: -0.5, DecentrationYMM: 1.25}, "", ""},
		{"version=0", scans.TearLayerOptions{}, "version", "must be a design version number"},
		{"version=two", scans.TearLayerOptions{}, "version", "must be a design version number"},
		{"decentrationX=NaN", scans.TearLayerOptions{}, "decentrationX", "must be millimetres from -5 to 5"},
		{"decentrationY=5.01", scans.TearLayerOptions{}, "decentrationY", "must be millimetres from -5 to 5"},
		{"decentrationY=1e400", scans.TearLayerOptions{}, "decentrationY", "must be millimetres"},
	} {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tearLayerOptions(q)
		if tc.field == "" {
			if err != nil || got != tc.want {
				t.Errorf("%q: %+v, %v; want %+v", tc.query, got, err, tc.want)
			}
			continue
		}
		if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tc.field || !strings.Contains(errs.Message(err), tc.detail) {
			t.Errorf("%q: %v (field %q), want Invalid naming %s: %s", tc.query, err, errs.FieldOf(err), tc.field, tc.detail)
		}
	}
}
