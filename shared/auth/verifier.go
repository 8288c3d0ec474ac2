// Package auth verifies the bearer tokens that authenticate every lensflow
// request.
//
// One Verifier serves production and the local stack alike. It trusts a
// fixed list of issuers (Identity Platform for clinic and lab users, Google
// OIDC for services such as Pub/Sub push and Cloud Scheduler, and locally
// the development issuer of package devissuer), each with its own
// audiences and JWKS. The clinic a caller acts for comes only from the
// verified clinic_id claim. There is no way to turn verification off.
//
// Libraries do the cryptography and the standard checks:
//
//   - go-oidc (github.com/coreos/go-oidc/v3, an oidc.IDTokenVerifier per
//     token) parses the compact JWS with go-jose, holds its alg to the
//     allowlist (RS256, ES256: never none, never HMAC), has its one
//     signature checked by the issuer's key set, compares iss with the
//     issuer the token was routed to, and refuses it once expired
//     (Config.Leeway is applied by moving go-oidc's clock back).
//   - go-jose decodes the JWKS and checks signatures; x/sync's singleflight
//     shares one key fetch among concurrent requests.
//
// This package writes only what those libraries do not do:
//
//   - The key set (jwks.go), an oidc.KeySet. go-oidc's RemoteKeySet is not
//     used because it never expires keys (a key the issuer withdraws keeps
//     verifying until a token with an unknown kid happens to come), it
//     fetches again for every unknown kid or bad signature (any client
//     could make us hammer Google's certificate endpoint), it fetches with
//     http.DefaultClient (no timeout) unless told otherwise and with no size
//     limit, and it has no key-size floor. Ours keeps keys for the
//     Cache-Control max-age within bounds, fetches for an unknown kid at
//     most every 30 s, once a fetch has failed serves the last keys for up
//     to an hour without waiting while it retries in the background (at
//     most every 2 s), bounds each fetch in time and size, and drops RSA
//     keys under MinRSABits and keys of other types. google.golang.org/api/idtoken is not used either: it
//     reads only Google's own certificate URLs (not Identity Platform's,
//     nor the development issuer's, so the local stack could not run the
//     production code), does not check iss, and allows no clock skew.
//   - lensflow's rules, which no OIDC library knows: the trusted issuers
//     are a fixed map from iss (with aliases) to keys and rules; aud must
//     name one of a list (go-oidc checks a single client ID); exp and iat
//     are required; nbf, iat and auth_time may not lie in the future
//     beyond the leeway (go-oidc lets nbf be 5 minutes ahead and ignores
//     iat); the lifetime exp - iat is capped (Config.MaxLifetime); sub is
//     required; the role, clinic_id and service account email make the
//     Principal; each failure has its own reason; and a token that passed
//     is remembered for a few minutes, so that a client's many requests
//     cost one signature check.
//
// Failures are errs.Unauthenticated with a short reason safe to show a
// client (see Reason), or errs.Unavailable when an issuer's keys cannot be
// fetched. Tokens are never echoed in errors.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/lensflow/lensflow/shared/errs"
)

// TokenKind says which principals an issuer may vouch for.
type TokenKind int

const (
	// UserTokens are clinic practitioners and lab staff: the role claim must
	// be "practitioner" (with a clinic_id) or "lab".
	UserTokens TokenKind = iota + 1
	// ServiceTokens are machine callers: every token is RoleService, its
	// role and clinic_id claims are ignored, and its email must be in
	// AllowedEmails with email_verified true.
	ServiceTokens
	// AnyTokens lets the role claim decide: role "service" is checked as a
	// service token (AllowedEmails, email_verified), any other role as a
	// user token. Only the development issuer uses it, so that one local
	// issuer can sign both practitioner tokens and push-delivery tokens.
	// Never use it for an issuer whose users can influence their own claims.
	AnyTokens
)

func (k TokenKind) String() string {
	switch k {
	case UserTokens:
		return "user tokens"
	case ServiceTokens:
		return "service tokens"
	case AnyTokens:
		return "any tokens"
	}
	return fmt.Sprintf("TokenKind(%d)", int(k))
}

// IssuerConfig describes one trusted token issuer.
type IssuerConfig struct {
	// Issuer is the exact iss value of its tokens.
	Issuer string
	// Aliases are other exact iss values meaning the same issuer (Google
	// OIDC tokens may say "accounts.google.com" without the scheme).
	Aliases []string
	// Audiences lists the accepted aud values; a token must name one.
	Audiences []string
	// JWKSURL is where the issuer publishes its public keys. It must be
	// https, or http on a loopback host (the local stack and tests).
	JWKSURL string
	// Kind says which principals this issuer vouches for.
	Kind TokenKind
	// AllowedEmails are the service account emails accepted for service
	// tokens (ServiceTokens, or role "service" under AnyTokens).
	AllowedEmails []string
	// HTTPClient fetches the JWKS; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
}

