// Command local runs the whole of lensflow on one machine with no cloud
// account: every function in one process on one port, on embedded backends
// (bbolt documents, blobs as files, in-process Pub/Sub, a local Tink
// key-encryption key), with data kept under -data between runs.
//
//	go run ./scripts/local [-addr 127.0.0.1:8080] [-data ./.lensflow]
//
// It prints the URL and a practitioner token for the demo clinics
// demo-north and demo-south, also written to <data>/dev-tokens.json.
// Ctrl-C shuts down cleanly; a restart keeps all data.
//
// LENSFLOW_FAULTS injects failures into the document store, blob store and
// event publisher, e.g. LENSFLOW_FAULTS=rate=0.05,latency=5ms (see package
// faults); the counts are printed at shutdown. LENSFLOW_CPU_PROFILE=FILE
// writes a CPU profile of the whole run to FILE (for go tool pprof), to see
// where the time of a load test goes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	_ "github.com/lensflow/lensflow/scripts/internal/allfunctions"
	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/auth/devissuer"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/ports/faults"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	data := flag.String("data", "./.lensflow", "directory for all local data (kept between runs)")
	flag.Parse()
	if err := run(*addr, *data); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func run(addr, data string) error {
	// The first thing said: a first `go run` is silent while it compiles,
	// so the user learns at once that the compiling is over.
	fmt.Printf("lensflow local stack: built; starting on %s with data in %s...\n", addr, data)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := localstack.Options{Addr: addr, DataDir: data, Config: bootstrap.ConfigFromEnv()}
	if spec := os.Getenv("LENSFLOW_FAULTS"); spec != "" {
		s, err := faults.ParseSpec(spec)
		if err != nil {
			return fmt.Errorf("LENSFLOW_FAULTS: %w", err)
		}
		opts.Faults = faults.New(s)
		defer func() { fmt.Printf("faults injected:\n%s", opts.Faults) }()
	}
	if path := os.Getenv("LENSFLOW_CPU_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("LENSFLOW_CPU_PROFILE: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("LENSFLOW_CPU_PROFILE: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	st, err := localstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	cfg := st.App.Config
	admission.SetGoMemoryLimit(cfg.MemoryBytes)
	fmt.Printf("\nlensflow local stack listening on %s (data in %s)\n", st.URL, data)
	fmt.Printf("  memory %d MiB (%s); %d MiB budget for uploads and %d MiB for designs, %.0f%% of each and of %d requests in flight per clinic\n",
		cfg.MemoryBytes>>20, cfg.MemorySource, cfg.MemoryBudget()>>20, cfg.MemoryBudget()>>21, 100*cfg.ClinicShare, cfg.MaxInFlight)
	for _, c := range devissuer.Clinics {
		fmt.Printf("  practitioner token for %s:\n    %s\n", c, st.Tokens[c])
	}
	fmt.Printf("  lab staff and service (task) tokens: %s\n", filepath.Join(data, "dev-staff-tokens.json"))
	fmt.Printf("  clinic tokens also in %s\n  Ctrl-C stops it; data is kept.\n\n", filepath.Join(data, "dev-tokens.json"))
	select {
	case <-ctx.Done():
		fmt.Println("\nshutting down...")
	case <-st.Done():
		return st.Err()
	}
	return st.Shutdown()
}
