package reports

import (
	"os"
	"path/filepath"
	"slices"
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

// AppendStepSummary appends to $GITHUB_STEP_SUMMARY when it is set, after
// what earlier steps wrote, and does nothing when it is not.
func TestAppendStepSummary(t *testing.T) {
	r := readFixture(t, "minimal.json")
	t.Setenv(StepSummaryEnv, "")
	if err := AppendStepSummary(r); err != nil {
		t.Fatalf("without %s: %v", StepSummaryEnv, err)
	}
	path := filepath.Join(t.TempDir(), "summary.md")
	if err := os.WriteFile(path, []byte("earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(StepSummaryEnv, path)
	for range 2 {
		if err := AppendStepSummary(r); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(got), "earlier step\n# unlearnbench report") || strings.Count(string(got), "# unlearnbench report") != 2 {
		t.Fatalf("summary file:\n%.300s", got)
	}
	t.Setenv(StepSummaryEnv, t.TempDir()) // a directory: an error, not a panic
	if err := AppendStepSummary(r); err == nil {
		t.Fatal("appending to a directory succeeded")
	}
}

// The summary ranks by final score, marks each column's best, and says
// what the cap is when an example reached it.
func TestSummaryRanksAndExplainsTheCap(t *testing.T) {
	r := readFixture(t, "full.json")
	r.Methods[0], r.Methods[1] = r.Methods[1], r.Methods[0] // noop first, finetune scores higher
	s := summaryGrid(r)
	if s.rows[0][0] != "1" || s.rows[0][1] != "finetune" || s.rows[1][1] != "noop" {
		t.Fatalf("summary rows %v", s.rows)
	}
	f := slices.Index(s.header, "F")
	if !s.best[[2]int{0, f}] || s.best[[2]int{1, f}] {
		t.Errorf("best F not marked on finetune's row: %v", s.best)
	}
	notes := strings.Join(summaryNotes(r), "\n")
	if !strings.Contains(notes, "7 forget examples of 1 method reached the epsilon cap of 50") {
		t.Errorf("notes:\n%s", notes)
	}
}

// Warnings that differ only in their numbers are one group, counted.
func TestGroupWarnings(t *testing.T) {
	r := readFixture(t, "minimal.json")
	r.Warnings = nil
	r.Methods[0].Warnings = []string{"3 of 40 examples were separated perfectly", "N = 16 is small", "5 of 40 examples were separated perfectly"}
	groups := groupWarnings(r)
	if len(groups) != 2 || groups[0].Count != 2 || groups[0].Example != "3 of 40 examples were separated perfectly" || groups[1].Count != 1 {
		t.Fatalf("groups %+v", groups)
	}
}
