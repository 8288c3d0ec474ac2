// Package notifications is the Notifications function: it consumes job
// status changes, due follow-ups, revised designs and comments on orders,
// and tells the other side: the clinic by signed webhook and email, or,
// for a clinic's comment, the lab by email. Each message says what
// happened and links to it (never patient details, never a comment's
// text). A redelivered event notifies once.
package notifications

import (
	"context"
	"encoding/json"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventhttp"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/reminders"
)

func init() {
	platform.Register(platform.Function{Name: "Notifications",
		Topics: []string{orders.TopicJobStatus, reminders.TopicFollowUpDue, orders.TopicDesignRevised, orders.TopicCommentPosted}, Event: New})
}

// New builds the event handler on app.
func New(app *bootstrap.App) (platform.EventFunc, error) {
	svc := bootstrap.NotificationService(app)
	return func(ctx context.Context, e cloudevents.Event) error {
		d, err := eventhttp.Unwrap(e)
		if err != nil {
			return err
		}
		n, lab, ok, err := notificationOf(d.Event.ID, d.Event.Type, d.Event.Data)
		if err != nil {
			return err
		}
		if !ok {
			httpkit.Logger(ctx).DebugContext(ctx, "no notification for this event", "eventId", d.Event.ID, "type", d.Event.Type)
			return nil
		}
		n.OccurredAt = d.Event.Time
		if lab {
			return svc.NotifyLab(ctx, n)
		}
		return svc.Notify(ctx, n)
	}, nil
}

// notificationOf maps an event to the thin notification the other side
// gets: the clinic, or the lab (lab true) for a comment the clinic wrote.
func notificationOf(id, typ string, data []byte) (n delivery.Notification, lab, ok bool, err error) {
	switch typ {
	case orders.TypeJobStatusChanged:
		var ev orders.JobEvent
		if err := json.Unmarshal(data, &ev); err != nil || ev.OrderID == "" {
			return delivery.Notification{}, false, false, errs.Ef("notifications", errs.Invalid, "event %s: malformed job event", id)
		}
		if !ev.OrderChanged {
			return delivery.Notification{}, false, false, nil // a step inside the lab; the order did not change
		}
		return delivery.Notification{ID: id, Type: delivery.TypeOrderStatusChanged, ClinicID: ev.ClinicID, OrderID: ev.OrderID,
			JobID: ev.JobID, Status: ev.Order, Link: "/v1/orders/" + ev.OrderID}, false, true, nil
	case reminders.TypeFollowUpDue:
		var ev reminders.FollowUpDue
		if err := json.Unmarshal(data, &ev); err != nil || ev.OrderID == "" {
			return delivery.Notification{}, false, false, errs.Ef("notifications", errs.Invalid, "event %s: malformed follow-up event", id)
		}
		return delivery.Notification{ID: id, Type: delivery.TypeFollowUpDue, ClinicID: ev.ClinicID, OrderID: ev.OrderID,
			Status: "due", Link: "/v1/orders/" + ev.OrderID}, false, true, nil
	case orders.TypeDesignRevised:
		var ev orders.DesignRevised
		if err := json.Unmarshal(data, &ev); err != nil || ev.OrderID == "" {
			return delivery.Notification{}, false, false, errs.Ef("notifications", errs.Invalid, "event %s: malformed design event", id)
		}
		return delivery.Notification{ID: id, Type: delivery.TypeDesignRevised, ClinicID: ev.ClinicID, OrderID: ev.OrderID,
			ScanID: ev.ScanID, Status: "revised", Link: "/v1/scans/" + ev.ScanID + "/design"}, false, true, nil
	case orders.TypeCommentPosted:
		ev, ok := orders.DecodeCommentPosted(data)
		if !ok {
			return delivery.Notification{}, false, false, errs.Ef("notifications", errs.Invalid, "event %s: malformed comment event", id)
		}
		return delivery.Notification{ID: id, Type: delivery.TypeCommentPosted, ClinicID: ev.ClinicID, OrderID: ev.OrderID,
			Status: "posted", Link: "/v1/orders/" + ev.OrderID + "/comments"}, ev.AuthorRole != "lab", true, nil
	}
	return delivery.Notification{}, false, false, nil
}
