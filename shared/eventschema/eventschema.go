// Package eventschema holds the contract of every CloudEvent lensflow
// publishes: one JSON Schema (draft 2020-12) of the event's data per event
// type, committed under schemas/<type>.json and embedded here. The files are
// generated from the Go data structs (scripts/eventschemas, `go generate
// ./shared/eventschema`), which also writes this package's README.md, the
// events page (topic, type, producers, consumers, schema).
//
// Every published event names its schema in the CloudEvent dataschema
// attribute (ports.Event.DataSchema): Stamp sets it on the way to the broker
// (bootstrap wires it). The URI is the URL of the file,
// <base>/schemas/events/<type>.json (Path), where the Portal function
// serves the schemas publicly (base is <public URL>/portal, in a deployment
// and in the local stack alike), so whoever reads an event can fetch the
// schema it names. Without a base, events name the schema by its $id (ID),
// a URN that is the same in every copy of the file.
//
// Validation against the schemas and the compatibility checker are in
// package contract, which the local stack and the tests link and no
// function's production binary does.
package eventschema

//go:generate go run ../../scripts/eventschemas

import (
	"context"
	"embed"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/lensflow/lensflow/shared/ports"
)

// Path is where the schemas are served: Path + <type> + ".json".
const Path = "/schemas/events/"

// idPrefix prefixes every schema's $id: a URN names the contract wherever
// its file is served (a developer's stack, a deployment, the repository).
const idPrefix = "urn:lensflow:eventschema:"

// Dir is the folder of the schema files in this package.
const Dir = "schemas"

//go:embed schemas/*.json
var files embed.FS

// FS returns the committed schema files, named <type>.json.
func FS() fs.FS {
	sub, err := fs.Sub(files, Dir)
	if err != nil {
		panic(err) // the embedded folder exists: a build without it does not compile
	}
	return sub
}

// Types are the event types that have a schema, sorted.
func Types() []string {
	entries, _ := fs.ReadDir(FS(), ".")
	var out []string
	for _, e := range entries {
		if t, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// File returns the committed schema of eventType.
func File(eventType string) ([]byte, bool) {
	if eventType == "" || strings.ContainsAny(eventType, "/\\") {
		return nil, false
	}
	b, err := fs.ReadFile(FS(), eventType+".json")
	return b, err == nil
}

// FileName is the schema file's name of eventType, relative to this
// package (schemas/<type>.json).
func FileName(eventType string) string { return path.Join(Dir, eventType+".json") }

// ID is the $id of eventType's schema.
func ID(eventType string) string { return idPrefix + eventType }

// URI is the dataschema of an event of eventType published by the
// deployment whose public base URL is base: where that deployment serves the
// schema (base + Path + <type>.json). Without a base it is the schema's ID.
func URI(base, eventType string) string {
	if base == "" {
		return ID(eventType)
	}
	return strings.TrimSuffix(base, "/") + Path + eventType + ".json"
}

// Names reports whether uri is a dataschema URI of eventType's schema: its
// ID, or its file under Path at any base.
func Names(uri, eventType string) bool {
	return uri == ID(eventType) || strings.HasSuffix(uri, Path+eventType+".json")
}

// Stamp returns a Publisher that sets the dataschema of every event it
// publishes to URI(base, type), unless the event already names one or its
// type has no schema (the contract tests and the local stack's validation
// refuse such a type; production publishes it rather than lose it).
func Stamp(p ports.Publisher, base string) ports.Publisher {
	return &stamping{Publisher: p, base: base}
}

type stamping struct {
	ports.Publisher
	base string
}

func (s *stamping) Publish(ctx context.Context, topic string, e ports.Event) error {
	if e.DataSchema == "" {
		if _, ok := File(e.Type); ok {
			e.DataSchema = URI(s.base, e.Type)
		}
	}
	return s.Publisher.Publish(ctx, topic, e)
}
