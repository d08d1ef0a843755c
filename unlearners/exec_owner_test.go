package unlearners

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// deadTag is the owner tag of a process that has exited.
func deadTag(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(cmd.Process.Pid) + ".1"
}

// TestExecDeadOwners: the leftovers of exec members whose process is dead
// are removed at the next start, in $TMPDIR and in the cache's exec area;
// those of live processes and untagged young ones stay.
func TestExecDeadOwners(t *testing.T) {
	f := execFixtureFor(t)
	dead := deadTag(t)
	pid := os.Getpid()
	// This process's PID with another start time: the PID was reused.
	reused := strconv.Itoa(pid) + "." + strconv.FormatUint(processStart(pid)+1, 10)
	if processStart(pid) == 0 {
		reused = ""
	}
	for _, c := range []struct {
		name   string
		tag    string
		remove bool
	}{
		{"dead owner", dead, true},
		{"live owner", ownerTag(), false},
		{"reused pid", reused, true},
		{"untagged", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "reused pid" && reused == "" {
				t.Skip("no /proc to read start times from")
			}
			tmp := t.TempDir()
			cache := t.TempDir()
			var paths []string
			for _, p := range tempPrefixes {
				name := p + c.tag + "-12345"
				if c.tag == "" {
					name = p + "12345"
				}
				paths = append(paths, filepath.Join(tmp, name))
			}
			cacheName := ".tmp-0123abcd-" + c.tag + "-1"
			if c.tag == "" {
				cacheName = ".tmp-0123abcd-1"
			}
			paths = append(paths, filepath.Join(cache, "exec", cacheName), filepath.Join(cache, "exec", ".damaged-0123abcd-"+c.tag+"-2"))
			for _, p := range paths {
				if err := os.MkdirAll(p, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(p, "x"), []byte("left"), 0o444); err != nil {
					t.Fatal(err)
				}
			}
			// A start: $TMPDIR's scan, and a member with a cache.
			removeDeadOwners(tmp, tempPrefixes, 0)
			m := newExec(t, map[string]any{"command": "cp {model} {out}"})
			if _, err := m.Unlearn(context.Background(), f.inputs(23, cache)); err != nil {
				t.Fatal(err)
			}
			for _, p := range paths {
				_, err := os.Stat(p)
				if gone := errors.Is(err, os.ErrNotExist); gone != c.remove {
					t.Errorf("%s: removed %v, want %v (%v)", p, gone, c.remove, err)
				}
			}
		})
	}
}
