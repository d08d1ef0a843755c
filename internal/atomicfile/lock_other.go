//go:build !unix

package atomicfile

import (
	"errors"
	"os"
)

// Without flock, no temporary file can be told to be stale: RemoveStale
// leaves them all (lock fails when not waiting).
func lock(f *os.File, wait bool) error {
	if wait {
		return nil
	}
	return errors.New("no file locks on this platform")
}

func linked(*os.File) bool { return true }
