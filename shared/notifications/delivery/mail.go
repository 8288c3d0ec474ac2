package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"sort"
	"strings"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
)

// Message is a plain-text email.
type Message struct {
	// From is the sender address ("Lab <lab@example.com>" or a bare
	// address); empty means the Mailer's default.
	From string
	// To lists the recipients, at least one.
	To []string
	// Subject is one line of text (UTF-8 is encoded as RFC 2047).
	Subject string
	// Text is the UTF-8 body; it is sent quoted-printable, so any line
	// length and any line ending is fine.
	Text string
	// Headers are extra header fields, such as X-Lensflow-Notification-Id.
	// They may not replace the standard ones Mailer writes (From, To,
	// Subject, Date, Message-ID, MIME and content headers).
	Headers map[string]string
}

// Mailer sends email. Implementations classify errors with errs:
// errs.Invalid for a message that can never be sent as it is (bad address,
// header injection, permanent SMTP rejection), errs.Unavailable for
// anything worth retrying.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// MailerFunc adapts a function to the Mailer interface.
type MailerFunc func(ctx context.Context, m Message) error

// Send calls f(ctx, m).
func (f MailerFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

const maxRecipients = 50

// reservedHeaders are written by the mailer and cannot be set in Headers.
var reservedHeaders = map[string]bool{
	"From": true, "To": true, "Cc": true, "Bcc": true, "Subject": true, "Date": true,
	"Message-Id": true, "Mime-Version": true, "Content-Type": true,
	"Content-Transfer-Encoding": true, "Sender": true, "Reply-To": true, "Return-Path": true,
}

// envelope is a validated message ready for SMTP.
type envelope struct {
	from string   // bare envelope sender address
	to   []string // bare recipient addresses
	data []byte   // RFC 5322 message with CRLF line endings
}

func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }

// build validates m and formats it as an RFC 5322 message dated now.
func build(op string, m Message, now time.Time) (envelope, error) {
	if hasLineBreak(m.From) {
		return envelope{}, errs.Field(op, "from", "must be one line")
	}
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return envelope{}, errs.Field(op, "from", "is not a valid email address")
	}
	if len(m.To) == 0 {
		return envelope{}, errs.Field(op, "to", "needs at least one recipient")
	}
	if len(m.To) > maxRecipients {
		return envelope{}, errs.Field(op, "to", "has more than %d recipients", maxRecipients)
	}
	env := envelope{from: from.Address}
	to := make([]string, 0, len(m.To))
	for _, r := range m.To {
		if hasLineBreak(r) {
			return envelope{}, errs.Field(op, "to", "must be one line each")
		}
		a, err := mail.ParseAddress(r)
		if err != nil {
			return envelope{}, errs.Field(op, "to", "contains an invalid email address")
		}
		env.to = append(env.to, a.Address)
		to = append(to, a.String())
	}
	if hasLineBreak(m.Subject) {
		return envelope{}, errs.Field(op, "subject", "must be one line")
	}
	names := make([]string, 0, len(m.Headers))
	for k, v := range m.Headers {
		name := textproto.CanonicalMIMEHeaderKey(k)
		if !isHeaderName(k) {
			return envelope{}, errs.Field(op, "headers", "contains an invalid header name")
		}
		if reservedHeaders[name] {
			return envelope{}, errs.Field(op, "headers", "may not set %s", name)
		}
		if hasLineBreak(v) || len(v) > 900 {
			return envelope{}, errs.Field(op, "headers", "%s must be one line of at most 900 bytes", name)
		}
		names = append(names, k)
	}
	sort.Strings(names)

	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	var id [16]byte
	_, _ = rand.Read(id[:])

	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from.String())
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+domain+">")
	for _, k := range names {
		hdr(textproto.CanonicalMIMEHeaderKey(k), mime.QEncoding.Encode("utf-8", m.Headers[k]))
	}
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(m.Text))
	_ = qp.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	env.data = b.Bytes()
	return env, nil
}

