package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReadmeWalkthrough runs the README's two walk-through sections as a
// new user would type them, against a stack started as the README starts
// it. The commands run as written; the test changes only where they point
// (this stack's address and data directory instead of 127.0.0.1:8080 and
// .lensflow, the repository's sample file, a prebuilt lathecell for
// `go run ./scripts/lathecell`) and pauses where a person reading would
// (until the design exists before step 3, until the job is queued before
// step 5). Every curl fails the run on an error answer. So a step whose
// answer is wrong, a placeholder left for copy-paste, or a step that
// depends on one set up later (the reminder before the notification
// settings) fails here, not on a new user's first day.
func TestReadmeWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds lathecell and runs the whole walk-through")
	}
	for _, tool := range []string{"bash", "curl", "sed", "tee", "date"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README's commands need %s: %v", tool, err)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script := walkthroughScript(t, string(readme))
	if strings.Contains(script, "<the ") {
		t.Fatalf("the walk-through still asks the reader to paste an id:\n%s", script)
	}

	work := t.TempDir()
	cell := filepath.Join(work, "lathecell")
	build := exec.Command("go", "build", "-o", cell, "./scripts/lathecell")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building lathecell: %v\n%s", err, out)
	}
	data := filepath.Join(work, "data")
	st := start(t, freeAddr(t), data)
	defer st.Shutdown()

	script = strings.NewReplacer(
		"http://127.0.0.1:8080", st.URL,
		".lensflow/", data+"/",
		"go run ./scripts/lathecell", cell,
		"@shared/domain/topo/testdata/", "@"+filepath.Join(root, "shared", "domain", "topo", "testdata")+"/",
	).Replace(script)
	pauses := map[string]string{
		"# 3.": `for i in $(seq 600); do command curl -s ` + st.URL + `/v1/scans/$SCAN -H "Authorization: Bearer $TOKEN" | grep -q '"status":"received"' || break; sleep 0.1; done`,
		"# 5.": `for i in $(seq 600); do command curl -s "` + st.URL + `/v1/lab/jobs?status=queued" -H "Authorization: Bearer $LAB" | grep -q '"id"' && break; sleep 0.1; done`,
	}
	var b strings.Builder
	b.WriteString("set -eu\ncurl() { command curl --fail-with-body \"$@\"; }\n")
	sc := bufio.NewScanner(strings.NewReader(script))
	for sc.Scan() {
		line := sc.Text()
		for step, pause := range pauses {
			if strings.HasPrefix(line, step+" ") {
				b.WriteString(pause + "\n")
			}
		}
		b.WriteString(line + "\n")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", b.String())
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's walk-through failed: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		`"status":"designed"`,   // step 3
		`"status":"dispatched"`, // step 6
		`"remindersSent":1`,     // step 8: the RGP lens's week-1 visit, a week on
		`"version":2`,           // step 9: the adjusted design
		`"supersedes":"`,        // step 9: the corrected visit
		`"mine":true`,           // step 11: the comment
		`"clinics":[`,           // the locator
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the walk-through's output lacks %s:\n%s", want, got)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(work, "lathe-inbox", "*.V5B")); len(files) == 0 {
		t.Errorf("lathecell wrote no point files into ./lathe-inbox")
	}
	// Step 8's reminder reaches the mail folder step 7 set up.
	deadline := time.Now().Add(time.Minute)
	for {
		if mailed(t, filepath.Join(data, "mail"), "X-Lensflow-Notification-Type: followup.due") {
			break
		}
		if time.Now().After(deadline) {
			files, _ := filepath.Glob(filepath.Join(data, "mail", "*.eml"))
			var all []string
			for _, f := range files {
				b, _ := os.ReadFile(f)
				all = append(all, string(b))
			}
			t.Fatalf("no reminder email for the week-1 visit in %s; the emails:\n%s", filepath.Join(data, "mail"), strings.Join(all, "\n----\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// walkthroughScript returns the sh blocks of the README's walk-through
// sections, in order.
func walkthroughScript(t *testing.T, readme string) string {
	t.Helper()
	var blocks []string
	for _, section := range []string{"## Walk-through: from upload to design", "## Walk-through, continued: order, manufacture, follow up"} {
		i := strings.Index(readme, "\n"+section+"\n")
		if i < 0 {
			t.Fatalf("README has no section %q", section)
		}
		body := readme[i+len(section)+2:]
		if j := strings.Index(body, "\n## "); j >= 0 {
			body = body[:j]
		}
		for _, m := range shBlock.FindAllStringSubmatch(body, -1) {
			blocks = append(blocks, m[1])
		}
	}
	if len(blocks) < 2 {
		t.Fatalf("found %d sh blocks in the walk-through, want at least 2", len(blocks))
	}
	return strings.Join(blocks, "\n")
}

var shBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

// mailed reports whether an email in dir mentions one of words.
func mailed(t *testing.T, dir string, words ...string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, w := range words {
			if strings.Contains(string(b), w) {
				return true
			}
		}
	}
	return false
}
