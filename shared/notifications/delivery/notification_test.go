package delivery_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
)

func sample() delivery.Notification {
	return delivery.Notification{
		ID:         "ntf_7f3c2a91",
		Type:       delivery.TypeOrderStatusChanged,
		OccurredAt: time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC),
		ClinicID:   "cl_4b1d",
		OrderID:    "0b0c6a4e-8f4e-4d61-9a43-2f0f5d1c9e77",
		JobID:      "job_88",
		Status:     "dispatched",
		Link:       "/v1/orders/0b0c6a4e-8f4e-4d61-9a43-2f0f5d1c9e77",
	}
}

// TestNotificationHasNoFreeTextFields pins the field list: a new field
// (a note, a patient name, a message) must be a deliberate change to this
// test, reviewed against the PHI rule.
func TestNotificationHasNoFreeTextFields(t *testing.T) {
	allowed := map[string]reflect.Type{
		"ID": reflect.TypeFor[string](), "Type": reflect.TypeFor[string](),
		"OccurredAt": reflect.TypeFor[time.Time](),
		"ClinicID":   reflect.TypeFor[string](), "OrderID": reflect.TypeFor[string](),
		"JobID": reflect.TypeFor[string](), "ScanID": reflect.TypeFor[string](),
		"Status": reflect.TypeFor[string](), "Link": reflect.TypeFor[string](),
	}
	typ := reflect.TypeFor[delivery.Notification]()
	if typ.NumField() != len(allowed) {
		t.Fatalf("Notification has %d fields, want exactly %d", typ.NumField(), len(allowed))
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		want, ok := allowed[f.Name]
		if !ok || f.Type != want {
			t.Errorf("field %s %v is not an id, enum, time or path field", f.Name, f.Type)
		}
	}
	// Every string field is shape-checked: free text is rejected.
	for _, field := range []string{"ID", "Type", "ClinicID", "OrderID", "JobID", "ScanID", "Status", "Link"} {
		n := sample()
		reflect.ValueOf(&n).Elem().FieldByName(field).SetString("Jane Doe, born 1980-02-03")
		if err := n.Validate(); err == nil {
			t.Errorf("%s accepted free text", field)
		}
	}
}

func TestNotificationValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*delivery.Notification)
		field string // "" means valid
	}{
		{"sample", func(*delivery.Notification) {}, ""},
		{"optional ids empty", func(n *delivery.Notification) { n.ClinicID, n.JobID, n.ScanID, n.Status = "", "", "", "" }, ""},
		{"no id", func(n *delivery.Notification) { n.ID = "" }, "id"},
		{"id too long", func(n *delivery.Notification) { n.ID = strings.Repeat("a", 129) }, "id"},
		{"id with dot", func(n *delivery.Notification) { n.ID = "a.b" }, "id"},
		{"type one word", func(n *delivery.Notification) { n.Type = "order" }, "type"},
		{"type upper case", func(n *delivery.Notification) { n.Type = "Order.Placed" }, "type"},
		{"type empty label", func(n *delivery.Notification) { n.Type = "order..placed" }, "type"},
		{"zero time", func(n *delivery.Notification) { n.OccurredAt = time.Time{} }, "occurredAt"},
		{"clinic id with space", func(n *delivery.Notification) { n.ClinicID = "a b" }, "clinicId"},
		{"order id with slash", func(n *delivery.Notification) { n.OrderID = "a/b" }, "orderId"},
		{"job id unicode", func(n *delivery.Notification) { n.JobID = "jöb" }, "jobId"},
		{"scan id newline", func(n *delivery.Notification) { n.ScanID = "a\nb" }, "scanId"},
		{"status capitalised", func(n *delivery.Notification) { n.Status = "Dispatched" }, "status"},
		{"status with space", func(n *delivery.Notification) { n.Status = "on hold" }, "status"},
		{"status too long", func(n *delivery.Notification) { n.Status = strings.Repeat("a", 33) }, "status"},
		{"no link", func(n *delivery.Notification) { n.Link = "" }, "link"},
		{"absolute link", func(n *delivery.Notification) { n.Link = "https://evil.example/v1/x" }, "link"},
		{"link with query", func(n *delivery.Notification) { n.Link = "/v1/orders?name=x" }, "link"},
		{"link traversal", func(n *delivery.Notification) { n.Link = "/v1/../admin" }, "link"},
		{"link double slash", func(n *delivery.Notification) { n.Link = "/v1//evil.example" }, "link"},
		{"link not v1", func(n *delivery.Notification) { n.Link = "/admin" }, "link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := sample()
			tt.edit(&n)
			err := n.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tt.field {
				t.Fatalf("Validate = %v, want invalid %s", err, tt.field)
			}
		})
	}
}

// canaries stand for PHI that must never leave in a notification.
var canaries = []string{"ZZCANARY", "Zzcanary", "1980-02-03", "MRN-0042", "SN-77A1", "keratoconus"}

