package atomicfile

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestWriteReplacesOnlyOnSuccess(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "out.json")
	if err := WriteBytes(path, []byte("first")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		if _, err := w.Write([]byte("half")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want boom", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "first" {
		t.Fatalf("file = %q after a failed write, want the old content", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

// TestHelperWriter is a process that starts writing path and never
// finishes (a writer killed mid-file); it runs only when the test below
// starts it.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv("ATOMICFILE_HELPER_PATH")
	if path == "" {
		t.Skip("helper process")
	}
	Write(path, func(w io.Writer) error {
		w.Write([]byte("part"))
		// The temporary file is locked by now: say so.
		os.WriteFile(path+".ready", nil, 0o644)
		time.Sleep(time.Hour) // until killed (select{} would be a deadlock the runtime ends)
		return nil
	})
}

// TestRemoveStale: a temporary file of a live writer (another process
// holding its lock) is kept; once that process is killed with SIGKILL,
// the next RemoveStale removes it; finished files, other names and a
// missing folder are left alone.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "member-0001.npz")
	if err := WriteBytes(filepath.Join(dir, "done.json"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".hidden"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_HELPER_PATH="+path)
	var childOut strings.Builder
	cmd.Stdout, cmd.Stderr = &childOut, &childOut
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
	if removed, err := RemoveStale(dir); err != nil || len(removed) != 0 {
		t.Fatalf("RemoveStale removed %v (%v) of a live writer; the writer says: %s", removed, err, childOut.String())
	}
	if n := countTemp(t, dir); n != 1 {
		t.Fatalf("%d temporary files while the writer lives, want its 1", n)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	removed, err := RemoveStale(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || countTemp(t, dir) != 0 {
		t.Fatalf("after the writer was killed: removed %v, %d temporary files left", removed, countTemp(t, dir))
	}
	for _, keep := range []string{"done.json", ".hidden"} {
		if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
			t.Errorf("%s: %v", keep, err)
		}
	}
	if r, err := RemoveStale(filepath.Join(dir, "absent")); err != nil || r != nil {
		t.Errorf("missing folder: %v, %v", r, err)
	}
}

func countTemp(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if IsTemp(e.Name()) {
			n++
		}
	}
	return n
}

// TestCreateFirstWins: of writers creating one file at once, exactly one
// creates it, the file holds that writer's bytes whole, and no temporary
// file is left.
func TestCreateFirstWins(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "original.onnx")
	const writers = 8
	created := make(chan string, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := strings.Repeat(string(rune('a'+i)), 1<<16)
			ok, err := Create(path, func(w io.Writer) error {
				_, err := w.Write([]byte(body))
				return err
			})
			if err != nil {
				t.Error(err)
			}
			if ok {
				created <- body
			}
		}()
	}
	wg.Wait()
	close(created)
	var winners []string
	for b := range created {
		winners = append(winners, b)
	}
	if len(winners) != 1 {
		t.Fatalf("%d writers created the file, want 1", len(winners))
	}
	if got := readString(t, path); got != winners[0] {
		t.Fatalf("file holds %d bytes of another writer", len(got))
	}
	if n := countTemp(t, dir); n != 0 {
		t.Fatalf("%d temporary files left", n)
	}
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
