package ports

import (
	"fmt"
	"testing"
)

func TestCheckBlobName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"scans/0b7f/raw", true},
		{"a", true},
		{"clinic-1/patient_2/obj.v1.bin", true},
		{"ünïcode/名前", true},
		{"", false},
		{".", false},
		{"..", false},
		{"../x", false},
		{"a/./b", false},
		{"a/../b", false},
		{"a//b", false},
		{"/abs", false},
		{"trail/", false},
		{".hidden", false},
		{"dir/.hidden", false},
		{"x.metadata", false},
		{"ctl\x01", false},
		{"nl\n", false},
		{"del\x7f", false},
		{`back\slash`, false},
		{string([]byte{0xff, 0xfe}), false},
		{string(make([]byte, 1025)), false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", c.name), func(t *testing.T) {
			if err := CheckBlobName(c.name); (err == nil) != c.ok {
				t.Fatalf("CheckBlobName(%q) = %v, want ok=%v", c.name, err, c.ok)
			}
		})
	}
}