func TestNoPHIInPayloadsEmailsOrErrors(t *testing.T) {
	n := sample()
	body, err := delivery.Payload(n)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := delivery.RenderEmail(n, "https://api.lensflow.example")
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{string(body), msg.Subject, msg.Text, fmt.Sprint(msg.Headers)}

	// Try to smuggle each canary through every string field: each attempt
	// is refused, and the refusal does not repeat the value either.
	for _, field := range []string{"ID", "Type", "ClinicID", "OrderID", "JobID", "ScanID", "Status", "Link"} {
		for _, c := range canaries {
			bad := sample()
			v := reflect.ValueOf(&bad).Elem().FieldByName(field)
			v.SetString(v.String() + " " + c)
			_, perr := delivery.Payload(bad)
			_, eerr := delivery.RenderEmail(bad, "https://api.lensflow.example")
			if perr == nil || eerr == nil {
				t.Errorf("%s with %q accepted", field, c)
			}
			outputs = append(outputs, fmt.Sprint(perr), fmt.Sprint(eerr), errs.Message(perr))
		}
	}
	for _, out := range outputs {
		for _, c := range canaries {
			if strings.Contains(strings.ToLower(out), strings.ToLower(c)) {
				t.Errorf("canary %q found in %q", c, out)
			}
		}
	}
}

func TestPayload(t *testing.T) {
	n := sample()
	n.OccurredAt = time.Date(2025, 3, 1, 20, 30, 0, 0, time.FixedZone("AEDT", 11*3600))
	body, err := delivery.Payload(n)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Type      string                `json:"type"`
		Timestamp string                `json:"timestamp"`
		Data      delivery.Notification `json:"data"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != n.Type || got.Timestamp != "2025-03-01T09:30:00Z" || got.Data.ID != n.ID || got.Data.Link != n.Link || !got.Data.OccurredAt.Equal(n.OccurredAt) {
		t.Fatalf("payload %s", body)
	}
	if strings.Contains(string(body), "scanId") {
		t.Errorf("empty ids should be omitted: %s", body)
	}
}

func TestRenderEmail(t *testing.T) {
	msg, err := delivery.RenderEmail(sample(), "https://api.lensflow.example/")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Order status changed for order 0b0c6a4e-8f4e-4d61-9a43-2f0f5d1c9e77: dispatched"; msg.Subject != want {
		t.Errorf("subject %q, want %q", msg.Subject, want)
	}
	for _, want := range []string{
		"https://api.lensflow.example/v1/orders/0b0c6a4e-8f4e-4d61-9a43-2f0f5d1c9e77\r\n",
		"Status:   dispatched\r\n", "Event:    order.status_changed\r\n", "Job:      job_88\r\n",
		"Sat, 01 Mar 2025 09:30:00 UTC",
	} {
		if !strings.Contains(msg.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, msg.Text)
		}
	}
	if msg.Headers["X-Lensflow-Notification-Id"] != "ntf_7f3c2a91" {
		t.Errorf("headers %v", msg.Headers)
	}
	for _, base := range []string{"", "api.lensflow.example", "ftp://x", "https://x/?q=1", "https://u:p@x", "https://x/#f"} {
		if _, err := delivery.RenderEmail(sample(), base); errs.FieldOf(err) != "baseURL" {
			t.Errorf("baseURL %q: %v", base, err)
		}
	}
	n := sample()
	n.Type = "lens.polished"
	if msg, err := delivery.RenderEmail(n, "https://x.example"); err != nil || !strings.HasPrefix(msg.Subject, "Notification lens.polished") {
		t.Errorf("unknown type: %q %v", msg.Subject, err)
	}
}

func ExampleRenderEmail() {
	n := delivery.Notification{
		ID:         "ntf_1",
		Type:       delivery.TypeOrderStatusChanged,
		OccurredAt: time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC),
		OrderID:    "ord_1",
		Status:     "dispatched",
		Link:       "/v1/orders/ord_1",
	}
	msg, err := delivery.RenderEmail(n, "https://api.lensflow.example")
	if err != nil {
		panic(err)
	}
	msg.From, msg.To = "lab@lensflow.example", []string{"frontdesk@clinic.example"}
	fmt.Println(msg.Subject)
	fmt.Print(strings.ReplaceAll(msg.Text, "\r\n", "\n"))
	// Output:
	// Order status changed for order ord_1: dispatched
	// Order status changed.
	//
	// Event:    order.status_changed
	// Status:   dispatched
	// When:     Sat, 01 Mar 2025 09:30:00 UTC
	// Order:    ord_1
	//
	// Details (sign in required):
	// https://api.lensflow.example/v1/orders/ord_1
	//
	// This message deliberately contains no patient details.
	// Notification id: ntf_1
}

func ExamplePayload() {
	body, _ := delivery.Payload(delivery.Notification{
		ID: "ntf_1", Type: delivery.TypeJobStatusChanged, OccurredAt: time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC),
		JobID: "job_1", Status: "cutting", Link: "/v1/lab/jobs/job_1",
	})
	fmt.Println(string(body))
	// Output: {"type":"job.status_changed","timestamp":"2025-03-01T09:30:00Z","data":{"id":"ntf_1","type":"job.status_changed","occurredAt":"2025-03-01T09:30:00Z","jobId":"job_1","status":"cutting","link":"/v1/lab/jobs/job_1"}}
}
