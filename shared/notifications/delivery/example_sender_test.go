package delivery_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
)

// ExampleSender_Send shows one delivery attempt as the notification function
// makes it: build the thin payload, send it signed with the clinic's secret
// under the notification id, and let the error's kind decide what is next.
func ExampleSender_Send() {
	secret, _ := delivery.NewSecret()
	clinic := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if delivery.Verify(secret, r.Header, body, time.Now(), 0) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer clinic.Close()

	// Production senders use NewSender(delivery.SenderOptions{}): https only,
	// public addresses only. The test server is on 127.0.0.1 over http.
	sender := delivery.NewSender(delivery.SenderOptions{AllowHTTPLoopbackForTests: true})
	n := delivery.Notification{
		ID: "ntf_1", Type: delivery.TypeOrderStatusChanged, OccurredAt: time.Now(),
		OrderID: "ord_1", Status: "dispatched", Link: "/v1/orders/ord_1",
	}
	payload, _ := delivery.Payload(n)
	status, err := sender.Send(context.Background(), clinic.URL+"/lensflow", secret, n.ID, payload)
	switch {
	case err == nil:
		fmt.Println("delivered", status)
	case errs.Retryable(err):
		delay, ok := delivery.NextAttempt(1) // attempts made so far
		fmt.Println("retry in", delay, ok)
	default:
		fmt.Println("give up:", errs.Message(err))
	}
	// Output: delivered 204
}
