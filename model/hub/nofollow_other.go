//go:build !unix

package hub

// Without O_NOFOLLOW, openNoFollow relies on its Lstat check.
const oNoFollow = 0

func isLoop(error) bool { return false }
