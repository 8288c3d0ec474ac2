package eventhttp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// PushOptions tune Push.
type PushOptions struct {
	// Token, if set, is called for every request; its result is sent as
	// "Authorization: Bearer <token>" (the stand-in for Pub/Sub's OIDC token).
	// A Token error nacks the delivery.
	Token func(ctx context.Context) (string, error)
	// Backoff, if set, is how long to wait before nacking a failed delivery,
	// by attempt. Leave it nil when the broker already backs off (Pub/Sub's
	// retry policy, the local broker's nack delay).
	Backoff func(attempt int) time.Duration
	// OnResult, if set, is called after every delivery with the status the
	// handler answered (0 if no request was made) and any transport error.
	OnResult func(d ports.Delivery, status int, err error)
	// URL is the request URL the handler sees (default "http://localhost/",
	// or "http://localhost/projects/P/topics/T" with Raw).
	URL string
	// Raw sends plain push-subscription envelopes instead of Eventarc
	// CloudEvents.
	Raw bool
}

// defaultAckDeadline is the request timeout when the spec has none.
const defaultAckDeadline = 60 * time.Second

// Acked reports whether Pub/Sub push treats status as an ack.
func Acked(status int) bool {
	switch status {
	case http.StatusProcessing, http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent:
		return true
	}
	return false
}

// Push delivers subscription sub of b to h, as Eventarc (or, with Raw, a
// push subscription) delivers to a Cloud Run service, until ctx ends: one
// POST per delivery (NewPushRequest), timed out after the subscription's ack
// deadline; an acking status (see Acked) acks, anything else nacks after
// Backoff, so the broker retries and dead-letters. project and sub.Topic
// name the source. Push returns nil when ctx ends, or Receive's error.
func Push(ctx context.Context, b ports.Broker, sub ports.SubscriptionSpec, project string, h http.Handler, opts PushOptions) error {
	const op = "eventhttp.Push"
	url := opts.URL
	if url == "" {
		url = "http://localhost/"
		if opts.Raw {
			url = fmt.Sprintf("http://localhost/projects/%s/topics/%s", project, sub.Topic)
		}
	}
	timeout := sub.AckDeadline
	if timeout <= 0 {
		timeout = defaultAckDeadline
	}
	return b.Receive(ctx, sub.Name, func(ctx context.Context, d ports.Delivery) error {
		status, err := pushOne(ctx, url, d, project, sub.Topic, h, opts, timeout)
		if opts.OnResult != nil {
			opts.OnResult(d, status, err)
		}
		if err == nil && Acked(status) {
			return nil
		}
		if opts.Backoff != nil {
			if wait := opts.Backoff(d.Attempt); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
		}
		if err != nil {
			return errs.Wrap(op, err)
		}
		return errs.Ef(op, errs.Unavailable, "push endpoint answered %d", status)
	})
}

// pushOne makes one request and returns the handler's status.
func pushOne(ctx context.Context, url string, d ports.Delivery, project, topic string, h http.Handler, opts PushOptions, timeout time.Duration) (int, error) {
	const op = "eventhttp.push"
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var req *http.Request
	var err error
	if opts.Raw {
		req, err = NewRawPushRequest(ctx, url, d, project)
	} else {
		req, err = NewPushRequest(ctx, url, d, project, topic)
	}
	if err != nil {
		return 0, err
	}
	if opts.Token != nil {
		tok, err := opts.Token(ctx)
		if err != nil {
			return 0, errs.E(op, errs.Unavailable, fmt.Errorf("token: %w", err))
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return serve(h, req)
}

// serve runs h in process and returns the final status it wrote.
func serve(h http.Handler, req *http.Request) (status int, err error) {
	w := &statusWriter{header: http.Header{}}
	defer func() {
		if r := recover(); r != nil {
			status, err = http.StatusInternalServerError, errs.Ef("eventhttp.push", errs.Other, "handler panicked")
		}
	}()
	h.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK // net/http's answer when a handler writes nothing
	}
	return w.status, nil
}

// statusWriter records the status a handler writes and discards the body.
type statusWriter struct {
	header http.Header
	status int
}

func (w *statusWriter) Header() http.Header { return w.header }

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 || (w.status >= 100 && w.status < 200) {
		w.status = code // 1xx is interim; a later status replaces it
	}
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}

// URLHandler returns a handler that forwards each request to url with
// client (http.DefaultClient if nil) and answers with the remote status, so
// Push can deliver to a running service.
func URLHandler(url string, client *http.Client) http.Handler {
	if client == nil {
		client = http.DefaultClient
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := http.NewRequestWithContext(r.Context(), r.Method, url, r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		out.ContentLength = r.ContentLength
		resp, err := client.Do(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<20))
	})
}
