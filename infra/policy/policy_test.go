// Package policy_test checks the Terraform plan of infra/ (terraform show
// -json, written by scripts/check-infra.sh) against lensflow's security and
// reliability rules and against the functions registered in the code
// (go run ./scripts/functions).
//
//	LENSFLOW_PLAN_JSON=$HOME/.cache/lensflow/plan.json go test ./infra/policy
//
// Without LENSFLOW_PLAN_JSON the tests skip: building the provider and
// planning is scripts/check-infra.sh's job.
package policy_test

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/metrics"
)

// privateHTTP are HTTP functions that are not part of the public API: Cloud
// Scheduler calls them with OIDC tokens, so they are neither routed by the
// load balancer nor invokable by allUsers.
var privateHTTP = map[string]bool{"tasks": true}

// phiAuditServices need Data Access (DATA_READ and DATA_WRITE) audit logs.
var phiAuditServices = []string{"datastore.googleapis.com", "storage.googleapis.com", "cloudkms.googleapis.com"}

// telemetryRoles let a function write its spans and metrics (through the
// Telemetry API, OTLP) and audit records (Cloud Logging): every function's
// service account has all three.
var telemetryRoles = []string{"roles/telemetry.tracesWriter", "roles/telemetry.metricsWriter", "roles/logging.logWriter"}

// projectRoles are the only roles granted on the whole project: Firestore has
// no narrower grant for data access, and the telemetry roles exist only on
// the project. Everything else is granted on the resource it is about.
var projectRoles = map[string]bool{
	"roles/datastore.user":          true,
	"roles/telemetry.tracesWriter":  true,
	"roles/telemetry.metricsWriter": true,
	"roles/logging.logWriter":       true,
	// Held by the build account alone (checked below): builds exist only
	// at project level.
	"roles/cloudbuild.builds.editor": true,
}

// appMetric matches the application's metrics in a PromQL query: OTLP
// metrics keep their OpenTelemetry names, quoted in braces ({"lensflow.x"}
// or __name__="lensflow.x").
var appMetric = regexp.MustCompile(`(?:\{|__name__"?\s*=\s*)"(lensflow\.[^"]+)"`)

// appMetrics are the names shared/metrics exports.
var appMetrics = map[string]bool{
	metrics.NameScansReceived: true, metrics.NameDesignsProduced: true, metrics.NameDesignsFailed: true,
	metrics.NameDesignLatency: true, metrics.NameJobTransitions: true, metrics.NameJobsActive: true,
	metrics.NameNotificationsSent: true, metrics.NameNotificationsFailed: true, metrics.NameEventsFailed: true,
	metrics.NameEventsDeadLettered: true,
}

// auditLogID is the Cloud Logging log the application writes its audit
// records to (LENSFLOW_AUDIT_LOG=cloudlogging).
const auditLogID = "lensflow-audit"

type resource struct {
	Address string
	Type    string
	Name    string
	Values  map[string]any
	Unknown map[string]any // after_unknown of the resource change
	Config  map[string]any // expressions of the resource's configuration block
}

type plan struct {
	Env       string
	Project   string
	Resources []*resource
}

func (p *plan) ofType(t string) []*resource {
	var out []*resource
	for _, r := range p.Resources {
		if r.Type == t {
			out = append(out, r)
		}
	}
	return out
}

// function is one function of the code, from go run ./scripts/functions.
type function struct {
	Dir, Name, Kind string
	Routes          []string // "METHOD /path" for HTTP functions
	Subs            []sub    // consumed topics for event functions
}

type sub struct {
	Topic, Name, DeadLetter string
	MaxAttempts             int
}

