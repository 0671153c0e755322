//go:build !unix

package socket

// checkOwner relies on the socket's directory where ownership cannot be
// read.
func checkOwner(string) error { return nil }
