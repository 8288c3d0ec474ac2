package delivery

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

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

func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }

// build validates m and makes it a go-mail message dated now: UTF-8,
// quoted-printable body, RFC 2047 subject and extra headers, and no
// User-Agent (the default one would name the library and its version).
// The checks are lensflow's policy, before the library sees anything: one
// line for every address, subject and header (no header injection), plain
// header names, no standard header replaced, at most maxRecipients.
func build(op string, m Message, now time.Time) (*gomail.Msg, error) {
	if hasLineBreak(m.From) {
		return nil, errs.Field(op, "from", "must be one line")
	}
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, errs.Field(op, "from", "is not a valid email address")
	}
	if len(m.To) == 0 {
		return nil, errs.Field(op, "to", "needs at least one recipient")
	}
	if len(m.To) > maxRecipients {
		return nil, errs.Field(op, "to", "has more than %d recipients", maxRecipients)
	}
	to := make([]*mail.Address, 0, len(m.To))
	for _, r := range m.To {
		if hasLineBreak(r) {
			return nil, errs.Field(op, "to", "must be one line each")
		}
		a, err := mail.ParseAddress(r)
		if err != nil {
			return nil, errs.Field(op, "to", "contains an invalid email address")
		}
		to = append(to, a)
	}
	if hasLineBreak(m.Subject) {
		return nil, errs.Field(op, "subject", "must be one line")
	}
	for k, v := range m.Headers {
		name := textproto.CanonicalMIMEHeaderKey(k)
		if !isHeaderName(k) {
			return nil, errs.Field(op, "headers", "contains an invalid header name")
		}
		if reservedHeaders[name] {
			return nil, errs.Field(op, "headers", "may not set %s", name)
		}
		if hasLineBreak(v) || len(v) > 900 {
			return nil, errs.Field(op, "headers", "%s must be one line of at most 900 bytes", name)
		}
	}

	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(from)
	msg.ToMailAddress(to...)
	msg.Subject(m.Subject)
	msg.SetDateWithValue(now)
	// A random id at the sender's domain (the library's default would name
	// this machine).
	var id [16]byte
	_, _ = rand.Read(id[:])
	msg.SetMessageIDWithValue(hex.EncodeToString(id[:]) + "@" + from.Address[strings.LastIndexByte(from.Address, '@')+1:])
	for k, v := range m.Headers {
		msg.SetGenHeader(gomail.Header(textproto.CanonicalMIMEHeaderKey(k)), v)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return msg, nil
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
	// Username and Password enable SMTP authentication: PLAIN, or LOGIN
	// where the server offers only that. Credentials are sent only over
	// TLS or to localhost.
	Username, Password string
	// RequireTLS refuses to send unless the server offers STARTTLS; set it
	// for any server that is not on the local machine. Without it STARTTLS
	// is still used whenever the server offers it.
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

// SMTPMailer sends each Message over a new SMTP connection with
// github.com/wneessen/go-mail, upgrading with STARTTLS when the server
// offers it. It is safe for concurrent use.
type SMTPMailer struct {
	cfg  SMTPConfig
	host string
	opts []gomail.Option // for each Send's client, without its dialer
}

// NewSMTPMailer checks cfg and returns a Mailer for it.
func NewSMTPMailer(cfg SMTPConfig) (*SMTPMailer, error) {
	const op = "delivery.NewSMTPMailer"
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
	tc := cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	policy := gomail.TLSOpportunistic
	if cfg.RequireTLS {
		policy = gomail.TLSMandatory
	}
	opts := []gomail.Option{gomail.WithHELO(cfg.HelloName), gomail.WithTLSPolicy(policy), gomail.WithTLSConfig(tc),
		gomail.WithTimeout(cfg.Timeout)}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	return &SMTPMailer{cfg: cfg, host: host, opts: opts}, nil
}

// Send delivers m: EHLO, STARTTLS if offered (required with RequireTLS),
// AUTH if configured (all by the library's client), then MAIL, RCPT for
// each recipient, DATA with the library's MIME writer, QUIT. SMTP 4xx
// replies and network failures are errs.Unavailable; 5xx replies are
// errs.Invalid.
//
// The envelope commands are issued here on the library's SMTP connection
// rather than by its Client.Send, which sends every RCPT before it reports,
// classifies a failure by the last refused recipient only, and writes the
// recipients' addresses into its error text: here the first refusal
// decides, as a permanent one means the message can never go as it is, and
// errors carry the server's reply, never an address.
func (s *SMTPMailer) Send(ctx context.Context, m Message) error {
	const op = "delivery.SMTPMailer.Send"
	if m.From == "" {
		m.From = s.cfg.From
	}
	msg, err := build(op, m, s.cfg.Now())
	if err != nil {
		return err
	}
	from, err := msg.GetSender(false)
	if err != nil {
		return errs.E(op, errs.Invalid, err)
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return errs.E(op, errs.Invalid, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	// The library bounds the dial by ctx, but later commands only by its
	// own timeout: closing the connection when ctx ends fails whatever read
	// or write is pending, and every later one.
	var conn net.Conn
	stop := func() bool { return false }
	dial := func(dctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(dctx, network, s.cfg.Addr)
		if err != nil {
			return nil, err
		}
		conn, stop = c, context.AfterFunc(ctx, func() { _ = c.Close() })
		return c, nil
	}
	defer func() {
		stop()
		if conn != nil {
			_ = conn.Close()
		}
	}()
	client, err := gomail.NewClient(s.host, append(s.opts[:len(s.opts):len(s.opts)], gomail.WithDialContextFunc(dial))...)
	if err != nil {
		return errs.E(op, errs.Invalid, err)
	}
	c, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return classifySMTP(op, "connect", err)
	}
	if err := c.Mail(from); err != nil {
		return classifySMTP(op, "MAIL", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return classifySMTP(op, "RCPT", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return classifySMTP(op, "DATA", err)
	}
	if _, err := msg.WriteTo(w); err != nil {
		return classifySMTP(op, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return classifySMTP(op, "DATA", err)
	}
	// The message is accepted; a failed QUIT does not undo that.
	_ = c.Quit()
	return nil
}

// classifySMTP maps an SMTP failure: permanent 5xx replies are Invalid,
// everything else (4xx, network, TLS, a server without STARTTLS when it is
// required) Unavailable.
func classifySMTP(op, stage string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return errs.Ef(op, errs.Invalid, "%s rejected: %d %s", stage, te.Code, te.Msg)
	}
	return errs.E(op, errs.Unavailable, fmt.Errorf("%s: %w", stage, err))
}
