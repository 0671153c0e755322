//go:build unix

package socket

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOwner refuses a socket path that is not a socket owned by this
// process's user: in a directory others can write to, another user could
// have created it first to read the commands sent to it (a raw user id in
// forget --user) and to answer with their own numbers.
func checkOwner(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil // dialing reports it
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%w: %s is a symbolic link, not the socket chatloop run makes", ErrNotOurs, path)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%w: %s is not a socket", ErrNotOurs, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%w: %s belongs to uid %d, not to you (uid %d); another user may have made it to capture your commands, so nothing was sent", ErrNotOurs, path, st.Uid, os.Getuid())
	}
	return nil
}
