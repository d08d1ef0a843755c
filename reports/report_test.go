package reports

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/result"
)

// A result without methods is not rendered.
func TestWriteDirRefusesEmptyResult(t *testing.T) {
	if _, err := WriteDir(result.New("score"), t.TempDir()); err == nil {
		t.Fatal("WriteDir rendered a result without methods")
	}
}

func TestAppendMarkdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "summary.md")
	if err := os.WriteFile(path, []byte("earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := readFixture(t, "minimal.json")
	if err := AppendMarkdown(path, r); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(got), "earlier step\n# unlearnbench report") {
		t.Fatalf("summary file:\n%.200s", got)
	}
}
