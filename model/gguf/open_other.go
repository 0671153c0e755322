//go:build !unix

package gguf

import (
	"fmt"
	"os"
)

// Open reads the file at path and parses it. On this platform the file is
// read into memory rather than mapped.
func Open(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f, err := Parse(data) // data is on the heap: metadata are copied so Close frees it
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
