// Package smtpsink is the local stack's mail server: a minimal SMTP server
// on a loopback address that accepts every message and writes it as an .eml
// file into a directory, so the emails a local run "sends" can be read from
// the data directory (any mail client opens .eml files).
//
// It speaks enough of RFC 5321 for net/smtp and ordinary clients: HELO,
// EHLO (advertising SIZE and 8BITMIME), MAIL FROM (with SIZE=), RCPT TO,
// DATA with dot-unstuffing, RSET, NOOP, VRFY (252), QUIT. It offers no TLS
// and no AUTH, which is why it refuses to listen anywhere but loopback.
//
// Each message is written atomically (a hidden temporary file in the same
// directory, synced, then renamed) as
// <UTC timestamp>-<random hex>.eml, so the file name carries no PHI and
// readers never see a partial file. The server replies 250 only after the
// rename; a client that disconnects before the final "." leaves nothing.
package smtpsink

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Sink.
type Options struct {
	// Dir receives the .eml files; it is created (0700) if missing.
	Dir string
	// Addr is the loopback host:port to listen on; default "127.0.0.1:0"
	// (any free port; see Sink.Addr).
	Addr string
	// Hostname is announced in the greeting; default "localhost".
	Hostname string
	// MaxMessageBytes bounds a message's DATA; default 10 MiB.
	MaxMessageBytes int64
	// MaxRecipients bounds RCPT TO per message; default 100.
	MaxRecipients int
	// MaxSessions bounds concurrent connections; default 32.
	MaxSessions int
	// IdleTimeout bounds the wait for each command or data line; default 2 min.
	IdleTimeout time.Duration
	// Logger receives one line per accepted message (file name and size
	// only) and per failed write; default slog.Default().
	Logger *slog.Logger
}

// Sink is a running SMTP sink.
type Sink struct {
	opts     Options
	ln       net.Listener
	closing  atomic.Bool
	mu       sync.Mutex
	sessions map[*session]struct{}
	wg       sync.WaitGroup
	done     chan struct{}
}

const (
	maxLine      = 1000 // RFC 5321 text line limit, CRLF included
	maxBadInputs = 10   // unrecognised or malformed commands before we hang up
)

// Start listens on opts.Addr (a loopback address) and serves until Close.
func Start(opts Options) (*Sink, error) {
	if opts.Dir == "" {
		return nil, errors.New("smtpsink: Dir is required")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtpsink: Addr: %w", err)
	}
	if a, err := netip.ParseAddr(host); (err != nil || !a.IsLoopback()) && host != "localhost" {
		return nil, errors.New("smtpsink: Addr must be a loopback address (the sink has no authentication)")
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 10 << 20
	}
	if opts.MaxRecipients <= 0 {
		opts.MaxRecipients = 100
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 32
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("smtpsink: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtpsink: %w", err)
	}
	s := &Sink{opts: opts, ln: ln, sessions: map[*session]struct{}{}, done: make(chan struct{})}
	go s.serve()
	return s, nil
}

// Addr is the address the sink listens on, host:port.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Dir is the directory messages are written to.
func (s *Sink) Dir() string { return s.opts.Dir }

func (s *Sink) serve() {
	defer close(s.done)
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		sess := &session{sink: s, conn: conn, r: newReader(conn)}
		s.mu.Lock()
		tooMany := len(s.sessions) >= s.opts.MaxSessions
		if !tooMany && !s.closing.Load() {
			s.sessions[sess] = struct{}{}
			s.wg.Add(1)
		}
		s.mu.Unlock()
		if tooMany || s.closing.Load() {
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = conn.Write([]byte("421 4.3.2 too many connections, try later\r\n"))
			_ = conn.Close()
			continue
		}
		go func() {
			defer s.wg.Done()
			sess.run()
			s.mu.Lock()
			delete(s.sessions, sess)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting connections, ends idle sessions with a 421
// reply, lets sessions in the middle of DATA finish their message, and
// waits for them until ctx ends, when it closes whatever is left.
func (s *Sink) Shutdown(ctx context.Context) error {
	if !s.closing.CompareAndSwap(false, true) {
		<-s.done
		s.wg.Wait()
		return nil
	}
	err := s.ln.Close()
	<-s.done
	s.mu.Lock()
	for sess := range s.sessions {
		if !sess.inData.Load() {
			_ = sess.conn.SetReadDeadline(time.Now()) // wake the command read
		}
	}
	s.mu.Unlock()
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		s.mu.Lock()
		for sess := range s.sessions {
			_ = sess.conn.Close()
		}
		s.mu.Unlock()
		<-finished
	}
	return err
}

// Close is Shutdown with a 5-second grace period.
func (s *Sink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(ctx)
}

// Messages lists the .eml files in dir, oldest first (the names sort by
// arrival time).
func Messages(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	return paths, nil
}

// session is one SMTP connection.
type session struct {
	sink   *Sink
	conn   net.Conn
	r      *bufio.Reader
	inData atomic.Bool

	helo    string
	from    string // "" with hasFrom set for the null sender <>
	hasFrom bool
	rcpts   []string
	bad     int
}

func (c *session) reply(lines ...string) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.sink.opts.IdleTimeout))
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	_, err := c.conn.Write([]byte(b.String()))
	return err
}

