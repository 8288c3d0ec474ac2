package cornea

// grow returns s with length n, reusing its array when large enough. The
// contents are not cleared.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
