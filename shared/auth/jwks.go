package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"

	"github.com/lensflow/lensflow/shared/errs"
)

// Key cache tuning. Google publishes its certificates with a max-age of
// several hours and rotates with overlap, so the bounds below never bite in
// production; they protect us from a JWKS that says "no-cache" (which would
// make every request a fetch) or "cache for a year" (which would pin a
// revoked key).
const (
	// minRefreshInterval is how often an unknown kid may trigger a refetch.
	minRefreshInterval = 30 * time.Second
	// defaultKeyTTL applies when the JWKS response has no usable max-age.
	defaultKeyTTL = 5 * time.Minute
	// minKeyTTL and maxKeyTTL clamp the max-age a JWKS server announces.
	minKeyTTL = minRefreshInterval
	maxKeyTTL = 24 * time.Hour
	// maxStale is how long past expiry cached keys are still used when the
	// JWKS endpoint cannot be reached (stale-if-error).
	maxStale = time.Hour
	// failureBackoff is how long a failed fetch is remembered before the next
	// attempt, so an outage does not turn every request into a fetch.
	failureBackoff = 2 * time.Second
	// fetchTimeout bounds one JWKS fetch, whatever the request deadline.
	fetchTimeout = 10 * time.Second
	// maxJWKSBytes bounds a JWKS response body.
	maxJWKSBytes = 1 << 20
	// MinRSABits is the smallest RSA modulus accepted from a JWKS.
	MinRSABits = 2048
)

// keysOp names the key cache's operation in its errors.
const keysOp = "auth.keys"

// keyCache holds one issuer's public keys by kid, fetched lazily from its
// JWKS URL, and is the oidc.KeySet go-oidc verifies that issuer's
// signatures with. It is safe for concurrent use; concurrent misses share
// one fetch (singleflight).
type keyCache struct {
	url     string
	client  *http.Client
	now     func() time.Time
	fetches singleflight.Group

	mu        sync.Mutex
	keys      map[string][]jose.JSONWebKey
	expires   time.Time // keys are fresh until then
	lastFetch time.Time // time of the last fetch attempt (success or failure)
	lastErr   error     // error of the last fetch attempt, nil on success
	gen       uint64    // fetch attempts completed
}

func newKeyCache(url string, client *http.Client, now func() time.Time) *keyCache {
	return &keyCache{url: url, client: client, now: now}
}

// VerifySignature implements oidc.KeySet: it checks the signature of raw,
// a compact JWS, with the key its kid names, and returns the payload.
// go-oidc has already held the algorithm to the allowlist; the key must
// still be of that algorithm (keyFor). Errors are errs.Unauthenticated
// (ErrMalformedToken, ErrMissingKeyID, ErrUnknownKey, ErrBadSignature) or
// errs.Unavailable (ErrKeysUnavailable).
func (c *keyCache) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, allowedAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errs.E(keysOp, errs.Unauthenticated, ErrMalformedToken)
	}
	h := jws.Signatures[0].Header
	if h.KeyID == "" {
		return nil, errs.E(keysOp, errs.Unauthenticated, ErrMissingKeyID)
	}
	candidates, err := c.lookup(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	for _, k := range candidates {
		if pub, ok := keyFor(k, h.Algorithm); ok {
			if payload, err := jws.Verify(pub); err == nil {
				return payload, nil
			}
		}
	}
	return nil, errs.E(keysOp, errs.Unauthenticated, ErrBadSignature)
}

// keyFor returns the public key of k if it may verify a signature made with
// alg: the key type must match the algorithm, and a key that declares its
// own alg must declare this one. This is what stops a token from choosing
// how our keys are used.
func keyFor(k jose.JSONWebKey, alg string) (any, bool) {
	if k.Algorithm != "" && k.Algorithm != alg {
		return nil, false
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		return pub, alg == string(jose.RS256)
	case *ecdsa.PublicKey:
		return pub, alg == string(jose.ES256)
	}
	return nil, false
}

// freshUntil is when the cached key set must be fetched again (the zero
// time before the first fetch).
func (c *keyCache) freshUntil() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		return time.Time{}
	}
	return c.expires
}

