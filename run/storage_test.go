package run

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"unlearnbench/internal/atomicfile"
	"unlearnbench/result"
)

// TestStorageFailures (issue 21 class 6) runs TestStorageInNamespace in
// a private mount namespace (unshare -m), where it may mount a read-only
// bind of a complete cache and a small tmpfs that fills up: chmod would
// not stop the root user these tests often run as. Without unshare or
// the right to mount it is skipped, saying so.
func TestStorageFailures(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare: the read-only and full-disk cases need a mount namespace")
	}
	if err := exec.Command("unshare", "-m", "--propagation", "private", "true").Run(); err != nil {
		t.Skipf("unshare -m: %v (mount namespaces need root or user namespaces)", err)
	}
	dir := t.TempDir()
	cfg := testConfig(t, "")
	mustExecute(t, cfg, Options{})
	c := exec.Command("unshare", "-m", "--propagation", "private", os.Args[0], "-test.run=^TestStorageInNamespace$", "-test.v")
	c.Dir = "run"
	c.Env = append(os.Environ(), "UNLEARNBENCH_STORAGE_DIR="+dir, "UNLEARNBENCH_STORAGE_CONFIG="+cfg)
	out, err := c.CombinedOutput()
	if strings.Contains(string(out), "SKIP: cannot mount") {
		t.Skipf("%s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestStorageInNamespace") {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestStorageInNamespace is TestStorageFailures' part inside the mount
// namespace; it runs only when that test starts it.
func TestStorageInNamespace(t *testing.T) {
	dir, cfg := os.Getenv("UNLEARNBENCH_STORAGE_DIR"), os.Getenv("UNLEARNBENCH_STORAGE_CONFIG")
	if dir == "" {
		t.Skip("only inside TestStorageFailures' mount namespace")
	}
	cache := filepath.Join(filepath.Dir(cfg), "cache")
	want := scoresOf(t, mustLoadResult(t, filepath.Join(filepath.Dir(cfg), "runs", "t", "result.json")))
	mount := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Skipf("SKIP: cannot mount (%v): %s", err, out)
		}
	}
	writeConfig := func(name, cache, runs, n string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		b := readFile(t, cfg)
		b = strings.Replace(b, "cache: "+filepath.Join(filepath.Dir(cfg), "cache"), "cache: "+cache, 1)
		b = strings.Replace(b, "runs: "+filepath.Join(filepath.Dir(cfg), "runs"), "runs: "+runs, 1)
		b = strings.Replace(b, "n: 4", "n: "+n, 1)
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// A complete cache on a read-only mount is scored, writing nothing
	// to it; a run that would have to compute a member fails naming the
	// file system.
	ro := filepath.Join(dir, "ro")
	os.MkdirAll(ro, 0o755)
	mount("--bind", "-o", "ro", cache, ro)
	if err := os.WriteFile(filepath.Join(ro, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("the bind mount is not read-only: %v", err)
	}
	o, out, warn := mustExecute(t, writeConfig("ro.yaml", ro, filepath.Join(dir, "runs-ro"), "4"), Options{})
	if o.Timing.Computed != 0 || o.Timing.Scored != 0 || scoresOf(t, o.Result) != want {
		t.Fatalf("a complete read-only cache: computed %d, scored %d, or other scores:\n%s%s", o.Timing.Computed, o.Timing.Scored, out, warn)
	}
	_, _, _, err := execute(t, writeConfig("ro5.yaml", ro, filepath.Join(dir, "runs-ro"), "5"), Options{})
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("a member to compute on a read-only cache: %v, want a read-only file system error", err)
	}

	// A full disk: the cache's writes fail with ENOSPC (cli exits 2 on
	// it), leaving no temporary file.
	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o755)
	mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", full)
	_, _, _, err = execute(t, writeConfig("full.yaml", filepath.Join(full, "cache"), filepath.Join(dir, "runs-full"), "4"), Options{})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a cache on a full disk: %v, want no space left", err)
	}
	noTemp(t, full)

	// The run directory on a disk that fills up while it is written: the
	// old one stays whole (the run of N = 4), no temporary one is left,
	// and once there is room the rerun replaces it whole (N = 3).
	os.RemoveAll(filepath.Join(full, "cache"))
	runs := filepath.Join(full, "runs")
	mustExecute(t, writeConfig("r4.yaml", cache, runs, "4"), Options{})
	filler := filepath.Join(full, "filler")
	f, _ := os.Create(filler)
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	f.Close()
	r3 := writeConfig("r3.yaml", cache, runs, "3")
	if _, _, _, err = execute(t, r3, Options{}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing the run directory on a full disk: %v, want no space left", err)
	}
	if r := mustLoadResult(t, filepath.Join(runs, "t", "result.json")); r.Methods[0].N != 4 {
		t.Fatalf("the old run directory was changed: N = %d", r.Methods[0].N)
	}
	noTemp(t, runs)
	os.Remove(filler)
	o, _, _ = mustExecute(t, r3, Options{})
	if r := mustLoadResult(t, filepath.Join(runs, "t", "result.json")); r.Methods[0].N != 3 || o.Dir != filepath.Join(runs, "t") {
		t.Fatalf("the rerun with room: N = %d in %s", r.Methods[0].N, o.Dir)
	}
	noTemp(t, runs)
}

func mustLoadResult(t *testing.T, p string) *result.Result {
	t.Helper()
	r, err := result.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// noTemp fails when a temporary file or directory is left under dir.
func noTemp(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && atomicfile.IsTemp(d.Name()) {
			t.Errorf("temporary %s left", p)
		}
		return nil
	})
}
