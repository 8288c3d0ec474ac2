// Package notifications tells clinics what happened to their orders: each
// status event becomes a thin notification (what happened and a link,
// never patient details) delivered by signed webhook (Standard Webhooks)
// and by email, to the channels the clinic set. Every delivery is a
// document keyed by event and channel, so a redelivered event notifies
// once; failed deliveries are retried on a schedule spanning about three
// days (delivery.NextAttempt) by the retry task.
package notifications

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/metrics"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/servicekit"
)

// Collections.
const (
	SettingsCollection   = "clinic-notifications"
	DeliveriesCollection = "notification-deliveries"
)

// Channels.
const (
	ChannelWebhook = "webhook"
	ChannelEmail   = "email"
)

// Delivery statuses.
const (
	StatusPending = "pending" // not yet delivered; NextAttempt says when to try
	StatusSent    = "sent"
	StatusFailed  = "failed" // permanently: rejected, endpoint gone, or retries exhausted
)

// RecipientLab is the recipient of a delivery to the lab rather than to
// the clinic the notification names (a clinic's comment on an order).
const RecipientLab = "lab"

// MaxEmails bounds a clinic's notification addresses.
const MaxEmails = 5

// Settings are a clinic's notification channels.
type Settings struct {
	ClinicID     string    `json:"clinicId"`
	WebhookURL   string    `json:"webhookUrl,omitempty"`
	SealedSecret []byte    `json:"sealedSecret,omitempty"` // the webhook signing secret, encrypted
	Emails       []string  `json:"emails,omitempty"`
	Updated      time.Time `json:"updated"`
}

// SettingsInput is the body of PUT /v1/clinic/notifications. A webhook URL
// set for the first time, changed, or with rotateSecret gets a new secret,
// shown once in the answer.
//
// PUT replaces the settings whole, so decoded from JSON (UnmarshalJSON)
// webhookUrl and emails are required, "" and [] saying "none": a body that
// leaves one out (or sends null) is refused naming it, instead of quietly
// clearing that channel. rotateSecret is an action, false when absent.
type SettingsInput struct {
	WebhookURL   string   `json:"webhookUrl"`
	Emails       []string `json:"emails"`
	RotateSecret bool     `json:"rotateSecret"`
}

