package policy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestOperatorWalkThroughMatchesTheCode: the ordered list in
// infra/README.md that takes an operator from an empty project to a
// deployment names only what exists: the scripts and their flags and
// settings, the Terraform outputs and variables, the state backend, the
// service agents the CMEK grants need, and the SMTP secret.
func TestOperatorWalkThroughMatchesTheCode(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	readme := read("infra/README.md")
	start := strings.Index(readme, "## From an empty project")
	if start < 0 {
		t.Fatal(`infra/README.md has no "From an empty project" section`)
	}
	walk := readme[start:]
	if end := strings.Index(walk[3:], "\n## "); end >= 0 {
		walk = walk[:end+3]
	}
	steps := regexp.MustCompile(`(?m)^(\d+)\. `).FindAllStringSubmatch(walk, -1)
	if len(steps) < 10 {
		t.Fatalf("the walk-through has %d numbered steps; want the whole path in one list", len(steps))
	}
	for i, s := range steps {
		if s[1] != strconv.Itoa(i+1) {
			t.Errorf("step %d is numbered %s: one ordered list", i+1, s[1])
		}
	}
	tf := read("infra/outputs.tf") + read("infra/variables.tf") + read("infra/main.tf") + read("infra/data.tf")

	// Scripts, and the flags and settings given to them.
	for _, m := range regexp.MustCompile(`scripts/([a-z-]+(?:\.sh)?)`).FindAllStringSubmatch(walk, -1) {
		if _, err := os.Stat(filepath.Join(root, "scripts", m[1])); err != nil {
			t.Errorf("the walk-through names scripts/%s, which does not exist", m[1])
		}
	}
	deploy := read("scripts/deploy.sh")
	for _, m := range regexp.MustCompile(`((?:[A-Z]+=\S+ )+)scripts/deploy\.sh( --[a-z-]+)?`).FindAllStringSubmatch(walk, -1) {
		for _, kv := range strings.Fields(m[1]) {
			name, _, _ := strings.Cut(kv, "=")
			if !regexp.MustCompile(`(?m)^#\s+` + name + `\s`).MatchString(deploy) {
				t.Errorf("the walk-through sets %s for deploy.sh, which does not document it", name)
			}
		}
		if f := strings.TrimSpace(m[2]); f != "" && !strings.Contains(deploy, `"`+f+`"`) {
			t.Errorf("the walk-through runs deploy.sh %s, which it does not take", f)
		}
	}
	adduser := read("scripts/adduser/main.go")
	for _, m := range regexp.MustCompile(`go run \./scripts/adduser([^`+"`"+`]*)`).FindAllStringSubmatch(walk, -1) {
		for _, f := range regexp.MustCompile(`(?:^|\s)-([a-z-]+)`).FindAllStringSubmatch(m[1], -1) {
			if !strings.Contains(adduser, `fs.String("`+f[1]+`"`) {
				t.Errorf("the walk-through gives adduser -%s, which it does not take", f[1])
			}
		}
	}
	for _, m := range regexp.MustCompile(`-role (\w+)`).FindAllStringSubmatch(walk, -1) {
		if !slices.Contains([]string{"practitioner", "lab"}, m[1]) {
			t.Errorf("the walk-through gives a user the role %s", m[1])
		}
	}

	// Terraform: outputs read, variables set, the backend, the agents.
	for _, m := range regexp.MustCompile(`output -raw ([a-z_]+)`).FindAllStringSubmatch(walk, -1) {
		if !strings.Contains(tf, `output "`+m[1]+`"`) {
			t.Errorf("the walk-through reads output %s, which infra/outputs.tf does not have", m[1])
		}
	}
	for _, name := range []string{"build_service_account", "build_bucket", "images_repository"} {
		if strings.Contains(walk, "`"+name+"`") && !strings.Contains(tf, `output "`+name+`"`) {
			t.Errorf("the walk-through names output %s, which does not exist", name)
		}
	}
	varsStep := regexp.MustCompile(`(?s)\*\*Variables\*\*(.*?)\n\d+\. `).FindStringSubmatch(walk)
	if varsStep == nil {
		t.Fatal("no **Variables** step")
	}
	for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(varsStep[1], -1) {
		if !strings.Contains(tf, `variable "`+m[1]+`"`) {
			t.Errorf("the walk-through sets variable %s, which infra/variables.tf does not declare", m[1])
		}
	}
	if strings.Contains(walk, "-backend-config") && !strings.Contains(tf, `backend "gcs"`) {
		t.Error("the walk-through configures a gcs backend that main.tf does not declare")
	}
	for _, m := range regexp.MustCompile(`--service=([a-z]+)\.googleapis\.com|`+"`"+`([a-z]+)\.googleapis\.com`+"`").FindAllStringSubmatch(walk, -1) {
		svc := m[1] + m[2]
		if !strings.Contains(tf, "@gcp-sa-"+svc+".iam") && !(svc == "run" && strings.Contains(tf, "@serverless-robot-prod.iam")) {
			t.Errorf("the walk-through creates the %s service agent, which main.tf does not grant anything", svc)
		}
	}
	if !strings.Contains(walk, "gcloud storage service-agent") {
		t.Error("the walk-through does not create the Cloud Storage service agent the bucket CMEK needs")
	}
	if strings.Contains(walk, "lensflow-smtp-password-ENV") && !strings.Contains(tf, `"lensflow-smtp-password-${local.suffix}"`) {
		t.Error("the walk-through adds a version to a secret Terraform does not create")
	}
}
