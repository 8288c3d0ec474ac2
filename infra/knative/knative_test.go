// Package knative_test checks the Knative Serving manifests in this
// directory against the code (go run ./scripts/functions) and against the
// Terraform for Cloud Run (../functions.tf), offline: one Service per
// function and no extras, each running its own image, probed on /healthz,
// scaling to zero, private unless it is a public HTTP function, with the
// environment Terraform gives it and every credential from a Secret.
package knative_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	namespace  = "lensflow"
	configMap  = "lensflow-config"
	modulePath = "github.com/lensflow/lensflow"
	// privateHTTP are HTTP functions that only Google services call (Cloud
	// Scheduler, OIDC): private like the event functions.
	privateHTTP = "tasks"
)

// function is one function of the code, from go run ./scripts/functions.
type function struct {
	Dir, Name, Kind string
}

func (f function) private() bool { return f.Kind == "event" || f.Dir == privateHTTP }

// tfFunction is one entry of local.functions in infra/functions.tf.
type tfFunction struct {
	Kind           string
	Public, Mail   bool
	Memory         string   // default 512Mi
	TimeoutSeconds int      // default 60
	Env            []string // names of the entry's own env map
}

// Kubernetes and Knative objects, only the fields the manifests use: decoded
// strictly, so a misspelt field (readinesProbe) fails instead of vanishing.
type meta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type service struct {
	File       string `yaml:"-"`
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	Spec       struct {
		Template struct {
			Metadata meta    `yaml:"metadata"`
			Spec     podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	ServiceAccountName   string      `yaml:"serviceAccountName"`
	ContainerConcurrency *int        `yaml:"containerConcurrency"`
	TimeoutSeconds       *int        `yaml:"timeoutSeconds"`
	Containers           []container `yaml:"containers"`
}

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		ContainerPort int `yaml:"containerPort"`
	} `yaml:"ports"`
	Env     []envVar `yaml:"env"`
	EnvFrom []struct {
		Prefix       string `yaml:"prefix"`
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
}

type envVar struct {
	Name      string  `yaml:"name"`
	Value     *string `yaml:"value"`
	ValueFrom *struct {
		ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
		SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	PeriodSeconds       int `yaml:"periodSeconds"`
	InitialDelaySeconds int `yaml:"initialDelaySeconds"`
	TimeoutSeconds      int `yaml:"timeoutSeconds"`
	FailureThreshold    int `yaml:"failureThreshold"`
}

type object struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   meta              `yaml:"metadata"`
	Type       string            `yaml:"type"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

// manifests is everything in infra/knative.
type manifests struct {
	Services []*service
	Config   []*object // config.yaml
	Stray    []string  // other files that look like manifests
}

// credential reports whether an env var name holds a credential.
func credential(name string) bool {
	n := strings.ToUpper(name)
	if strings.HasSuffix(n, "KEK_URI") { // a KMS key's name, not key material
		return false
	}
	for _, w := range []string{"PASSWORD", "SECRET", "TOKEN", "KEY", "CREDENTIAL"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

func image(dir string) string { return "ko://" + modulePath + "/functions/" + dir + "/cmd" }

// decodeStrict decodes every document of data, each strictly into a fresh
// value from newFor(kind).
func decodeStrict(data []byte, newFor func(kind string) (any, error)) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []any
	for i := 0; ; i++ {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var head struct {
			Kind string `yaml:"kind"`
		}
		if err := n.Decode(&head); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		v, err := newFor(head.Kind)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		raw, err := yaml.Marshal(&n)
		if err != nil {
			return nil, err
		}
		strict := yaml.NewDecoder(bytes.NewReader(raw))
		strict.KnownFields(true)
		if err := strict.Decode(v); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, head.Kind, err)
		}
		out = append(out, v)
	}
}

func loadManifests(dir string) (*manifests, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, err
	}
	m := &manifests{}
	for _, path := range files {
		base := filepath.Base(path)
		switch filepath.Ext(base) {
		case ".yaml":
		case ".yml", ".json":
			m.Stray = append(m.Stray, base)
			continue
		default:
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if base == "config.yaml" {
			docs, err := decodeStrict(data, func(kind string) (any, error) {
				switch kind {
				case "Namespace", "ConfigMap", "Secret", "ServiceAccount":
					return &object{}, nil
				}
				return nil, fmt.Errorf("unexpected kind %q in config.yaml", kind)
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", base, err)
			}
			for _, d := range docs {
				m.Config = append(m.Config, d.(*object))
			}
			continue
		}
		docs, err := decodeStrict(data, func(kind string) (any, error) {
			if kind != "Service" {
				return nil, fmt.Errorf("unexpected kind %q (one Knative Service per file)", kind)
			}
			return &service{}, nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", base, err)
		}
		if len(docs) != 1 {
			return nil, fmt.Errorf("%s: %d documents, want exactly one Service", base, len(docs))
		}
		s := docs[0].(*service)
		s.File = base
		m.Services = append(m.Services, s)
	}
	return m, nil
}

// check returns every way m departs from the functions fns and their
// Terraform tf.
func check(m *manifests, fns []function, tf map[string]tfFunction) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	for _, s := range m.Stray {
		fail("%s: unexpected file (manifests are <dir>.yaml and config.yaml)", s)
	}

	// config.yaml: the ConfigMap, Secret templates without values, one
	// ServiceAccount per function.
	cmKeys := map[string]bool{}
	secretKeys := map[string]map[string]bool{}
	accounts := map[string]bool{}
	haveCM := false
	for _, o := range m.Config {
		if o.Metadata.Namespace != namespace && o.Kind != "Namespace" {
			fail("config.yaml: %s %s: namespace %q, want %q", o.Kind, o.Metadata.Name, o.Metadata.Namespace, namespace)
		}
		switch o.Kind {
		case "ConfigMap":
			if o.Metadata.Name == configMap {
				haveCM = true
			}
			for k := range o.Data {
				if o.Metadata.Name == configMap {
					cmKeys[k] = true
				}
				if credential(k) {
					fail("config.yaml: ConfigMap %s holds credential %s (use a Secret)", o.Metadata.Name, k)
				}
			}
		case "Secret":
			keys := map[string]bool{}
			for _, d := range []map[string]string{o.Data, o.StringData} {
				for k, v := range d {
					keys[k] = true
					if v != "" {
						fail("config.yaml: Secret %s key %s has a value: the template must hold none", o.Metadata.Name, k)
					}
				}
			}
			secretKeys[o.Metadata.Name] = keys
		case "ServiceAccount":
			accounts[o.Metadata.Name] = true
		}
	}
	if !haveCM {
		fail("config.yaml: no ConfigMap %s", configMap)
	}

	byName := map[string]*service{}
	for _, s := range m.Services {
		if byName[s.Metadata.Name] != nil {
			fail("%s: Service %s defined twice", s.File, s.Metadata.Name)
		}
		byName[s.Metadata.Name] = s
	}
	known := map[string]bool{}
	for _, f := range fns {
		name := "lensflow-" + f.Dir
		known[name] = true
		s := byName[name]
		if s == nil {
			fail("function %s (%s): no Service %s in %s.yaml", f.Name, f.Dir, name, f.Dir)
			continue
		}
		t, ok := tf[f.Dir]
		if !ok {
			fail("function %s: not in local.functions of infra/functions.tf", f.Dir)
		}
		errs = append(errs, checkService(s, f, t, cmKeys, secretKeys, accounts)...)
	}
	for _, s := range m.Services {
		if !known[s.Metadata.Name] {
			fail("%s: Service %s is no function of the code (go run ./scripts/functions)", s.File, s.Metadata.Name)
		}
	}
	return errs
}

func checkService(s *service, f function, t tfFunction, cmKeys map[string]bool, secretKeys map[string]map[string]bool, accounts map[string]bool) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (%s): "+format, append([]any{s.File, f.Dir}, args...)...))
	}
	if s.File != f.Dir+".yaml" {
		fail("file name, want %s.yaml", f.Dir)
	}
	if s.APIVersion != "serving.knative.dev/v1" || s.Kind != "Service" {
		fail("%s %s, want serving.knative.dev/v1 Service", s.APIVersion, s.Kind)
	}
	if s.Metadata.Namespace != namespace {
		fail("namespace %q, want %q", s.Metadata.Namespace, namespace)
	}

	// Visibility: the code's kind, and Terraform's public flag, must agree.
	cl := s.Metadata.Labels["networking.knative.dev/visibility"] == "cluster-local"
	if f.private() && !cl {
		fail("private function (%s) without label networking.knative.dev/visibility: cluster-local", f.Kind)
	}
	if !f.private() && cl {
		fail("public HTTP function labelled cluster-local")
	}
	if t.Kind != "" && (t.Public == f.private() || t.Kind != f.Kind) {
		fail("infra/functions.tf says kind %s public %v; code says %s, private %v", t.Kind, t.Public, f.Kind, f.private())
	}

	tmpl := s.Spec.Template
	if v, ok := tmpl.Metadata.Annotations["autoscaling.knative.dev/min-scale"]; !ok || v != "0" {
		fail("autoscaling.knative.dev/min-scale = %q, want \"0\"", v)
	}
	wantConc := 40
	if f.private() {
		wantConc = 10
	}
	if c := tmpl.Spec.ContainerConcurrency; c == nil || *c != wantConc {
		fail("containerConcurrency %v, want %d", deref(c), wantConc)
	}
	wantTimeout := 60
	if t.TimeoutSeconds != 0 {
		wantTimeout = t.TimeoutSeconds
	}
	if ts := tmpl.Spec.TimeoutSeconds; ts == nil || *ts != wantTimeout {
		fail("timeoutSeconds %v, want %d (infra/functions.tf)", deref(ts), wantTimeout)
	}
	if sa := tmpl.Spec.ServiceAccountName; sa != "lensflow-"+f.Dir || !accounts[sa] {
		fail("serviceAccountName %q: want lensflow-%s, defined in config.yaml", sa, f.Dir)
	}

	if len(tmpl.Spec.Containers) != 1 {
		fail("%d containers, want 1", len(tmpl.Spec.Containers))
		return errs
	}
	c := tmpl.Spec.Containers[0]
	if c.Image != image(f.Dir) {
		fail("image %q, want %q (its own cmd)", c.Image, image(f.Dir))
	}
	ports := []int{}
	for _, p := range c.Ports {
		ports = append(ports, p.ContainerPort)
	}
	for _, p := range []struct {
		kind string
		p    *probe
	}{{"readinessProbe", c.ReadinessProbe}, {"livenessProbe", c.LivenessProbe}} {
		switch {
		case p.p == nil || p.p.HTTPGet == nil:
			fail("no %s.httpGet", p.kind)
		case p.p.HTTPGet.Path != "/healthz":
			fail("%s.httpGet.path %q, want /healthz", p.kind, p.p.HTTPGet.Path)
		case p.p.HTTPGet.Port != nil && !slices.Contains(ports, toInt(p.p.HTTPGet.Port)):
			fail("%s.httpGet.port %v is not the container port", p.kind, p.p.HTTPGet.Port)
		}
	}
	wantMem := "512Mi"
	if t.Memory != "" {
		wantMem = t.Memory
	}
	for kind, r := range map[string]map[string]string{"requests": c.Resources.Requests, "limits": c.Resources.Limits} {
		if r["cpu"] != "1" || r["memory"] != wantMem {
			fail("resources.%s cpu %q memory %q, want cpu \"1\" memory %q", kind, r["cpu"], r["memory"], wantMem)
		}
	}

	// Environment: names as in Terraform, credentials only from Secrets.
	env := map[string]envVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			fail("env %s set twice", e.Name)
		}
		env[e.Name] = e
		hasRef := e.ValueFrom != nil && (e.ValueFrom.ConfigMapKeyRef != nil) != (e.ValueFrom.SecretKeyRef != nil)
		if (e.Value != nil) == hasRef {
			fail("env %s: want exactly one of value or valueFrom (one configMapKeyRef or secretKeyRef)", e.Name)
			continue
		}
		if credential(e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			fail("env %s holds a credential: it must come from a Secret (secretKeyRef), never a literal value or a ConfigMap", e.Name)
		}
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil && (r.Name != configMap || !cmKeys[r.Key]) {
			fail("env %s: configMapKeyRef %s/%s not in ConfigMap %s of config.yaml", e.Name, r.Name, r.Key, configMap)
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil && !secretKeys[r.Name][r.Key] {
			fail("env %s: secretKeyRef %s/%s not in a Secret of config.yaml", e.Name, r.Name, r.Key)
		}
	}
	provided := map[string]bool{}
	for n := range env {
		provided[n] = true
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == configMap:
			for k := range cmKeys {
				provided[ef.Prefix+k] = true
			}
		case ef.SecretRef != nil && secretKeys[ef.SecretRef.Name] != nil:
			for k := range secretKeys[ef.SecretRef.Name] {
				provided[ef.Prefix+k] = true
			}
		default:
			fail("envFrom: only the ConfigMap %s or a Secret of config.yaml", configMap)
		}
	}
	want := []string{"LENSFLOW_PROFILE", "GOOGLE_CLOUD_PROJECT", "LENSFLOW_BUCKET", "LENSFLOW_KEK_URI",
		"LENSFLOW_FIRESTORE_DATABASE", "LENSFLOW_PUBLIC_URL", "LENSFLOW_AUTH_ISSUERS",
		"LENSFLOW_TRACING", "LENSFLOW_METRICS", "LENSFLOW_AUDIT_LOG"}
	smtp := []string{"LENSFLOW_SMTP_ADDR", "LENSFLOW_SMTP_FROM", "LENSFLOW_SMTP_USERNAME", "LENSFLOW_SMTP_PASSWORD"}
	svc := []string{"LENSFLOW_SERVICE_ACCOUNTS", "LENSFLOW_SERVICE_AUDIENCES"}
	if t.Mail {
		want = append(want, smtp...)
	}
	if f.private() {
		want = append(want, svc...)
	}
	want = append(want, t.Env...)
	for _, n := range want {
		if !provided[n] {
			fail("env %s missing (infra/functions.tf sets it)", n)
		}
	}
	for _, n := range append(smtp, svc...) {
		if provided[n] && !slices.Contains(want, n) {
			fail("env %s set, but infra/functions.tf does not give it to this function", n)
		}
	}
	wantIss := "identity-platform"
	if f.private() {
		wantIss = "google-oidc"
	}
	if e, ok := env["LENSFLOW_AUTH_ISSUERS"]; ok && (e.Value == nil || *e.Value != wantIss) {
		fail("LENSFLOW_AUTH_ISSUERS must be the literal %q", wantIss)
	}
	return errs
}

func deref(p *int) any {
	if p == nil {
		return "unset"
	}
	return *p
}

func toInt(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return -1
}

// Inputs, computed once per test binary.

var (
	inputsOnce sync.Once
	inputsFns  []function
	inputsTF   map[string]tfFunction
	inputsErr  error
)

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not in a module")
	}
	return filepath.Dir(gomod), nil
}

func inputs(t *testing.T) ([]function, map[string]tfFunction) {
	t.Helper()
	inputsOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			inputsErr = err
			return
		}
		cmd := exec.Command("go", "run", "./scripts/functions")
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			inputsErr = fmt.Errorf("go run ./scripts/functions: %v\n%s", err, stderr.String())
			return
		}
		if inputsFns, inputsErr = parseFunctions(string(out)); inputsErr != nil {
			return
		}
		tf, err := os.ReadFile(filepath.Join(root, "infra", "functions.tf"))
		if err != nil {
			inputsErr = err
			return
		}
		inputsTF, inputsErr = parseTerraform(string(tf))
	})
	if inputsErr != nil {
		t.Fatal(inputsErr)
	}
	if len(inputsFns) == 0 {
		t.Fatal("go run ./scripts/functions listed no functions")
	}
	return inputsFns, inputsTF
}

// parseFunctions reads "<dir> <Name> http|event ..." lines, one function
// possibly on several lines (one per topic).
func parseFunctions(out string) ([]function, error) {
	var fns []function
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || (f[2] != "http" && f[2] != "event") {
			return nil, fmt.Errorf("scripts/functions: cannot parse line %q", line)
		}
		if !seen[f[0]] {
			seen[f[0]] = true
			fns = append(fns, function{Dir: f[0], Name: f[1], Kind: f[2]})
		}
	}
	return fns, nil
}

var (
	tfEntry  = regexp.MustCompile(`(?m)^    ([a-z][a-z0-9_]*) = \{\n((?:.*\n)*?)    \}`)
	tfString = func(key string) *regexp.Regexp { return regexp.MustCompile(`\b` + key + `\s*=\s*"([^"]*)"`) }
	tfBool   = func(key string) *regexp.Regexp { return regexp.MustCompile(`\b` + key + `\s*=\s*(true|false)\b`) }
	tfEnv    = regexp.MustCompile(`\benv\s*=\s*\{([^}]*)\}`)
	tfEnvKey = regexp.MustCompile(`\b([A-Z][A-Z0-9_]*)\s*=`)
)

