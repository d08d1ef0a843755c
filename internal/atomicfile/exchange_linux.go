package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// exchange swaps the names a and b in one step (renameat2
// RENAME_EXCHANGE). It fails with an os.ErrNotExist error when b does not
// exist.
func exchange(a, b string) error {
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		return &os.LinkError{Op: "exchange", Old: a, New: b, Err: err}
	}
	return nil
}
