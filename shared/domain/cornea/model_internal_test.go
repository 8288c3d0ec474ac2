package cornea

import (
	"math"
	"testing"
)

func TestReachSectorMatchesAtan2(t *testing.T) {
	for i := range 200000 {
		a := (float64(i) + 0.5) / 200000 * 2 * math.Pi
		r := 0.05 + float64(i%53)/7
		x, y := r*math.Cos(a), r*math.Sin(a)
		want := int(a / (2 * math.Pi) * ReachSectors)
		if got := reachSector(x, y); got != want {
			t.Fatalf("direction %.6f rad: sector %d, want %d", a, got, want)
		}
	}
	// Exactly on the boundaries: the sector that starts there.
	for k := range ReachSectors {
		a := float64(k) * 2 * math.Pi / ReachSectors
		if got := reachSector(math.Cos(a), math.Sin(a)); got != k && got != k-1 {
			t.Errorf("boundary %d: sector %d", k, got)
		}
	}
}
