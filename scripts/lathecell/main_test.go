package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/lensflow/lensflow/scripts/internal/allfunctions"
	"github.com/lensflow/lensflow/shared/domain/lathe"
	"github.com/lensflow/lensflow/shared/localstack"
)

func call(t *testing.T, method, url, token string, body []byte) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return b
}

// orderOne starts a local stack and orders one RGP lens on it.
func orderOne(t *testing.T) (*localstack.Stack, string) {
	t.Helper()
	data := t.TempDir()
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: data, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Shutdown() })
	north := st.Tokens["demo-north"]
	var v struct{ ID, Status, DesignID string }
	_ = json.Unmarshal(call(t, "POST", st.URL+"/v1/patients", north, []byte(`{"name":"A B","birthDate":"1980-01-01"}`)), &v)
	sample, _ := os.ReadFile("../../shared/domain/topo/testdata/sample-od.csv")
	_ = json.Unmarshal(call(t, "POST", st.URL+"/v1/patients/"+v.ID+"/scans?eye=OD&lensType=rgp&rx=-2", north, sample), &v)
	for v.Status != "designed" {
		time.Sleep(10 * time.Millisecond)
		_ = json.Unmarshal(call(t, "GET", st.URL+"/v1/scans/"+v.ID, north, nil), &v)
	}
	call(t, "POST", st.URL+"/v1/orders", north, []byte(`{"designId":"`+v.DesignID+`","quantity":1}`))
	return st, data
}

// TestCellPullsFromPubSub: the cell pulls the job notice from the
// manufacturing-jobs subscription with the real Pub/Sub client, and the job
// goes to the lathe and on to inspection.
func TestCellPullsFromPubSub(t *testing.T) {
	st, data := orderOne(t)
	t.Setenv("PUBSUB_EMULATOR_HOST", "")
	dir := t.TempDir()
	cell := &Cell{API: &API{Base: st.URL, Token: st.LabToken, HTTP: http.DefaultClient}, Dir: dir,
		Simulate: 20 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- cell.runPubSub(ctx, localstack.Project, "manufacturing-jobs-to-lathe-cell", filepath.Join(data, "pubsub-emulator-host"), 10*time.Millisecond)
	}()
	for ctx.Err() == nil {
		var list struct{ Jobs []Job }
		_ = json.Unmarshal(call(t, "GET", st.URL+"/v1/lab/jobs?status=inspection", st.LabToken, nil), &list)
		if len(list.Jobs) == 1 {
			cancel()
			<-done
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the job did not reach inspection: %v", <-done)
}

// TestCellCutsAQueuedJob: an order's job is pulled, its point files land
// whole in the controller's directory, and the job goes to cutting and,
// once the controller marks the cut done, to inspection.
func TestCellCutsAQueuedJob(t *testing.T) {
	st, _ := orderOne(t)
	var err error
	api := &API{Base: st.URL, Token: st.LabToken, HTTP: http.DefaultClient}
	deadline := time.Now().Add(20 * time.Second)
	var jobs []Job
	for len(jobs) == 0 && time.Now().Before(deadline) {
		if jobs, err = api.Queued(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(jobs) != 1 {
		t.Fatalf("queued jobs: %d", len(jobs))
	}
	dir := t.TempDir()
	var taken bytes.Buffer
	cell := &Cell{API: api, Dir: dir, Simulate: 20 * time.Millisecond, Log: slog.New(slog.DiscardHandler), Taken: &taken}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cell.Run(ctx, 10*time.Millisecond, true); err != nil {
		t.Fatal(err)
	}
	if got := taken.String(); got != jobs[0].ID+"\n" {
		t.Fatalf("printed %q, want the job id on a line of its own", got)
	}
	for _, f := range jobs[0].Files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lathe.Parse(b); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
	}
	var list struct{ Jobs []Job }
	_ = json.Unmarshal(call(t, "GET", st.URL+"/v1/lab/jobs?status=inspection", st.LabToken, nil), &list)
	if len(list.Jobs) != 1 || list.Jobs[0].ID != jobs[0].ID {
		t.Fatalf("job not in inspection: %+v", list.Jobs)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Fatalf("partial files left: %v", left)
	}
}
