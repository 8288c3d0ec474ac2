package bootstrap

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/auth"
)

// Config selects and configures the adapters. Every field has an
// environment variable (documented in the README); the defaults run
// everything embedded under DataDir, with no cloud account.
type Config struct {
	Profile string // LENSFLOW_PROFILE: "local" (default) or "gcp"; sets the defaults below
	DataDir string // LENSFLOW_DATA: local data directory (default ./.lensflow)
	Project string // GOOGLE_CLOUD_PROJECT: Google Cloud project id

	Docs   string // LENSFLOW_DOCS: "bolt" (embedded, default locally) or "firestore"
	Blobs  string // LENSFLOW_BLOBS: "local" (files under DataDir) or "gcs"
	Events string // LENSFLOW_EVENTS: "local" (in-process pstest) or "pubsub"

	FirestoreDatabase string // LENSFLOW_FIRESTORE_DATABASE: database id (default "(default)")
	Bucket            string // LENSFLOW_BUCKET: the scan bucket (default "lensflow-scans")
	KEKURI            string // LENSFLOW_KEK_URI: gcp-kms://projects/.../cryptoKeys/K or file://PATH (default file://DATA/kek.json locally)

	// Auth: LENSFLOW_AUTH_ISSUERS, a comma list of "identity-platform",
	// "google-oidc" and "dev" (default "dev" locally, the first two on gcp).
	AuthIssuers      []string
	ServiceAudiences []string // LENSFLOW_SERVICE_AUDIENCES: accepted aud of service OIDC tokens (the service URL)
	ServiceAccounts  []string // LENSFLOW_SERVICE_ACCOUNTS: service account emails allowed to call as services
	DevIssuerURL     string   // LENSFLOW_DEV_ISSUER_URL: base URL of the development issuer (default http://127.0.0.1:8080/dev-issuer)
	// MaxTokenLifetime is LENSFLOW_MAX_TOKEN_LIFETIME (a Go duration such
	// as "24h" or "90m"): tokens whose exp - iat is longer are refused
	// 401, and the development issuer mints none longer. Default
	// auth.DefaultMaxLifetime (24 h); at least 1 h (Google's tokens live
	// an hour), at most 7 days.
	MaxTokenLifetime time.Duration
	// IdentityAPIKey is LENSFLOW_IDENTITY_API_KEY: the Identity Platform web
	// API key the clinic portal gives browsers to sign in with. Public by
	// design (every sign-in page carries it); restrict it to the Identity
	// Toolkit API and the portal's domain.
	IdentityAPIKey string

	AuditLog string // LENSFLOW_AUDIT_LOG: "cloudlogging" (the Cloud Logging log lensflow-audit; default on gcp), "stdout" or a file path (default DATA/audit.log)

	// Email: LENSFLOW_SMTP_ADDR (host:port; empty locally starts an
	// embedded SMTP sink writing each message under DATA/mail),
	// LENSFLOW_SMTP_FROM, LENSFLOW_SMTP_USERNAME, LENSFLOW_SMTP_PASSWORD.
	SMTPAddr, SMTPFrom, SMTPUsername, SMTPPassword string
	PublicURL                                      string   // LENSFLOW_PUBLIC_URL: the API's public base URL, for links in emails
	LabEmails                                      []string // LENSFLOW_LAB_EMAILS: the lab's addresses for clinics' comments (default lab@lensflow.local locally; none on gcp)
	LogLevel                                       string   // LENSFLOW_LOG_LEVEL: debug, info (default), warn, error
	Tracing                                        string   // LENSFLOW_TRACING: "memory" (default locally), "otlp" (default on gcp: Google's Telemetry API) or "off"
	Metrics                                        string   // LENSFLOW_METRICS: "memory" (default locally), "otlp" (default on gcp: Google's Telemetry API) or "off"
	OTLPEndpoint                                   string   // LENSFLOW_OTLP_ENDPOINT: host:port of the Telemetry API's OTLP/gRPC endpoint (default telemetry.googleapis.com:443)

	// Overload protection, per function instance (0 means the default).
	RateLimit   float64 // LENSFLOW_RATE_LIMIT: sustained requests per second per clinic (lab staff and services: per subject)
	RateBurst   int     // LENSFLOW_RATE_BURST: requests a clinic may make at once (default two seconds' worth)
	MaxInFlight int     // LENSFLOW_MAX_INFLIGHT: requests served at once; beyond it 503 with Retry-After

	// Fair shares and memory, per function instance (see admission).
	// MemoryLimit (LENSFLOW_MEMORY_LIMIT: "512Mi", "1GiB" or bytes) is the
	// instance's memory; unset, the container's cgroup limit, else 1 GiB.
	// Half of it is the budget for the working memory of request bodies
	// and designs (MemoryBudget); the rest is the program and the garbage
	// collector's headroom.
	MemoryLimit string
	// ClinicShare (LENSFLOW_CLINIC_SHARE) is the fraction of MaxInFlight and
	// of the memory budget one clinic (or one staff or service subject) may
	// hold at once (default 0.25): beyond it 429, or 503 for memory.
	ClinicShare float64
	// MinBodyRate (LENSFLOW_MIN_BODY_RATE, bytes/s, default 65536) is the
	// rate a request body must average once BodyGrace (LENSFLOW_BODY_GRACE,
	// a Go duration, default 5s) has passed; a slower body is cut with 408.
	MinBodyRate float64
	BodyGrace   time.Duration

	// Resolved by WithDefaults: MemoryLimit in bytes, and where it came
	// from ("LENSFLOW_MEMORY_LIMIT", "container" or "default").
	MemoryBytes  int64
	MemorySource string

	envErr error // a malformed numeric variable, reported by WithDefaults
}

