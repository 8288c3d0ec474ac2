// Package iox holds the one I/O helper lensflow's adapters and HTTP
// toolkit share: reading a whole stream whose size is known in advance.
package iox

import "io"

// ReadAll is io.ReadAll into a buffer of capacity size+1 (size < 0 means
// unknown), so that a stream of the expected size is read with one
// allocation and its end seen without growing. Any size works: the buffer
// grows as io.ReadAll's does if more arrives.
func ReadAll(r io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, size+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}
