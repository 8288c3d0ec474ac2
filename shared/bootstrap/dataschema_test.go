package bootstrap

import (
	"testing"

	"github.com/lensflow/lensflow/shared/eventschema"
)

// Events name the URL the Portal function serves their schema at, under
// the public URL (the local stack's or the deployment's); without one,
// the schema's $id.
func TestDataSchemaBase(t *testing.T) {
	const typ = "com.lensflow.scan.received.v1"
	local := eventschema.URI(dataSchemaBase(Config{Profile: "local", PublicURL: "http://127.0.0.1:8080"}), typ)
	if local != "http://127.0.0.1:8080/portal/schemas/events/"+typ+".json" {
		t.Errorf("local dataschema = %s", local)
	}
	gcp := eventschema.URI(dataSchemaBase(Config{Profile: "gcp", PublicURL: "https://lab.example/"}), typ)
	if gcp != "https://lab.example/portal/schemas/events/"+typ+".json" {
		t.Errorf("deployed dataschema = %s", gcp)
	}
	if bare := eventschema.URI(dataSchemaBase(Config{Profile: "gcp"}), typ); bare != eventschema.ID(typ) {
		t.Errorf("dataschema without a public URL = %s, want the schema's $id", bare)
	}
}
