package admission

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultMemoryLimit is the memory assumed when neither configuration nor
// a container limit says: what the local stack, which runs every function
// in one process, holds itself to on a developer's machine.
const DefaultMemoryLimit = 1 << 30

// MemoryLimit is the memory the instance may use: the smaller of the
// configured value (a byte count as ParseBytes reads it; "" if unset) and
// the container's cgroup limit, whichever of them there is, or else
// DefaultMemoryLimit. source says which applied. The container's limit
// wins when it is smaller: a service redeployed with less memory than its
// configuration says must not budget memory it does not have.
func MemoryLimit(configured string) (limit int64, source string, err error) {
	container, inContainer := cgroupLimit()
	if strings.TrimSpace(configured) != "" {
		n, err := ParseBytes(configured)
		if err != nil {
			return 0, "", fmt.Errorf("LENSFLOW_MEMORY_LIMIT: %w", err)
		}
		if n < 64<<20 {
			return 0, "", fmt.Errorf("LENSFLOW_MEMORY_LIMIT: %d bytes is less than the 64 MiB an instance needs", n)
		}
		if inContainer && container < n {
			return container, "container (below LENSFLOW_MEMORY_LIMIT)", nil
		}
		return n, "LENSFLOW_MEMORY_LIMIT", nil
	}
	if inContainer {
		return container, "container", nil
	}
	return DefaultMemoryLimit, "default", nil
}

// cgroupLimit reads the container's memory limit: cgroup v2's memory.max,
// else cgroup v1's memory.limit_in_bytes. "max", a v1 "unlimited" (a huge
// number) or no file means none.
func cgroupLimit() (int64, bool) {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n >= 1<<50 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// ParseBytes reads a byte count: a plain number of bytes, or a number with
// a binary (Ki, Mi, Gi, KiB, MiB, GiB) or decimal (K, M, G, KB, MB, GB)
// suffix, as Cloud Run and Kubernetes write memory ("512Mi", "1Gi").
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num := strings.TrimRightFunc(s, func(r rune) bool { return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' })
	unit := strings.TrimSpace(s[len(num):])
	num = strings.TrimSpace(num)
	mult := map[string]float64{"": 1, "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9,
		"Ki": 1 << 10, "KiB": 1 << 10, "Mi": 1 << 20, "MiB": 1 << 20, "Gi": 1 << 30, "GiB": 1 << 30}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if mult == 0 || err != nil || math.IsNaN(v) || v < 0 || v*mult >= 1<<62 {
		return 0, fmt.Errorf("%q is not a byte count (for example 536870912, 512Mi or 1GiB)", s)
	}
	return int64(v * mult), nil
}

// SetGoMemoryLimit gives the Go runtime a soft limit of 90 % of limit, so
// the garbage collector works harder before the container would be killed,
// unless GOMEMLIMIT already sets one. Call it once, from a binary's main.
func SetGoMemoryLimit(limit int64) {
	if os.Getenv("GOMEMLIMIT") != "" || limit <= 0 {
		return
	}
	debug.SetMemoryLimit(limit / 10 * 9)
}
