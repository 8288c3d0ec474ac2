package bootstrap

import (
	"testing"

	"github.com/lensflow/lensflow/shared/eventschema"
)

// Locally events name the URL the local stack serves their schema at; a
// deployment, which serves none, names the schema's $id.
func TestDataSchemaBase(t *testing.T) {
	const typ = "com.lensflow.scan.received.v1"
	local := eventschema.URI(dataSchemaBase(Config{Profile: "local", PublicURL: "http://127.0.0.1:8080"}), typ)
	if local != "http://127.0.0.1:8080/schemas/events/"+typ+".json" {
		t.Errorf("local dataschema = %s", local)
	}
	gcp := eventschema.URI(dataSchemaBase(Config{Profile: "gcp", PublicURL: "https://lab.example"}), typ)
	if gcp != eventschema.ID(typ) {
		t.Errorf("deployed dataschema = %s, want the schema's $id", gcp)
	}
}
