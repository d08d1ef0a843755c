package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Dir is a directory written as a whole: files go into a temporary
// directory beside its destination, which Commit puts in place of the old
// one only once they are all written. A reader sees the old directory
// whole or the new one whole, never a mix; a writer that fails or is
// killed leaves the old one as it was (RemoveStale removes what it left).
type Dir struct {
	// Path is the temporary directory to write into.
	Path  string
	final string
	lock  *os.File
}

// NewDir starts writing directory path (its parent is created). It first
// removes the temporary directories that killed writers left beside it.
func NewDir(path string) (*Dir, error) {
	parent := filepath.Dir(path)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("creating directory %s: %w", parent, err)
	}
	RemoveStale(parent)
	for {
		tmp, err := os.MkdirTemp(parent, "."+filepath.Base(path)+tempInfix+"*")
		if err != nil {
			return nil, fmt.Errorf("creating a temporary directory for %s: %w", path, err)
		}
		f, err := os.Open(tmp)
		if err != nil {
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("opening %s: %w", tmp, err)
		}
		// Unlocked where the file system refuses locks (createLocked).
		if lock(f, true) != nil || linked(f) {
			if err := os.Chmod(tmp, 0o755); err != nil {
				f.Close()
				os.RemoveAll(tmp)
				return nil, err
			}
			return &Dir{Path: tmp, final: path, lock: f}, nil
		}
		f.Close() // RemoveStale took it before the lock: another one
	}
}

// Commit puts the written directory in place of the old one (if any)
// and removes the old one. On Linux the two are exchanged in one step;
// elsewhere, or where the file system cannot exchange, the old one is
// moved aside first, so that for a moment there is none.
func (d *Dir) Commit() error {
	defer d.lock.Close()
	if err := syncDir(d.Path); err != nil {
		d.abort()
		return fmt.Errorf("syncing %s: %w", d.Path, err)
	}
	err := exchange(d.Path, d.final)
	switch {
	case err == nil:
		// d.Path now names the old directory.
		return removeOld(d.Path)
	case errors.Is(err, os.ErrNotExist):
		// No old directory: a rename does it.
	default:
		// Cannot exchange here: move the old one aside, then rename.
		old, terr := os.MkdirTemp(filepath.Dir(d.final), "."+filepath.Base(d.final)+tempInfix+"old-*")
		if terr != nil {
			d.abort()
			return fmt.Errorf("replacing %s: %w", d.final, terr)
		}
		os.Remove(old)
		if rerr := os.Rename(d.final, old); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			d.abort()
			return fmt.Errorf("replacing %s: %w", d.final, rerr)
		}
		defer removeOld(old)
	}
	if err := os.Rename(d.Path, d.final); err != nil {
		d.abort()
		return fmt.Errorf("renaming into %s: %w", d.final, err)
	}
	return nil
}

// Abort removes what was written; the old directory stays as it was.
func (d *Dir) Abort() {
	d.abort()
	d.lock.Close()
}

func (d *Dir) abort() { os.RemoveAll(d.Path) }

// removeOld removes a replaced directory. Failing to is no failure of
// the write (the new directory is in place): the next NewDir retries.
func removeOld(p string) error {
	os.RemoveAll(p)
	return nil
}

func syncDir(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
