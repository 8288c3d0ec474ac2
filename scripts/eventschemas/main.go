// Command eventschemas writes the contract of every event type lensflow
// publishes: its JSON Schema (draft 2020-12), generated from the Go data
// struct and its field comments by invopop/jsonschema, into
// shared/eventschema/schemas/<type>.json, and the events page
// shared/eventschema/README.md (topic, type, producers, consumers, schema;
// the table is also in the README's "Events" section), from the schemas and
// the functions' wiring (package platform).
//
//	go generate ./shared/eventschema      (or: go run ./scripts/eventschemas)
//
// It refuses to overwrite a committed schema with a breaking change (see
// contract.Compare): an event type's contract only grows by optional
// properties and documentation; anything else is a new type (….v2).
// The tests of this package fail when the committed files are stale.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/invopop/jsonschema"

	_ "github.com/lensflow/lensflow/scripts/internal/allfunctions"
	"github.com/lensflow/lensflow/shared/eventschema"
	"github.com/lensflow/lensflow/shared/eventschema/contract"
	"github.com/lensflow/lensflow/shared/platform"
)

// module is the module path; pkgDir is the eventschema package, relative to
// the module root.
const (
	module  = "github.com/lensflow/lensflow"
	pkgDir  = "shared/eventschema"
	pageRel = pkgDir + "/README.md"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "eventschemas:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	schemas, err := generate(root)
	if err != nil {
		return err
	}
	var refused []string
	for _, ev := range catalog {
		file := filepath.Join(root, pkgDir, eventschema.FileName(ev.Type))
		old, err := os.ReadFile(file)
		if err == nil {
			write, err := verdict(ev.Type, old, schemas[ev.Type])
			if err != nil {
				refused = append(refused, err.Error())
				continue
			}
			if !write {
				continue
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := os.WriteFile(file, schemas[ev.Type], 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", filepath.Join(pkgDir, eventschema.FileName(ev.Type)))
	}
	if len(refused) > 0 {
		return errors.New(strings.Join(refused, "\n"))
	}
	pg, err := page(schemas)
	if err != nil {
		return err
	}
	if old, _ := os.ReadFile(filepath.Join(root, pageRel)); !bytes.Equal(old, pg) {
		if err := os.WriteFile(filepath.Join(root, pageRel), pg, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", pageRel)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return err
	}
	if rd, err := readmeWithTable(readme); err != nil {
		return err
	} else if !bytes.Equal(rd, readme) {
		if err := os.WriteFile(filepath.Join(root, "README.md"), rd, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote README.md (events table)")
	}
	return nil
}

// verdict compares the committed schema of eventType with the one its
// data struct generates: write is true when they differ compatibly (the
// committed file is to be regenerated); a breaking difference is an error
// saying what breaks and that it needs a new type.
func verdict(eventType string, committed, generated []byte) (write bool, err error) {
	if bytes.Equal(committed, generated) {
		return false, nil
	}
	changes, err := contract.Compare(committed, generated)
	if err != nil {
		return false, fmt.Errorf("%s: %w", eventschema.FileName(eventType), err)
	}
	if b := contract.Breaking(changes); len(b) > 0 {
		return false, errors.New(breakingMessage(eventType, "", b))
	}
	return true, nil
}

// breakingMessage says why a schema may not change and what to do instead.
// lead says what breaks what; empty means the data struct breaks the
// committed schema.
func breakingMessage(eventType, lead string, changes []contract.Change) string {
	if lead == "" {
		lead = fmt.Sprintf("the data struct of %s breaks its committed schema %s/%s:", eventType, pkgDir, eventschema.FileName(eventType))
	}
	var b strings.Builder
	b.WriteString(lead + "\n")
	for _, c := range changes {
		fmt.Fprintf(&b, "  - %s\n", c)
	}
	fmt.Fprintf(&b, "  A breaking change needs a new event type (%s with a new data struct, topic wiring and consumers),\n"+
		"  published beside the old one until its consumers have moved; leave %s as it is.", nextVersion(eventType), eventType)
	return b.String()
}

// nextVersion names the type after eventType: com.x.y.v1 -> com.x.y.v2.
func nextVersion(eventType string) string {
	i := strings.LastIndex(eventType, ".v")
	var n int
	if i < 0 || func() bool { _, err := fmt.Sscanf(eventType[i+2:], "%d", &n); return err != nil }() {
		return eventType + ".v2"
	}
	return fmt.Sprintf("%s.v%d", eventType[:i], n+1)
}

// moduleRoot is the nearest folder up from the working directory with
// lensflow's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module "+module+"\n")) {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("not inside the lensflow module")
		}
		dir = up
	}
}

// generate returns the schema of every catalogued type, as it is written.
func generate(root string) (map[string][]byte, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	here, err := filepath.Rel(root, cwd)
	if err != nil {
		return nil, err
	}
	r := &jsonschema.Reflector{
		// One flat object per type, no $defs/$ref: what a consumer reads.
		ExpandedStruct: true,
		DoNotReference: true,
		// Set below, explicitly true: properties added later (compatibly)
		// must not be refused by consumers validating with this version.
		AllowAdditionalProperties: true,
	}
	seen := map[string]bool{}
	for _, ev := range catalog {
		if seen[ev.Dir] {
			continue
		}
		seen[ev.Dir] = true
		// invopop keys comments by path.Join(base, the walked folder), so
		// base is the import path of the working directory and the folder is
		// walked relative to it.
		rel, err := filepath.Rel(cwd, filepath.Join(root, ev.Dir))
		if err != nil {
			return nil, err
		}
		if err := r.AddGoComments(path.Join(module, filepath.ToSlash(here)), rel); err != nil {
			return nil, fmt.Errorf("comments of %s: %w", ev.Dir, err)
		}
	}
	out := map[string][]byte{}
	for _, ev := range catalog {
		s := r.Reflect(ev.Data)
		s.ID = jsonschema.ID(eventschema.ID(ev.Type))
		s.Title = ev.Type
		s.Description = fmt.Sprintf("The data of a %s CloudEvent, published on the %s topic (Go type %s).", ev.Type, ev.Topic, reflect.TypeOf(ev.Data))
		s.AdditionalProperties = jsonschema.TrueSchema
		for p := s.Properties.Oldest(); p != nil; p = p.Next() {
			p.Value.Description = strings.Join(strings.Fields(p.Value.Description), " ") // comment lines joined
		}
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return nil, err
		}
		out[ev.Type] = append(b, '\n')
	}
	return out, nil
}

// consumers are the consumers of each topic: every event function's
// subscription, and the outsiders'.
func consumers() map[string][]string {
	out := map[string][]string{}
	for _, f := range platform.Functions() {
		for _, s := range platform.Subscriptions(f) {
			out[s.Topic] = append(out[s.Topic], fmt.Sprintf("%s (`%s`)", f.Name, s.Name))
		}
	}
	for _, o := range outsiders {
		out[o.Spec.Topic] = append(out[o.Spec.Topic], fmt.Sprintf("%s, pulling `%s`", o.Name, o.Spec.Name))
	}
	return out
}

// property is what the page says of one field.
type property struct {
	Type        any    `json:"type"`
	Format      string `json:"format"`
	Description string `json:"description"`
}

// page renders the events page from the schemas and the wiring.
func page(schemas map[string][]byte) ([]byte, error) {
	cons := consumers()
	var b bytes.Buffer
	b.WriteString(`# Events

<!-- Generated by scripts/eventschemas (go generate ./shared/eventschema) from the schemas and the
     functions' wiring. Do not edit: a test fails when this page is stale. -->

lensflow's functions talk through CloudEvents on Pub/Sub (the CloudEvents Pub/Sub binding, binary mode:
the attributes travel as ` + "`ce-*`" + ` message attributes, the data is the message body). The data of every
event is a JSON object of ids, never PHI, and follows the JSON Schema (draft 2020-12) of its type,
committed in [schemas/](schemas/). An event's ` + "`dataschema`" + ` attribute names it: the URL where the
Portal function serves the file, under the public URL, e.g.
` + "`https://lab.example.com/portal" + eventschema.Path + "com.lensflow.scan.received.v1.json`" + ` (locally
` + "`http://127.0.0.1:8080/portal" + eventschema.Path + "…`" + `), so whoever reads an event can fetch its schema.
Each schema's ` + "`$id`" + `, ` + "`" + eventschema.ID("<type>") + "`" + `, is the same in every copy of the file.

`)
	b.WriteString(table(cons, ""))
	b.WriteString(`
Events are written to the outbox in the transaction of the change that causes them and published
right after; the Tasks function's outbox relay publishes any whose publishing failed, so it
publishes every topic too. Delivery is at least once: consumers deduplicate on the event id.

## Changing an event

A type's schema only grows compatibly: a new optional field (a Go field with ` + "`omitempty`" + ` and a
comment), or better documentation. Change the data struct, run ` + "`go generate ./shared/eventschema`" + `,
and commit the schema and this page. Anything else (a field removed, renamed or retyped, a new
required field, a field made optional, an enum or format changed, additional properties closed) breaks
consumers or the events already in flight: it is a new type (` + "`…v2`" + `) with a schema of its own,
published beside the old one until every consumer has moved. The generator refuses such a change,
and the tests of ` + "`scripts/eventschemas`" + ` fail when a data struct and its committed schema differ, or
when a committed schema breaks its previous version in git history. The local stack validates every
event it publishes against its schema.

## Data
`)
	for _, ev := range catalog {
		var s struct {
			Description string              `json:"description"`
			Properties  map[string]property `json:"properties"`
			Required    []string            `json:"required"`
		}
		if err := json.Unmarshal(schemas[ev.Type], &s); err != nil {
			return nil, fmt.Errorf("%s: %w", ev.Type, err)
		}
		fmt.Fprintf(&b, "\n### `%s`\n\n%s\n\n| field | type | required | description |\n|---|---|---|---|\n", ev.Type, s.Description)
		for _, name := range fieldOrder(ev.Data) {
			p, ok := s.Properties[name]
			if !ok {
				continue
			}
			typ := fmt.Sprint(p.Type)
			if p.Format != "" {
				typ += " (" + p.Format + ")"
			}
			req := "no"
			if slices.Contains(s.Required, name) {
				req = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, typ, req, strings.ReplaceAll(p.Description, "\n", " "))
		}
	}
	return b.Bytes(), nil
}

// table is the events table (topic, type, producers, consumers, schema),
// with the schema links relative to dir.
func table(cons map[string][]string, dir string) string {
	var b strings.Builder
	b.WriteString("| topic | type | producers | consumers (subscription) | schema |\n|---|---|---|---|---|\n")
	for _, ev := range catalog {
		c := cons[ev.Topic]
		if len(c) == 0 {
			c = []string{"none"}
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | [schema](%s) |\n", ev.Topic, ev.Type, strings.Join(ev.Producers, ", "),
			strings.Join(c, "<br>"), path.Join(dir, eventschema.FileName(ev.Type)))
	}
	return b.String()
}

// The README's copy of the events table sits between these lines.
const (
	readmeBegin = "<!-- events table: generated by scripts/eventschemas (go generate ./shared/eventschema); do not edit -->\n"
	readmeEnd   = "<!-- end of the events table -->\n"
)

// readmeWithTable returns readme with its events table replaced by the
// current one (an error when the markers are missing).
func readmeWithTable(readme []byte) ([]byte, error) {
	i := bytes.Index(readme, []byte(readmeBegin))
	j := bytes.Index(readme, []byte(readmeEnd))
	if i < 0 || j < i {
		return nil, fmt.Errorf("README.md lacks the events table markers %q and %q", strings.TrimSpace(readmeBegin), strings.TrimSpace(readmeEnd))
	}
	var b bytes.Buffer
	b.Write(readme[:i+len(readmeBegin)])
	b.WriteString(table(consumers(), pkgDir))
	b.Write(readme[j:])
	return b.Bytes(), nil
}

// fieldOrder is the JSON names of v's fields in declaration order.
func fieldOrder(v any) []string {
	t := reflect.TypeOf(v)
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		if name != "-" {
			out = append(out, name)
		}
	}
	return out
}
