package allfunctions_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	_ "github.com/lensflow/lensflow/scripts/internal/allfunctions"
	"github.com/lensflow/lensflow/shared/apispec"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/platform"
)

// stackOperations are the operations the local stack serves itself, not a
// function: the spec names them with x-lensflow-stack.
var stackOperations = []string{"GET /healthz", "GET /openapi.json"}

type specParam struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

type specOperation struct {
	Roles      []string    `json:"x-lensflow-roles"`
	Creates    bool        `json:"x-lensflow-creates"`
	Stack      bool        `json:"x-lensflow-stack"`
	Parameters []specParam `json:"parameters"`
}

// specOperations reads the committed document: "METHOD /path" -> operation,
// with its parameters' $refs resolved.
func specOperations(t *testing.T) map[string]specOperation {
	t.Helper()
	var doc struct {
		Paths      map[string]map[string]specOperation `json:"paths"`
		Components struct {
			Parameters map[string]specParam `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(apispec.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]specOperation{}
	for p, item := range doc.Paths {
		for method, o := range item {
			for i, prm := range o.Parameters {
				if name, ok := strings.CutPrefix(prm.Ref, "#/components/parameters/"); ok {
					r, found := doc.Components.Parameters[name]
					if !found {
						t.Fatalf("%s %s: parameter %s is not in components", method, p, prm.Ref)
					}
					o.Parameters[i] = r
				}
			}
			out[strings.ToUpper(method)+" "+p] = o
		}
	}
	return out
}

// specPath is the OpenAPI path of a ServeMux pattern's path: a trailing
// wildcard {name...} is the parameter {name}.
func specPath(pattern string) string {
	return strings.ReplaceAll(pattern, "...}", "}")
}

// TestOpenAPIDescribesEveryRoute compares the committed OpenAPI document with
// the routes every function registers (event functions at the local stack's
// push endpoint, POST /internal/events/<Name>): each route is described, the
// document describes no route that does not exist, and for each route the
// roles (x-lensflow-roles), whether it creates (x-lensflow-creates, with an
// Idempotency-Key header) and the query parameters match the declaration.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	spec := specOperations(t)
	type declared struct {
		roles   []auth.Role
		creates bool
		query   []string
	}
	routes := map[string]declared{}
	for _, f := range platform.Functions() {
		if f.HTTP == nil {
			routes["POST /internal/events/"+f.Name] = declared{roles: []auth.Role{auth.RoleService}}
			continue
		}
		for _, rt := range f.Routes {
			routes[specPath(rt.Pattern)] = declared{roles: rt.Roles, creates: rt.Creates, query: rt.Query}
		}
	}
	for key, d := range routes {
		o, ok := spec[key]
		if !ok {
			t.Errorf("route %s is registered but missing from shared/apispec/openapi.json", key)
			continue
		}
		var roles []string
		for _, r := range d.roles {
			roles = append(roles, string(r))
		}
		slices.Sort(roles)
		specRoles := slices.Sorted(slices.Values(o.Roles))
		if !slices.Equal(roles, specRoles) {
			t.Errorf("%s: declared roles %v, the spec's x-lensflow-roles %v", key, roles, specRoles)
		}
		idem := slices.ContainsFunc(o.Parameters, func(p specParam) bool { return p.In == "header" && p.Name == "Idempotency-Key" })
		if d.creates != o.Creates || d.creates != idem {
			t.Errorf("%s: declared creating %v, the spec's x-lensflow-creates %v and Idempotency-Key header %v", key, d.creates, o.Creates, idem)
		}
		var query []string
		for _, p := range o.Parameters {
			if p.In == "query" {
				query = append(query, p.Name)
			}
		}
		slices.Sort(query)
		want := slices.Sorted(slices.Values(d.query))
		if slices.Equal(query, want) {
			continue
		}
		t.Errorf("%s: query parameters differ: the route declares %v, the spec describes %v", key, want, query)
	}
	for key, o := range spec {
		if _, ok := routes[key]; ok {
			if o.Stack {
				t.Errorf("%s: a function's route, yet marked x-lensflow-stack", key)
			}
			continue
		}
		if !o.Stack || !slices.Contains(stackOperations, key) {
			t.Errorf("the spec describes %s, which no function registers (nor is it one of the stack's own %v)", key, stackOperations)
		}
	}
	t.Logf("%d registered routes, %d operations in the spec", len(routes), len(spec))
}
