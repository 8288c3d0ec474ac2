package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/apispec"
	"github.com/lensflow/lensflow/shared/apispec/apispectest"
	"github.com/lensflow/lensflow/shared/bootstrap/standins"
)

// apiCheck validates every answer the end-to-end tests receive against the
// OpenAPI document (shared/apispec/openapi.json): TestMain wraps
// http.DefaultTransport with it, which http.DefaultClient and http.Get use
// (and so do the stack's own scheduled task calls), and every test that
// builds a client of its own wraps that client's transport with
// apiCheck.Transport. A mismatch fails the package, naming the operation,
// the status and what the validator found.
var apiCheck *apispectest.Checker

// TestMain also fails the package on any event that did not match its
// schema (below).
func TestMain(m *testing.M) {
	c, err := apispectest.New(apispec.JSON)
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(2)
	}
	apiCheck = c
	http.DefaultTransport = c.Transport(http.DefaultTransport)
	code := m.Run()
	seen := c.Seen()
	n := 0
	for _, v := range seen {
		n += v
	}
	fmt.Printf("openapi: %d answers validated against the spec, %d (operation, status) pairs, %d of %d operations exercised\n",
		n, len(seen), len(c.Operations())-len(c.Unexercised()), len(c.Operations()))
	if un := c.Unexercised(); len(un) > 0 && testing.Verbose() {
		fmt.Printf("openapi: operations no test called here: %s\n", strings.Join(un, ", "))
	}
	if fs := c.Failures(); len(fs) > 0 {
		fmt.Fprintf(os.Stderr, "\nFAIL: %d answers do not match the OpenAPI document (shared/apispec/openapi.json):\n", len(fs))
		for i, f := range fs {
			if i == 40 {
				fmt.Fprintf(os.Stderr, "... and %d more\n", len(fs)-i)
				break
			}
			fmt.Fprintln(os.Stderr, f)
		}
		code = 1
	}
	// Every event a local stack of these tests published matched its
	// committed schema (the stacks refuse one that does not and record
	// it: standins.TakeSchemaViolations).
	if v := standins.TakeSchemaViolations(); len(v) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d events published by the tests did not match their schemas (shared/eventschema):\n", len(v))
		for _, err := range v {
			fmt.Fprintln(os.Stderr, "  -", err)
		}
		code = 1
	}
	os.Exit(code)
}
