package atomicfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHelperDirWriter writes half a directory and waits to be killed.
func TestHelperDirWriter(t *testing.T) {
	path := os.Getenv("ATOMICFILE_HELPER_DIR")
	if path == "" {
		t.Skip("helper process")
	}
	d, err := NewDir(path)
	if err != nil {
		panic(err)
	}
	os.WriteFile(filepath.Join(d.Path, "result.json"), []byte("new"), 0o644)
	os.WriteFile(filepath.Join(path+".ready"), nil, 0o644)
	time.Sleep(time.Hour) // until killed (select{} would be a deadlock the runtime ends)
}

func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		out[e.Name()] = readString(t, filepath.Join(dir, e.Name()))
	}
	return out
}

// TestDirReplacesWhole: a directory written with Dir replaces the old
// one whole on Commit (old files that the new one lacks go too), leaves
// it untouched on Abort, and a writer killed mid-directory leaves it
// untouched too, its temporary directory removed by the next writer.
func TestDirReplacesWhole(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "runs", "t")
	write := func(content map[string]string) *Dir {
		d, err := NewDir(path)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range content {
			if err := os.WriteFile(filepath.Join(d.Path, k), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	entries := func() int {
		ents, _ := os.ReadDir(filepath.Dir(path))
		return len(ents)
	}
	if err := write(map[string]string{"result.json": "N=5", "report.html": "N=5"}).Commit(); err != nil {
		t.Fatal(err)
	}
	if err := write(map[string]string{"result.json": "N=4"}).Commit(); err != nil {
		t.Fatal(err)
	}
	if got := files(t, path); len(got) != 1 || got["result.json"] != "N=4" {
		t.Fatalf("after replacing: %v, want only the new run's result.json", got)
	}
	if entries() != 1 {
		t.Fatalf("%d entries in runs/, want the run alone", entries())
	}
	write(map[string]string{"result.json": "N=3"}).Abort()
	if got := files(t, path); got["result.json"] != "N=4" || entries() != 1 {
		t.Fatalf("after an aborted write: %v, %d entries", got, entries())
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDirWriter$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_HELPER_DIR="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for tries := 0; ; tries++ {
		if _, err := os.Stat(path + ".ready"); err == nil {
			break
		}
		if tries == 6000 {
			t.Fatal("the helper did not start writing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	os.Remove(path + ".ready")
	// A live writer's directory is kept by another writer's cleaning.
	d := write(map[string]string{"result.json": "N=2"})
	if entries() != 3 {
		t.Fatalf("%d entries while two writers write, want the run and their two", entries())
	}
	d.Abort()
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if got := files(t, path); got["result.json"] != "N=4" {
		t.Fatalf("after a killed writer: %v", got)
	}
	if err := write(map[string]string{"result.json": "N=6"}).Commit(); err != nil {
		t.Fatal(err)
	}
	if got := files(t, path); got["result.json"] != "N=6" || entries() != 1 {
		t.Fatalf("the next write: %v, %d entries in runs/ (the killed writer's left?)", got, entries())
	}
}
