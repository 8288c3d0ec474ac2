package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/lensflow/lensflow/shared/bootstrap/standins"
)

// TestMain fails the package when any event published by the local stacks
// of these tests did not match its committed schema (shared/eventschema).
func TestMain(m *testing.M) {
	code := m.Run()
	if v := standins.TakeSchemaViolations(); len(v) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d events did not match their schemas:\n", len(v))
		for _, err := range v {
			fmt.Fprintln(os.Stderr, "  -", err)
		}
		code = max(code, 1)
	}
	os.Exit(code)
}
