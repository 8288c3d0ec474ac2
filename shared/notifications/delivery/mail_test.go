package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
	"github.com/lensflow/lensflow/shared/notifications/delivery/smtpsink"
)

func quietSink(t testing.TB, opts smtpsink.Options) *smtpsink.Sink {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := smtpsink.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func readOnly(t *testing.T, dir string) *mail.Message {
	t.Helper()
	paths, err := smtpsink.Messages(dir)
	if err != nil || len(paths) != 1 {
		t.Fatalf("messages %v, %v; want one", paths, err)
	}
	f, err := os.Open(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	m, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSMTPMailerToSink runs net/smtp against the embedded sink end to end
// and reads the stored .eml back.
func TestSMTPMailerToSink(t *testing.T) {
	sink := quietSink(t, smtpsink.Options{})
	m, err := delivery.NewSMTPMailer(delivery.SMTPConfig{Addr: sink.Addr(), From: "Lensflow Lab <lab@lensflow.example>",
		Now: func() time.Time { return time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := delivery.RenderEmail(sample(), "https://api.lensflow.example")
	if err != nil {
		t.Fatal(err)
	}
	msg.To = []string{"Front Desk <frontdesk@clinic.example>", "optom@clinic.example"}
	msg.Text += ".a line starting with a dot\r\n" + strings.Repeat("long ", 60) + "\r\nünïcode ✓\n"
	msg.Subject += " ✓"
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := readOnly(t, sink.Dir())
	if rp := got.Header.Get("Return-Path"); rp != "<lab@lensflow.example>" {
		t.Errorf("Return-Path %q", rp)
	}
	if d := got.Header["Delivered-To"]; len(d) != 2 || d[0] != "frontdesk@clinic.example" || d[1] != "optom@clinic.example" {
		t.Errorf("Delivered-To %q", d)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(got.Header.Get("Subject"))
	if err != nil || subject != msg.Subject {
		t.Errorf("Subject %q (%v), want %q", subject, err, msg.Subject)
	}
	if got.Header.Get("X-Lensflow-Notification-Id") != "ntf_7f3c2a91" || got.Header.Get("Date") != "Sat, 01 Mar 2025 09:30:00 +0000" {
		t.Errorf("headers %v", got.Header)
	}
	if !strings.HasSuffix(got.Header.Get("Message-Id"), "@lensflow.example>") {
		t.Errorf("Message-ID %q", got.Header.Get("Message-Id"))
	}
	raw, _ := io.ReadAll(got.Body)
	body, err := io.ReadAll(quotedPrintable(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"https://api.lensflow.example/v1/orders/", ".a line starting with a dot\r\n", strings.Repeat("long ", 60), "ünïcode ✓"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestSMTPMailerErrors(t *testing.T) {
	sink := quietSink(t, smtpsink.Options{MaxMessageBytes: 2000, MaxRecipients: 1})
	newMailer := func(cfg delivery.SMTPConfig) *delivery.SMTPMailer {
		if cfg.Addr == "" {
			cfg.Addr = sink.Addr()
		}
		m, err := delivery.NewSMTPMailer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ok := delivery.Message{From: "lab@lensflow.example", To: []string{"a@clinic.example"}, Subject: "s", Text: "t"}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	_ = closed.Close()

	tests := []struct {
		name  string
		cfg   delivery.SMTPConfig
		edit  func(*delivery.Message)
		kind  errs.Kind
		field string
	}{
		{"no from", delivery.SMTPConfig{}, func(m *delivery.Message) { m.From = "" }, errs.Invalid, "from"},
		{"default from", delivery.SMTPConfig{From: "lab@lensflow.example"}, func(m *delivery.Message) { m.From = "" }, errs.Other, ""},
		{"bad from", delivery.SMTPConfig{}, func(m *delivery.Message) { m.From = "not an address" }, errs.Invalid, "from"},
		{"from injection", delivery.SMTPConfig{}, func(m *delivery.Message) { m.From = "lab@lensflow.example\r\nBcc: x@evil.example" }, errs.Invalid, "from"},
		{"no recipients", delivery.SMTPConfig{}, func(m *delivery.Message) { m.To = nil }, errs.Invalid, "to"},
		{"bad recipient", delivery.SMTPConfig{}, func(m *delivery.Message) { m.To = []string{"a@clinic.example", "nope"} }, errs.Invalid, "to"},
		{"recipient injection", delivery.SMTPConfig{}, func(m *delivery.Message) { m.To = []string{"a@clinic.example\nBcc: x@evil.example"} }, errs.Invalid, "to"},
		{"too many recipients", delivery.SMTPConfig{}, func(m *delivery.Message) { m.To = make([]string, 51) }, errs.Invalid, "to"},
		{"subject injection", delivery.SMTPConfig{}, func(m *delivery.Message) { m.Subject = "hi\r\nBcc: x@evil.example" }, errs.Invalid, "subject"},
		{"header injection", delivery.SMTPConfig{}, func(m *delivery.Message) { m.Headers = map[string]string{"X-A": "1\r\nBcc: x"} }, errs.Invalid, "headers"},
		{"bad header name", delivery.SMTPConfig{}, func(m *delivery.Message) { m.Headers = map[string]string{"X A:": "1"} }, errs.Invalid, "headers"},
		{"reserved header", delivery.SMTPConfig{}, func(m *delivery.Message) { m.Headers = map[string]string{"bcc": "x@evil.example"} }, errs.Invalid, "headers"},
		{"server refuses size (5xx)", delivery.SMTPConfig{}, func(m *delivery.Message) { m.Text = strings.Repeat("x", 5000) }, errs.Invalid, ""},
		{"server defers recipients (4xx)", delivery.SMTPConfig{}, func(m *delivery.Message) { m.To = []string{"a@clinic.example", "b@clinic.example"} }, errs.Unavailable, ""},
		{"TLS required but not offered", delivery.SMTPConfig{RequireTLS: true}, func(*delivery.Message) {}, errs.Unavailable, ""},
		{"connection refused", delivery.SMTPConfig{Addr: closedAddr}, func(*delivery.Message) {}, errs.Unavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := ok
			tt.edit(&msg)
			err := newMailer(tt.cfg).Send(context.Background(), msg)
			if tt.kind == errs.Other {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if got := errs.KindOf(err); got != tt.kind || errs.FieldOf(err) != tt.field {
				t.Fatalf("Send = %v (kind %v, field %q), want %v %q", err, got, errs.FieldOf(err), tt.kind, tt.field)
			}
		})
	}
}

func TestSMTPMailerContext(t *testing.T) {
	// A server that accepts the connection and never greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	m, _ := delivery.NewSMTPMailer(delivery.SMTPConfig{Addr: ln.Addr().String(), Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	err = m.Send(ctx, delivery.Message{From: "lab@lensflow.example", To: []string{"a@clinic.example"}})
	if !errs.Is(errs.Unavailable, err) || time.Since(began) > 3*time.Second {
		t.Fatalf("Send = %v after %v", err, time.Since(began))
	}
}

func TestNewSMTPMailerConfig(t *testing.T) {
	for name, cfg := range map[string]delivery.SMTPConfig{
		"no addr":  {},
		"no port":  {Addr: "smtp.example.com"},
		"bad from": {Addr: "smtp.example.com:587", From: "nope"},
		"bad helo": {Addr: "smtp.example.com:587", HelloName: "a b"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := delivery.NewSMTPMailer(cfg); !errs.Is(errs.Invalid, err) {
				t.Fatalf("NewSMTPMailer = %v", err)
			}
		})
	}
}

func TestMailerFunc(t *testing.T) {
	var got delivery.Message
	var m delivery.Mailer = delivery.MailerFunc(func(_ context.Context, msg delivery.Message) error { got = msg; return errors.New("x") })
	if err := m.Send(context.Background(), delivery.Message{Subject: "s"}); err == nil || got.Subject != "s" {
		t.Fatal("MailerFunc did not call through")
	}
}

func ExampleNewSMTPMailer() {
	dir, _ := os.MkdirTemp("", "mail")
	defer os.RemoveAll(dir)
	sink, _ := smtpsink.Start(smtpsink.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer sink.Close()

	mailer, err := delivery.NewSMTPMailer(delivery.SMTPConfig{Addr: sink.Addr(), From: "Lensflow Lab <lab@lensflow.example>"})
	if err != nil {
		panic(err)
	}
	msg, _ := delivery.RenderEmail(delivery.Notification{
		ID: "ntf_1", Type: delivery.TypeOrderStatusChanged, OccurredAt: time.Now(),
		OrderID: "ord_1", Status: "dispatched", Link: "/v1/orders/ord_1",
	}, "https://api.lensflow.example")
	msg.To = []string{"frontdesk@clinic.example"}
	if err := mailer.Send(context.Background(), msg); err != nil {
		panic(err)
	}
	paths, _ := smtpsink.Messages(dir)
	fmt.Println(len(paths), "email written")
	// Output: 1 email written
}