// lookup returns the keys published under kid. It fetches the JWKS when the
// cache is empty or expired, and refetches at most once per
// minRefreshInterval when kid is unknown (key rotation). It returns an
// errs.Unauthenticated ErrUnknownKey when the kid is not published, and an
// errs.Unavailable ErrKeysUnavailable when keys cannot be fetched.
//
// While the JWKS endpoint is failing, keys of an expired set are served for
// up to maxStale (stale-if-error) without waiting: the next fetch runs in
// the background, at most once per failureBackoff, so that an outage, even
// one that hangs each fetch until fetchTimeout, holds up only the requests
// that have no key to fall back on.
func (c *keyCache) lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	c.mu.Lock()
	now := c.now()
	fresh := c.keys != nil && now.Before(c.expires)
	if ks, ok := c.keys[kid]; ok && fresh {
		c.mu.Unlock()
		return ks, nil
	}
	sinceFetch, gen := now.Sub(c.lastFetch), c.gen
	if c.lastErr != nil {
		if ks, ok := c.staleKey(kid, now); ok {
			c.mu.Unlock()
			if sinceFetch >= failureBackoff {
				c.fetches.DoChan("", c.refresher(ctx, gen)) // not waited for
			}
			return ks, nil
		}
		if sinceFetch < failureBackoff {
			// The endpoint just failed: do not hammer it.
			err := c.lastErr
			c.mu.Unlock()
			return nil, unavailable(err)
		}
	}
	if fresh && sinceFetch < minRefreshInterval {
		// Keys are fresh and were fetched moments ago: the kid is simply
		// not ours. Refusing here keeps a stream of bogus kids from
		// turning into a stream of fetches.
		c.mu.Unlock()
		return nil, errs.E(keysOp, errs.Unauthenticated, ErrUnknownKey)
	}
	c.mu.Unlock()

	var res singleflight.Result
	select {
	case res = <-c.fetches.DoChan("", c.refresher(ctx, gen)):
	case <-ctx.Done():
		return nil, unavailable(ctx.Err())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if res.Err != nil {
		if ks, ok := c.staleKey(kid, c.now()); ok {
			return ks, nil
		}
		return nil, unavailable(res.Err)
	}
	if ks, ok := c.keys[kid]; ok {
		return ks, nil
	}
	return nil, errs.E(keysOp, errs.Unauthenticated, ErrUnknownKey)
}

func unavailable(err error) error {
	return errs.E(keysOp, errs.Unavailable, fmt.Errorf("%w: %w", ErrKeysUnavailable, err))
}

// refresher returns the fetch that lookup shares among concurrent callers:
// it fetches the key set and stores the outcome, unless another fetch has
// completed since the caller looked at the cache (attempt gen), whose
// outcome it then reports instead. The fetch is detached from the caller's
// cancellation (others may be waiting on it) but bounded by fetchTimeout.
func (c *keyCache) refresher(ctx context.Context, gen uint64) func() (any, error) {
	ctx = context.WithoutCancel(ctx)
	return func() (any, error) {
		c.mu.Lock()
		if c.gen != gen {
			err := c.lastErr
			c.mu.Unlock()
			return nil, err
		}
		c.mu.Unlock()

		keys, ttl, err := c.fetch(ctx)

		c.mu.Lock()
		defer c.mu.Unlock()
		c.gen++
		c.lastFetch = c.now()
		c.lastErr = err
		if err == nil {
			c.keys = keys
			c.expires = c.lastFetch.Add(ttl)
		}
		return nil, err
	}
}

// staleKey returns kid's keys from an expired cache that is still within
// maxStale, for use while the JWKS endpoint is failing. c.mu must be held.
func (c *keyCache) staleKey(kid string, now time.Time) ([]jose.JSONWebKey, bool) {
	if c.keys == nil || now.After(c.expires.Add(maxStale)) {
		return nil, false
	}
	ks, ok := c.keys[kid]
	return ks, ok
}

// fetch downloads and parses the JWKS, within fetchTimeout.
func (c *keyCache) fetch(ctx context.Context) (map[string][]jose.JSONWebKey, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxJWKSBytes))
		return nil, 0, fmt.Errorf("GET %s: status %d", c.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", c.url, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, 0, fmt.Errorf("GET %s: key set larger than %d bytes", c.url, maxJWKSBytes)
	}
	keys, err := parseKeySet(body)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", c.url, err)
	}
	return keys, cacheTTL(resp.Header), nil
}

// parseKeySet decodes a JWKS, keeping the public RSA (>= 2048 bits) and
// P-256 ECDSA signature keys that have a kid. Keys it cannot use (other
// types, encryption keys, private or symmetric keys) are skipped rather than
// failing the whole set, so one exotic key cannot lock everyone out.
func parseKeySet(body []byte) (map[string][]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, errors.New("key set is not valid JSON")
	}
	keys := make(map[string][]jose.JSONWebKey)
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		if k.KeyID == "" || !k.IsPublic() || (k.Use != "" && k.Use != "sig") || !usableKey(k.Key) {
			continue
		}
		keys[k.KeyID] = append(keys[k.KeyID], k)
	}
	if len(keys) == 0 {
		return nil, errors.New("key set has no usable signature keys")
	}
	return keys, nil
}

// usableKey reports whether key is a public key one of our algorithms can
// verify with.
func usableKey(key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen() >= MinRSABits
	case *ecdsa.PublicKey:
		return k.Curve == elliptic.P256()
	}
	return false
}

// cacheTTL derives how long a JWKS response may be cached from its
// Cache-Control max-age (less its Age), clamped to [minKeyTTL, maxKeyTTL].
func cacheTTL(h http.Header) time.Duration {
	ttl := defaultKeyTTL
	for _, cc := range h.Values("Cache-Control") {
		for _, d := range strings.Split(cc, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			if !strings.EqualFold(name, "max-age") {
				continue
			}
			secs, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
			if err != nil || secs < 0 {
				continue
			}
			if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
				secs -= age
			}
			if secs > int64(maxKeyTTL/time.Second) {
				secs = int64(maxKeyTTL / time.Second)
			}
			ttl = time.Duration(secs) * time.Second
		}
	}
	return min(max(ttl, minKeyTTL), maxKeyTTL)
}
