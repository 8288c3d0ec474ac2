package topo_test

import (
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
)

// TestRefusalNamesEachParsersObjection: a file no format recognises is
// refused with what each format expected and the line at fault, without
// quoting the file (its header may name the patient); a multipart form
// body gets the hint to send the file itself.
func TestRefusalNamesEachParsersObjection(t *testing.T) {
	cases := []struct {
		name, data string
		want       []string
	}{
		{"a spreadsheet export with a header the formats do not know",
			"Patient;Jane Roe\r\nExam;2026-03-01\r\n\r\nX;Y;Z\r\n1,0;2,0;3,0\r\n4,0;5,0;6,0\r\n",
			[]string{
				"xyz-csv: line 1: expected the header row x,y,z",
				"cso: line 5: the first row of values has 3; expected 256 (one per semi-meridian), or a header naming a CSO device",
				"cso-raw: expected its header (rings, semi-meridians, measured data, SIM-k) and then one value per line",
				"pentacam: line 5: the first row of values has 3; expected 141 (142 with a row label), or a header naming the Pentacam",
			}},
		{"one value per line with no header", "\n7,80\n7,81\n",
			[]string{"xyz-csv: line 2: expected the header row x,y,z", "cso-raw: line 2: a value before its header"}},
		{"a matrix of the wrong width", "# ring rows\n" + strings.Repeat("1.5;", 49) + "1.5\n",
			[]string{"cso: line 2: the first row of values has 50; expected 256", "pentacam: line 2: the first row of values has 50; expected 141"}},
		{"a multipart form (curl -F)",
			"--------------------------d74496d66958873e\r\nContent-Disposition: form-data; name=\"file\"; filename=\"scan.csv\"\r\nContent-Type: text/csv\r\n\r\nx,y,z\r\n1,2,3\r\n--------------------------d74496d66958873e--\r\n",
			[]string{"(tried: xyz-csv, cso, cso-raw, pentacam): it is a multipart/form-data body", "curl --data-binary @file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := topo.Parse([]byte(c.data), topo.Options{})
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("error %v, want Invalid", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "Jane") || strings.Contains(err.Error(), "2026-03-01") {
				t.Errorf("error quotes the file: %q", err)
			}
		})
	}
}