// The overload defaults. On gcp a clinic's practice makes a few requests a
// second (Cloud Armor already holds each client address to 10/s), so 50/s
// per clinic per instance only stops a runaway client. The local stack
// serves every clinic, the end-to-end tests and the 50-client benchmark
// (which polls every 10 ms, under 5000/s) from one process, so its default
// is higher. Cloud Run's concurrency setting (40) keeps in-flight requests
// under MaxInFlight in production; the limit guards other hosts.
const (
	DefaultRateLimitGCP   = 50
	DefaultRateLimitLocal = 5000
	DefaultMaxInFlight    = 256
	DefaultClinicShare    = 0.25
	DefaultMinBodyRate    = 64 << 10
	DefaultBodyGrace      = 5 * time.Second
)

// ConfigFromEnv reads Config from the environment. Defaults are filled by
// WithDefaults (Open calls it), after callers have applied their own
// overrides such as the local stack's -data flag.
func ConfigFromEnv() Config {
	c := Config{
		Profile:           os.Getenv("LENSFLOW_PROFILE"),
		DataDir:           os.Getenv("LENSFLOW_DATA"),
		Project:           firstNonEmpty(os.Getenv("GOOGLE_CLOUD_PROJECT"), os.Getenv("GCP_PROJECT")),
		Docs:              os.Getenv("LENSFLOW_DOCS"),
		Blobs:             os.Getenv("LENSFLOW_BLOBS"),
		Events:            os.Getenv("LENSFLOW_EVENTS"),
		FirestoreDatabase: os.Getenv("LENSFLOW_FIRESTORE_DATABASE"),
		Bucket:            os.Getenv("LENSFLOW_BUCKET"),
		KEKURI:            os.Getenv("LENSFLOW_KEK_URI"),
		AuthIssuers:       list(os.Getenv("LENSFLOW_AUTH_ISSUERS")),
		ServiceAudiences:  list(os.Getenv("LENSFLOW_SERVICE_AUDIENCES")),
		ServiceAccounts:   list(os.Getenv("LENSFLOW_SERVICE_ACCOUNTS")),
		DevIssuerURL:      os.Getenv("LENSFLOW_DEV_ISSUER_URL"),
		IdentityAPIKey:    os.Getenv("LENSFLOW_IDENTITY_API_KEY"),
		AuditLog:          os.Getenv("LENSFLOW_AUDIT_LOG"),
		LogLevel:          os.Getenv("LENSFLOW_LOG_LEVEL"),
		Tracing:           os.Getenv("LENSFLOW_TRACING"),
		Metrics:           os.Getenv("LENSFLOW_METRICS"),
		OTLPEndpoint:      os.Getenv("LENSFLOW_OTLP_ENDPOINT"),
		SMTPAddr:          os.Getenv("LENSFLOW_SMTP_ADDR"),
		SMTPFrom:          os.Getenv("LENSFLOW_SMTP_FROM"),
		SMTPUsername:      os.Getenv("LENSFLOW_SMTP_USERNAME"),
		SMTPPassword:      os.Getenv("LENSFLOW_SMTP_PASSWORD"),
		PublicURL:         os.Getenv("LENSFLOW_PUBLIC_URL"),
		LabEmails:         list(os.Getenv("LENSFLOW_LAB_EMAILS")),
	}
	var errRate, errBurst, errInFlight, errShare, errBodyRate, errGrace error
	parseFloat := func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
	c.RateLimit, errRate = envNumber("LENSFLOW_RATE_LIMIT", parseFloat)
	c.RateBurst, errBurst = envNumber("LENSFLOW_RATE_BURST", strconv.Atoi)
	c.MaxInFlight, errInFlight = envNumber("LENSFLOW_MAX_INFLIGHT", strconv.Atoi)
	c.MemoryLimit = os.Getenv("LENSFLOW_MEMORY_LIMIT")
	c.ClinicShare, errShare = envNumber("LENSFLOW_CLINIC_SHARE", parseFloat)
	c.MinBodyRate, errBodyRate = envNumber("LENSFLOW_MIN_BODY_RATE", parseFloat)
	if g := strings.TrimSpace(os.Getenv("LENSFLOW_BODY_GRACE")); g != "" {
		if c.BodyGrace, errGrace = time.ParseDuration(g); errGrace != nil || c.BodyGrace <= 0 {
			errGrace = fmt.Errorf("LENSFLOW_BODY_GRACE: %q is not a positive duration (for example 5s)", g)
		}
	}
	var errLifetime error
	if s := strings.TrimSpace(os.Getenv("LENSFLOW_MAX_TOKEN_LIFETIME")); s != "" {
		if c.MaxTokenLifetime, errLifetime = time.ParseDuration(s); errLifetime != nil {
			errLifetime = fmt.Errorf("LENSFLOW_MAX_TOKEN_LIFETIME: %q is not a duration such as 24h or 90m", s)
		}
	}
	c.envErr = errors.Join(errRate, errBurst, errInFlight, errShare, errBodyRate, errGrace, errLifetime)
	return c
}

