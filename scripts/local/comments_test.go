package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
	"github.com/lensflow/lensflow/shared/notifications/delivery/smtpsink"
	"github.com/lensflow/lensflow/shared/orders"
)

// TestOrderComments: the clinic and the lab talk about an order. The
// thread is the order clinic's and the lab's only (another clinic gets
// 404), a retried post with its Idempotency-Key makes one comment, and
// every comment-posted event, delivered three times here, tells the other
// side once (the lab by email, the clinic by webhook and email) and is
// noted once on the order's timeline. The text never leaves the API: not
// in events, notifications or emails.
func TestOrderComments(t *testing.T) {
	data := t.TempDir()
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: data, Log: io.Discard, DuplicateEvents: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Shutdown()
	c := client{base: st.URL, t: t}
	north, south, lab := st.Tokens["demo-north"], st.Tokens["demo-south"], st.LabToken
	const secretWords = "ZZCOMMENT flatten the landing zone"

	var mu sync.Mutex
	var hooks []delivery.Notification
	var hookBodies [][]byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct{ Data delivery.Notification }
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		hooks, hookBodies = append(hooks, p.Data), append(hookBodies, body)
		mu.Unlock()
		w.WriteHeader(204)
	}))
	defer hook.Close()
	if s, b, _ := c.do("PUT", "/v1/clinic/notifications", north, []byte(`{"webhookUrl":"`+hook.URL+`/in","emails":["frontdesk@north.example.com"]}`),
		"Content-Type", "application/json"); s != 200 {
		t.Fatalf("notification settings: %d %s", s, b)
	}

	pid := c.createPatient(north)
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	s, b, _ := c.do("POST", "/v1/patients/"+pid+"/scans?eye=OD&lensType=scleral", north, sample)
	if s != 201 {
		t.Fatalf("upload %d %s", s, b)
	}
	var sc struct{ ID string }
	_ = json.Unmarshal(b, &sc)
	v, _ := c.waitDesigned(north, sc.ID, 20*time.Second)
	designID, _ := v["designId"].(string)
	s, b, _ = c.do("POST", "/v1/orders", north, []byte(`{"designId":"`+designID+`","quantity":1}`), "Content-Type", "application/json")
	if s != 201 {
		t.Fatalf("order %d %s", s, b)
	}
	var o orders.OrderView
	_ = json.Unmarshal(b, &o)
	path := "/v1/orders/" + o.ID + "/comments"
	post := func(token, key, body string) (int, []byte) {
		t.Helper()
		hdr := []string{"Content-Type", "application/json"}
		if key != "" {
			hdr = append(hdr, "Idempotency-Key", key)
		}
		s, b, _ := c.do("POST", path, token, []byte(body), hdr...)
		return s, b
	}
	thread := func(token string) (int, []orders.CommentView) {
		t.Helper()
		s, b, _ := c.do("GET", path, token, nil)
		var out struct{ Comments []orders.CommentView }
		_ = json.Unmarshal(b, &out)
		return s, out.Comments
	}

	// The practitioner asks; a retry of the same request is the same comment.
	s, b = post(north, "ask-1", `{"text":"`+secretWords+`, please"}`)
	var ask orders.CommentView
	if s != 201 || json.Unmarshal(b, &ask) != nil || ask.ID == "" || !ask.Mine || ask.AuthorRole != "practitioner" || ask.Text != secretWords+", please" {
		t.Fatalf("post: %d %s", s, b)
	}
	if s, b := post(north, "ask-1", `{"text":"`+secretWords+`, please"}`); s != 201 || !strings.Contains(string(b), ask.ID) {
		t.Fatalf("replay: %d %s", s, b)
	}
	if s, b := post(north, "ask-1", `{"text":"something else"}`); s != 422 {
		t.Fatalf("same key, other body: %d %s, want 422", s, b)
	}

	// Bad input names the field; another clinic cannot see or post.
	for _, tc := range []struct {
		name, body string
		want       int
		detail     string
	}{
		{"empty", `{"text":"  "}`, 400, "text: required"},
		{"too long", `{"text":"` + strings.Repeat("a", orders.MaxCommentText+1) + `"}`, 400, "text: longer than 2000 characters"},
		{"control", `{"text":"bell\u0007"}`, 400, "text: contains control characters"},
		{"unknown field", `{"text":"x","author":"lab"}`, 400, "author"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, b := post(north, "", tc.body)
			if s != tc.want || !strings.Contains(problemDetail(b), tc.detail) {
				t.Fatalf("%d %s, want %d naming %q", s, b, tc.want, tc.detail)
			}
		})
	}
	if s, _ := thread(south); s != 404 {
		t.Fatalf("another clinic read the thread: %d, want 404", s)
	}
	if s, b := post(south, "", `{"text":"hello"}`); s != 404 {
		t.Fatalf("another clinic posted: %d %s, want 404", s, b)
	}
	if s, b, _ := c.do("POST", "/v1/orders/no-such-order/comments", lab, []byte(`{"text":"x"}`), "Content-Type", "application/json"); s != 404 {
		t.Fatalf("comment on a missing order: %d %s", s, b)
	}

	// The lab reads the thread and answers.
	s, got := thread(lab)
	if s != 200 || len(got) != 1 || got[0].ID != ask.ID || got[0].Mine || got[0].AuthorRole != "practitioner" || got[0].Text != ask.Text {
		t.Fatalf("lab's thread: %d %+v", s, got)
	}
	s, b = post(lab, "reply-1", `{"text":"Flattened by 0.1 mm.\nNew lens dispatched with a spare."}`)
	var reply orders.CommentView
	if s != 201 || json.Unmarshal(b, &reply) != nil || reply.AuthorRole != "lab" {
		t.Fatalf("lab reply: %d %s", s, b)
	}
	s, got = thread(north)
	if s != 200 || len(got) != 2 || got[0].ID != ask.ID || !got[0].Mine || got[1].ID != reply.ID || got[1].Mine ||
		got[1].AuthorRole != "lab" || !strings.Contains(got[1].Text, "\n") {
		t.Fatalf("clinic's thread: %d %+v", s, got)
	}

	// Fan-out: the order's timeline notes both comments, once each.
	deadline := time.Now().Add(20 * time.Second)
	var noted map[string]int
	for {
		_, b, _ := c.do("GET", "/v1/orders/"+o.ID, north, nil)
		var ov orders.OrderView
		_ = json.Unmarshal(b, &ov)
		noted = map[string]int{}
		for _, e := range ov.Timeline {
			if e.Subject == workflow.SubjectComment {
				noted[e.Actor+" "+e.To+" "+e.Note]++
			}
		}
		if len(noted) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if noted["practitioner posted comment="+ask.ID] != 1 || noted["lab posted comment="+reply.ID] != 1 || len(noted) != 2 {
		t.Fatalf("timeline comment entries %v", noted)
	}

	// The lab's comment reaches the clinic by webhook and email; the
	// clinic's reaches the lab by email. Once each, though every event was
	// delivered three times.
	var mails []string
	for time.Now().Before(deadline) {
		mails, _ = smtpsink.Messages(filepath.Join(data, "mail"))
		mu.Lock()
		n := len(hooks)
		mu.Unlock()
		if n >= 1 && len(mails) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let any duplicate arrive
	mails, _ = smtpsink.Messages(filepath.Join(data, "mail"))
	mu.Lock()
	defer mu.Unlock()
	if len(hooks) != 1 || hooks[0].Type != delivery.TypeCommentPosted || hooks[0].OrderID != o.ID || hooks[0].Link != path {
		t.Fatalf("webhooks: %+v", hooks)
	}
	to := map[string]int{}
	for _, m := range mails {
		raw, _ := os.ReadFile(m)
		switch {
		case bytes.Contains(raw, []byte("lab@lensflow.local")):
			to["lab"]++
		case bytes.Contains(raw, []byte("frontdesk@north.example.com")):
			to["clinic"]++
		}
		if !bytes.Contains(raw, []byte(o.ID)) {
			t.Errorf("email %s does not name the order", m)
		}
		if bytes.Contains(raw, []byte("ZZCOMMENT")) || bytes.Contains(raw, []byte("Flattened")) {
			t.Errorf("email %s carries the comment's text", m)
		}
	}
	if to["lab"] != 1 || to["clinic"] != 1 || len(mails) != 2 {
		t.Fatalf("emails: %v of %d", to, len(mails))
	}
	for _, body := range hookBodies {
		if bytes.Contains(body, []byte("ZZCOMMENT")) || bytes.Contains(body, []byte("Flattened")) {
			t.Errorf("webhook carries the comment's text: %s", body)
		}
	}
}
