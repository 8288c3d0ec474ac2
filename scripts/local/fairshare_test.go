package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/localstack"
)

// TestFairShareUnderSlowUploads: one clinic opening 300 uploads that
// declare a 1 MB body and then send a byte a second holds its share of the
// instance and no more. While it does, another clinic's 20 uploads are all
// answered 201; and every slow upload is answered (429 beyond the clinic's
// share of requests in flight, 503 beyond its share of the memory budget,
// 408 once its body falls below the minimum rate), none left holding a
// slot until the server's own timeouts.
func TestFairShareUnderSlowUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("300 slow connections")
	}
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Shutdown() })
	c := client{base: st.URL, t: t}
	attacker, victim := st.Tokens["demo-south"], st.Tokens["demo-north"]
	apid, vpid := c.createPatient(attacker), c.createPatient(victim)
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.App.Config

	const slow = 300
	type answer struct {
		status int
		took   time.Duration
	}
	answers := make(chan answer, slow)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < slow; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", strings.TrimPrefix(st.URL, "http://"))
			if err != nil {
				t.Error(err)
				answers <- answer{}
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
			start := time.Now()
			fmt.Fprintf(conn, "POST /v1/patients/%s/scans?eye=OD&lensType=rgp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000000\r\n\r\nx,y", apid, attacker)
			go func() { // a byte a second, until answered
				for {
					select {
					case <-stop:
						return
					case <-time.After(time.Second):
					}
					if _, err := conn.Write([]byte("0")); err != nil {
						return
					}
				}
			}()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Errorf("slow upload: no answer: %v", err)
				answers <- answer{took: time.Since(start)}
				return
			}
			resp.Body.Close()
			answers <- answer{resp.StatusCode, time.Since(start)}
		}()
	}
	// Until the refusals stop coming: the slow uploads not yet answered are
	// the ones being served.
	deadline := time.Now().Add(30 * time.Second)
	refused, since := 0, time.Now()
	for time.Now().Before(deadline) && (refused == 0 || time.Since(since) < time.Second) {
		if n := len(answers); n != refused {
			refused, since = n, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	holding := slow - refused
	if holding == 0 || refused == 0 {
		t.Fatalf("%d of %d slow uploads refused at once: the test did not set up the attack", refused, slow)
	}
	t.Logf("the attacking clinic holds %d slow uploads (instance: %d requests in flight, %.0f%% per clinic, %d MiB memory budget); %d refused at once",
		holding, cfg.MaxInFlight, 100*cfg.ClinicShare, cfg.MemoryBudget()>>20, refused)

	var vwg sync.WaitGroup
	codes := make([]int, 20)
	vstart := time.Now()
	for i := range codes {
		vwg.Add(1)
		go func() {
			defer vwg.Done()
			codes[i], _, _ = c.do("POST", "/v1/patients/"+vpid+"/scans?eye=OD&lensType=rgp", victim, sample)
		}()
	}
	vwg.Wait()
	t.Logf("the other clinic's 20 uploads took %v; the attacker's answered so far: %d", time.Since(vstart).Round(time.Millisecond), len(answers))
	for i, code := range codes {
		if code != http.StatusCreated {
			t.Errorf("the other clinic's upload %d: %d, want 201", i, code)
		}
	}

	wg.Wait()
	close(stop)
	close(answers)
	count := map[int]int{}
	var longest time.Duration
	for a := range answers {
		count[a.status]++
		longest = max(longest, a.took)
	}
	t.Logf("slow uploads answered: %v; the longest held on %v", count, longest.Round(time.Millisecond))
	if count[http.StatusRequestTimeout] == 0 {
		t.Error("no slow upload was cut for its rate (408)")
	}
	for status, n := range count {
		switch status {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		default:
			t.Errorf("%d slow uploads answered %d", n, status)
		}
	}
	if limit := cfg.BodyGrace + 10*time.Second; longest > limit {
		t.Errorf("a slow upload held on for %v, beyond the grace period and some slack (%v)", longest, limit)
	}
}
