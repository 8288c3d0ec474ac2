package delivery_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
)

func TestValidateEndpoint(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://hooks.clinic.example/lensflow", true},
		{"https://hooks.clinic.example:8443/lensflow?key=abc", true},
		{"HTTPS://Hooks.Clinic.Example/x", true},
		{"https://hooks.clinic.example./x", true},
		{"https://8.8.8.8/hook", true},
		{"https://[2606:4700:4700::1111]/hook", true},
		{"https://xn--bcher-kva.example/hook", true},

		{"", false},
		{"http://hooks.clinic.example/x", false},
		{"ftp://hooks.clinic.example/x", false},
		{"//hooks.clinic.example/x", false},
		{"hooks.clinic.example/x", false},
		{"https:hooks.clinic.example", false},
		{"https://user:pass@hooks.clinic.example/x", false},
		{"https://user@hooks.clinic.example/x", false},
		{"https://hooks.clinic.example/x#frag", false},
		{"https://hooks.clinic.example:0/x", false},
		{"https://hooks.clinic.example:65536/x", false},
		{"https://hooks.clinic.example:/x", false},
		{"https://hooks.clinic.example:https/x", false},
		{"https://hooks.clinic.example/a b", false},
		{"https://hooks.clinic.example/\x00", false},
		{"https://" + strings.Repeat("a", 2040) + ".example/", false},
		{"https://localhost/x", false},
		{"https://api.localhost/x", false},
		{"https://metadata.google.internal/computeMetadata/v1/", false},
		{"https://printer.local/x", false},
		{"https://router.home.arpa/x", false},
		{"https://intranet/x", false},
		{"https://-bad-.example/x", false},
		{"https://bad..example/x", false},
		{"https://bad$.example/x", false},
		{"https://127.0.0.1/x", false},
		{"https://127.1/x", false},
		{"https://2130706433/x", false},
		{"https://0x7f000001/x", false},
		{"https://0177.0.0.1/x", false},
		{"https://10.0.0.5/x", false},
		{"https://172.20.1.1/x", false},
		{"https://192.168.0.10/x", false},
		{"https://169.254.169.254/latest/meta-data/", false},
		{"https://100.64.1.1/x", false},
		{"https://0.0.0.0/x", false},
		{"https://224.0.0.1/x", false},
		{"https://[::1]/x", false},
		{"https://[::]/x", false},
		{"https://[fe80::1]/x", false},
		{"https://[fe80::1%25eth0]/x", false},
		{"https://[fd00::1]/x", false},
		{"https://[::ffff:127.0.0.1]/x", false},
		{"https://[::ffff:169.254.169.254]/x", false},
		{"https://[64:ff9b::a9fe:a9fe]/x", false},
		{"https://[ff02::1]/x", false},
		{"https://[::1/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := delivery.ValidateEndpoint(tt.url)
			if tt.ok {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "webhookUrl" {
				t.Errorf("error %v: want invalid webhookUrl", err)
			}
			if len(tt.url) > 12 && strings.Contains(err.Error(), tt.url) {
				t.Errorf("error repeats the URL: %v", err)
			}
		})
	}
}

func ExampleValidateEndpoint() {
	for _, u := range []string{
		"https://hooks.clinic.example/lensflow",
		"http://hooks.clinic.example/lensflow",
		"https://169.254.169.254/latest/meta-data/",
	} {
		if err := delivery.ValidateEndpoint(u); err != nil {
			fmt.Println(u, "->", errs.Message(err))
		} else {
			fmt.Println(u, "-> ok")
		}
	}
	// Output:
	// https://hooks.clinic.example/lensflow -> ok
	// http://hooks.clinic.example/lensflow -> webhookUrl: must use https
	// https://169.254.169.254/latest/meta-data/ -> webhookUrl: must not be a private, loopback, link-local or reserved address
}
