// Package atomicfile writes files so that a reader, or a crash, never sees a
// half-written one: data goes to a temporary file in the same directory, is
// synced, and is renamed (Write) or linked (Create) over the destination
// only when complete. A writer holds an advisory lock on its temporary file
// while it lives, so that RemoveStale can tell the temporary files of a
// killed process (unlocked: the kernel dropped its locks) from those of a
// live one, on this machine or, where the file system passes locks on, on
// another.
package atomicfile

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tempInfix marks the temporary files Write and Create make:
// ".NAME.tmp-RANDOM" beside NAME.
const tempInfix = ".tmp-"

// IsTemp reports whether name (a base name) is one of the temporary files
// this package makes, or one that earlier versions made beside a file they then linked into
// place ("NAME.new-RANDOM").
func IsTemp(name string) bool {
	return (strings.HasPrefix(name, ".") && strings.Contains(name, tempInfix)) || strings.Contains(name, ".new-")
}

// Write creates path from whatever fill writes. If fill fails, or anything
// else does, path is left as it was and the temporary file is removed.
func Write(path string, fill func(w io.Writer) error) error {
	tmp, err := create(path, fill)
	if err != nil {
		return err
	}
	defer tmp.Close() // releases the lock, after the rename
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("renaming into %s: %w", path, err)
	}
	return nil
}

// WriteBytes is Write for data already in memory.
func WriteBytes(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Create creates path from what fill writes only if path does not exist
// yet, by linking the complete temporary file into place (a link, unlike a
// rename, fails on an existing name). created is false when another writer
// got there first; then path holds its bytes and this writer's are thrown
// away. For files that several processes may write at once with the same
// content, where the first must win (a cached original, a manifest).
func Create(path string, fill func(w io.Writer) error) (created bool, err error) {
	tmp, err := create(path, fill)
	if err != nil {
		return false, err
	}
	defer tmp.Close()
	defer os.Remove(tmp.Name())
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("linking into %s: %w", path, err)
	}
	return true, nil
}

// create writes fill's bytes to a synced, locked temporary file beside
// path and returns it open (still locked); on error nothing is left.
func create(path string, fill func(w io.Writer) error) (*os.File, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating directory %s: %w", dir, err)
	}
	tmp, err := createLocked(dir, "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return nil, fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	if err := fillSynced(tmp, path, fill); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return tmp, nil
}

func fillSynced(tmp *os.File, path string, fill func(w io.Writer) error) error {
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := fill(bw); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("setting mode of %s: %w", path, err)
	}
	return nil
}

// createLocked creates a temporary file and locks it. RemoveStale may
// have removed the file between its creation and the lock (it takes the
// lock of a file no process holds yet); a file found unlinked once locked
// is given up for a new one. Where the file system refuses locks (an NFS
// mount without a lock daemon: ENOLCK) the file is written unlocked: no
// RemoveStale can lock it either, so none removes it.
func createLocked(dir, pattern string) (*os.File, error) {
	for {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil {
			return nil, err
		}
		if lock(f, true) != nil || linked(f) {
			return f, nil
		}
		f.Close()
	}
}

// legacyAge is how old a temporary file of an earlier version (named by
// "NAME.new-RANDOM", written unlocked and linked into place within
// moments of its writing) must be to count as left behind.
const legacyAge = time.Minute

// RemoveStale removes the temporary files (and the temporary directories
// of Dir) in dir that no live process is writing (left by a killed one: their lock went with it) and returns
// their paths. Files it cannot remove (a read-only cache) are left, as
// is a missing dir.
func RemoveStale(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if !IsTemp(e.Name()) || !e.Type().IsRegular() && !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if !strings.HasPrefix(e.Name(), ".") || !strings.Contains(e.Name(), tempInfix) {
			if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < legacyAge {
				continue
			}
			if os.Remove(p) == nil {
				removed = append(removed, p)
			}
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		// Holding the lock while removing: a writer that created the file
		// and waits for its lock finds it unlinked and starts another.
		if lock(f, false) == nil && os.RemoveAll(p) == nil {
			removed = append(removed, p)
		}
		f.Close()
	}
	return removed, nil
}

// TempName is a name beside path that no other process picks, for a
// caller that writes a file there and links it into place itself.
//
// Deprecated: use Create, whose temporary file is locked while written
// and so removed by RemoveStale only when its writer is dead (a TempName
// file is taken as left behind once a minute old). Kept so that branches
// written against it still build.
func TempName(path string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms; keep going
		// with a name that is at least unique on this machine.
		return fmt.Sprintf("%s.new-%d-%d", path, os.Getpid(), time.Now().UnixNano())
	}
	return path + ".new-" + hex.EncodeToString(b[:])
}
