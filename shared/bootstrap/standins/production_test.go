package standins_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// standInPackages are the packages a function's production binary must
// not link: the embedded stand-ins for Google's services and what they
// are built on.
var standInPackages = []string{
	"github.com/fsouza/fake-gcs-server",
	"cloud.google.com/go/pubsub/v2/pstest",
	"go.etcd.io/bbolt",
	"github.com/lensflow/lensflow/shared/notifications/delivery/smtpsink",
	"github.com/lensflow/lensflow/shared/auth/devissuer",
	"github.com/lensflow/lensflow/shared/bootstrap/standins",
	"github.com/lensflow/lensflow/shared/adapters/pubsublocal",
	"github.com/lensflow/lensflow/shared/adapters/boltdocs",
	"github.com/lensflow/lensflow/shared/adapters/fileblobs",
}

// Every functions/<name>/cmd, the main deployed to Cloud Run, links the
// Google adapters alone: none of the stand-ins, however it is built.
func TestProductionBinariesHoldNoStandIns(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mains, err := filepath.Glob(filepath.Join(root, "functions", "*", "cmd"))
	if err != nil || len(mains) < 10 {
		t.Fatalf("found %d function mains (%v)", len(mains), err)
	}
	// The local stack, by contrast, does link them: the check sees them.
	mains = append(mains, filepath.Join(root, "scripts", "local"))
	for _, dir := range mains {
		rel, _ := filepath.Rel(root, dir)
		cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./"+rel)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", rel, err, out)
		}
		var linked []string
		for _, p := range strings.Fields(string(out)) {
			for _, s := range standInPackages {
				if p == s || strings.HasPrefix(p, s+"/") {
					linked = append(linked, p)
				}
			}
		}
		if rel == filepath.Join("scripts", "local") {
			if len(linked) == 0 {
				t.Error("the check finds no stand-in in the local stack, which links them all")
			}
			continue
		}
		if len(linked) > 0 {
			t.Errorf("%s links stand-ins: %s", rel, strings.Join(linked, ", "))
		}
	}
}