// UnmarshalJSON decodes a settings body strictly (no unknown fields), with
// webhookUrl and emails required.
func (in *SettingsInput) UnmarshalJSON(b []byte) error {
	const op = "notifications.settings"
	if string(b) == "null" {
		return nil // as encoding/json leaves a value for null
	}
	var body struct {
		WebhookURL   *string   `json:"webhookUrl"`
		Emails       *[]string `json:"emails"`
		RotateSecret bool      `json:"rotateSecret"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return err
	}
	switch {
	case body.WebhookURL == nil:
		return errs.Field(op, "webhookUrl", `is required: the webhook URL, or "" for none`)
	case body.Emails == nil || *body.Emails == nil:
		return errs.Field(op, "emails", "is required: the addresses, or [] for none")
	}
	*in = SettingsInput{WebhookURL: *body.WebhookURL, Emails: *body.Emails, RotateSecret: body.RotateSecret}
	return nil
}

// SettingsView is what the clinic sees of its settings.
type SettingsView struct {
	WebhookURL string   `json:"webhookUrl,omitempty"`
	Emails     []string `json:"emails"` // [] when none, never null
	// WebhookSecret is present only in the answer that created it.
	WebhookSecret string    `json:"webhookSecret,omitempty"`
	Updated       time.Time `json:"updated"`
}

// Delivery is one notification on one channel.
type Delivery struct {
	ID           string                `json:"id"` // <notification id>-<channel>
	ClinicID     string                `json:"clinicId"`
	Recipient    string                `json:"recipient,omitempty"` // empty: the clinic; RecipientLab: the lab
	Channel      string                `json:"channel"`
	Notification delivery.Notification `json:"notification"`
	Status       string                `json:"status"`
	Attempts     int                   `json:"attempts"`
	NextAttempt  time.Time             `json:"nextAttempt"`
	LastStatus   int                   `json:"lastStatus,omitempty"`
	LastError    string                `json:"lastError,omitempty"` // error kind only
	Created      time.Time             `json:"created"`
	Updated      time.Time             `json:"updated"`
}

// Service delivers notifications over the ports and channels.
type Service struct {
	Docs      ports.Documents
	Sealer    ports.Sealer
	Webhooks  *delivery.Sender
	Mailer    delivery.Mailer
	From      string // sender address of emails
	PublicURL string // base URL of the API, for links in emails
	// Kit is the clock, the new ids and the audit trail.
	servicekit.Kit
	// LabEmails are the lab's addresses for what the lab is told (a
	// clinic's comment on an order); none: the lab is not emailed.
	LabEmails []string
	// Metrics counts attempts sent and failed, by channel (nil records nothing).
	Metrics *metrics.Metrics
}

func secretAD(clinicID string) []byte { return ports.AssociatedData("webhook-secret", clinicID) }

// PutSettings sets the actor's clinic's channels.
func (s *Service) PutSettings(ctx context.Context, a auth.Actor, in SettingsInput) (SettingsView, error) {
	const op = "notifications.settings"
	in.WebhookURL = strings.TrimSpace(in.WebhookURL)
	if in.WebhookURL != "" {
		if err := s.Webhooks.ValidateEndpoint(in.WebhookURL); err != nil {
			return SettingsView{}, errs.E(op, errs.Invalid, err)
		}
	}
	if len(in.Emails) > MaxEmails {
		return SettingsView{}, errs.Field(op, "emails", "at most %d addresses", MaxEmails)
	}
	for i, e := range in.Emails {
		if err := delivery.ValidateEmail(e); err != nil {
			return SettingsView{}, errs.Field(op, "emails", "entry %d %s", i+1, errs.Message(err))
		}
	}
	var view SettingsView
	err := s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		var cur Settings
		if err := tx.Get(SettingsCollection, a.ClinicID, &cur); err != nil && !errs.Is(errs.NotFound, err) {
			return err
		}
		next := Settings{ClinicID: a.ClinicID, WebhookURL: in.WebhookURL, Emails: in.Emails, Updated: s.Now(),
			SealedSecret: cur.SealedSecret}
		view = SettingsView{WebhookURL: next.WebhookURL, Emails: orNone(next.Emails), Updated: next.Updated}
		switch {
		case next.WebhookURL == "":
			next.SealedSecret = nil
		case next.WebhookURL != cur.WebhookURL || in.RotateSecret || cur.SealedSecret == nil:
			secret, err := delivery.NewSecret()
			if err != nil {
				return errs.E(op, errs.Other, err)
			}
			if next.SealedSecret, err = s.Sealer.Encrypt([]byte(secret), secretAD(a.ClinicID)); err != nil {
				return errs.E(op+": seal", errs.Unavailable, err)
			}
			view.WebhookSecret = secret
		}
		return tx.Set(SettingsCollection, a.ClinicID, next)
	})
	if err != nil {
		return SettingsView{}, err
	}
	return view, s.Audit(ctx, a, "notifications.settings.write", "clinics/"+a.ClinicID+"/notifications", audit.Success)
}

// GetSettings returns the actor's clinic's channels (never the secret).
func (s *Service) GetSettings(ctx context.Context, a auth.Actor) (SettingsView, error) {
	var cur Settings
	err := s.Docs.Get(ctx, SettingsCollection, a.ClinicID, &cur)
	if errs.Is(errs.NotFound, err) {
		return SettingsView{Emails: []string{}}, nil
	}
	if err != nil {
		return SettingsView{}, err
	}
	return SettingsView{WebhookURL: cur.WebhookURL, Emails: orNone(cur.Emails), Updated: cur.Updated}, nil
}

// orNone is emails, or an empty list for none: the answer says [], never
// null (settings stored without emails read back as nil).
func orNone(emails []string) []string {
	if emails == nil {
		return []string{}
	}
	return emails
}

// Notify delivers n to every channel its clinic set. A delivery made
// before (the same notification id and channel) is not made again. It
// returns an error only when a delivery could not be recorded; failed
// sends are recorded and retried by Retry.
func (s *Service) Notify(ctx context.Context, n delivery.Notification) error {
	if err := n.Validate(); err != nil {
		return err
	}
	var set Settings
	err := s.Docs.Get(ctx, SettingsCollection, n.ClinicID, &set)
	if errs.Is(errs.NotFound, err) {
		return nil // the clinic set no channels
	}
	if err != nil {
		return err
	}
	return s.deliver(ctx, n, "", set)
}

// NotifyLab delivers n to the lab (by email to LabEmails; the lab has no
// webhook), once per notification, retried like a clinic's.
func (s *Service) NotifyLab(ctx context.Context, n delivery.Notification) error {
	if err := n.Validate(); err != nil {
		return err
	}
	set := s.labSettings()
	if len(set.Emails) == 0 {
		return nil // no lab address configured
	}
	return s.deliver(ctx, n, RecipientLab, set)
}

func (s *Service) labSettings() Settings {
	return Settings{Emails: s.LabEmails}
}

// deliver records and attempts n on every channel of set, for recipient
// (empty: the clinic n names; RecipientLab: the lab).
func (s *Service) deliver(ctx context.Context, n delivery.Notification, recipient string, set Settings) error {
	var chans []string
	if set.WebhookURL != "" {
		chans = append(chans, ChannelWebhook)
	}
	if len(set.Emails) > 0 {
		chans = append(chans, ChannelEmail)
	}
	for _, ch := range chans {
		id := n.ID + "-" + ch
		if recipient != "" {
			id = n.ID + "-" + recipient + "-" + ch
		}
		d := Delivery{ID: id, ClinicID: n.ClinicID, Recipient: recipient, Channel: ch, Notification: n, Status: StatusPending,
			NextAttempt: s.Now(), Created: s.Now(), Updated: s.Now()}
		created := false
		if err := s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
			created = false
			var cur Delivery
			if err := tx.Get(DeliveriesCollection, d.ID, &cur); err == nil {
				return nil
			} else if !errs.Is(errs.NotFound, err) {
				return err
			}
			created = true
			return tx.Create(DeliveriesCollection, d.ID, d)
		}); err != nil {
			return err
		}
		if created {
			if err := s.attempt(ctx, d, set); err != nil {
				return err
			}
		}
	}
	return nil
}

// Report says what a retry run did.
type Report struct {
	AsOf    time.Time `json:"asOf"`
	Tried   int       `json:"tried"`
	Sent    int       `json:"sent"`
	Pending int       `json:"stillPending"`
	Failed  int       `json:"failed"`
}

// RetryBatch is how many pending deliveries one query of Retry reads.
var RetryBatch = 200

// Retry attempts every pending delivery whose next attempt is due by asOf.
// It walks the pending deliveries in batches of RetryBatch (status ==, by
// id: no composite index), never the whole backlog at once; attempting a
// delivery moves it out of the filter or to a later next attempt, which
// does not disturb the walk (it resumes after the last id it read).
func (s *Service) Retry(ctx context.Context, asOf time.Time) (Report, error) {
	r := Report{AsOf: asOf.UTC()}
	err := paging.Batches(ctx, s.Docs, ports.Query{Collection: DeliveriesCollection,
		Where: []ports.Where{{Field: "status", Op: "==", Value: StatusPending}}}, RetryBatch,
		func(docs []ports.Doc) error {
			for _, doc := range docs {
				if err := s.retryOne(ctx, doc, asOf, &r); err != nil {
					return err
				}
			}
			return nil
		})
	return r, err
}

// retryOne attempts one pending delivery if it is due, and counts it in r.
func (s *Service) retryOne(ctx context.Context, doc ports.Doc, asOf time.Time, r *Report) error {
	var d Delivery
	if err := doc.Decode(&d); err != nil || d.NextAttempt.After(asOf) {
		return nil
	}
	var set Settings
	if d.Recipient == RecipientLab {
		set = s.labSettings()
	} else if err := s.Docs.Get(ctx, SettingsCollection, d.ClinicID, &set); err != nil && !errs.Is(errs.NotFound, err) {
		return err
	}
	r.Tried++
	if err := s.attempt(ctx, d, set); err != nil {
		return err
	}
	var after Delivery
	if err := s.Docs.Get(ctx, DeliveriesCollection, d.ID, &after); err == nil {
		switch after.Status {
		case StatusSent:
			r.Sent++
		case StatusFailed:
			r.Failed++
		default:
			r.Pending++
		}
	}
	return nil
}

// attempt sends d once and records the outcome.
func (s *Service) attempt(ctx context.Context, d Delivery, set Settings) error {
	status, sendErr := s.send(ctx, d, set)
	s.Metrics.Notification(ctx, d.Channel, sendErr)
	d.Attempts++
	d.Updated = s.Now()
	d.LastStatus = status
	switch {
	case sendErr == nil:
		d.Status, d.LastError = StatusSent, ""
	case errs.Retryable(sendErr):
		d.LastError = errs.KindOf(sendErr).String()
		if wait, ok := delivery.NextAttempt(d.Attempts); ok {
			d.NextAttempt = s.Now().Add(wait)
		} else {
			d.Status = StatusFailed
		}
	default:
		d.Status, d.LastError = StatusFailed, errs.KindOf(sendErr).String()
	}
	return s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		var cur Delivery
		if err := tx.Get(DeliveriesCollection, d.ID, &cur); err != nil {
			return err
		}
		if cur.Status != StatusPending {
			return nil // a concurrent attempt finished it
		}
		return tx.Set(DeliveriesCollection, d.ID, d)
	})
}

func (s *Service) send(ctx context.Context, d Delivery, set Settings) (int, error) {
	switch d.Channel {
	case ChannelWebhook:
		if set.WebhookURL == "" || set.SealedSecret == nil {
			return 0, errs.Ef("notifications.send", errs.Invalid, "the clinic removed its webhook")
		}
		secret, err := s.Sealer.Decrypt(set.SealedSecret, secretAD(d.ClinicID))
		if err != nil {
			return 0, errs.E("notifications.send: unseal", errs.Other, err)
		}
		payload, err := delivery.Payload(d.Notification)
		if err != nil {
			return 0, err
		}
		return s.Webhooks.Send(ctx, set.WebhookURL, string(secret), d.ID, payload)
	case ChannelEmail:
		if len(set.Emails) == 0 || s.Mailer == nil {
			return 0, errs.Ef("notifications.send", errs.Invalid, "no email channel")
		}
		to := set.Emails
		if d.Recipient != RecipientLab {
			to = clinicEmails(set.Emails)
		}
		if len(to) == 0 {
			return 0, errs.Field("notifications.send", "emails", "no address the clinic set may be mailed")
		}
		m, err := delivery.RenderEmail(d.Notification, s.PublicURL)
		if err != nil {
			return 0, err
		}
		m.From, m.To = s.From, to
		return 0, s.Mailer.Send(ctx, m)
	}
	return 0, errs.Ef("notifications.send", errs.Invalid, "unknown channel")
}

// clinicEmails are the addresses of emails that pass delivery.ValidateEmail
// today: settings stored before a rule was added are held to it at
// delivery too. (The lab's addresses are configuration, LENSFLOW_LAB_EMAILS,
// and may name the lab's internal domains.)
func clinicEmails(emails []string) []string {
	var out []string
	for _, e := range emails {
		if delivery.ValidateEmail(e) == nil {
			out = append(out, e)
		}
	}
	return out
}
