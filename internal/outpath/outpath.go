// Package outpath checks, before any work, that the paths a command will
// write can be written: cli's output flags and run's cache and run
// directories share it, so that every command refuses an unwritable output
// alike and before it computes anything.
package outpath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"unlearnbench/internal/usererr"
)

// Output is one path a command will write: a file, or a directory it fills
// with files (Dir), named for messages by what the user wrote to set it (a
// flag such as "--out", or a config field such as "config x.yaml: runs").
type Output struct {
	Name string
	Path string
	Dir  bool
	// MayBeReadOnly skips the test of writing: the output is written only
	// when something is missing (a cache that may be complete, and is
	// then read from a read-only mount); only its shape is checked.
	MayBeReadOnly bool
}

// Check refuses an output that cannot be written: a directory where a file
// is wanted or the reverse, a parent that is a file, a location where no
// file can be created, or two outputs with the same path. Missing parent
// folders are fine: they are created when the output is written, as mkdir
// -p would; Check itself creates nothing that stays. Empty paths (outputs
// not asked for) are skipped.
func Check(outs ...Output) error {
	seen := map[string]string{}
	for _, o := range outs {
		if o.Path == "" {
			continue
		}
		abs, err := filepath.Abs(o.Path)
		if err != nil {
			return usererr.Wrap(fmt.Errorf("%s %s: %w", o.Name, o.Path, err))
		}
		if other, ok := seen[abs]; ok {
			return usererr.Errorf("%s %s: the same path as %s; give each output its own", o.Name, o.Path, other)
		}
		seen[abs] = o.Name
		if err := check(o); err != nil {
			return err
		}
	}
	return nil
}

func check(o Output) error {
	st, err := os.Stat(o.Path)
	switch {
	case err == nil && o.Dir && !st.IsDir():
		return usererr.Errorf("%s %s: is a file; want a directory", o.Name, o.Path)
	case err == nil && !o.Dir && st.IsDir():
		return usererr.Errorf("%s %s: is a directory; want a file", o.Name, o.Path)
	case err == nil && o.Dir:
		return creatable(o, o.Path)
	case err == nil:
		return creatable(o, filepath.Dir(o.Path))
	case !missing(err):
		return usererr.Wrap(fmt.Errorf("%s %s: %w", o.Name, o.Path, err))
	}
	// The nearest folder that exists is where the missing ones will be
	// created.
	parent := filepath.Dir(o.Path)
	for {
		st, err := os.Stat(parent)
		if err == nil {
			if !st.IsDir() {
				return usererr.Errorf("%s %s: %s is a file, not a directory", o.Name, o.Path, parent)
			}
			return creatable(o, parent)
		}
		if !missing(err) {
			return usererr.Wrap(fmt.Errorf("%s %s: %w", o.Name, o.Path, err))
		}
		up := filepath.Dir(parent)
		if up == parent {
			return usererr.Errorf("%s %s: no existing directory above it", o.Name, o.Path)
		}
		parent = up
	}
}

// missing reports whether a stat error says the path is not there: it does
// not exist, or a file stands where a directory above it should be (which
// the walk up then names).
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// creatable creates and removes a file in dir: the only test of
// writability that holds for every user (root included), file system and
// mount option.
func creatable(o Output, dir string) error {
	if o.MayBeReadOnly {
		return nil
	}
	f, err := os.CreateTemp(dir, ".unlearnbench-check-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return usererr.Errorf("%s %s: cannot create files in %s: %w", o.Name, o.Path, dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
