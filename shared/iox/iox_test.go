package iox_test

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/lensflow/lensflow/shared/iox"
)

// TestReadAllWhateverTheSize: the body read is the body sent,
// whether the declared length is right, too large, too small or absent,
// and a right one costs a single buffer.
func TestReadAllWhateverTheSize(t *testing.T) {
	body := strings.Repeat("x,y,z\n", 20000) // 120 kB
	for _, declared := range []int64{0, -1, 10, int64(len(body)), int64(len(body)) * 3} {
		got, err := iox.ReadAll(iotest.OneByteReader(strings.NewReader(body[:1000])), declared)
		if err != nil || string(got) != body[:1000] {
			t.Fatalf("declared %d, 1000 bytes sent one at a time: %d bytes, %v", declared, len(got), err)
		}
		got, err = iox.ReadAll(strings.NewReader(body), declared)
		if err != nil || !bytes.Equal(got, []byte(body)) {
			t.Fatalf("declared %d: %d bytes, %v", declared, len(got), err)
		}
	}
	allocs := testing.AllocsPerRun(20, func() {
		_, _ = iox.ReadAll(strings.NewReader(body), int64(len(body)))
	})
	if allocs > 2 {
		t.Errorf("%v allocations reading a body of the declared length, want 1 buffer", allocs)
	}
}
