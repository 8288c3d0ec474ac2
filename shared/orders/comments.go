package orders

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/servicekit"
)

// Comments on an order: the conversation between the clinic and the lab,
// and the comment-posted event that fans out to whoever subscribes to it
// (the clinic's or the lab's notifications, the order's timeline).
const (
	CommentsCollection = "order-comments"
	TopicCommentPosted = "comment-posted"
	TypeCommentPosted  = "com.lensflow.order.comment_posted.v1"
	// MaxCommentText bounds a comment, in characters.
	MaxCommentText = 2000
)

// CommentRecord is one comment as stored: its text sealed, bound to the
// clinic, the order and the comment's id.
type CommentRecord struct {
	ID            string    `json:"id"`
	OrderID       string    `json:"orderId"`
	ClinicID      string    `json:"clinicId"`
	AuthorSubject string    `json:"authorSubject"`
	AuthorRole    string    `json:"authorRole"` // practitioner or lab
	SealedText    []byte    `json:"sealedText"`
	Created       time.Time `json:"created"`
}

// CommentInput is the body of POST /v1/orders/{orderId}/comments.
type CommentInput struct {
	Text string `json:"text"`
}

// CommentView is a comment as the thread shows it: who wrote it (their
// role, and whether it was the reader), when, and what.
type CommentView struct {
	ID         string    `json:"id"`
	OrderID    string    `json:"orderId"`
	AuthorRole string    `json:"authorRole"`
	Mine       bool      `json:"mine"`
	Text       string    `json:"text"`
	Created    time.Time `json:"created"`
}

// CommentPosted is the data of a comment-posted event: ids and the
// author's role only, never the text.
type CommentPosted struct {
	// The order commented on (GET /v1/orders/{orderId}/comments).
	OrderID string `json:"orderId"`
	// The clinic of the order.
	ClinicID string `json:"clinicId"`
	// The comment.
	CommentID string `json:"commentId"`
	// Who wrote it: practitioner or lab.
	AuthorRole string `json:"authorRole"`
}

// AssociatedDataForComment binds a comment's ciphertext to its clinic,
// order and id.
func AssociatedDataForComment(c CommentRecord) []byte {
	return ports.AssociatedData("order-comment", c.ClinicID, c.OrderID, c.ID)
}

// PostComment adds a comment to an order of the actor's clinic or, for lab
// staff, to any order (errs.NotFound for another clinic's). id, when set,
// is the comment's id fixed by the request's Idempotency-Key: an earlier
// attempt that stored it is answered instead of a second comment. The text
// is stored sealed; the comment-posted event, committed with it, carries
// ids only.
func (s *Service) PostComment(ctx context.Context, a auth.Actor, orderID, id string, in CommentInput) (CommentView, error) {
	const op = "orders.comment"
	text := strings.TrimSpace(in.Text)
	switch {
	case text == "":
		return CommentView{}, errs.Field(op, "text", "required")
	case utf8.RuneCountInString(text) > MaxCommentText:
		return CommentView{}, errs.Field(op, "text", "longer than %d characters", MaxCommentText)
	case strings.IndexFunc(text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		return CommentView{}, errs.Field(op, "text", "contains control characters")
	}
	o, err := s.order(ctx, clinicScope(a), orderID)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.Audit(ctx, a, "comment.create", "orders/"+servicekit.SafeID(orderID)+"/comments", audit.Denied)
		}
		return CommentView{}, err
	}
	a = onOrder(a, o)
	if id != "" {
		if prev, ok, err := s.comment(ctx, a, o, id); err != nil || ok {
			return prev, err
		}
	} else {
		id = s.NewID()
	}
	c := CommentRecord{ID: id, OrderID: o.ID, ClinicID: o.ClinicID, AuthorSubject: a.Subject, AuthorRole: string(a.Role), Created: s.Now()}
	if c.SealedText, err = s.Sealer.Encrypt([]byte(text), AssociatedDataForComment(c)); err != nil {
		return CommentView{}, errs.E(op+": seal", errs.Unavailable, err)
	}
	ev := event(s.NewID(), TypeCommentPosted, "orders/"+o.ID+"/comments/"+c.ID, c.Created,
		CommentPosted{OrderID: o.ID, ClinicID: o.ClinicID, CommentID: c.ID, AuthorRole: c.AuthorRole})
	err = s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		if err := tx.Create(CommentsCollection, c.ID, c); err != nil {
			return err
		}
		return outbox.Add(ctx, tx, TopicCommentPosted, ev)
	})
	if errs.Is(errs.Exists, err) {
		// A concurrent attempt with the same key committed first.
		if prev, ok, gerr := s.comment(ctx, a, o, c.ID); gerr == nil && ok {
			return prev, nil
		}
	}
	if err != nil {
		return CommentView{}, err
	}
	if err := s.Audit(ctx, a, "comment.create", "orders/"+o.ID+"/comments/"+c.ID, audit.Success); err != nil {
		return CommentView{}, err
	}
	s.send(ctx, ev.ID)
	return CommentView{ID: c.ID, OrderID: o.ID, AuthorRole: c.AuthorRole, Mine: true, Text: text, Created: c.Created}, nil
}

