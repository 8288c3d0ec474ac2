package delivery_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
)

func TestValidateEmail(t *testing.T) {
	local64 := strings.Repeat("a", 64)
	long := local64 + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + ".com" // 254 bytes
	if len(long) != 254 {
		t.Fatalf("fixture is %d bytes", len(long))
	}
	tests := []struct {
		addr string
		ok   bool
		why  string // a word of the refusal
	}{
		{"frontdesk@north-clinic.com", true, ""},
		{"optom+orders@clinic.co.uk", true, ""},
		{"desk@north.example.com", true, ""}, // public DNS answers it (null MX)
		{"a@xn--bcher-kva.ch", true, ""},
		{"Desk@Clinic.COM", true, ""},
		{local64 + "@clinic.com", true, ""},
		{long, true, ""},

		{"", false, "plain"},
		{"not an address", false, "plain"},
		{"Front Desk <a@clinic.com>", false, "plain"},
		{"a@clinic.com (desk)", false, "plain"},
		{"<a@clinic.com>", false, "plain"},
		{"a@clinic.com\r\nBcc: x@evil.com", false, "plain"},
		{"a@clinic.com, b@clinic.com", false, "plain"},
		{strings.Repeat("a", 65) + "@clinic.com", false, "local part"},
		{"a" + long, false, "254"},
		{"user@[127.0.0.1]", false, "address literal"},
		{"user@[IPv6:::1]", false, "address literal"},
		{"user@[10.0.0.1]", false, "address literal"},
		{"user@127.0.0.1", false, "numeric"},
		{"user@0x7f.1", false, "numeric"},
		{"user@localhost", false, "fully qualified"},
		{"user@intranet", false, "fully qualified"},
		{"user@mail", false, "fully qualified"},
		{"user@app.localhost", false, "local networks"},
		{"user@printer.local", false, "local networks"},
		{"user@LAB.LOCAL", false, "local networks"},
		{"user@metadata.google.internal", false, "local networks"},
		{"user@nas.lan", false, "local networks"},
		{"user@router.home.arpa", false, "local networks"},
		{"user@mail.corp", false, "local networks"},
		{"user@files.intranet", false, "local networks"},
		{"user@box.localdomain", false, "local networks"},
		{"user@north.test", false, "public DNS"},
		{"user@x.invalid", false, "public DNS"},
		{"user@north.example", false, "public DNS"},
		{"user@hidden.onion", false, "public DNS"},
		{"user@1.0.0.127.in-addr.arpa", false, "public DNS"},
		{"user@bücher.de", false, "xn--"},
		{"user@-clinic.com", false, "invalid domain"},
		{"user@clinic_x.com", false, "invalid domain"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := delivery.ValidateEmail(tt.addr)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			msg := errs.Message(err)
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "" || !strings.Contains(msg, tt.why) {
				t.Errorf("error %q (field %q): want invalid, no field, mentioning %q", msg, errs.FieldOf(err), tt.why)
			}
			if len(tt.addr) > 8 && strings.Contains(err.Error(), tt.addr) {
				t.Errorf("error repeats the address: %v", err)
			}
		})
	}
}

func ExampleValidateEmail() {
	for _, a := range []string{"frontdesk@north-clinic.com", "user@[127.0.0.1]", "user@intranet", "user@printer.local"} {
		if err := delivery.ValidateEmail(a); err != nil {
			fmt.Println(a, "->", errs.Message(err))
		} else {
			fmt.Println(a, "-> ok")
		}
	}
	// Output:
	// frontdesk@north-clinic.com -> ok
	// user@[127.0.0.1] -> must have a domain name, not an address literal
	// user@intranet -> must have a fully qualified public domain
	// user@printer.local -> has a domain for local networks or one the public DNS does not answer
}
