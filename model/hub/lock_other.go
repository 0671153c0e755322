//go:build !unix

package hub

import "os"

// lockPart does nothing where flock is unavailable: two simultaneous pulls
// of one file are then the user's to avoid.
func lockPart(*os.File) error { return nil }
