//go:build unix

package atomicfile

import (
	"os"
	"syscall"
)

// lock takes an exclusive flock on f, waiting for it when wait, else
// failing at once when another open file holds it. The kernel drops it
// when the process ends, however it ends.
func lock(f *os.File, wait bool) error {
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// linked reports whether f still has a name.
func linked(f *os.File) bool {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return true // cannot tell: keep it, as before locking existed
	}
	return st.Nlink > 0
}
