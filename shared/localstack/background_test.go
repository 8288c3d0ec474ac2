package localstack

import (
	"testing"

	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/bootstrap"
)

// TestBackgroundMemoryIsItsOwn: designs running in the background draw on
// a pool of their own, so a clinic whose designs hold all of it can still
// upload (as it could in production, where Design is its own service).
func TestBackgroundMemoryIsItsOwn(t *testing.T) {
	cfg, err := bootstrap.Config{MemoryBytes: 64 << 20}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	app := &bootstrap.App{Config: cfg}
	app.Memory = &admission.Pool{Capacity: cfg.MemoryBudget(), PerKey: admission.Share(cfg.MemoryBudget(), cfg.ClinicShare)}
	bg := backgroundApp(app)
	if bg.Memory == app.Memory || bg.Memory.Capacity != cfg.MemoryBudget()/2 {
		t.Fatalf("background pool %+v, requests' %+v: want a pool of its own, half the budget", bg.Memory, app.Memory)
	}
	if release, why := bg.Memory.TryAcquire("clinic-a", bg.Memory.PerKey); release == nil {
		t.Fatalf("the background pool refused its first design: %v", why)
	}
	if release, _ := bg.Memory.TryAcquire("clinic-a", 1); release != nil {
		t.Fatal("the clinic's designs hold their whole share, yet another was admitted")
	}
	if release, why := app.Memory.TryAcquire("clinic-a", app.Memory.PerKey); release == nil {
		t.Fatalf("with the clinic's designs holding all their memory, its upload was refused: %v", why)
	}
}
