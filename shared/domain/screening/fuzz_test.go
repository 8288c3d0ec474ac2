package screening_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/screening"
	"github.com/lensflow/lensflow/shared/errs"
)

// FuzzParseTable: any bytes either give a valid table that survives a
// JSON round trip, or an Invalid (or TooLarge) error with a message;
// nothing panics.
func FuzzParseTable(f *testing.F) {
	def, _ := json.Marshal(screening.DefaultTable())
	for _, seed := range []string{
		string(def), `{}`, `{"name":"x","version":"1"}`, `{"name":"x","version":"1","iS_D":{"suspect":2,"keratoconus":1}}`,
		`{"name":"x","version":"1","centralK_D":{"suspect":"a"}}`, `{"name":"x","version":"1","q":{"oblate":1e400}}`,
		`[1,2]`, `null`, `{"name":"x","version":"1","extra":1}`, strings.Repeat("{", 1000),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := screening.ParseTable(bytes.NewReader(data))
		if err != nil {
			if k := errs.KindOf(err); (k != errs.Invalid && k != errs.TooLarge) || errs.Message(err) == "" {
				t.Fatalf("refusal of kind %v: %v", k, err)
			}
			return
		}
		if err := tb.Validate(); err != nil {
			t.Fatalf("accepted an invalid table: %v", err)
		}
		b, err := json.Marshal(tb)
		if err != nil {
			t.Fatal(err)
		}
		again, err := screening.ParseTable(bytes.NewReader(b))
		if err != nil || again != tb {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, tb)
		}
	})
}
