//go:build !linux

package atomicfile

import (
	"errors"
	"os"
)

// exchange is Linux's renameat2 RENAME_EXCHANGE; elsewhere Commit falls
// back to two renames (when b does not exist, one).
func exchange(a, b string) error {
	if _, err := os.Lstat(b); err != nil {
		return err
	}
	return errors.ErrUnsupported
}
