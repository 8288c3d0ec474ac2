package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/eventschema"
	"github.com/lensflow/lensflow/shared/eventschema/contract"
)

const regenerate = "run `go generate ./shared/eventschema` and commit the result"

func root(t *testing.T) string {
	t.Helper()
	r, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// committed are the schema files as committed (embedded in eventschema).
func committed(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, typ := range eventschema.Types() {
		b, _ := eventschema.File(typ)
		out[typ] = b
	}
	return out
}

// TestSchemasMatchDataStructs: each committed schema is what its Go data
// struct generates. A breaking difference says it needs a new type; a
// compatible one asks to regenerate.
func TestSchemasMatchDataStructs(t *testing.T) {
	gen, err := generate(root(t))
	if err != nil {
		t.Fatal(err)
	}
	files := committed(t)
	for _, ev := range catalog {
		old, ok := files[ev.Type]
		if !ok {
			t.Errorf("%s has no committed schema %s: %s", ev.Type, eventschema.FileName(ev.Type), regenerate)
			continue
		}
		write, err := verdict(ev.Type, old, gen[ev.Type])
		if err != nil {
			t.Error(err)
		} else if write {
			t.Errorf("the data struct of %s differs compatibly from %s: %s", ev.Type, eventschema.FileName(ev.Type), regenerate)
		}
	}
}

// TestVerdict plants both kinds of difference between a committed schema
// and the generated one.
func TestVerdict(t *testing.T) {
	const typ = "com.lensflow.order.placed.v1"
	gen, err := generate(root(t))
	if err != nil {
		t.Fatal(err)
	}
	cur := gen[typ]
	var s map[string]any
	if err := json.Unmarshal(cur, &s); err != nil {
		t.Fatal(err)
	}
	// The committed version had a field the struct has lost: breaking.
	withExtra := clone(t, s)
	withExtra["properties"].(map[string]any)["lensType"] = map[string]any{"type": "string", "description": "x"}
	withExtra["required"] = append(withExtra["required"].([]any), "lensType")
	if _, err := verdict(typ, marshal(t, withExtra), cur); err == nil || !strings.Contains(err.Error(), `property "lensType" removed`) ||
		!strings.Contains(err.Error(), "com.lensflow.order.placed.v2") {
		t.Errorf("a removed field: verdict = %v, want a breaking change naming the field and the v2 type", err)
	}
	// The committed version lacks an optional field the struct has gained:
	// compatible, to be regenerated.
	newer := clone(t, s)
	newer["properties"].(map[string]any)["note"] = map[string]any{"type": "string", "description": "x"}
	if write, err := verdict(typ, cur, marshal(t, newer)); err != nil || !write {
		t.Errorf("a new optional field: verdict = %v, %v, want a compatible rewrite", write, err)
	}
	if write, err := verdict(typ, cur, cur); err != nil || write {
		t.Errorf("the same schema: verdict = %v, %v", write, err)
	}
	if got := nextVersion("com.lensflow.job.status_changed.v9"); got != "com.lensflow.job.status_changed.v10" {
		t.Errorf("nextVersion = %s", got)
	}
}

// TestSchemasAreContracts: every committed schema is a catalogued type's,
// has its $id, its title, a description on every property, and stays open
// to properties added later.
func TestSchemasAreContracts(t *testing.T) {
	known := map[string]bool{}
	for _, ev := range catalog {
		if known[ev.Type] {
			t.Errorf("%s is catalogued twice", ev.Type)
		}
		known[ev.Type] = true
	}
	for typ, b := range committed(t) {
		if !known[typ] {
			t.Errorf("%s has no catalogued type: catalogue it in scripts/eventschemas, or delete the file if the type is retired", eventschema.FileName(typ))
			continue
		}
		var s struct {
			Schema     string         `json:"$schema"`
			ID         string         `json:"$id"`
			Title      string         `json:"title"`
			Type       string         `json:"type"`
			Additional *bool          `json:"additionalProperties"`
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if s.Schema != "https://json-schema.org/draft/2020-12/schema" || s.ID != eventschema.ID(typ) || s.Title != typ || s.Type != "object" {
			t.Errorf("%s: $schema %q, $id %q, title %q, type %q", typ, s.Schema, s.ID, s.Title, s.Type)
		}
		if s.Additional == nil || !*s.Additional {
			t.Errorf("%s: additionalProperties must be true, so that consumers take fields added later", typ)
		}
		for name, p := range s.Properties {
			if d, _ := p.(map[string]any)["description"].(string); strings.TrimSpace(d) == "" {
				t.Errorf("%s: property %s has no description: comment its Go field and %s", typ, name, regenerate)
			}
		}
	}
}

// TestEveryEventTypeIsCatalogued: every string constant "com.lensflow.…"
// in the code is a catalogued event type.
func TestEveryEventTypeIsCatalogued(t *testing.T) {
	r := root(t)
	known := map[string]bool{}
	for _, ev := range catalog {
		known[ev.Type] = true
	}
	found := 0
	for _, dir := range []string{"shared", "functions", "scripts"} {
		err := filepath.WalkDir(filepath.Join(r, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.Contains(p, "eventstest") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				g, ok := decl.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST {
					continue
				}
				for _, spec := range g.Specs {
					for _, v := range spec.(*ast.ValueSpec).Values {
						lit, ok := v.(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							continue
						}
						s, _ := strconv.Unquote(lit.Value)
						if !strings.HasPrefix(s, "com.lensflow.") {
							continue
						}
						found++
						if !known[s] {
							rel, _ := filepath.Rel(r, p)
							t.Errorf("%s declares event type %s, which scripts/eventschemas does not catalogue (so it has no schema)", rel, s)
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if found < len(catalog) {
		t.Errorf("found %d event type constants, fewer than the %d catalogued", found, len(catalog))
	}
}

// TestPageIsCurrent: the committed events page is what the schemas and
// the wiring make.
func TestPageIsCurrent(t *testing.T) {
	want, err := page(committed(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root(t), pageRel))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: %s", pageRel, regenerate)
	}
	// Every function consuming a topic, and the lathe cell, is on it.
	for topic, cs := range consumers() {
		for _, c := range cs {
			if !bytes.Contains(got, []byte(c)) {
				t.Errorf("the page does not name %s as a consumer of %s", c, topic)
			}
		}
	}
	readme, err := os.ReadFile(filepath.Join(root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("("+pageRel+")")) {
		t.Errorf("README.md does not link the events page %s", pageRel)
	}
	if want, err := readmeWithTable(readme); err != nil {
		t.Error(err)
	} else if !bytes.Equal(readme, want) {
		t.Errorf("README.md's events table is stale: %s", regenerate)
	}
}

// TestProducersMatchInfra: the catalogue's producer of each topic is the
// function Terraform lets publish it (infra/pubsub.tf, local.publishers).
func TestProducersMatchInfra(t *testing.T) {
	tf, err := os.ReadFile(filepath.Join(root(t), "infra", "pubsub.tf"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)\n\s*publishers = \{\n(.*?)\n\s*\}`).FindSubmatch(tf)
	if block == nil {
		t.Fatal("infra/pubsub.tf has no publishers = { ... } block")
	}
	infra := map[string]string{}
	for _, m := range regexp.MustCompile(`"([^"]+)"\s*=\s*"([^"]+)"`).FindAllSubmatch(block[1], -1) {
		infra[string(m[1])] = string(m[2])
	}
	code := map[string]string{}
	for _, ev := range catalog {
		if len(ev.Producers) != 1 {
			t.Errorf("%s: %d producers; Terraform grants one function per topic", ev.Type, len(ev.Producers))
			continue
		}
		code[ev.Topic] = strings.ToLower(ev.Producers[0])
	}
	if !maps.Equal(code, infra) {
		t.Errorf("producers by topic: catalogue %v, infra/pubsub.tf %v", code, infra)
	}
}

// accepted are committed schema versions allowed to break the one before
// them, by the commit that made them, with the reason: for a type that had
// never been published. Empty, and best kept so.
var accepted = map[string]string{}

// TestHistoryIsCompatible: each committed version of each schema, and the
// working copy, is a compatible change of the version committed before it
// (git log of the file). This is what keeps a schema from being broken by
// regenerating it and committing the result.
func TestHistoryIsCompatible(t *testing.T) {
	r := root(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: the history of the schemas cannot be read")
	}
	if out, err := exec.Command("git", "-C", r, "rev-parse", "--is-inside-work-tree").Output(); err != nil || strings.TrimSpace(string(out)) != "true" {
		t.Skip("not a git checkout: the history of the schemas cannot be read")
	}
	checked := 0
	for _, typ := range eventschema.Types() {
		rel := filepath.ToSlash(filepath.Join(pkgDir, eventschema.FileName(typ)))
		out, err := exec.Command("git", "-C", r, "log", "--format=%H", "--", rel).Output()
		if err != nil {
			t.Fatalf("git log %s: %v", rel, err)
		}
		type version struct {
			name, commit string
			b            []byte
		}
		var versions []version // newest first
		if cur, err := os.ReadFile(filepath.Join(r, rel)); err == nil {
			versions = append(versions, version{"the working copy", "", cur})
		}
		for _, h := range strings.Fields(string(out)) {
			b, err := exec.Command("git", "-C", r, "show", h+":"+rel).Output()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				continue // the commit deleted it
			} else if err != nil {
				t.Fatalf("git show %s:%s: %v", h, rel, err)
			}
			versions = append(versions, version{"commit " + h[:12], h, b})
		}
		for i := 0; i+1 < len(versions); i++ {
			newer, older := versions[i], versions[i+1]
			if bytes.Equal(newer.b, older.b) {
				continue
			}
			checked++
			cs, err := contract.Compare(older.b, newer.b)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				continue
			}
			if b := contract.Breaking(cs); len(b) > 0 && accepted[newer.commit] == "" {
				t.Error(breakingMessage(typ, fmt.Sprintf("%s in %s breaks its version in %s:", rel, newer.name, older.name), b))
			}
		}
	}
	t.Logf("%d schema changes in git history checked", checked)
}

func clone(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(marshal(t, v), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