// Config configures a Verifier.
type Config struct {
	// Issuers are the trusted issuers; at least one, iss values unique.
	Issuers []IssuerConfig
	// Leeway tolerates clock skew on exp, nbf and iat; 0 means 60 s.
	Leeway time.Duration
	// MaxLifetime refuses a token whose lifetime, exp - iat, is longer
	// (ErrLifetimeTooLong): a stolen long-lived token would open the API
	// for as long as it says. 0 means DefaultMaxLifetime; otherwise it must
	// be within [MinMaxLifetime, MaxMaxLifetime] (CheckMaxLifetime). It
	// applies to every token, user and service alike: Identity Platform's
	// and Google's tokens live an hour.
	MaxLifetime time.Duration
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Production issuer endpoints.
const (
	identityPlatformIssuerPrefix = "https://securetoken.google.com/"
	identityPlatformJWKSURL      = "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
	googleIssuer                 = "https://accounts.google.com"
	googleIssuerAlias            = "accounts.google.com"
	googleJWKSURL                = "https://www.googleapis.com/oauth2/v3/certs"
)

// IdentityPlatform returns the configuration for Identity Platform (Firebase
// Auth) ID tokens of projectID: clinic practitioners and lab staff, with the
// custom claims clinic_id and role.
func IdentityPlatform(projectID string) IssuerConfig {
	return IssuerConfig{
		Issuer:    identityPlatformIssuerPrefix + projectID,
		Audiences: []string{projectID},
		JWKSURL:   identityPlatformJWKSURL,
		Kind:      UserTokens,
	}
}

// GoogleOIDC returns the configuration for Google-signed OIDC ID tokens of
// service accounts (Pub/Sub push, Cloud Scheduler, other functions).
// audiences are the accepted aud values (usually the receiving service's
// URL, as set on the push subscription or scheduler job) and emails the
// service accounts allowed to call. Unlike idtoken.Validate, the Verifier
// checks the issuer and the email.
func GoogleOIDC(audiences []string, emails []string) IssuerConfig {
	return IssuerConfig{
		Issuer:        googleIssuer,
		Aliases:       []string{googleIssuerAlias},
		Audiences:     append([]string(nil), audiences...),
		JWKSURL:       googleJWKSURL,
		Kind:          ServiceTokens,
		AllowedEmails: append([]string(nil), emails...),
	}
}

// Verifier verifies bearer tokens against a fixed set of trusted issuers.
// It is safe for concurrent use.
type Verifier struct {
	byIss    map[string]*issuer
	leeway   time.Duration
	lifetime time.Duration // the longest exp - iat accepted
	now      func() time.Time
	oidc     oidc.Config // what go-oidc checks of every token
	verified verifiedCache
}

type issuer struct {
	cfg       IssuerConfig
	audiences map[string]bool
	emails    map[string]bool // lower-cased
	keys      *keyCache
}

// verifiedTTL bounds how long a verified token is answered from memory
// without checking its signature again; never past its expiry (plus the
// leeway), nor past the freshness of its issuer's cached key set, so a key
// the issuer withdraws stops verifying exactly when it would without the
// cache.
const verifiedTTL = 5 * time.Minute

// maxVerified bounds the verified tokens remembered per Verifier.
const maxVerified = 4096

// verifiedCache remembers tokens that passed verification, by SHA-256 of
// the whole token, so that a client's many requests with one token cost
// one signature check. Failures are not remembered: each says its reason.
type verifiedCache struct {
	mu sync.Mutex
	m  map[[32]byte]verifiedToken
}

type verifiedToken struct {
	p     Principal
	until time.Time
}

// holds is the earlier of two times.
func holds(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (c *verifiedCache) get(key [32]byte, now time.Time) (Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.until) {
		return Principal{}, false
	}
	return e.p, true
}

func (c *verifiedCache) put(key [32]byte, p Principal, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[32]byte]verifiedToken)
	}
	if len(c.m) >= maxVerified {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxVerified {
			clear(c.m) // all live: start again rather than grow
		}
	}
	c.m[key] = verifiedToken{p: p, until: until}
}

// allowedAlgs is the signature algorithm allowlist: never none, never HMAC.
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

