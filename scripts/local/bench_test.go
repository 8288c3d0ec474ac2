package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"encoding/json"

	"github.com/lensflow/lensflow/shared/localstack"
)

// BenchmarkLocalStackScan measures one scan through the whole local stack,
// as the side-by-side benchmark drives it: upload over HTTP (token check,
// parse, seal, store, record, publish), delivery to the Design function
// (unseal, parse, fit, seal, record), and polling GET until designed, with
// 50 concurrent clients. Report CPU per scan with -cpuprofile or `time`.
func BenchmarkLocalStackScan(b *testing.B) {
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: b.TempDir(), Log: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Shutdown()
	c := client{base: st.URL, t: b}
	tok := st.Tokens["demo-north"]
	pid := c.createPatient(tok)
	// LENSFLOW_BENCH_SCAN names another file to upload: the side-by-side
	// benchmark's generated 15,365-point x,y,z scan, for example.
	path := samplePath
	if p := os.Getenv("LENSFLOW_BENCH_SCAN"); p != "" {
		path = p
	}
	sample, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: apiCheck.Transport(&http.Transport{MaxIdleConnsPerHost: 64})}
	do := func(method, url string, body []byte) (int, []byte) {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			b.Error(err)
			return 0, nil
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	work := make(chan struct{})
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := 0; w < 50; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				st, body := do("POST", st.URL+"/v1/patients/"+pid+"/scans?eye=OD&lensType=rgp", sample)
				if st != 201 {
					b.Errorf("upload: %d %s", st, body)
					continue
				}
				var v struct{ ID string }
				_ = json.Unmarshal(body, &v)
				for {
					_, body := do("GET", c.base+"/v1/scans/"+v.ID, nil)
					if bytes.Contains(body, []byte(`"status":"designed"`)) {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
}