// parseTerraform reads the entries of local.functions in infra/functions.tf.
func parseTerraform(src string) (map[string]tfFunction, error) {
	start := strings.Index(src, "functions = {\n")
	if start < 0 {
		return nil, errors.New("infra/functions.tf: no local functions = {")
	}
	end := strings.Index(src[start:], "\n  }\n")
	if end < 0 {
		return nil, errors.New("infra/functions.tf: local functions not closed")
	}
	block := src[start : start+end+1]
	out := map[string]tfFunction{}
	for _, m := range tfEntry.FindAllStringSubmatch(block, -1) {
		body := m[2]
		f := tfFunction{}
		if s := tfString("kind").FindStringSubmatch(body); s != nil {
			f.Kind = s[1]
		}
		pub, mail := tfBool("public").FindStringSubmatch(body), tfBool("mail").FindStringSubmatch(body)
		if f.Kind == "" || pub == nil || mail == nil {
			return nil, fmt.Errorf("infra/functions.tf: %s: no kind, public or mail", m[1])
		}
		f.Public, f.Mail = pub[1] == "true", mail[1] == "true"
		if s := tfString("memory").FindStringSubmatch(body); s != nil {
			f.Memory = s[1]
		}
		if s := tfString("timeout").FindStringSubmatch(body); s != nil {
			n, err := strconv.Atoi(strings.TrimSuffix(s[1], "s"))
			if err != nil {
				return nil, fmt.Errorf("infra/functions.tf: %s: timeout %q", m[1], s[1])
			}
			f.TimeoutSeconds = n
		}
		if e := tfEnv.FindStringSubmatch(body); e != nil {
			for _, k := range tfEnvKey.FindAllStringSubmatch(e[1], -1) {
				f.Env = append(f.Env, k[1])
			}
		}
		out[m[1]] = f
	}
	if len(out) == 0 {
		return nil, errors.New("infra/functions.tf: no entries in local.functions")
	}
	return out, nil
}