const (
	defaultLeeway = 60 * time.Second
	maxLeeway     = 5 * time.Minute
)

// Bounds of Config.MaxLifetime.
const (
	// DefaultMaxLifetime is the longest token lifetime accepted unless
	// configured: a working day and then some.
	DefaultMaxLifetime = 24 * time.Hour
	// MinMaxLifetime is the lowest cap allowed: Google's tokens live an
	// hour, and a lower cap would refuse every one of them.
	MinMaxLifetime = time.Hour
	// MaxMaxLifetime is the highest cap allowed.
	MaxMaxLifetime = 7 * 24 * time.Hour
)

// CheckMaxLifetime says why d cannot be a Config.MaxLifetime, or nil.
func CheckMaxLifetime(d time.Duration) error {
	if d < MinMaxLifetime || d > MaxMaxLifetime {
		return fmt.Errorf("maximum token lifetime %v outside [%v, %v]", d, MinMaxLifetime, MaxMaxLifetime)
	}
	return nil
}

// NewVerifier checks cfg and returns a Verifier. No keys are fetched until
// the first token of an issuer arrives. Configuration mistakes are
// errs.Invalid.
func NewVerifier(cfg Config) (*Verifier, error) {
	const op = "auth.NewVerifier"
	if len(cfg.Issuers) == 0 {
		return nil, errs.Ef(op, errs.Invalid, "no trusted issuers")
	}
	v := &Verifier{byIss: make(map[string]*issuer), leeway: cfg.Leeway, lifetime: cfg.MaxLifetime, now: cfg.Now}
	switch {
	case v.leeway == 0:
		v.leeway = defaultLeeway
	case v.leeway < 0 || v.leeway > maxLeeway:
		return nil, errs.Ef(op, errs.Invalid, "leeway %v outside (0, %v]", v.leeway, maxLeeway)
	}
	if v.lifetime == 0 {
		v.lifetime = DefaultMaxLifetime
	}
	if err := CheckMaxLifetime(v.lifetime); err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.oidc = oidc.Config{
		SupportedSigningAlgs: algNames(),
		// An issuer accepts a list of audiences; principal checks it.
		SkipClientIDCheck: true,
		// go-oidc allows no clock skew on exp: its clock runs the leeway
		// behind ours, so a token counts as expired once now > exp + leeway.
		Now: func() time.Time { return v.now().Add(-v.leeway) },
	}
	for i, ic := range cfg.Issuers {
		is, err := newIssuer(ic, v.now)
		if err != nil {
			return nil, errs.E(op, errs.Invalid, fmt.Errorf("issuer %d: %w", i, err))
		}
		for _, iss := range append([]string{ic.Issuer}, ic.Aliases...) {
			if _, dup := v.byIss[iss]; dup {
				return nil, errs.Ef(op, errs.Invalid, "issuer %d: %q is configured twice", i, iss)
			}
			v.byIss[iss] = is
		}
	}
	return v, nil
}

func newIssuer(ic IssuerConfig, now func() time.Time) (*issuer, error) {
	if ic.Issuer == "" {
		return nil, fmt.Errorf("empty Issuer")
	}
	for _, a := range ic.Aliases {
		if a == "" {
			return nil, fmt.Errorf("%s: empty alias", ic.Issuer)
		}
	}
	if len(ic.Audiences) == 0 {
		return nil, fmt.Errorf("%s: no audiences", ic.Issuer)
	}
	is := &issuer{cfg: ic, audiences: make(map[string]bool), emails: make(map[string]bool)}
	for _, a := range ic.Audiences {
		if a == "" {
			return nil, fmt.Errorf("%s: empty audience", ic.Issuer)
		}
		is.audiences[a] = true
	}
	for _, e := range ic.AllowedEmails {
		if e == "" || !strings.Contains(e, "@") {
			return nil, fmt.Errorf("%s: allowed email %q is not an email", ic.Issuer, e)
		}
		is.emails[strings.ToLower(e)] = true
	}
	switch ic.Kind {
	case UserTokens, AnyTokens:
	case ServiceTokens:
		if len(is.emails) == 0 {
			return nil, fmt.Errorf("%s: service tokens need AllowedEmails", ic.Issuer)
		}
	default:
		return nil, fmt.Errorf("%s: unknown Kind %v", ic.Issuer, ic.Kind)
	}
	if err := checkJWKSURL(ic.JWKSURL); err != nil {
		return nil, fmt.Errorf("%s: %w", ic.Issuer, err)
	}
	client := ic.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout}
	}
	is.keys = newKeyCache(ic.JWKSURL, client, now)
	return is, nil
}

