package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Terraform (infra/) owns every setting of a function's Cloud Run service
// but its image; scripts/deploy.sh builds the image and rolls the service
// out to it by digest, and sets nothing else. Its dry run must show, per
// function, one build and one image rollout, with no runtime setting, and
// nothing else: no service created, no environment, no topic.
func TestDeployChangesOnlyImages(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	list := filepath.Join(t.TempDir(), "functions.txt")
	if err := os.WriteFile(list, []byte(strings.Join(lines(), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "scripts/deploy.sh", "--dry-run")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PROJECT=ci-project", "TAG=abc1234", "FUNCTIONS_FILE="+list)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("deploy.sh --dry-run: %v\n%s", err, out)
	}
	var dirs []string
	for _, l := range lines() {
		if d := strings.Fields(l)[0]; !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	builds, rollouts := map[string]int{}, map[string]int{}
	// The only flags each command may carry: where it runs, who builds and
	// where the build keeps its sources and logs, and the image.
	allowed := map[string][]string{
		"gcloud builds submit": {"--project", "--region", "--quiet", "--pack",
			"--service-account", "--gcs-source-staging-dir", "--gcs-log-dir"},
		"gcloud run services update": {"--project", "--region", "--quiet", "--image"},
	}
	flag := regexp.MustCompile(`^--[a-z-]+`)
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "+ ") {
			continue
		}
		words := strings.Fields(strings.TrimPrefix(l, "+ "))
		cmdName := ""
		for c := range allowed {
			if strings.HasPrefix(strings.Join(words, " "), c+" ") {
				cmdName = c
			}
		}
		if cmdName == "" {
			t.Errorf("deploy runs a command it must leave to Terraform: %s", l)
			continue
		}
		for _, w := range words {
			if f := flag.FindString(w); f != "" && !slices.Contains(allowed[cmdName], f) {
				t.Errorf("%s passes %s, a setting Terraform owns: %s", cmdName, f, l)
			}
		}
		switch cmdName {
		case "gcloud builds submit":
			m := regexp.MustCompile(`GOOGLE_BUILDABLE=\./functions/([a-z]+)/cmd`).FindStringSubmatch(l)
			if m == nil || !strings.Contains(l, "lensflow-dev/"+m[1]+":abc1234") {
				t.Errorf("a build without its function's main and image: %s", l)
				continue
			}
			// The build runs as the build account, never as a function's.
			if !strings.Contains(l, "--service-account projects/ci-project/serviceAccounts/lensflow-build-dev@ci-project.iam.gserviceaccount.com ") ||
				!strings.Contains(l, "--gcs-source-staging-dir gs://ci-project-lensflow-build-dev/source ") ||
				!strings.Contains(l, "--gcs-log-dir gs://ci-project-lensflow-build-dev/logs ") {
				t.Errorf("a build not as lensflow-build-dev with its sources and logs in the build bucket: %s", l)
			}
			builds[m[1]]++
		case "gcloud run services update":
			m := regexp.MustCompile(`lensflow-([a-z]+)-dev .*--image [^ ]*/lensflow-dev/([a-z]+)@sha256:`).FindStringSubmatch(l)
			if m == nil || m[1] != m[2] {
				t.Errorf("a rollout not to its own function's image by digest: %s", l)
				continue
			}
			rollouts[m[1]]++
		}
	}
	for _, d := range dirs {
		if builds[d] != 1 || rollouts[d] != 1 {
			t.Errorf("%s: %d builds and %d rollouts, want one of each", d, builds[d], rollouts[d])
		}
	}
	if len(builds) != len(dirs) || len(rollouts) != len(dirs) {
		t.Errorf("%d builds and %d rollouts for %d functions", len(builds), len(rollouts), len(dirs))
	}
	// Cloud Build runs deploy.sh and nothing that deploys by itself.
	cb, err := os.ReadFile(filepath.Join(root, "cloudbuild.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var steps []string // cloudbuild.yaml without its comments
	for _, l := range strings.Split(string(cb), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			steps = append(steps, l)
		}
	}
	for _, banned := range []string{"gcloud run deploy", "gcloud run services update", "--memory", "--cpu", "--timeout", "--concurrency", "--max-instances",
		"--min-instances", "--service-account", "env-vars", "--ingress"} {
		if strings.Contains(strings.Join(steps, "\n"), banned) {
			t.Errorf("cloudbuild.yaml has %q: a setting Terraform owns", banned)
		}
	}
}

// TestDeployTakesGcloudsProject: without PROJECT, the deploy script (dry
// run included) deploys to the project gcloud is configured with, as the
// README says; with neither, it stops and says how to set one. A stand-in
// gcloud on PATH answers `gcloud config get-value project`.
func TestDeployTakesGcloudsProject(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	dir := t.TempDir()
	list := filepath.Join(dir, "functions.txt")
	if err := os.WriteFile(list, []byte(strings.Join(lines(), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	stub := "#!/bin/sh\nif [ \"$1 $2 $3\" = \"config get-value project\" ]; then printf '%s\\n' \"$STUB_PROJECT\"; fi\n"
	if err := os.WriteFile(filepath.Join(bin, "gcloud"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	deploy := func(project string) (string, error) {
		cmd := exec.Command("bash", "scripts/deploy.sh", "--dry-run")
		cmd.Dir = root
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "PROJECT=") && !strings.HasPrefix(kv, "PATH=") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "STUB_PROJECT="+project,
			"TAG=abc1234", "FUNCTIONS_FILE="+list)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := deploy("configured-proj")
	if err != nil {
		t.Fatalf("deploy.sh --dry-run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "--project configured-proj") || strings.Contains(out, "ci-project") {
		t.Fatalf("the dry run does not deploy to gcloud's project:\n%s", out)
	}
	out, err = deploy("")
	if err == nil || !strings.Contains(out, "set PROJECT or 'gcloud config set project") {
		t.Fatalf("with no project anywhere: err %v, output:\n%s", err, out)
	}
}