func isHeaderName(s string) bool {
	if s == "" || len(s) > 76 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// SMTPConfig configures an SMTPMailer.
type SMTPConfig struct {
	// Addr is the server's host:port, e.g. "smtp.example.com:587" or, for
	// the local sink, "127.0.0.1:2525".
	Addr string
	// From is the default sender address for messages without one.
	From string
	// Username and Password enable SMTP PLAIN authentication. net/smtp
	// sends credentials only over TLS or to localhost.
	Username, Password string
	// RequireTLS refuses to send unless the server offers STARTTLS; set it
	// for any server that is not on the local machine.
	RequireTLS bool
	// TLSConfig overrides the STARTTLS client configuration; by default the
	// host name of Addr is verified against the system roots.
	TLSConfig *tls.Config
	// HelloName is the name sent in EHLO; default "localhost".
	HelloName string
	// Timeout bounds one Send (connect to QUIT); default 30 s.
	Timeout time.Duration
	// Now is the clock for the Date header; default time.Now.
	Now func() time.Time
}

// SMTPMailer sends each Message over a new SMTP connection with net/smtp,
// upgrading with STARTTLS when the server offers it. It is safe for
// concurrent use.
type SMTPMailer struct {
	cfg  SMTPConfig
	host string
}

// NewSMTPMailer checks cfg and returns a Mailer for it.
func NewSMTPMailer(cfg SMTPConfig) (*SMTPMailer, error) {
	const op = "notify.NewSMTPMailer"
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" || port == "" {
		return nil, errs.Field(op, "addr", "must be host:port")
	}
	if cfg.From != "" {
		if _, err := mail.ParseAddress(cfg.From); err != nil || hasLineBreak(cfg.From) {
			return nil, errs.Field(op, "from", "is not a valid email address")
		}
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	if hasLineBreak(cfg.HelloName) || strings.ContainsAny(cfg.HelloName, " \t") {
		return nil, errs.Field(op, "helloName", "must be a host name")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &SMTPMailer{cfg: cfg, host: host}, nil
}

// Send delivers m: EHLO, STARTTLS if offered (required with RequireTLS),
// AUTH if configured, MAIL, RCPT for each recipient, DATA, QUIT. SMTP 4xx
// replies and network failures are errs.Unavailable; 5xx replies are
// errs.Invalid.
func (s *SMTPMailer) Send(ctx context.Context, m Message) error {
	const op = "notify.SMTPMailer.Send"
	if m.From == "" {
		m.From = s.cfg.From
	}
	env, err := build(op, m, s.cfg.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return errs.E(op, errs.Unavailable, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Unblock any read or write when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return classifySMTP(op, "connect", err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.HelloName); err != nil {
		return classifySMTP(op, "EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		tc := s.cfg.TLSConfig
		if tc == nil {
			tc = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(tc); err != nil {
			return classifySMTP(op, "STARTTLS", err)
		}
	} else if s.cfg.RequireTLS {
		return errs.Ef(op, errs.Unavailable, "server does not offer STARTTLS")
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			return classifySMTP(op, "AUTH", err)
		}
	}
	if err := c.Mail(env.from); err != nil {
		return classifySMTP(op, "MAIL", err)
	}
	for _, r := range env.to {
		if err := c.Rcpt(r); err != nil {
			return classifySMTP(op, "RCPT", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return classifySMTP(op, "DATA", err)
	}
	if _, err := w.Write(env.data); err != nil {
		return classifySMTP(op, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return classifySMTP(op, "DATA", err)
	}
	// The message is accepted; a failed QUIT does not undo that.
	_ = c.Quit()
	return nil
}

// classifySMTP maps a net/smtp error: permanent 5xx replies are Invalid,
// everything else (4xx, network, TLS) Unavailable.
func classifySMTP(op, stage string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return errs.Ef(op, errs.Invalid, "%s rejected: %d %s", stage, te.Code, te.Msg)
	}
	return errs.E(op, errs.Unavailable, fmt.Errorf("%s: %w", stage, err))
}