// checkJWKSURL insists on https, except for http on a loopback host, so a
// network attacker cannot substitute keys.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("JWKSURL %q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("JWKSURL %q: http is allowed only on a loopback host", raw)
	}
	return fmt.Errorf("JWKSURL %q: scheme must be https", raw)
}

// tokenClaims are the claims lensflow reads from a token.
type tokenClaims struct {
	jwt.Claims
	ClinicID      string           `json:"clinic_id"`
	Role          string           `json:"role"`
	Email         string           `json:"email"`
	EmailVerified flexBool         `json:"email_verified"`
	AuthTime      *jwt.NumericDate `json:"auth_time"`
}

// flexBool accepts true/false and, as some older Google tokens carry, the
// strings "true"/"false".
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`, "null":
		*b = false
	default:
		return fmt.Errorf("email_verified is not a boolean")
	}
	return nil
}

// header is the part of the JOSE header we look at before go-jose does
// (decoded with go-jose's case-sensitive JSON, like the rest of the token).
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// Verify checks raw, a compact JWS, and returns the principal it proves.
// The issuer is chosen by the token's (unverified) iss; everything is then
// verified with that issuer's keys and rules. Failures are
// errs.Unauthenticated wrapping one of the Err* reasons, or
// errs.Unavailable (ErrKeysUnavailable) when the issuer's keys cannot be
// fetched.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	if raw == "" || len(raw) > maxTokenLen {
		p, _, err := v.verify(ctx, raw)
		return p, err
	}
	key := sha256.Sum256([]byte(raw))
	now := v.now()
	if p, ok := v.verified.get(key, now); ok {
		return p, nil
	}
	p, exp, err := v.verify(ctx, raw) // exp: how long the verdict holds
	if err == nil {
		until := now.Add(verifiedTTL)
		if exp.Before(until) {
			until = exp
		}
		v.verified.put(key, p, until, now)
	}
	return p, err
}

// verify checks raw in full and returns its principal and how long that
// verdict holds: until the token expires (plus the leeway) or the issuer's
// key set must be fetched again, whichever is first.
func (v *Verifier) verify(ctx context.Context, raw string) (Principal, time.Time, error) {
	const op = "auth.Verify"
	fail := func(reason error) (Principal, time.Time, error) {
		return Principal{}, time.Time{}, errs.E(op, errs.Unauthenticated, reason)
	}
	if raw == "" {
		return fail(ErrMissingToken)
	}
	if len(raw) > maxTokenLen {
		return fail(ErrMalformedToken)
	}
	// Read the header ourselves first, so that a disallowed algorithm gets
	// its own reason; go-jose and go-oidc then enforce the same allowlist.
	hdr, ok := peekHeader(raw)
	if !ok {
		return fail(ErrMalformedToken)
	}
	if !algAllowed(hdr.Alg) {
		return fail(ErrUnsupportedAlg)
	}
	tok, err := jwt.ParseSigned(raw, allowedAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return fail(ErrMalformedToken)
	}
	h := tok.Headers[0]
	if h.Algorithm != hdr.Alg {
		return fail(ErrMalformedToken)
	}
	if h.KeyID == "" {
		return fail(ErrMissingKeyID)
	}
	// Decode the claims before trusting them: a payload that is not our
	// claim shape is malformed whatever its signature. The iss read here
	// picks the issuer; go-oidc then checks the signature over these exact
	// bytes and the iss again, so every claim used afterwards is authentic.
	var claims tokenClaims
	if err := tok.UnsafeClaimsWithoutVerification(&claims); err != nil {
		return fail(ErrMalformedToken)
	}
	is, ok := v.byIss[claims.Issuer]
	if !ok {
		return fail(ErrUnknownIssuer)
	}
	keys := &keySetCall{keys: is.keys}
	_, err = oidc.NewVerifier(claims.Issuer, keys, &v.oidc).Verify(ctx, raw)
	keysFresh := is.keys.freshUntil()
	if err != nil {
		var expired *oidc.TokenExpiredError
		switch {
		case keys.err != nil:
			return Principal{}, time.Time{}, errs.Wrap(op, keys.err)
		case !keys.verified:
			// Refused before the signature was checked: nothing below
			// may read these claims.
			return fail(ErrMalformedToken)
		case claims.Expiry == nil:
			return fail(ErrMissingExpiry) // go-oidc takes a missing exp for 1970
		case errors.As(err, &expired):
			return fail(ErrExpired)
		}
		// The signature held but go-oidc refused a claim (nbf beyond its
		// fixed allowance): the checks below name the reason.
	}
	p, reason := v.principal(is, &claims)
	if reason != nil {
		return fail(reason)
	}
	if err != nil {
		// go-oidc refused what lensflow's checks accept (its JSON decoding
		// read the claims differently): refuse too.
		return fail(ErrMalformedToken)
	}
	return p, holds(claims.Expiry.Time().Add(v.leeway), keysFresh), nil
}

// keySetCall is the oidc.KeySet of one verification: it asks the issuer's
// key cache and keeps the cache's verdict, because go-oidc passes a key
// set's error on only as text, and the reason (unknown key, bad signature)
// and kind (keys unavailable) matter to the caller.
type keySetCall struct {
	keys     *keyCache
	err      error
	verified bool
}

func (c *keySetCall) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	payload, err := c.keys.VerifySignature(ctx, raw)
	c.err, c.verified = err, err == nil
	return payload, err
}

// principal applies lensflow's rules to the claims of a token whose
// signature, issuer and expiry go-oidc has verified, and returns the
// principal they prove or the reason they do not.
func (v *Verifier) principal(is *issuer, claims *tokenClaims) (Principal, error) {
	if !is.audienceOK(claims.Audience) {
		return Principal{}, ErrWrongAudience
	}
	now := v.now()
	if claims.Expiry == nil {
		return Principal{}, ErrMissingExpiry
	}
	if claims.NotBefore != nil && now.Add(v.leeway).Before(claims.NotBefore.Time()) {
		return Principal{}, ErrNotYetValid
	}
	if claims.IssuedAt == nil {
		return Principal{}, ErrMissingIssuedAt
	}
	if now.Add(v.leeway).Before(claims.IssuedAt.Time()) {
		return Principal{}, ErrIssuedInFuture
	}
	// The lifetime the issuer gave the token, exp - iat (iat is required,
	// so this is always what the token says of itself), not what is left
	// of it: a token minted for a month is refused on its first day too.
	if claims.Expiry.Time().Sub(claims.IssuedAt.Time()) > v.lifetime {
		return Principal{}, ErrLifetimeTooLong
	}
	if claims.AuthTime != nil && now.Add(v.leeway).Before(claims.AuthTime.Time()) {
		return Principal{}, ErrIssuedInFuture
	}
	if claims.Subject == "" {
		return Principal{}, ErrMissingSubject
	}

	p := Principal{Subject: claims.Subject, Email: claims.Email, Issuer: is.cfg.Issuer}
	service := is.cfg.Kind == ServiceTokens || (is.cfg.Kind == AnyTokens && claims.Role == string(RoleService))
	if service {
		if !is.emails[strings.ToLower(claims.Email)] {
			return Principal{}, ErrEmailNotAllowed
		}
		if !claims.EmailVerified {
			return Principal{}, ErrEmailNotVerified
		}
		p.Role = RoleService
		return p, nil
	}
	switch Role(claims.Role) {
	case RolePractitioner:
		if claims.ClinicID == "" {
			return Principal{}, ErrMissingClinic
		}
	case RoleLab:
	default:
		// Includes "service" from a user-token issuer: users cannot make
		// themselves services.
		return Principal{}, ErrInvalidRole
	}
	if claims.ClinicID != "" && !ValidClinicID(claims.ClinicID) {
		return Principal{}, ErrInvalidClinic
	}
	p.Role = Role(claims.Role)
	p.ClinicID = claims.ClinicID
	return p, nil
}

func (is *issuer) audienceOK(aud jwt.Audience) bool {
	for _, a := range aud {
		if is.audiences[a] {
			return true
		}
	}
	return false
}

// peekHeader decodes the JOSE header of a compact JWS without trusting it.
func peekHeader(raw string) (header, bool) {
	var h header
	seg, _, ok := strings.Cut(raw, ".")
	if !ok || seg == "" {
		return h, false
	}
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return h, false
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, false
	}
	return h, true
}

func algNames() []string {
	names := make([]string, len(allowedAlgs))
	for i, a := range allowedAlgs {
		names[i] = string(a)
	}
	return names
}

func algAllowed(alg string) bool {
	for _, a := range allowedAlgs {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// ValidClinicID reports whether id is a plausible clinic id: 1 to 128
// letters, digits, '-' or '_'. Clinic ids become parts of document paths,
// so anything else is refused even from a trusted issuer.
func ValidClinicID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
