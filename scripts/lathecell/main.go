// Command lathecell is the lab-side program of the lathe cell. It pulls
// manufacturing jobs (from the manufacturing-jobs Pub/Sub subscription, or
// by polling lensflow's lab queue), writes each job's
// DAC point files into the directory a lathe controller watches, reports
// the job as cutting, and reports it as in inspection once the controller
// marks the cut done (a file <jobId>.done beside the point files).
// Inspection results and dispatch are recorded by lab staff.
//
//	go run ./scripts/lathecell [-url http://127.0.0.1:8080] [-token-file .lensflow/dev-staff-tokens.json]
//	    [-dir ./lathe-inbox] [-interval 5s] [-once] [-simulate 2s]
//	    [-pubsub] [-project P] [-subscription manufacturing-jobs-to-lathe-cell]
//
// With -pubsub it pulls job notices from the subscription with the real
// Pub/Sub client (in production with the cell's credentials; locally from
// the stack's in-process server, found through PUBSUB_EMULATOR_HOST or the
// stack's .lensflow/pubsub-emulator-host file). Without it, and with -once,
// it polls the lab queue.
//
// -simulate stands in for the controller: it marks each cut done after the
// given time. The token is a lab staff bearer token (LENSFLOW_LAB_TOKEN, or
// the "lab" entry of -token-file). The id of each job it takes is printed on
// standard output, one per line; its logs go to standard error.
//
// -url and -token-file default to the local stack as `go run ./scripts/local`
// starts it; point them elsewhere for a stack started with another -addr or
// -data, or at a deployed API (with LENSFLOW_LAB_TOKEN holding a lab staff
// token from the identity provider).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/lensflow/lensflow/shared/adapters/pubsubevents"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/ports"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "lensflow base URL")
	tokenFile := flag.String("token-file", ".lensflow/dev-staff-tokens.json", `JSON file with a "lab" token (local stack)`)
	dir := flag.String("dir", "./lathe-inbox", "directory the lathe controller watches")
	interval := flag.Duration("interval", 5*time.Second, "how often to poll the queue")
	once := flag.Bool("once", false, "handle the jobs queued now, wait for their cuts, and exit")
	simulate := flag.Duration("simulate", 0, "simulate the controller: mark each cut done after this long")
	usePubSub := flag.Bool("pubsub", false, "pull job notices from Pub/Sub instead of polling the queue")
	project := flag.String("project", envOr("GOOGLE_CLOUD_PROJECT", "lensflow-local"), "Google Cloud project of the subscription")
	subscription := flag.String("subscription", orders.LatheCellSubscription.Name, "Pub/Sub subscription of manufacturing jobs")
	hostFile := flag.String("emulator-host-file", ".lensflow/pubsub-emulator-host", "where the local stack writes its Pub/Sub address")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	token := os.Getenv("LENSFLOW_LAB_TOKEN")
	if token == "" {
		var err error
		if token, err = readToken(*tokenFile); err != nil {
			fmt.Fprintln(os.Stderr, "lathecell:", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &Cell{API: &API{Base: strings.TrimRight(*url, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}},
		Dir: *dir, Simulate: *simulate, Log: log, Taken: os.Stdout}
	var err error
	if *usePubSub && !*once {
		err = c.runPubSub(ctx, *project, *subscription, *hostFile, *interval)
	} else {
		err = c.Run(ctx, *interval, *once)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "lathecell:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// runPubSub pulls job notices from the subscription and starts the queued
// jobs each one announces; cuts are finished on a timer. Notices are
// acknowledged once the jobs are on the lathe, so a crash redelivers them.
func (c *Cell) runPubSub(ctx context.Context, project, sub, hostFile string, interval time.Duration) error {
	if os.Getenv("PUBSUB_EMULATOR_HOST") == "" {
		if b, err := os.ReadFile(hostFile); err == nil {
			os.Setenv("PUBSUB_EMULATOR_HOST", strings.TrimSpace(string(b)))
		}
	}
	client, err := pubsub.NewClient(ctx, project)
	if err != nil {
		return err
	}
	defer client.Close()
	broker := pubsubevents.New(client, project)
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	c.init()
	go func() {
		for ctx.Err() == nil {
			c.finishCuts(ctx)
			time.Sleep(min(interval, time.Second))
		}
	}()
	c.Log.Info("pulling manufacturing jobs", "subscription", sub)
	return broker.Receive(ctx, sub, func(ctx context.Context, d ports.Delivery) error {
		if d.Event.Type != orders.TypeJobQueued {
			return nil
		}
		jobs, err := c.API.Queued(ctx)
		if err != nil {
			return err // nack: Pub/Sub redelivers
		}
		for _, j := range jobs {
			if err := c.start(ctx, j); err != nil {
				c.Log.Warn("job not started", "job", j.ID, "error", err)
			}
		}
		return nil
	})
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("no lab token: set LENSFLOW_LAB_TOKEN or -token-file (%v)", err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil || m["lab"] == "" {
		return "", fmt.Errorf("%s has no \"lab\" token", path)
	}
	return m["lab"], nil
}

// Job is the part of a lab job the cell needs.
type Job struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Files  []struct {
		Name string `json:"name"`
	} `json:"files"`
}

// API is the lab queue over HTTP, with retries on transient answers.
type API struct {
	Base, Token string
	HTTP        *http.Client
}

func (a *API) do(ctx context.Context, method, path string, body io.Reader) ([]byte, error) {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(200<<attempt) * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, a.Base+path, body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+a.Token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := a.HTTP.Do(req)
		if err != nil {
			last = err
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return b, nil
		case resp.StatusCode == 408 || resp.StatusCode == 429 || resp.StatusCode >= 502 && body == nil:
			last = fmt.Errorf("%s %s: %s", method, path, resp.Status)
			continue
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil, last
}

// Queued returns the jobs waiting for the cell (queued and requeued).
func (a *API) Queued(ctx context.Context) ([]Job, error) {
	var all []Job
	for _, st := range []string{"queued", "requeued"} {
		for token := ""; ; {
			b, err := a.do(ctx, "GET", "/v1/lab/jobs?status="+st+"&pageSize=100&pageToken="+url.QueryEscape(token), nil)
			if err != nil {
				return nil, err
			}
			var v struct {
				Jobs          []Job
				NextPageToken string `json:"nextPageToken"`
			}
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, err
			}
			all = append(all, v.Jobs...)
			if token = v.NextPageToken; token == "" {
				break
			}
		}
	}
	return all, nil
}

// File downloads one point file.
func (a *API) File(ctx context.Context, jobID, name string) ([]byte, error) {
	return a.do(ctx, "GET", "/v1/lab/jobs/"+jobID+"/files/"+name, nil)
}

// SetStatus reports a job's new status.
func (a *API) SetStatus(ctx context.Context, jobID, status string) error {
	_, err := a.do(ctx, "POST", "/v1/lab/jobs/"+jobID+"/status", strings.NewReader(`{"status":"`+status+`"}`))
	return err
}

// Cell moves jobs between the queue and the lathe controller's directory.
type Cell struct {
	API      *API
	Dir      string
	Simulate time.Duration
	Log      *slog.Logger
	// Taken, when set, gets the id of each job the cell puts on the lathe,
	// one per line (standard output in the command, so that a script can
	// read the ids while the logs go to standard error).
	Taken io.Writer

	mu      sync.Mutex
	cutting map[string]bool
}

func (c *Cell) init() {
	c.mu.Lock()
	if c.cutting == nil {
		c.cutting = map[string]bool{}
	}
	c.mu.Unlock()
}

func (c *Cell) inFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cutting)
}

// Run polls until ctx ends (or, with once, until the jobs queued at start
// are in inspection).
func (c *Cell) Run(ctx context.Context, interval time.Duration, once bool) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	c.init()
	first := true
	for {
		if first || !once {
			jobs, err := c.API.Queued(ctx)
			if err != nil {
				c.Log.Warn("queue unavailable; will retry", "error", err)
			}
			for _, j := range jobs {
				if err := c.start(ctx, j); err != nil {
					c.Log.Warn("job not started", "job", j.ID, "error", err)
				}
			}
			first = false
		}
		c.finishCuts(ctx)
		if once && c.inFlight() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(interval, 200*time.Millisecond+interval/10)):
		}
	}
}

