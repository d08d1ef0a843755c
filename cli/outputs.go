package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"unlearnbench/internal/usererr"
)

// Checks of output paths before any work, and standard output's write
// errors.

// output is one path a command will write: a file, or a directory it fills
// with files (dir), named by its flag for messages.
type output struct {
	flag string
	path string
	dir  bool
}

// checkOutputs refuses, before any input is read or model trained, an output
// that cannot be written: a directory where a file is wanted or the
// reverse, a parent that is a file, a location where no file can be created,
// or two outputs with the same path. Missing parent folders are fine: they
// are created when the output is written, as mkdir -p would. Empty paths
// (outputs not asked for) are skipped.
func checkOutputs(outs ...output) error {
	seen := map[string]string{}
	for _, o := range outs {
		if o.path == "" {
			continue
		}
		abs, err := filepath.Abs(o.path)
		if err != nil {
			return usererr.Wrap(fmt.Errorf("%s %s: %w", o.flag, o.path, err))
		}
		if other, ok := seen[abs]; ok {
			return usererr.Errorf("%s %s: the same path as %s; give each output its own", o.flag, o.path, other)
		}
		seen[abs] = o.flag
		if err := checkOutput(o); err != nil {
			return err
		}
	}
	return nil
}

func checkOutput(o output) error {
	st, err := os.Stat(o.path)
	switch {
	case err == nil && o.dir && !st.IsDir():
		return usererr.Errorf("%s %s: is a file; want a directory", o.flag, o.path)
	case err == nil && !o.dir && st.IsDir():
		return usererr.Errorf("%s %s: is a directory; want a file", o.flag, o.path)
	case err == nil && o.dir:
		return checkCreatable(o, o.path)
	case err == nil:
		return checkCreatable(o, filepath.Dir(o.path))
	case !missing(err):
		return usererr.Wrap(fmt.Errorf("%s %s: %w", o.flag, o.path, err))
	}
	// The nearest folder that exists is where the missing ones will be
	// created.
	parent := filepath.Dir(o.path)
	for {
		st, err := os.Stat(parent)
		if err == nil {
			if !st.IsDir() {
				return usererr.Errorf("%s %s: %s is a file, not a directory", o.flag, o.path, parent)
			}
			return checkCreatable(o, parent)
		}
		if !missing(err) {
			return usererr.Wrap(fmt.Errorf("%s %s: %w", o.flag, o.path, err))
		}
		up := filepath.Dir(parent)
		if up == parent {
			return usererr.Errorf("%s %s: no existing directory above it", o.flag, o.path)
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

// checkCreatable creates and removes a file in dir: the only test of
// writability that holds for every user (root included), file system and
// mount option.
func checkCreatable(o output, dir string) error {
	f, err := os.CreateTemp(dir, ".unlearnbench-check-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return usererr.Errorf("%s %s: cannot create files in %s: %v", o.flag, o.path, dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// errWriter remembers the first write error of standard output, so that a
// command whose output was lost (a closed pipe, a full disk) does not exit 0.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}
