package delivery

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
)

// Notification types the lab sends. Type must match
// `^[a-z][a-z_]*(\.[a-z][a-z_]*)+$`; these are the ones in use.
const (
	TypeOrderStatusChanged = "order.status_changed"
	TypeJobStatusChanged   = "job.status_changed"
	TypeDesignRevised      = "design.revised"
	TypeFollowUpDue        = "followup.due"
	TypeCommentPosted      = "order.comment_posted"
)

// Notification is what the lab tells a clinic: what happened, to which
// resource (opaque ids), the new status, and where to read the details
// through the authenticated API. It has, by design, no field for free text:
// every string is an id, an enum word or an API path, and Validate enforces
// their shapes. Do not add a field that could carry patient details; the
// tests pin the field list.
type Notification struct {
	// ID identifies the notification; use it as the webhook-id (stable across
	// retries) and derive it from the causing event's id so redelivery
	// produces the same notification.
	ID string `json:"id"`
	// Type is a dotted event type such as "order.status_changed".
	Type string `json:"type"`
	// OccurredAt is when the change happened (not when it is sent).
	OccurredAt time.Time `json:"occurredAt"`
	// ClinicID, OrderID, JobID and ScanID are opaque ids; empty when not
	// relevant.
	ClinicID string `json:"clinicId,omitempty"`
	OrderID  string `json:"orderId,omitempty"`
	JobID    string `json:"jobId,omitempty"`
	ScanID   string `json:"scanId,omitempty"`
	// Status is the new status word, for example "dispatched"; lower case
	// letters and underscores.
	Status string `json:"status,omitempty"`
	// Link is the API path to read the details, for example
	// "/v1/orders/0b0c…"; no host, query or fragment.
	Link string `json:"link"`
}

const (
	maxNotificationID = 128
	maxTypeLen        = 64
	maxStatusLen      = 32
	maxLinkLen        = 512
)

// Validate checks every field's shape. Errors are errs.Invalid naming the
// field and never repeat the offending value.
func (n Notification) Validate() error {
	const op = "notify.Notification"
	if !isID(n.ID) {
		return errs.Field(op, "id", "must be 1 to %d letters, digits, '-' or '_'", maxNotificationID)
	}
	if !isType(n.Type) {
		return errs.Field(op, "type", "must be a dotted lower-case event type")
	}
	if n.OccurredAt.IsZero() {
		return errs.Field(op, "occurredAt", "is required")
	}
	for _, f := range []struct{ name, v string }{
		{"clinicId", n.ClinicID}, {"orderId", n.OrderID}, {"jobId", n.JobID}, {"scanId", n.ScanID},
	} {
		if f.v != "" && !isID(f.v) {
			return errs.Field(op, f.name, "must be 1 to %d letters, digits, '-' or '_'", maxNotificationID)
		}
	}
	if n.Status != "" && !isWord(n.Status, maxStatusLen) {
		return errs.Field(op, "status", "must be a lower-case word of at most %d letters or '_'", maxStatusLen)
	}
	if !isLink(n.Link) {
		return errs.Field(op, "link", "must be an API path starting with /v1/ (letters, digits, '/', '-', '_')")
	}
	return nil
}

func isID(s string) bool {
	if s == "" || len(s) > maxNotificationID {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isWord(s string, max int) bool {
	if s == "" || len(s) > max || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

func isType(s string) bool {
	if len(s) > maxTypeLen {
		return false
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if !isWord(p, maxTypeLen) {
			return false
		}
	}
	return true
}

func isLink(s string) bool {
	if !strings.HasPrefix(s, "/v1/") || len(s) > maxLinkLen || strings.Contains(s, "//") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '/') {
			return false
		}
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// webhookBody is the Standard Webhooks payload envelope.
type webhookBody struct {
	Type      string       `json:"type"`
	Timestamp string       `json:"timestamp"`
	Data      Notification `json:"data"`
}

// Payload returns the webhook body for n, in the envelope Standard Webhooks
// recommends:
//
//	{"type":"order.status_changed","timestamp":"2025-03-01T09:30:00Z",
//	 "data":{"id":"…","type":"order.status_changed","occurredAt":"…",
//	         "clinicId":"…","orderId":"…","status":"dispatched","link":"/v1/orders/…"}}
//
// It fails with an errs.Invalid error if n does not Validate.
func Payload(n Notification) ([]byte, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	n.OccurredAt = n.OccurredAt.UTC()
	return json.Marshal(webhookBody{Type: n.Type, Timestamp: n.OccurredAt.Format(time.RFC3339), Data: n})
}

// subjects phrase the known notification types for people.
var subjects = map[string]string{
	TypeOrderStatusChanged: "Order status changed",
	TypeJobStatusChanged:   "Manufacturing status changed",
	TypeDesignRevised:      "Lens design revised",
	TypeFollowUpDue:        "Aftercare visit due",
	TypeCommentPosted:      "New comment on an order",
}

// RenderEmail turns n into a plain-text email: a subject saying what
// happened, the ids and status, and a link to baseURL (the API's public
// origin, e.g. "https://api.lensflow.example") plus n.Link. It contains
// nothing but n's validated fields, so never patient details. The caller
// fills in From and To. It fails with an errs.Invalid error if n does not
// Validate or baseURL is not an absolute http(s) URL without query or
// fragment.
func RenderEmail(n Notification, baseURL string) (Message, error) {
	if err := n.Validate(); err != nil {
		return Message{}, err
	}
	base, err := url.Parse(baseURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" ||
		base.User != nil || base.RawQuery != "" || base.Fragment != "" {
		return Message{}, errs.Field("notify.RenderEmail", "baseURL", "must be an absolute http(s) URL without query")
	}
	link := strings.TrimSuffix(base.String(), "/") + n.Link

	what, ok := subjects[n.Type]
	if !ok {
		what = "Notification " + n.Type
	}
	subject := what
	switch {
	case n.OrderID != "":
		subject += " for order " + n.OrderID
	case n.JobID != "":
		subject += " for job " + n.JobID
	}
	if n.Status != "" {
		subject += ": " + n.Status
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%s.\r\n\r\n", what)
	fmt.Fprintf(&b, "Event:    %s\r\n", n.Type)
	if n.Status != "" {
		fmt.Fprintf(&b, "Status:   %s\r\n", n.Status)
	}
	fmt.Fprintf(&b, "When:     %s\r\n", n.OccurredAt.UTC().Format(time.RFC1123))
	for _, f := range []struct{ label, v string }{
		{"Order:    ", n.OrderID}, {"Job:      ", n.JobID}, {"Scan:     ", n.ScanID},
	} {
		if f.v != "" {
			fmt.Fprintf(&b, "%s%s\r\n", f.label, f.v)
		}
	}
	fmt.Fprintf(&b, "\r\nDetails (sign in required):\r\n%s\r\n\r\n", link)
	b.WriteString("This message deliberately contains no patient details.\r\n")
	b.WriteString("Notification id: " + n.ID + "\r\n")

	return Message{
		Subject: subject,
		Text:    b.String(),
		Headers: map[string]string{
			"X-Lensflow-Notification-Id":   n.ID,
			"X-Lensflow-Notification-Type": n.Type,
		},
	}, nil
}