// start writes a job's point files for the controller and reports cutting.
// Files are written under a temporary name and renamed, so the controller
// never sees half a file.
func (c *Cell) start(ctx context.Context, j Job) error {
	c.mu.Lock()
	busy := c.cutting[j.ID]
	c.mu.Unlock()
	if busy {
		return nil
	}
	for _, f := range j.Files {
		name := filepath.Base(f.Name)
		if name != f.Name || strings.HasPrefix(name, ".") {
			return fmt.Errorf("refusing file name %q", f.Name)
		}
		data, err := c.API.File(ctx, j.ID, name)
		if err != nil {
			return err
		}
		tmp := filepath.Join(c.Dir, "."+name+".part")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(c.Dir, name)); err != nil {
			return err
		}
	}
	if err := c.API.SetStatus(ctx, j.ID, "cutting"); err != nil {
		return err
	}
	c.mu.Lock()
	c.cutting[j.ID] = true
	c.mu.Unlock()
	c.Log.Info("job sent to the lathe", "job", j.ID, "files", len(j.Files))
	if c.Taken != nil {
		fmt.Fprintln(c.Taken, j.ID)
	}
	if c.Simulate > 0 {
		go func(id string) {
			time.Sleep(c.Simulate)
			_ = os.WriteFile(filepath.Join(c.Dir, id+".done"), nil, 0o644)
		}(j.ID)
	}
	return nil
}

// finishCuts reports inspection for every job whose cut the controller
// marked done.
func (c *Cell) finishCuts(ctx context.Context) {
	c.mu.Lock()
	ids := make([]string, 0, len(c.cutting))
	for id := range c.cutting {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		marker := filepath.Join(c.Dir, id+".done")
		if _, err := os.Stat(marker); err != nil {
			continue
		}
		if err := c.API.SetStatus(ctx, id, "inspection"); err != nil {
			c.Log.Warn("could not report inspection; will retry", "job", id, "error", err)
			continue
		}
		_ = os.Remove(marker)
		c.mu.Lock()
		delete(c.cutting, id)
		c.mu.Unlock()
		c.Log.Info("job cut; awaiting inspection", "job", id)
	}
}
