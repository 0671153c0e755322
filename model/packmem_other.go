//go:build !unix

package model

// allocPacked returns n bytes for the packed weights: on this platform
// from the Go heap, freed when nothing refers to them.
func allocPacked(n int) ([]byte, func() error, error) {
	return make([]byte, n), func() error { return nil }, nil
}