func parsePlan(data []byte) (*plan, error) {
	var raw struct {
		Variables     map[string]struct{ Value any } `json:"variables"`
		PlannedValues struct {
			RootModule struct {
				Resources []struct {
					Address string         `json:"address"`
					Mode    string         `json:"mode"`
					Type    string         `json:"type"`
					Name    string         `json:"name"`
					Values  map[string]any `json:"values"`
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"planned_values"`
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				AfterUnknown map[string]any `json:"after_unknown"`
			} `json:"change"`
		} `json:"resource_changes"`
		Configuration struct {
			RootModule struct {
				Resources []struct {
					Address     string         `json:"address"`
					Expressions map[string]any `json:"expressions"`
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"configuration"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	unknown := map[string]map[string]any{}
	for _, rc := range raw.ResourceChanges {
		unknown[rc.Address] = rc.Change.AfterUnknown
	}
	config := map[string]map[string]any{}
	for _, c := range raw.Configuration.RootModule.Resources {
		config[c.Address] = c.Expressions
	}
	p := &plan{}
	if v, ok := raw.Variables["environment"].Value.(string); ok {
		p.Env = v
	}
	if v, ok := raw.Variables["project"].Value.(string); ok {
		p.Project = v
	}
	for _, r := range raw.PlannedValues.RootModule.Resources {
		if r.Mode != "managed" {
			continue
		}
		p.Resources = append(p.Resources, &resource{Address: r.Address, Type: r.Type, Name: r.Name, Values: r.Values,
			Unknown: unknown[r.Address], Config: config[r.Type+"."+r.Name]})
	}
	return p, nil
}

func parseFunctions(out string) ([]function, error) {
	byDir := map[string]*function{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		fn := byDir[f[0]]
		if fn == nil {
			fn = &function{Dir: f[0], Name: f[1], Kind: f[2]}
			byDir[f[0]] = fn
			order = append(order, f[0])
		}
		switch {
		case f[2] == "http":
			for _, r := range f[3:] {
				fn.Routes = append(fn.Routes, strings.Replace(r, "_", " ", 1))
			}
		case f[2] == "event" && len(f) == 7:
			n, err := strconv.Atoi(f[6])
			if err != nil {
				return nil, err
			}
			fn.Subs = append(fn.Subs, sub{Topic: f[3], Name: f[4], DeadLetter: f[5], MaxAttempts: n})
		default:
			return nil, &parseError{line}
		}
	}
	fns := make([]function, 0, len(order))
	for _, d := range order {
		fns = append(fns, *byDir[d])
	}
	return fns, nil
}

type parseError struct{ line string }

func (e *parseError) Error() string {
	return "scripts/functions: cannot parse line " + strconv.Quote(e.line)
}

// get walks a planned value: map keys and list indexes ("0").
func get(v any, path ...string) any {
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

// keyed reports whether a CMEK attribute is set: a known non-empty value, or
// a value unknown at plan time whose expression references a KMS key.
func keyed(r *resource, path ...string) bool {
	if str(get(r.Values, path...)) != "" {
		return true
	}
	if b, _ := get(r.Unknown, path...).(bool); !b {
		return false
	}
	refs, _ := get(r.Config, append(append([]string{}, path...), "references")...).([]any)
	for _, ref := range refs {
		if strings.HasPrefix(str(ref), "google_kms_crypto_key.") {
			return true
		}
	}
	return false
}

// listOrRef reports whether a list attribute is set: known and non-empty, or
// unknown at plan time with an expression referencing a resource whose
// address starts with refPrefix.
func listOrRef(r *resource, key, refPrefix string) bool {
	if l, _ := r.Values[key].([]any); len(l) > 0 {
		return true
	}
	if b, _ := r.Unknown[key].(bool); !b {
		return false
	}
	refs, _ := get(r.Config, key, "references").([]any)
	for _, ref := range refs {
		if strings.HasPrefix(str(ref), refPrefix) {
			return true
		}
	}
	return false
}

// watches reports whether a monitoring filter covers the resource whose
// label is value: the filter names it (one_of("a", "b"), label="a") or does
// not restrict the label at all.
func watches(filter, label, value string) bool {
	return !strings.Contains(filter, label) || strings.Contains(filter, strconv.Quote(value))
}

func last(s string) string { return s[strings.LastIndex(s, "/")+1:] }

// route returns the backend a URL map sends a path to, with path rule
// semantics: "/a" matches exactly, "/a/*" matches everything beneath "/a/",
// the longest match wins, otherwise the matcher's default service.
func route(pm any, path string) (backend, rule string) {
	best := -1
	for i := 0; ; i++ {
		pr := get(pm, "path_rule", strconv.Itoa(i))
		if pr == nil {
			break
		}
		paths, _ := get(pr, "paths").([]any)
		for _, p := range paths {
			ps := str(p)
			n := -1
			if prefix, ok := strings.CutSuffix(ps, "*"); ok {
				if strings.HasPrefix(path, prefix) {
					n = len(prefix)
				}
			} else if ps == path {
				n = len(ps) + 1 // an exact match beats a prefix of the same length
			}
			if n > best {
				best, backend, rule = n, str(get(pr, "service")), ps
			}
		}
	}
	if best < 0 {
		return str(get(pm, "default_service")), ""
	}
	return backend, rule
}

// samplePath turns a route pattern into a concrete path: {x} -> x-1.
func samplePath(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = strings.Trim(s, "{}.") + "-1"
		}
	}
	return strings.Join(segs, "/")
}

// violations returns every broken rule, empty when the plan is compliant.
func violations(p *plan, fns []function) []string {
	var v []string
	bad := func(format string, args ...string) {
		s := format
		for _, a := range args {
			s = strings.Replace(s, "%s", a, 1)
		}
		v = append(v, s)
	}

	// CMEK on every PHI store and on the event topics.
	dbs := p.ofType("google_firestore_database")
	if len(dbs) == 0 {
		bad("no Firestore database")
	}
	for _, r := range dbs {
		if !keyed(r, "cmek_config", "0", "kms_key_name") {
			bad("%s: no CMEK (cmek_config.kms_key_name)", r.Address)
		}
		if str(r.Values["point_in_time_recovery_enablement"]) != "POINT_IN_TIME_RECOVERY_ENABLED" {
			bad("%s: point-in-time recovery disabled", r.Address)
		}
		if str(r.Values["delete_protection_state"]) != "DELETE_PROTECTION_ENABLED" {
			bad("%s: delete protection disabled", r.Address)
		}
	}
	buckets := p.ofType("google_storage_bucket")
	if len(buckets) == 0 {
		bad("no scan bucket")
	}
	for _, r := range buckets {
		if !keyed(r, "encryption", "0", "default_kms_key_name") {
			bad("%s: no CMEK (encryption.default_kms_key_name)", r.Address)
		}
		if str(r.Values["public_access_prevention"]) != "enforced" {
			bad("%s: public access prevention is not enforced", r.Address)
		}
		if b, _ := r.Values["uniform_bucket_level_access"].(bool); !b {
			bad("%s: uniform bucket-level access is off", r.Address)
		}
	}
	for _, r := range p.ofType("google_pubsub_topic") {
		if !keyed(r, "kms_key_name") {
			bad("%s: no CMEK (kms_key_name)", r.Address)
		}
	}
	for _, r := range p.ofType("google_kms_crypto_key") {
		if rp := str(r.Values["rotation_period"]); rp == "" || mustSeconds(rp) > 90*24*3600 {
			bad("%s: rotation period above 90 days", r.Address)
		}
	}

	// No public access to buckets or to the project.
	for _, t := range []string{"google_storage_bucket_iam_member", "google_storage_bucket_iam_binding", "google_project_iam_member", "google_project_iam_binding"} {
		for _, r := range p.ofType(t) {
			for _, m := range members(r) {
				if m == "allUsers" || m == "allAuthenticatedUsers" {
					bad("%s: public member %s", r.Address, m)
				}
			}
		}
	}
	// Project-level grants: only the roles that exist nowhere narrower.
	projectGrants := map[string]map[string]bool{} // member -> roles on the project
	for _, t := range []string{"google_project_iam_member", "google_project_iam_binding"} {
		for _, r := range p.ofType(t) {
			role := str(r.Values["role"])
			if !projectRoles[role] {
				bad("%s: project-level role %s is not allowed (grant it on the resource instead)", r.Address, role)
			}
			for _, m := range members(r) {
				if projectGrants[m] == nil {
					projectGrants[m] = map[string]bool{}
				}
				projectGrants[m][role] = true
			}
		}
	}
	for _, r := range p.ofType("google_project_iam_policy") {
		bad("%s: authoritative project IAM policy (use google_project_iam_member)", r.Address)
	}
	// Code deploys: scripts/deploy.sh builds as lensflow-build-<env> with
	// its sources and logs in <project>-lensflow-build-<env>, names it
	// derives itself; only that account may submit builds.
	buildSA := "lensflow-build-" + p.Env + "@" + p.Project + ".iam.gserviceaccount.com"
	if !slices.ContainsFunc(p.ofType("google_service_account"), func(r *resource) bool { return str(r.Values["account_id"]) == "lensflow-build-"+p.Env }) {
		bad("no build service account lensflow-build-%s (scripts/deploy.sh builds as it)", p.Env)
	}
	if !slices.ContainsFunc(p.ofType("google_storage_bucket"), func(r *resource) bool { return str(r.Values["name"]) == p.Project+"-lensflow-build-"+p.Env }) {
		bad("no build bucket %s-lensflow-build-%s (scripts/deploy.sh stages sources and logs there)", p.Project, p.Env)
	}
	for m, roles := range projectGrants {
		if roles["roles/cloudbuild.builds.editor"] && m != "serviceAccount:"+buildSA {
			bad("%s holds roles/cloudbuild.builds.editor on the project; only %s may submit builds", m, buildSA)
		}
	}
	for _, t := range []string{"google_storage_bucket_acl", "google_storage_default_object_acl", "google_storage_object_acl", "google_storage_bucket_iam_policy"} {
		for _, r := range p.ofType(t) {
			bad("%s: use uniform access with IAM members instead", r.Address)
		}
	}

	// Audit: Data Access logs, a locked six-year log bucket and a sink.
	audited := map[string]map[string]bool{}
	for _, r := range p.ofType("google_project_iam_audit_config") {
		s := str(r.Values["service"])
		audited[s] = map[string]bool{}
		cfgs, _ := r.Values["audit_log_config"].([]any)
		for _, c := range cfgs {
			audited[s][str(get(c, "log_type"))] = true
		}
	}
	for _, s := range phiAuditServices {
		if !audited[s]["DATA_READ"] || !audited[s]["DATA_WRITE"] {
			bad("no DATA_READ and DATA_WRITE audit logs for %s", s)
		}
	}
	logBuckets := p.ofType("google_logging_project_bucket_config")
	if len(logBuckets) == 0 {
		bad("no audit log bucket")
	}
	for _, r := range logBuckets {
		if n, _ := r.Values["retention_days"].(float64); n < 2192 {
			bad("%s: log retention below 2192 days", r.Address)
		}
		if b, _ := r.Values["locked"].(bool); !b {
			bad("%s: log bucket not locked", r.Address)
		}
	}
	// The application's audit records are selected by their log name, which
	// only a Cloud Logging API writer sets: a payload field or a label can be
	// carried by any line a service prints to stdout.
	auditLog := `logName="projects/` + p.Project + `/logs/` + auditLogID + `"`
	sinkOK := false
	for _, r := range p.ofType("google_logging_project_sink") {
		f := str(r.Values["filter"])
		if strings.Contains(f, "data_access") && strings.Contains(f, auditLog) {
			sinkOK = true
		}
		if strings.Contains(f, "jsonPayload") || strings.Contains(f, "labels.log") {
			bad("%s: filter routes by payload or label, which any stdout line can carry; select the audit log by logName", r.Address)
		}
	}
	if !sinkOK {
		bad("no log sink routing Data Access logs and the audit log (%s)", auditLog)
	}

	// Subscriptions: a dead-letter topic on each (but the dead-letter
	// subscriptions), a subscription on each dead-letter topic, 7-day retention.
	subs := p.ofType("google_pubsub_subscription")
	deadLetters := map[string]bool{}
	for _, r := range subs {
		if t := str(get(r.Values, "dead_letter_policy", "0", "dead_letter_topic")); t != "" {
			deadLetters[last(t)] = true
		}
	}
	subscribed := map[string]bool{}
	subByName := map[string]*resource{}
	var dlSubs []string // subscriptions that dead-letter
	for _, r := range subs {
		topic := last(str(r.Values["topic"]))
		subscribed[topic] = true
		subByName[str(r.Values["name"])] = r
		if str(get(r.Values, "dead_letter_policy", "0", "dead_letter_topic")) != "" {
			dlSubs = append(dlSubs, str(r.Values["name"]))
		}
		if str(r.Values["message_retention_duration"]) != "604800s" {
			bad("%s: message retention is not 7 days", r.Address)
		}
		if deadLetters[topic] {
			continue
		}
		dl := get(r.Values, "dead_letter_policy", "0")
		if dl == nil || str(get(dl, "dead_letter_topic")) == "" {
			bad("%s: no dead_letter_policy", r.Address)
			continue
		}
		if n, _ := get(dl, "max_delivery_attempts").(float64); n < 5 || n > 100 {
			bad("%s: max_delivery_attempts outside 5-100", r.Address)
		}
		if get(r.Values, "retry_policy", "0") == nil {
			bad("%s: no retry policy", r.Address)
		}
		if pc := get(r.Values, "push_config", "0"); pc != nil && str(get(pc, "oidc_token", "0", "service_account_email")) == "" {
			bad("%s: push without an OIDC token", r.Address)
		}
	}
	for t := range deadLetters {
		if !subscribed[t] {
			bad("dead-letter topic %s has no subscription", t)
		}
	}

	// Functions: one Cloud Run service and one service account each, and
	// nothing in Terraform that the code does not register.
	prefix, suffix := "lensflow-", "-"+p.Env
	services := map[string]*resource{} // by function dir
	for _, r := range p.ofType("google_cloud_run_v2_service") {
		name := str(r.Values["name"])
		dir, _ := strings.CutPrefix(name, prefix)
		dir, ok := strings.CutSuffix(dir, suffix)
		if !ok || !strings.HasPrefix(name, prefix) {
			bad("%s: service name %s is not lensflow-<function>-<env>", r.Address, name)
			continue
		}
		services[dir] = r
	}
	accounts := map[string]bool{}
	for _, r := range p.ofType("google_service_account") {
		accounts[str(r.Values["email"])] = true
	}
	code := map[string]function{}
	saUsers := map[string]string{}
	for _, fn := range fns {
		code[fn.Dir] = fn
		r := services[fn.Dir]
		if r == nil {
			bad("function %s (functions/%s) has no Cloud Run service lensflow-%s-<env>", fn.Name, fn.Dir, fn.Dir)
			continue
		}
		sa := str(get(r.Values, "template", "0", "service_account"))
		if !strings.HasPrefix(sa, prefix+fn.Dir+suffix+"@") || !accounts[sa] {
			bad("%s: does not run as its own service account lensflow-%s-<env> (%s)", r.Address, fn.Dir, sa)
		}
		if other, dup := saUsers[sa]; dup {
			bad("functions %s and %s share service account %s", other, fn.Dir, sa)
		}
		saUsers[sa] = fn.Dir
		for _, role := range telemetryRoles {
			if !projectGrants["serviceAccount:"+sa][role] {
				bad("function %s: its service account has no %s on the project (telemetry)", fn.Dir, role)
			}
		}
		if n, _ := get(r.Values, "template", "0", "scaling", "0", "min_instance_count").(float64); n != 0 {
			bad("%s: min instances is not 0", r.Address)
		}
		public := fn.Kind == "http" && !privateHTTP[fn.Dir]
		ingress := str(r.Values["ingress"])
		if public && ingress != "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER" {
			bad("%s: public API service must take traffic only from the load balancer (ingress %s)", r.Address, ingress)
		}
		if !public && ingress != "INGRESS_TRAFFIC_INTERNAL_ONLY" {
			bad("%s: private service must have internal ingress (ingress %s)", r.Address, ingress)
		}
	}
	for dir, r := range services {
		if _, ok := code[dir]; !ok {
			bad("%s: no function %s in the code", r.Address, dir)
		}
	}

	// Alerts: dead letters and the 5xx rate of every service are watched,
	// and every alert policy reaches someone, says what to do and closes.
	// An alert on an application metric queries a name the code exports
	// (a misspelt PromQL name matches nothing and never fires).
	var dlFilters, errFilters []string
	for _, r := range p.ofType("google_monitoring_alert_policy") {
		if !listOrRef(r, "notification_channels", "google_monitoring_notification_channel.") {
			bad("%s: no notification channel", r.Address)
		}
		if strings.TrimSpace(str(get(r.Values, "documentation", "0", "content"))) == "" {
			bad("%s: no documentation", r.Address)
		}
		if str(get(r.Values, "alert_strategy", "0", "auto_close")) == "" {
			bad("%s: no alert_strategy.auto_close", r.Address)
		}
		conds, _ := r.Values["conditions"].([]any)
		for _, c := range conds {
			ct := get(c, "condition_threshold", "0")
			f, den := str(get(ct, "filter")), str(get(ct, "denominator_filter"))
			query := str(get(c, "condition_prometheus_query_language", "0", "query"))
			if strings.Contains(f+den, "workload.googleapis.com/") {
				bad("%s: alerts on a workload.googleapis.com metric, which the OTLP path does not write", r.Address)
			}
			for _, m := range appMetric.FindAllStringSubmatch(query, -1) {
				if !appMetrics[m[1]] {
					bad("%s: alerts on %s, which shared/metrics does not export", r.Address, m[1])
				}
			}
			if strings.Contains(f, "pubsub.googleapis.com/subscription/dead_letter_message_count") {
				dlFilters = append(dlFilters, f)
			}
			if strings.Contains(f, "run.googleapis.com/request_count") && strings.Contains(f, `response_code_class="5xx"`) &&
				strings.Contains(den, "run.googleapis.com/request_count") && !strings.Contains(den, "5xx") {
				errFilters = append(errFilters, f)
			}
		}
	}
	if len(dlFilters) == 0 {
		bad("no alert policy on dead letters (a condition on dead_letter_message_count)")
	}
	for _, s := range dlSubs {
		if len(dlFilters) > 0 && !slices.ContainsFunc(dlFilters, func(f string) bool { return watches(f, "subscription_id", s) }) {
			bad("no dead-letter alert watches subscription %s", s)
		}
	}
	if len(errFilters) == 0 {
		bad("no alert policy on the 5xx rate (run.googleapis.com/request_count 5xx over all requests)")
	}
	for dir, r := range services {
		name := str(r.Values["name"])
		if len(errFilters) > 0 && !slices.ContainsFunc(errFilters, func(f string) bool { return watches(f, "service_name", name) }) {
			bad("no 5xx alert watches service %s (function %s)", name, dir)
		}
	}

	// Invokers: allUsers only on public API services.
	for _, t := range []string{"google_cloud_run_v2_service_iam_member", "google_cloud_run_v2_service_iam_binding", "google_cloud_run_service_iam_member", "google_cloud_run_service_iam_binding"} {
		for _, r := range p.ofType(t) {
			dir, _ := strings.CutPrefix(last(str(r.Values["name"])), prefix)
			dir, _ = strings.CutSuffix(dir, suffix)
			fn, known := code[dir]
			for _, m := range members(r) {
				if (m == "allUsers" || m == "allAuthenticatedUsers") && (!known || fn.Kind != "http" || privateHTTP[dir]) {
					bad("%s: public invoker %s on non-public service %s", r.Address, m, dir)
				}
			}
		}
	}

	// Event functions: each consumed topic is a push subscription to the
	// function's service with the code's dead-letter topic and attempts.
	codeSubs := map[string]bool{}
	for _, fn := range fns {
		for _, s := range fn.Subs {
			codeSubs[s.Name] = true
			r := subByName[s.Name]
			if r == nil {
				bad("function %s consumes %s: no subscription %s", fn.Dir, s.Topic, s.Name)
				continue
			}
			if got := last(str(r.Values["topic"])); got != s.Topic {
				bad("%s: topic %s, code says %s", r.Address, got, s.Topic)
			}
			if got := last(str(get(r.Values, "dead_letter_policy", "0", "dead_letter_topic"))); got != s.DeadLetter {
				bad("%s: dead-letter topic %s, code says %s", r.Address, got, s.DeadLetter)
			}
			if got, _ := get(r.Values, "dead_letter_policy", "0", "max_delivery_attempts").(float64); int(got) != s.MaxAttempts {
				bad("%s: max attempts %s, code says %s", r.Address, strconv.Itoa(int(got)), strconv.Itoa(s.MaxAttempts))
			}
			ep := str(get(r.Values, "push_config", "0", "push_endpoint"))
			if !strings.HasPrefix(ep, "https://"+prefix+fn.Dir+suffix+"-") {
				bad("%s: pushes to %s, not to service lensflow-%s-<env>", r.Address, ep, fn.Dir)
			}
			if aud := str(get(r.Values, "push_config", "0", "oidc_token", "0", "audience")); aud == "" || !strings.HasPrefix(ep, aud) {
				bad("%s: OIDC audience %s is not the service URL", r.Address, aud)
			}
		}
	}
	for name, r := range subByName {
		if get(r.Values, "push_config", "0") != nil && !codeSubs[name] {
			bad("%s: push subscription %s not consumed by any function in the code", r.Address, name)
		}
	}

	// Public routes: the load balancer's URL map sends every public route of
	// the code to its function's serverless NEG, and has no rule no route uses.
	negs := map[string]string{} // NEG name -> Cloud Run service name
	for _, r := range p.ofType("google_compute_region_network_endpoint_group") {
		negs[str(r.Values["name"])] = str(get(r.Values, "cloud_run", "0", "service"))
	}
	backends := map[string]string{} // backend service name -> Cloud Run service name
	for _, r := range p.ofType("google_compute_backend_service") {
		if str(r.Values["security_policy"]) == "" && get(r.Unknown, "security_policy") != true {
			bad("%s: no Cloud Armor security policy", r.Address)
		}
		group := str(get(r.Values, "backend", "0", "group"))
		backends[str(r.Values["name"])] = negs[last(group)]
	}
	var pm any
	for _, r := range p.ofType("google_compute_url_map") {
		if m := get(r.Values, "path_matcher", "0"); m != nil {
			pm = m
		}
	}
	if pm == nil {
		bad("no URL map with a path matcher")
		return v
	}
	usedRules := map[string]bool{}
	for _, fn := range fns {
		if fn.Kind != "http" {
			continue
		}
		want := prefix + fn.Dir + suffix
		for _, rt := range fn.Routes {
			_, pattern, _ := strings.Cut(rt, " ")
			backend, rule := route(pm, samplePath(pattern))
			got := backends[last(backend)]
			if privateHTTP[fn.Dir] {
				if rule != "" && got == want {
					bad("private route %s of %s is routed by the load balancer", rt, fn.Dir)
				}
				continue
			}
			usedRules[rule] = true
			if rule == "" || got != want {
				bad("route %s of %s: the URL map sends it to %s, not %s", rt, fn.Dir, orNone(got), want)
			}
		}
	}
	for i := 0; ; i++ {
		pr := get(pm, "path_rule", strconv.Itoa(i))
		if pr == nil {
			break
		}
		paths, _ := get(pr, "paths").([]any)
		for _, p := range paths {
			if !usedRules[str(p)] {
				bad("URL map path %s matches no route of the code", str(p))
			}
		}
	}
	return v
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

func members(r *resource) []string {
	if m := str(r.Values["member"]); m != "" {
		return []string{m}
	}
	var out []string
	ms, _ := r.Values["members"].([]any)
	for _, m := range ms {
		out = append(out, str(m))
	}
	return out
}

func mustSeconds(s string) int {
	n, err := strconv.Atoi(strings.TrimSuffix(s, "s"))
	if err != nil {
		return 1 << 30
	}
	return n
}

// load reads the plan JSON and the code's function list.
func load(t *testing.T) ([]byte, []function) {
	t.Helper()
	path := os.Getenv("LENSFLOW_PLAN_JSON")
	if path == "" {
		t.Skip("LENSFLOW_PLAN_JSON unset: run scripts/check-infra.sh, which plans infra/ offline and runs this test")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	cmd := exec.Command("go", "run", "./scripts/functions")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go run ./scripts/functions: %v", err)
	}
	fns, err := parseFunctions(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) == 0 {
		t.Fatal("go run ./scripts/functions listed no functions")
	}
	return data, fns
}

func mustParse(t *testing.T, data []byte) *plan {
	t.Helper()
	p, err := parsePlan(data)
	if err != nil {
		t.Fatalf("plan JSON: %v", err)
	}
	if p.Env == "" || len(p.Resources) == 0 {
		t.Fatal("plan JSON has no environment variable or no resources")
	}
	return p
}

func TestPlanFollowsPolicy(t *testing.T) {
	data, fns := load(t)
	p := mustParse(t, data)
	for _, s := range violations(p, fns) {
		t.Error(s)
	}
	t.Logf("%d resources, %d functions checked", len(p.Resources), len(fns))
}

// TestPolicyCatches breaks the plan (or the code's function list) one way at
// a time and expects the policy to notice.
func TestPolicyCatches(t *testing.T) {
	data, fns := load(t)
	find := func(p *plan, address string) *resource {
		for _, r := range p.Resources {
			if r.Address == address {
				return r
			}
		}
		t.Fatalf("plan has no %s", address)
		return nil
	}
	firstOf := func(p *plan, typ string) *resource {
		rs := p.ofType(typ)
		if len(rs) == 0 {
			t.Fatalf("plan has no %s", typ)
		}
		return rs[0]
	}
	drop := func(p *plan, address string) {
		find(p, address)
		p.Resources = slices.DeleteFunc(p.Resources, func(r *resource) bool { return r.Address == address })
	}
	var eventFn, httpFn function
	for _, fn := range fns {
		if fn.Kind == "event" && eventFn.Dir == "" {
			eventFn = fn
		}
		if fn.Kind == "http" && !privateHTTP[fn.Dir] && httpFn.Dir == "" {
			httpFn = fn
		}
	}
	cases := []struct {
		name, want string
		mutate     func(p *plan, fns []function) []function
	}{
		{"dead-letter policy removed", "no dead_letter_policy", func(p *plan, fns []function) []function {
			for _, r := range p.ofType("google_pubsub_subscription") {
				if r.Values["dead_letter_policy"] != nil && len(r.Values["dead_letter_policy"].([]any)) > 0 {
					r.Values["dead_letter_policy"] = []any{}
					break
				}
			}
			return fns
		}},
		{"dead-letter topic without subscription", "has no subscription", func(p *plan, fns []function) []function {
			var keep []*resource
			for _, r := range p.Resources {
				if !strings.HasSuffix(str(r.Values["name"]), "-dead-letter-sub") || r.Type != "google_pubsub_subscription" {
					keep = append(keep, r)
				}
			}
			p.Resources = keep
			return fns
		}},
		{"topic CMEK removed", "no CMEK (kms_key_name)", func(p *plan, fns []function) []function {
			r := firstOf(p, "google_pubsub_topic")
			delete(r.Values, "kms_key_name")
			delete(r.Unknown, "kms_key_name")
			return fns
		}},
		{"Firestore CMEK removed", "no CMEK (cmek_config", func(p *plan, fns []function) []function {
			r := firstOf(p, "google_firestore_database")
			r.Values["cmek_config"] = []any{}
			r.Unknown["cmek_config"] = []any{}
			return fns
		}},
		{"bucket CMEK removed", "no CMEK (encryption", func(p *plan, fns []function) []function {
			r := firstOf(p, "google_storage_bucket")
			r.Values["encryption"] = []any{}
			r.Unknown["encryption"] = []any{}
			return fns
		}},
		{"bucket public access prevention inherited", "public access prevention", func(p *plan, fns []function) []function {
			firstOf(p, "google_storage_bucket").Values["public_access_prevention"] = "inherited"
			return fns
		}},
		{"allUsers on the bucket", "public member allUsers", func(p *plan, fns []function) []function {
			r := *firstOf(p, "google_storage_bucket_iam_member")
			r.Values = map[string]any{"bucket": r.Values["bucket"], "role": "roles/storage.objectViewer", "member": "allUsers"}
			r.Address += "-public"
			p.Resources = append(p.Resources, &r)
			return fns
		}},
		{"log bucket unlocked", "not locked", func(p *plan, fns []function) []function {
			firstOf(p, "google_logging_project_bucket_config").Values["locked"] = false
			return fns
		}},
		{"log retention shortened", "retention below 2192", func(p *plan, fns []function) []function {
			firstOf(p, "google_logging_project_bucket_config").Values["retention_days"] = float64(30)
			return fns
		}},
		{"event service made public", "public invoker allUsers on non-public service " + eventFn.Dir, func(p *plan, fns []function) []function {
			r := &resource{Address: "google_cloud_run_v2_service_iam_member.mutant", Type: "google_cloud_run_v2_service_iam_member",
				Values: map[string]any{"name": "lensflow-" + eventFn.Dir + "-" + p.Env, "role": "roles/run.invoker", "member": "allUsers"}}
			p.Resources = append(p.Resources, r)
			return fns
		}},
		{"Tasks made public", "public invoker allUsers on non-public service tasks", func(p *plan, fns []function) []function {
			r := &resource{Address: "google_cloud_run_v2_service_iam_member.mutant", Type: "google_cloud_run_v2_service_iam_member",
				Values: map[string]any{"name": "lensflow-tasks-" + p.Env, "role": "roles/run.invoker", "member": "allUsers"}}
			p.Resources = append(p.Resources, r)
			return fns
		}},
		{"function added in the code only", "function Widgets (functions/widgets) has no Cloud Run service", func(p *plan, fns []function) []function {
			return append(append([]function{}, fns...), function{Dir: "widgets", Name: "Widgets", Kind: "http", Routes: []string{"GET /v1/widgets"}})
		}},
		{"route added in the code only", "route GET /v1/gadgets/{id} of " + httpFn.Dir, func(p *plan, fns []function) []function {
			out := append([]function{}, fns...)
			for i := range out {
				if out[i].Dir == httpFn.Dir {
					out[i].Routes = append(append([]string{}, out[i].Routes...), "GET /v1/gadgets/{id}")
				}
			}
			return out
		}},
		{"event added in the code only", "no subscription widget-made-to-" + eventFn.Dir, func(p *plan, fns []function) []function {
			out := append([]function{}, fns...)
			for i := range out {
				if out[i].Dir == eventFn.Dir {
					out[i].Subs = append(append([]sub{}, out[i].Subs...), sub{Topic: "widget-made", Name: "widget-made-to-" + eventFn.Dir, DeadLetter: "widget-made-to-" + eventFn.Dir + "-dead-letter", MaxAttempts: 5})
				}
			}
			return out
		}},
		{"max attempts changed in the code", "max attempts 5, code says 7", func(p *plan, fns []function) []function {
			out := append([]function{}, fns...)
			for i := range out {
				if out[i].Dir == eventFn.Dir {
					subs := append([]sub{}, out[i].Subs...)
					subs[0].MaxAttempts = 7
					out[i].Subs = subs
				}
			}
			return out
		}},
		{"extra service in Terraform", "no function " + eventFn.Dir + " in the code", func(p *plan, fns []function) []function {
			// The code no longer registers the function: its service is extra.
			var out []function
			for _, fn := range fns {
				if fn.Dir != eventFn.Dir {
					out = append(out, fn)
				}
			}
			return out
		}},
		{"a function may submit builds", "holds roles/cloudbuild.builds.editor on the project", func(p *plan, fns []function) []function {
			r := *find(p, `google_project_iam_member.fn_datastore["`+httpFn.Dir+`"]`)
			r.Address += "-copy"
			r.Values = maps.Clone(r.Values)
			r.Values["role"] = "roles/cloudbuild.builds.editor"
			p.Resources = append(p.Resources, &r)
			return fns
		}},
		{"build bucket named otherwise than deploy.sh expects", "no build bucket", func(p *plan, fns []function) []function {
			find(p, "google_storage_bucket.build").Values["name"] = "somewhere-else"
			return fns
		}},
		{"two functions share a service account", "does not run as its own service account", func(p *plan, fns []function) []function {
			a := find(p, `google_cloud_run_v2_service.fn["`+fns[0].Dir+`"]`)
			b := find(p, `google_cloud_run_v2_service.fn["`+fns[1].Dir+`"]`)
			get(b.Values, "template", "0").(map[string]any)["service_account"] = get(a.Values, "template", "0", "service_account")
			return fns
		}},
		{"telemetry role missing", "function " + eventFn.Dir + ": its service account has no roles/telemetry.tracesWriter", func(p *plan, fns []function) []function {
			drop(p, `google_project_iam_member.fn_telemetry["`+eventFn.Dir+` roles/telemetry.tracesWriter"]`)
			return fns
		}},
		{"audit log writer missing", "function " + httpFn.Dir + ": its service account has no roles/logging.logWriter", func(p *plan, fns []function) []function {
			drop(p, `google_project_iam_member.fn_telemetry["`+httpFn.Dir+` roles/logging.logWriter"]`)
			return fns
		}},
		{"broad project role", "project-level role roles/editor is not allowed", func(p *plan, fns []function) []function {
			r := *find(p, `google_project_iam_member.fn_datastore["`+eventFn.Dir+`"]`)
			r.Values = map[string]any{"project": r.Values["project"], "role": "roles/editor", "member": r.Values["member"]}
			r.Address += "-editor"
			p.Resources = append(p.Resources, &r)
			return fns
		}},
		{"audit sink routes stdout lines", "no log sink routing Data Access logs and the audit log", func(p *plan, fns []function) []function {
			firstOf(p, "google_logging_project_sink").Values["filter"] = `logName:"cloudaudit.googleapis.com%2Fdata_access" OR (resource.type="cloud_run_revision" AND (labels.log="lensflow-audit" OR jsonPayload.audit:*))`
			return fns
		}},
		{"audit sink selects by payload", "filter routes by payload or label", func(p *plan, fns []function) []function {
			r := firstOf(p, "google_logging_project_sink")
			r.Values["filter"] = str(r.Values["filter"]) + ` OR jsonPayload.audit:*`
			return fns
		}},
		{"dead-letter alert removed", "no alert policy on dead letters", func(p *plan, fns []function) []function {
			drop(p, "google_monitoring_alert_policy.dead_letters")
			return fns
		}},
		{"dead-letter alert misses a subscription", "no dead-letter alert watches subscription " + eventFn.Subs[0].Name, func(p *plan, fns []function) []function {
			ct := get(find(p, "google_monitoring_alert_policy.dead_letters").Values, "conditions", "0", "condition_threshold", "0").(map[string]any)
			ct["filter"] = strings.Replace(str(ct["filter"]), strconv.Quote(eventFn.Subs[0].Name), `"other"`, 1)
			return fns
		}},
		{"5xx alert removed", "no alert policy on the 5xx rate", func(p *plan, fns []function) []function {
			drop(p, "google_monitoring_alert_policy.http_5xx")
			return fns
		}},
		{"5xx alert counts errors, not a rate", "no alert policy on the 5xx rate", func(p *plan, fns []function) []function {
			ct := get(find(p, "google_monitoring_alert_policy.http_5xx").Values, "conditions", "0", "condition_threshold", "0").(map[string]any)
			ct["denominator_filter"] = nil
			return fns
		}},
		{"5xx alert misses a service", "no 5xx alert watches service lensflow-" + httpFn.Dir + "-", func(p *plan, fns []function) []function {
			ct := get(find(p, "google_monitoring_alert_policy.http_5xx").Values, "conditions", "0", "condition_threshold", "0").(map[string]any)
			ct["filter"] = strings.Replace(str(ct["filter"]), strconv.Quote("lensflow-"+httpFn.Dir+"-"+p.Env), `"other"`, 1)
			return fns
		}},
		{"alert without notification channel", "google_monitoring_alert_policy.designs_failed: no notification channel", func(p *plan, fns []function) []function {
			r := find(p, "google_monitoring_alert_policy.designs_failed")
			r.Values["notification_channels"] = []any{}
			delete(r.Unknown, "notification_channels")
			return fns
		}},
		{"alert on a metric the code does not export", "alerts on lensflow.design.failures, which shared/metrics does not export", func(p *plan, fns []function) []function {
			c := get(find(p, "google_monitoring_alert_policy.designs_failed").Values, "conditions", "0", "condition_prometheus_query_language", "0").(map[string]any)
			c["query"] = strings.Replace(str(c["query"]), metrics.NameDesignsFailed, "lensflow.design.failures", 1)
			return fns
		}},
		{"alert on the deprecated exporter's metric type", "google_monitoring_alert_policy.events_failed: alerts on a workload.googleapis.com metric", func(p *plan, fns []function) []function {
			c := get(find(p, "google_monitoring_alert_policy.events_failed").Values, "conditions", "0").(map[string]any)
			c["condition_threshold"] = []any{map[string]any{"filter": `metric.type="workload.googleapis.com/lensflow.events.failed"`}}
			return fns
		}},
		{"alert without documentation", "google_monitoring_alert_policy.events_failed: no documentation", func(p *plan, fns []function) []function {
			find(p, "google_monitoring_alert_policy.events_failed").Values["documentation"] = []any{}
			return fns
		}},
		{"alert without auto close", "google_monitoring_alert_policy.http_5xx: no alert_strategy.auto_close", func(p *plan, fns []function) []function {
			find(p, "google_monitoring_alert_policy.http_5xx").Values["alert_strategy"] = []any{}
			return fns
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mustParse(t, data)
			got := violations(p, c.mutate(p, fns))
			for _, s := range got {
				if strings.Contains(s, c.want) {
					return
				}
			}
			sort.Strings(got)
			t.Errorf("want a violation containing %q, got %d:\n%s", c.want, len(got), strings.Join(got, "\n"))
		})
	}
}

func TestRouteSemantics(t *testing.T) {
	pm := map[string]any{
		"default_service": "default",
		"path_rule": []any{
			map[string]any{"paths": []any{"/v1/patients"}, "service": "patients"},
			map[string]any{"paths": []any{"/v1/patients/*", "/v1/scans/*"}, "service": "scans"},
			map[string]any{"paths": []any{"/v1/orders", "/v1/orders/*"}, "service": "orders"},
		},
	}
	for path, want := range map[string]string{
		"/v1/patients":            "patients",
		"/v1/patients/p-1/scans":  "scans",
		"/v1/patients/":           "scans",
		"/v1/scans/s-1/design":    "scans",
		"/v1/scans":               "default",
		"/v1/orders":              "orders",
		"/v1/orders/o-1":          "orders",
		"/v1/ordersx":             "default",
		"/v1/clinic/notification": "default",
	} {
		if got, _ := route(pm, path); got != want {
			t.Errorf("route(%s) = %s, want %s", path, got, want)
		}
	}
	if got := samplePath("/v1/lab/jobs/{jobId}/files/{name}"); got != "/v1/lab/jobs/jobId-1/files/name-1" {
		t.Errorf("samplePath = %s", got)
	}
}
