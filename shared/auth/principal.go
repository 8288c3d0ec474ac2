package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
)

// Role is what a verified caller is to lensflow.
type Role string

const (
	// RolePractitioner is a clinic practitioner; always bound to one clinic.
	RolePractitioner Role = "practitioner"
	// RoleLab is lab staff; may have no clinic.
	RoleLab Role = "lab"
	// RoleService is a machine caller (Pub/Sub push, Cloud Scheduler, another
	// function) authenticated by an allow-listed service account email.
	RoleService Role = "service"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	switch r {
	case RolePractitioner, RoleLab, RoleService:
		return true
	}
	return false
}

// Principal is the verified identity behind a request. Every field comes
// from the verified token, never from the request path, query or body.
type Principal struct {
	Subject  string // the token's sub: a user id or a service account id
	Email    string // the token's email, if any
	ClinicID string // the token's clinic_id; empty for services and may be empty for lab staff
	Role     Role
	Issuer   string // the trusted issuer that vouched for the token (its configured Issuer)
}

// Actor is who acts on lensflow's records, as the services and the audit
// trail see it: a verified principal's subject, role and clinic, and the
// request it acts in. A request's actor comes from its verified token
// (Principal.Actor), never from its path, query or body; a function acting
// on an event names itself, with the service role and the event's clinic.
type Actor struct {
	Subject   string
	Role      Role
	ClinicID  string
	RequestID string
}

// Actor is p acting in the request requestID.
func (p Principal) Actor(requestID string) Actor {
	return Actor{Subject: p.Subject, Role: p.Role, ClinicID: p.ClinicID, RequestID: requestID}
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal stored by WithPrincipal, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// The reasons an authentication fails. Each is wrapped in an
// errs.Unauthenticated error (or errs.Unavailable for ErrKeysUnavailable);
// test with errors.Is. Their texts are short and safe to show a client:
// they never contain the token or any claim value.
var (
	ErrMissingToken     = errors.New("missing bearer token")
	ErrMalformedHeader  = errors.New("malformed authorization header")
	ErrMalformedToken   = errors.New("malformed token")
	ErrUnsupportedAlg   = errors.New("unsupported algorithm")
	ErrMissingKeyID     = errors.New("missing key id")
	ErrUnknownIssuer    = errors.New("unknown issuer")
	ErrUnknownKey       = errors.New("unknown signing key")
	ErrBadSignature     = errors.New("bad signature")
	ErrExpired          = errors.New("token expired")
	ErrMissingExpiry    = errors.New("token has no expiry")
	ErrNotYetValid      = errors.New("token not yet valid")
	ErrIssuedInFuture   = errors.New("token issued in the future")
	ErrMissingIssuedAt  = errors.New("token has no issue time")
	ErrLifetimeTooLong  = errors.New("token lifetime exceeds the allowed maximum")
	ErrWrongAudience    = errors.New("wrong audience")
	ErrMissingSubject   = errors.New("missing subject")
	ErrInvalidRole      = errors.New("invalid role")
	ErrMissingClinic    = errors.New("missing clinic")
	ErrInvalidClinic    = errors.New("invalid clinic")
	ErrEmailNotAllowed  = errors.New("email not allowed")
	ErrEmailNotVerified = errors.New("email not verified")
	ErrKeysUnavailable  = errors.New("signing keys unavailable")
)

// Reason returns the short, client-safe text of an authentication failure
// returned by this package ("token expired", "wrong audience", ...), or ""
// when err is nil or did not come from this package.
func Reason(err error) string {
	for _, r := range []error{
		ErrMissingToken, ErrMalformedHeader, ErrMalformedToken, ErrUnsupportedAlg,
		ErrMissingKeyID, ErrUnknownIssuer, ErrUnknownKey, ErrBadSignature, ErrExpired,
		ErrMissingExpiry, ErrNotYetValid, ErrIssuedInFuture, ErrMissingIssuedAt, ErrLifetimeTooLong,
		ErrWrongAudience, ErrMissingSubject, ErrInvalidRole,
		ErrMissingClinic, ErrInvalidClinic, ErrEmailNotAllowed, ErrEmailNotVerified,
		ErrKeysUnavailable,
	} {
		if errors.Is(err, r) {
			return r.Error()
		}
	}
	return ""
}

// maxTokenLen bounds the size of a token we are willing to parse. Google ID
// tokens are about 1 KiB; custom claims keep them well under 4 KiB.
const maxTokenLen = 16 << 10

// BearerToken extracts the token from an "Authorization: Bearer <token>"
// header (RFC 6750; the scheme is case-insensitive). A missing header is
// errs.Unauthenticated ErrMissingToken; any other shape, including several
// Authorization headers or another scheme, is ErrMalformedHeader.
func BearerToken(r *http.Request) (string, error) {
	const op = "auth.BearerToken"
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 || (len(vals) == 1 && strings.TrimSpace(vals[0]) == "") {
		return "", errs.E(op, errs.Unauthenticated, ErrMissingToken)
	}
	if len(vals) > 1 {
		return "", errs.E(op, errs.Unauthenticated, ErrMalformedHeader)
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errs.E(op, errs.Unauthenticated, ErrMalformedHeader)
	}
	token = strings.TrimLeft(token, " ")
	if token == "" {
		return "", errs.E(op, errs.Unauthenticated, ErrMissingToken)
	}
	if len(token) > maxTokenLen || !isB64Token(token) {
		return "", errs.E(op, errs.Unauthenticated, ErrMalformedHeader)
	}
	return token, nil
}

// isB64Token reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