func (c *session) reset() {
	c.from, c.hasFrom, c.rcpts = "", false, nil
}

// errLineTooLong reports a line over maxLine bytes; the rest of it has
// been consumed.
var errLineTooLong = errors.New("line too long")

// readLine reads one line, terminator included, of at most limit bytes.
// A longer line is consumed to its end and reported as errLineTooLong.
func (c *session) readLine(limit int) (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.sink.opts.IdleTimeout))
	if c.sink.closing.Load() && !c.inData.Load() {
		_ = c.conn.SetReadDeadline(time.Now()) // Shutdown may have raced with us
	}
	var buf []byte
	tooLong := false
	for {
		frag, err := c.r.ReadSlice('\n')
		if !tooLong && len(buf)+len(frag) <= limit {
			buf = append(buf, frag...)
		} else {
			tooLong, buf = true, nil
		}
		switch {
		case err == nil && tooLong:
			return "", errLineTooLong
		case err == nil:
			return string(buf), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return "", err
		}
	}
}

func (c *session) run() {
	defer c.conn.Close()
	if c.reply("220 "+c.sink.opts.Hostname+" ESMTP lensflow SMTP sink ready") != nil {
		return
	}
	for {
		if c.sink.closing.Load() {
			_ = c.reply("421 4.3.2 shutting down")
			return
		}
		line, err := c.readLine(maxLine)
		if errors.Is(err, errLineTooLong) {
			if c.badInput("500 5.5.2 line too long") {
				return
			}
			continue
		}
		if err != nil {
			if c.sink.closing.Load() {
				_ = c.reply("421 4.3.2 shutting down")
			}
			return // disconnect or idle timeout
		}
		if !c.command(strings.TrimRight(line, "\r\n")) {
			return
		}
	}
}

// badInput answers a malformed command and reports whether to hang up.
func (c *session) badInput(msg string) bool {
	c.bad++
	if c.bad >= maxBadInputs {
		_ = c.reply("421 4.7.0 too many errors, closing connection")
		return true
	}
	return c.reply(msg) != nil
}

// command handles one command line and reports whether to continue.
func (c *session) command(line string) bool {
	verb, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToUpper(verb) {
	case "HELO", "EHLO":
		if arg == "" {
			return !c.badInput("501 5.5.4 " + strings.ToUpper(verb) + " needs a domain")
		}
		c.helo = arg
		c.reset()
		if strings.EqualFold(verb, "HELO") {
			return c.reply("250 "+c.sink.opts.Hostname) == nil
		}
		return c.reply(
			"250-"+c.sink.opts.Hostname+" greets "+sanitize(arg),
			"250-SIZE "+strconv.FormatInt(c.sink.opts.MaxMessageBytes, 10),
			"250-8BITMIME",
			"250 HELP") == nil
	case "MAIL":
		if c.helo == "" {
			return !c.badInput("503 5.5.1 send HELO or EHLO first")
		}
		if c.hasFrom {
			return !c.badInput("503 5.5.1 sender already given")
		}
		addr, params, ok := parsePath(arg, "FROM:")
		if !ok {
			return !c.badInput("501 5.5.4 syntax: MAIL FROM:<address>")
		}
		for _, p := range params {
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(k, "SIZE") {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 0 {
					return !c.badInput("501 5.5.4 bad SIZE")
				}
				if n > c.sink.opts.MaxMessageBytes {
					return c.reply("552 5.3.4 message size exceeds limit") == nil
				}
			}
		}
		c.from, c.hasFrom = addr, true
		return c.reply("250 2.1.0 OK") == nil
	case "RCPT":
		if !c.hasFrom {
			return !c.badInput("503 5.5.1 send MAIL first")
		}
		addr, _, ok := parsePath(arg, "TO:")
		if !ok || addr == "" {
			return !c.badInput("501 5.5.4 syntax: RCPT TO:<address>")
		}
		if len(c.rcpts) >= c.sink.opts.MaxRecipients {
			return c.reply("452 4.5.3 too many recipients") == nil
		}
		c.rcpts = append(c.rcpts, addr)
		return c.reply("250 2.1.5 OK") == nil
	case "DATA":
		if arg != "" {
			return !c.badInput("501 5.5.4 DATA takes no argument")
		}
		if len(c.rcpts) == 0 {
			return !c.badInput("503 5.5.1 send RCPT first")
		}
		return c.data()
	case "RSET":
		c.reset()
		return c.reply("250 2.0.0 OK") == nil
	case "NOOP":
		return c.reply("250 2.0.0 OK") == nil
	case "VRFY":
		return c.reply("252 2.5.2 cannot verify, but will accept") == nil
	case "HELP":
		return c.reply("214 2.0.0 HELO EHLO MAIL RCPT DATA RSET NOOP VRFY QUIT") == nil
	case "QUIT":
		_ = c.reply("221 2.0.0 bye")
		return false
	case "STARTTLS", "AUTH", "BDAT", "ETRN", "TURN", "EXPN":
		return !c.badInput("502 5.5.1 not implemented")
	default:
		return !c.badInput("500 5.5.2 command not recognized")
	}
}