func load(t *testing.T) *manifests {
	t.Helper()
	m, err := loadManifests(".")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestManifests(t *testing.T) {
	fns, tf := inputs(t)
	m := load(t)
	t.Logf("%d functions, %d Services, infra/functions.tf: %+v", len(fns), len(m.Services), tf)
	for _, err := range check(m, fns, tf) {
		t.Error(err)
	}
	if len(m.Services) != len(fns) {
		t.Errorf("%d Services for %d functions", len(m.Services), len(fns))
	}
	// Every function of the code is in Terraform and vice versa.
	for d := range tf {
		if !slices.ContainsFunc(fns, func(f function) bool { return f.Dir == d }) {
			t.Errorf("infra/functions.tf has %s, the code has no such function", d)
		}
	}
}

// TestCheckCatchesMistakes mutates the parsed manifests: each mistake must
// make check fail with a matching message.
func TestCheckCatchesMistakes(t *testing.T) {
	fns, tf := inputs(t)
	svc := func(m *manifests, dir string) *service {
		for _, s := range m.Services {
			if s.Metadata.Name == "lensflow-"+dir {
				return s
			}
		}
		t.Fatalf("no Service for %s", dir)
		return nil
	}
	ctr := func(m *manifests, dir string) *container { return &svc(m, dir).Spec.Template.Spec.Containers[0] }
	envOf := func(m *manifests, dir, name string) *envVar {
		c := ctr(m, dir)
		for i := range c.Env {
			if c.Env[i].Name == name {
				return &c.Env[i]
			}
		}
		t.Fatalf("%s has no env %s", dir, name)
		return nil
	}
	str := func(s string) *string { return &s }
	cases := []struct {
		name   string
		mutate func(m *manifests)
		want   string // substring of some error; "" means no error
	}{
		{"unchanged", func(*manifests) {}, ""},
		{"literal password", func(m *manifests) {
			e := envOf(m, "notifications", "LENSFLOW_SMTP_PASSWORD")
			e.ValueFrom, e.Value = nil, str("hunter2")
		}, "LENSFLOW_SMTP_PASSWORD holds a credential"},
		{"password from the ConfigMap", func(m *manifests) {
			e := envOf(m, "tasks", "LENSFLOW_SMTP_PASSWORD")
			e.ValueFrom.SecretKeyRef, e.ValueFrom.ConfigMapKeyRef = nil, &keyRef{Name: configMap, Key: "LENSFLOW_SMTP_USERNAME"}
		}, "LENSFLOW_SMTP_PASSWORD holds a credential"},
		{"new literal API token", func(m *manifests) {
			c := ctr(m, "orders")
			c.Env = append(c.Env, envVar{Name: "LENSFLOW_API_TOKEN", Value: str("abc")})
		}, "LENSFLOW_API_TOKEN holds a credential"},
		{"KEK URI literal is not a credential", func(m *manifests) {
			e := envOf(m, "scans", "LENSFLOW_KEK_URI")
			e.ValueFrom, e.Value = nil, str("gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k")
		}, ""},
		{"secret template with a value", func(m *manifests) {
			for _, o := range m.Config {
				if o.Kind == "Secret" {
					o.StringData["password"] = "hunter2"
				}
			}
		}, "must hold none"},
		{"missing readiness probe", func(m *manifests) { ctr(m, "clinic").ReadinessProbe = nil }, "no readinessProbe"},
		{"missing liveness probe", func(m *manifests) { ctr(m, "design").LivenessProbe = nil }, "no livenessProbe"},
		{"probe on another path", func(m *manifests) { ctr(m, "lab").LivenessProbe.HTTPGet.Path = "/" }, "want /healthz"},
		{"wrong image", func(m *manifests) { ctr(m, "orders").Image = image("patients") }, "its own cmd"},
		{"prebuilt image", func(m *manifests) { ctr(m, "orders").Image = "gcr.io/p/lensflow:latest" }, "its own cmd"},
		{"missing function", func(m *manifests) {
			m.Services = slices.DeleteFunc(m.Services, func(s *service) bool { return s.Metadata.Name == "lensflow-manufacturing" })
		}, "no Service lensflow-manufacturing"},
		{"extra service", func(m *manifests) {
			extra := *svc(m, "clinics")
			extra.Metadata.Name, extra.File = "lensflow-billing", "billing.yaml"
			m.Services = append(m.Services, &extra)
		}, "no function of the code"},
		{"public event function", func(m *manifests) {
			delete(svc(m, "design").Metadata.Labels, "networking.knative.dev/visibility")
		}, "without label networking.knative.dev/visibility"},
		{"public tasks", func(m *manifests) {
			delete(svc(m, "tasks").Metadata.Labels, "networking.knative.dev/visibility")
		}, "without label networking.knative.dev/visibility"},
		{"private http function", func(m *manifests) {
			svc(m, "patients").Metadata.Labels["networking.knative.dev/visibility"] = "cluster-local"
		}, "labelled cluster-local"},
		{"min-scale 1", func(m *manifests) {
			svc(m, "clinics").Spec.Template.Metadata.Annotations["autoscaling.knative.dev/min-scale"] = "1"
		}, "min-scale"},
		{"missing required env", func(m *manifests) {
			c := ctr(m, "notifications")
			c.Env = slices.DeleteFunc(c.Env, func(e envVar) bool { return e.Name == "LENSFLOW_SERVICE_AUDIENCES" })
		}, "env LENSFLOW_SERVICE_AUDIENCES missing"},
		{"audit log not sent to Cloud Logging", func(m *manifests) {
			c := ctr(m, "scans")
			c.Env = slices.DeleteFunc(c.Env, func(e envVar) bool { return e.Name == "LENSFLOW_AUDIT_LOG" })
		}, "env LENSFLOW_AUDIT_LOG missing"},
		{"smtp env where Terraform gives none", func(m *manifests) {
			c := ctr(m, "clinics")
			c.Env = append(c.Env, envVar{Name: "LENSFLOW_SMTP_PASSWORD", ValueFrom: envOf(m, "clinic", "LENSFLOW_SMTP_PASSWORD").ValueFrom})
		}, "does not give it"},
		{"wrong issuer", func(m *manifests) {
			envOf(m, "manufacturing", "LENSFLOW_AUTH_ISSUERS").Value = str("identity-platform")
		}, "LENSFLOW_AUTH_ISSUERS"},
		{"wrong concurrency", func(m *manifests) { *svc(m, "tasks").Spec.Template.Spec.ContainerConcurrency = 40 }, "containerConcurrency"},
		{"timeout differs from Terraform", func(m *manifests) { *svc(m, "design").Spec.Template.Spec.TimeoutSeconds = 60 }, "timeoutSeconds"},
		{"function's own Terraform env missing", func(m *manifests) {
			c := ctr(m, "notifications")
			c.Env = slices.DeleteFunc(c.Env, func(e envVar) bool { return e.Name == "LENSFLOW_LAB_EMAILS" })
		}, "env LENSFLOW_LAB_EMAILS missing"},
		{"unknown ConfigMap key", func(m *manifests) {
			envOf(m, "lab", "LENSFLOW_BUCKET").ValueFrom.ConfigMapKeyRef.Key = "LENSFLOW_BUKET"
		}, "not in ConfigMap"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := load(t) // a fresh copy per case
			tc.mutate(m)
			errs := check(m, fns, tf)
			if tc.want == "" {
				for _, err := range errs {
					t.Errorf("unexpected: %v", err)
				}
				return
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.want) {
					return
				}
			}
			t.Errorf("no error containing %q; got %v", tc.want, errs)
		})
	}
}

// TestStrictDecoding: a misspelt field is an error, not a silently missing
// probe.
func TestStrictDecoding(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("clinic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(data, []byte("readinessProbe:"), []byte("readinesProbe:"), 1)
	if bytes.Equal(bad, data) {
		t.Fatal("clinic.yaml has no readinessProbe")
	}
	if err := os.WriteFile(filepath.Join(dir, "clinic.yaml"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadManifests(dir); err == nil || !strings.Contains(err.Error(), "readinesProbe") {
		t.Fatalf("loadManifests accepted a misspelt field: %v", err)
	}
}
