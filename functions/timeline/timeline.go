// Package timeline is the Timeline function: it keeps an order's timeline
// in step with what is said about the order. It consumes comment-posted
// events and notes each comment (its id, the author's role and the time,
// never the text) on the order's timeline. It is one of the independent
// subscribers of comment-posted; Notifications is another. A redelivered
// event is noted once.
package timeline

import (
	"context"

	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/ports"
)

func init() {
	platform.Register(platform.Function{Name: "Timeline", Topics: []string{orders.TopicCommentPosted}, Event: New})
}

// New builds the event handler on app.
func New(app *bootstrap.App) (platform.EventFunc, error) {
	svc := bootstrap.OrderService(app)
	return platform.Consume(orders.TypeCommentPosted, func(ev orders.CommentPosted) bool { _, ok := orders.ValidCommentPosted(ev); return ok },
		func(ctx context.Context, ev orders.CommentPosted, _ ports.Delivery) error {
			return svc.RecordComment(ctx, ev)
		}), nil
}