// comment returns comment id of order o if an earlier attempt of the same
// request stored it (audited as that request's create).
func (s *Service) comment(ctx context.Context, a auth.Actor, o Order, id string) (CommentView, bool, error) {
	c, ok, err := ports.Prior(ctx, s.Docs, CommentsCollection, id, func(c CommentRecord) bool {
		return c.OrderID == o.ID && c.AuthorSubject == a.Subject
	})
	if err != nil || !ok {
		return CommentView{}, false, err
	}
	v, err := s.commentView(a, c)
	if err != nil {
		return CommentView{}, false, err
	}
	return v, true, s.Audit(ctx, a, "comment.create", "orders/"+o.ID+"/comments/"+c.ID, audit.Success)
}

// Comments lists one page of an order's thread, oldest first (by created,
// then id), for its clinic or lab staff (errs.NotFound for another
// clinic's order), and the next page's token ("" on the last page). The
// query is orderId == ordered by created (composite index orderId,
// created). Each read is audited.
func (s *Service) Comments(ctx context.Context, a auth.Actor, orderID string, pr paging.Request) ([]CommentView, string, error) {
	o, err := s.order(ctx, clinicScope(a), orderID)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.Audit(ctx, a, "comment.read", "orders/"+servicekit.SafeID(orderID)+"/comments", audit.Denied)
		}
		return nil, "", err
	}
	scope := paging.NewScope("comments.list", a.ClinicID, o.ID) // the caller's clinic: none for lab staff
	a = onOrder(a, o)
	docs, next, err := paging.Query(ctx, s.Docs, ports.Query{Collection: CommentsCollection,
		Where: []ports.Where{{Field: "orderId", Op: "==", Value: o.ID}}, OrderBy: "created"}, pr, scope)
	if err != nil {
		return nil, "", err
	}
	out := make([]CommentView, 0, len(docs))
	for _, d := range docs {
		var c CommentRecord
		if err := d.Decode(&c); err != nil || c.ClinicID != o.ClinicID {
			continue
		}
		v, err := s.commentView(a, c)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	return out, next, s.Audit(ctx, a, "comment.read", "orders/"+o.ID+"/comments", audit.Success)
}

func (s *Service) commentView(a auth.Actor, c CommentRecord) (CommentView, error) {
	plain, err := s.Sealer.Decrypt(c.SealedText, AssociatedDataForComment(c))
	if err != nil {
		return CommentView{}, errs.E("orders.comments: unseal", errs.Other, err)
	}
	return CommentView{ID: c.ID, OrderID: c.OrderID, AuthorRole: c.AuthorRole, Mine: c.AuthorSubject == a.Subject,
		Text: string(plain), Created: c.Created}, nil
}

// RecordComment is the order timeline's subscriber to comment-posted: it
// notes the comment on the order's timeline (who and when, by id; never
// the text). A redelivered event is noted once.
func (s *Service) RecordComment(ctx context.Context, ev CommentPosted) error {
	note := "comment=" + ev.CommentID
	return s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		var o Order
		if err := tx.Get(OrdersCollection, ev.OrderID, &o); err != nil {
			if errs.Is(errs.NotFound, err) {
				return nil // the event outlived its order
			}
			return err
		}
		if o.ClinicID != ev.ClinicID {
			return nil
		}
		for _, e := range o.Timeline {
			if e.Subject == workflow.SubjectComment && e.Note == note {
				return nil
			}
		}
		var c CommentRecord
		if err := tx.Get(CommentsCollection, ev.CommentID, &c); err != nil {
			if errs.Is(errs.NotFound, err) {
				return nil
			}
			return err
		}
		if c.OrderID != o.ID {
			return nil
		}
		tl, err := workflow.Mark(o.Timeline, c.Created, workflow.SubjectComment, "posted", c.AuthorRole, note)
		if err != nil {
			return err
		}
		o.Timeline = tl
		return tx.Set(OrdersCollection, o.ID, o)
	})
}

// DecodeCommentPosted reads a comment-posted event's data.
func DecodeCommentPosted(data []byte) (CommentPosted, bool) {
	var ev CommentPosted
	if err := json.Unmarshal(data, &ev); err != nil {
		return CommentPosted{}, false
	}
	return ValidCommentPosted(ev)
}

// ValidCommentPosted reports whether ev has the ids a subscriber needs.
func ValidCommentPosted(ev CommentPosted) (CommentPosted, bool) {
	ok := servicekit.ValidID(ev.OrderID) && servicekit.ValidID(ev.CommentID) && ev.ClinicID != "" && (ev.AuthorRole == "practitioner" || ev.AuthorRole == "lab")
	return ev, ok
}

// clinicScope is the clinic a actor's reads are limited to: their own, or
// none for lab staff, who work on every clinic's orders.
func clinicScope(a auth.Actor) string {
	switch {
	case a.Role == auth.RoleLab:
		return ""
	case a.ClinicID == "":
		return "\x00" // no clinic: matches no order
	}
	return a.ClinicID
}

// onOrder names the order's clinic in lab staff's audit records.
func onOrder(a auth.Actor, o Order) auth.Actor {
	if a.Role == auth.RoleLab {
		a.ClinicID = o.ClinicID
	}
	return a
}