// sanitize keeps a client-supplied word safe to echo in a reply.
func sanitize(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < '!' || r > '~' {
			return '?'
		}
		return r
	}, s)
}

// parsePath parses "FROM:<addr> PARAMS" or "TO:<addr> PARAMS" (prefix
// case-insensitive, optional space after the colon). The address may be
// empty (the null sender).
func parsePath(arg, prefix string) (addr string, params []string, ok bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", nil, false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", nil, false
	}
	addr = rest[1:end]
	if strings.ContainsAny(addr, "<> \t") || len(addr) > 254 {
		return "", nil, false
	}
	if addr != "" && !strings.Contains(addr, "@") && !strings.EqualFold(addr, "postmaster") {
		return "", nil, false
	}
	return addr, strings.Fields(rest[end+1:]), true
}

// data receives a message after DATA and stores it.
func (c *session) data() bool {
	c.inData.Store(true)
	defer c.inData.Store(false)
	if c.reply("354 end data with <CR><LF>.<CR><LF>") != nil {
		return false
	}
	limit := c.sink.opts.MaxMessageBytes
	var msg []byte
	tooBig := false
	for {
		// Lines longer than RFC 5321's 1000 bytes are accepted as long as
		// the message fits; a line longer than the whole limit is too big.
		line, err := c.readLine(int(min(limit, 1<<30)) + 3)
		if errors.Is(err, errLineTooLong) {
			tooBig = true
			continue
		}
		if err != nil {
			if c.sink.closing.Load() {
				_ = c.reply("421 4.3.2 shutting down")
			}
			return false // disconnect or timeout mid-message: store nothing
		}
		if line == ".\r\n" {
			break
		}
		line = strings.TrimPrefix(line, ".") // dot-unstuffing
		if tooBig || int64(len(msg)+len(line)) > limit {
			tooBig = true
			continue // read to the end of the data, then refuse
		}
		msg = append(msg, line...)
	}
	defer c.reset()
	if tooBig {
		return c.reply("552 5.3.4 message size exceeds limit") == nil
	}
	name, err := c.store(msg)
	if err != nil {
		c.sink.opts.Logger.Error("smtpsink: cannot store message", "err", err)
		return c.reply("451 4.3.0 cannot store message") == nil
	}
	c.sink.opts.Logger.Info("smtpsink: message stored", "file", name, "bytes", len(msg), "recipients", len(c.rcpts))
	return c.reply("250 2.0.0 OK queued as "+strings.TrimSuffix(name, ".eml")) == nil
}

// store writes the envelope and message atomically into Dir.
func (c *session) store(msg []byte) (string, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	name := time.Now().UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(rnd[:]) + ".eml"
	var head strings.Builder
	head.WriteString("Return-Path: <" + c.from + ">\r\n")
	for _, r := range c.rcpts {
		head.WriteString("Delivered-To: " + r + "\r\n")
	}
	dir := c.sink.opts.Dir
	f, err := os.CreateTemp(dir, ".incoming-*.tmp")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_, err = f.WriteString(head.String())
	if err == nil {
		_, err = f.Write(msg)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return name, nil
}

func newReader(conn net.Conn) *bufio.Reader { return bufio.NewReaderSize(conn, 4096) }