// envNumber parses the environment variable name; unset is zero.
func envNumber[T int | float64](name string, parse func(string) (T, error)) (T, error) {
	s := strings.TrimSpace(os.Getenv(name))
	if s == "" {
		return 0, nil
	}
	v, err := parse(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", name, s)
	}
	return v, nil
}

// WithDefaults fills unset fields from the profile and checks the result.
func (c Config) WithDefaults() (Config, error) {
	if c.envErr != nil {
		return c, c.envErr
	}
	if c.Profile == "" {
		c.Profile = "local"
	}
	gcp := c.Profile == "gcp"
	if c.Profile != "local" && !gcp {
		return c, fmt.Errorf("LENSFLOW_PROFILE: %q is not local or gcp", c.Profile)
	}
	def := func(v *string, local, cloud string) {
		if *v == "" {
			if gcp {
				*v = cloud
			} else {
				*v = local
			}
		}
	}
	def(&c.DataDir, ".lensflow", "")
	def(&c.Docs, "bolt", "firestore")
	def(&c.Blobs, "local", "gcs")
	def(&c.Events, "local", "pubsub")
	def(&c.Tracing, "memory", "otlp")
	def(&c.Metrics, "memory", "otlp")
	if c.OTLPEndpoint == "" {
		c.OTLPEndpoint = "telemetry.googleapis.com:443"
	}
	def(&c.Bucket, "lensflow-scans", "")
	def(&c.FirestoreDatabase, "(default)", "(default)")
	def(&c.AuditLog, "", "cloudlogging")
	def(&c.DevIssuerURL, "http://127.0.0.1:8080/dev-issuer", "")
	def(&c.SMTPFrom, "notifications@lensflow.local", "")
	if len(c.LabEmails) == 0 && !gcp {
		c.LabEmails = []string{"lab@lensflow.local"}
	}
	for _, e := range c.LabEmails {
		if a, err := mail.ParseAddress(e); err != nil || a.Name != "" || a.Address != e {
			return c, fmt.Errorf("LENSFLOW_LAB_EMAILS: %q is not an email address", e)
		}
	}
	def(&c.PublicURL, strings.TrimSuffix(c.DevIssuerURL, "/dev-issuer"), "")
	if c.PublicURL != "" {
		// Links in emails start with it, and webhooks may not point at it.
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return c, fmt.Errorf("LENSFLOW_PUBLIC_URL: %q is not an absolute http or https URL", c.PublicURL)
		}
	}
	if c.AuditLog == "" {
		c.AuditLog = filepath.Join(c.DataDir, "audit.log")
	}
	if c.KEKURI == "" && !gcp {
		abs, err := filepath.Abs(filepath.Join(c.DataDir, "kek.json"))
		if err != nil {
			return c, err
		}
		c.KEKURI = "file://" + abs
	}
	if len(c.AuthIssuers) == 0 {
		if gcp {
			c.AuthIssuers = []string{"identity-platform", "google-oidc"}
		} else {
			c.AuthIssuers = []string{"dev"}
		}
	}
	var missing []string
	need := func(cond bool, name string) {
		if cond {
			missing = append(missing, name)
		}
	}
	for _, v := range [][2]string{{"LENSFLOW_DOCS", c.Docs + ":bolt:firestore"}, {"LENSFLOW_BLOBS", c.Blobs + ":local:gcs"}, {"LENSFLOW_EVENTS", c.Events + ":local:pubsub"}} {
		p := strings.Split(v[1], ":")
		if p[0] != p[1] && p[0] != p[2] {
			return c, fmt.Errorf("%s: %q is not %s or %s", v[0], p[0], p[1], p[2])
		}
	}
	switch c.Tracing {
	case "memory", "otlp", "off":
	default:
		return c, fmt.Errorf("LENSFLOW_TRACING: %q is not memory, otlp or off", c.Tracing)
	}
	switch c.Metrics {
	case "memory", "otlp", "off":
	default:
		return c, fmt.Errorf("LENSFLOW_METRICS: %q is not memory, otlp or off", c.Metrics)
	}
	if _, port, err := net.SplitHostPort(c.OTLPEndpoint); err != nil || port == "" {
		return c, fmt.Errorf("LENSFLOW_OTLP_ENDPOINT: %q is not host:port", c.OTLPEndpoint)
	}
	usesGCP := c.UsesOTLP() || c.AuditLog == "cloudlogging" || c.Docs == "firestore" || c.Blobs == "gcs" || c.Events == "pubsub" || contains(c.AuthIssuers, "identity-platform")
	need(usesGCP && c.Project == "", "GOOGLE_CLOUD_PROJECT")
	need(c.Blobs == "gcs" && c.Bucket == "", "LENSFLOW_BUCKET")
	need(c.KEKURI == "", "LENSFLOW_KEK_URI")
	need(gcp && c.SMTPAddr != "" && c.SMTPFrom == "", "LENSFLOW_SMTP_FROM")
	need(c.DataDir == "" && (c.Docs == "bolt" || c.Blobs == "local" || c.Events == "local"), "LENSFLOW_DATA")
	// The development issuer signs whatever token the local stack asks
	// for: never beside a Google backend, where its tokens would reach
	// real data.
	if contains(c.AuthIssuers, "dev") && (usesGCP || strings.HasPrefix(c.KEKURI, "gcp-kms://")) {
		return c, fmt.Errorf("LENSFLOW_AUTH_ISSUERS: the development issuer (dev) is refused beside a Google backend (%s)", strings.Join(googleBackends(c), ", "))
	}
	for _, iss := range c.AuthIssuers {
		switch iss {
		case "identity-platform", "dev":
		case "google-oidc":
			need(len(c.ServiceAudiences) == 0, "LENSFLOW_SERVICE_AUDIENCES")
			need(len(c.ServiceAccounts) == 0, "LENSFLOW_SERVICE_ACCOUNTS")
		default:
			return c, fmt.Errorf("LENSFLOW_AUTH_ISSUERS: unknown issuer %q (identity-platform, google-oidc, dev)", iss)
		}
	}
	switch {
	case c.RateLimit == 0 && gcp:
		c.RateLimit = DefaultRateLimitGCP
	case c.RateLimit == 0:
		c.RateLimit = DefaultRateLimitLocal
	case c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0):
		return c, fmt.Errorf("LENSFLOW_RATE_LIMIT: %v is not a positive number of requests per second", c.RateLimit)
	}
	for _, v := range []struct {
		n    *int
		name string
		def  int
	}{{&c.RateBurst, "LENSFLOW_RATE_BURST", max(1, int(min(math.Ceil(2*c.RateLimit), 1<<30)))}, {&c.MaxInFlight, "LENSFLOW_MAX_INFLIGHT", DefaultMaxInFlight}} {
		switch {
		case *v.n == 0:
			*v.n = v.def
		case *v.n < 0:
			return c, fmt.Errorf("%s: %d is not a positive number", v.name, *v.n)
		}
	}
	switch {
	case c.ClinicShare == 0:
		c.ClinicShare = DefaultClinicShare
	case !(c.ClinicShare > 0 && c.ClinicShare <= 1):
		return c, fmt.Errorf("LENSFLOW_CLINIC_SHARE: %v is not a fraction in (0, 1]", c.ClinicShare)
	}
	switch {
	case c.MinBodyRate == 0:
		c.MinBodyRate = DefaultMinBodyRate
	case !(c.MinBodyRate > 0) || math.IsInf(c.MinBodyRate, 0):
		return c, fmt.Errorf("LENSFLOW_MIN_BODY_RATE: %v is not a positive number of bytes per second", c.MinBodyRate)
	}
	if c.BodyGrace == 0 {
		c.BodyGrace = DefaultBodyGrace
	}
	var err error
	if c.MemoryBytes, c.MemorySource, err = admission.MemoryLimit(c.MemoryLimit); err != nil {
		return c, err
	}
	if c.MaxTokenLifetime == 0 {
		c.MaxTokenLifetime = auth.DefaultMaxLifetime
	}
	if err := auth.CheckMaxLifetime(c.MaxTokenLifetime); err != nil {
		return c, fmt.Errorf("LENSFLOW_MAX_TOKEN_LIFETIME: %w", err)
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("configuration incomplete: set %s", strings.Join(missing, ", "))
	}
	return c, nil
}

