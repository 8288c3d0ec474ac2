package delivery_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// tlsServer is a scripted SMTP server with STARTTLS and AUTH (mechs), for
// one session. It records the commands it got and whether each came over
// TLS.
type tlsServer struct {
	addr     string
	mu       sync.Mutex
	commands []string // "TLS " prefix when over TLS
	authed   bool
}

func startTLSServer(t *testing.T, cert tls.Certificate, mechs string, authReply string) *tlsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	s := &tlsServer{addr: ln.Addr().String()}
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		onTLS := false
		tp := textproto.NewConn(conn)
		_ = tp.PrintfLine("220 test ESMTP")
		inData := false
		for {
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			if inData {
				if line == "." {
					inData = false
					_ = tp.PrintfLine("250 queued")
				}
				continue
			}
			s.mu.Lock()
			rec := line
			if onTLS {
				rec = "TLS " + line
			}
			s.commands = append(s.commands, rec)
			s.mu.Unlock()
			verb, arg, _ := strings.Cut(line, " ")
			switch strings.ToUpper(verb) {
			case "EHLO":
				if onTLS {
					_ = tp.PrintfLine("250-test\r\n250 AUTH %s", mechs)
				} else {
					_ = tp.PrintfLine("250-test\r\n250 STARTTLS")
				}
			case "STARTTLS":
				_ = tp.PrintfLine("220 go ahead")
				tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}})
				if tc.Handshake() != nil {
					return
				}
				onTLS, tp = true, textproto.NewConn(tc)
			case "AUTH":
				mech, ir, _ := strings.Cut(arg, " ")
				switch {
				case authReply != "":
					_ = tp.PrintfLine("%s", authReply)
				case mech == "PLAIN":
					b, _ := base64.StdEncoding.DecodeString(ir)
					s.mu.Lock()
					s.authed = string(b) == "\x00lab\x00secret"
					s.mu.Unlock()
					_ = tp.PrintfLine("235 ok")
				case mech == "LOGIN":
					user, pass := loginExchange(tp, ir)
					s.mu.Lock()
					s.authed = user == "lab" && pass == "secret"
					s.mu.Unlock()
					_ = tp.PrintfLine("235 ok")
				}
			case "DATA":
				inData = true
				_ = tp.PrintfLine("354 go on")
			case "QUIT":
				_ = tp.PrintfLine("221 bye")
				return
			default:
				_ = tp.PrintfLine("250 ok")
			}
		}
	}()
	return s
}

// loginExchange runs AUTH LOGIN's two challenges (the username may have
// come with the command) and returns what the client answered.
func loginExchange(tp *textproto.Conn, ir string) (user, pass string) {
	read := func(prompt string) string {
		_ = tp.PrintfLine("334 %s", base64.StdEncoding.EncodeToString([]byte(prompt)))
		l, _ := tp.ReadLine()
		b, _ := base64.StdEncoding.DecodeString(l)
		return string(b)
	}
	if ir != "" {
		b, _ := base64.StdEncoding.DecodeString(ir)
		user = string(b)
	} else {
		user = read("Username:")
	}
	return user, read("Password:")
}

func (s *tlsServer) log() (cmds []string, authed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...), s.authed
}

// TestSMTPMailerSTARTTLSAndAuth: with RequireTLS the mailer upgrades with
// STARTTLS, verifies the server, authenticates only over TLS (PLAIN, or
// LOGIN where that is all the server offers), and a refused login is
// permanent.
func TestSMTPMailerSTARTTLSAndAuth(t *testing.T) {
	cert, pool := selfSigned(t)
	msg := delivery.Message{From: "lab@lensflow.example", To: []string{"a@clinic.example"}, Subject: "s", Text: "t"}
	for _, tt := range []struct {
		name, mechs, authReply string
		trust                  bool
		wantKind               errs.Kind // errs.Other: delivered
		wantAuth               string
	}{
		{"PLAIN", "PLAIN LOGIN", "", true, errs.Other, "AUTH PLAIN"},
		{"LOGIN only", "LOGIN", "", true, errs.Other, "AUTH LOGIN"},
		{"login refused", "PLAIN", "535 5.7.8 authentication failed", true, errs.Invalid, "AUTH PLAIN"},
		{"untrusted certificate", "PLAIN", "", false, errs.Unavailable, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startTLSServer(t, cert, tt.mechs, tt.authReply)
			tc := &tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
			if tt.trust {
				tc.RootCAs = pool
			}
			m, err := delivery.NewSMTPMailer(delivery.SMTPConfig{Addr: srv.addr, Username: "lab", Password: "secret",
				RequireTLS: true, TLSConfig: tc, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = m.Send(context.Background(), msg)
			if tt.wantKind == errs.Other && err != nil || tt.wantKind != errs.Other && errs.KindOf(err) != tt.wantKind {
				t.Fatalf("Send = %v (kind %v), want %v", err, errs.KindOf(err), tt.wantKind)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Fatalf("error text carries the password: %v", err)
			}
			cmds, authed := srv.log()
			sawAuth := ""
			for _, c := range cmds {
				if strings.HasPrefix(c, "AUTH") {
					t.Fatalf("AUTH sent before STARTTLS: %q", cmds)
				}
				if strings.HasPrefix(c, "TLS AUTH") {
					sawAuth = strings.Join(strings.Fields(c)[1:3], " ")
				}
			}
			if sawAuth != tt.wantAuth {
				t.Fatalf("auth %q, want %q (commands %q)", sawAuth, tt.wantAuth, cmds)
			}
			if tt.wantKind == errs.Other && !authed {
				t.Fatalf("server did not get the credentials (commands %q)", cmds)
			}
		})
	}
}

// TestSMTPMailerContextMidSession: a server that stops answering after
// EHLO (the library has set its own deadline of Timeout by then) still
// cannot hold Send past its context.
func TestSMTPMailerContextMidSession(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		tp := textproto.NewConn(conn)
		_ = tp.PrintfLine("220 test ESMTP")
		if l, err := tp.ReadLine(); err == nil && strings.HasPrefix(l, "EHLO") {
			_ = tp.PrintfLine("250 test")
		}
		_, _ = tp.ReadLine() // MAIL: never answered
		_, _ = tp.ReadLine() // until the client hangs up
	}()
	m, _ := delivery.NewSMTPMailer(delivery.SMTPConfig{Addr: ln.Addr().String(), Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	err = m.Send(ctx, delivery.Message{From: "lab@lensflow.example", To: []string{"a@clinic.example"}})
	if !errs.Is(errs.Unavailable, err) || time.Since(began) > 3*time.Second {
		t.Fatalf("Send = %v after %v", err, time.Since(began))
	}
}