// MemoryBudget is the bytes of working memory the instance admits request
// bodies and designs against: half its memory.
func (c Config) MemoryBudget() int64 { return c.MemoryBytes / 2 }

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// UsesOTLP reports whether traces or metrics go to Google's Telemetry API.
func (c Config) UsesOTLP() bool { return c.Tracing == "otlp" || c.Metrics == "otlp" }

// googleBackends names the settings of c that use a Google service.
func googleBackends(c Config) []string {
	var on []string
	for _, b := range []struct {
		set  bool
		name string
	}{
		{c.Docs == "firestore", "LENSFLOW_DOCS=firestore"}, {c.Blobs == "gcs", "LENSFLOW_BLOBS=gcs"},
		{c.Events == "pubsub", "LENSFLOW_EVENTS=pubsub"}, {strings.HasPrefix(c.KEKURI, "gcp-kms://"), "LENSFLOW_KEK_URI=gcp-kms://..."},
		{c.AuditLog == "cloudlogging", "LENSFLOW_AUDIT_LOG=cloudlogging"}, {c.Tracing == "otlp", "LENSFLOW_TRACING=otlp"},
		{c.Metrics == "otlp", "LENSFLOW_METRICS=otlp"}, {contains(c.AuthIssuers, "identity-platform"), "identity-platform"},
	} {
		if b.set {
			on = append(on, b.name)
		}
	}
	return on
}
