package unlearners

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestExecDataDamage: a program that overwrites, truncates, deletes or
// adds files in the shared data folder (making them writable first, as
// root needs not) damages nothing a later member or a later population
// reads: the folder is checked before each use and written again, with a
// warning naming it; with and without a cache.
func TestExecDataDamage(t *testing.T) {
	f := execFixtureFor(t)
	for _, c := range []struct {
		name   string
		damage string // shell commands run in the data folder
	}{
		{"overwrite data", `chmod u+w retain_x.npy && printf garbage > retain_x.npy`},
		{"truncate model", `chmod u+w model.onnx && : > model.onnx`},
		{"delete labels", `rm -f forget_y.npy`},
		{"add a file", `echo extra > notes.txt`},
		{"replace description", `chmod u+w inputs.json && echo {} > inputs.json`},
	} {
		for _, later := range []string{"member", "population", "member without cache"} {
			t.Run(c.name+"/"+later, func(t *testing.T) {
				cache := t.TempDir()
				if later == "member without cache" {
					cache = ""
				}
				var mu sync.Mutex
				var warnings []string
				in := func(seed uint64) *Inputs {
					in := f.inputs(seed, cache)
					in.Warn = func(s string) { mu.Lock(); warnings = append(warnings, s); mu.Unlock() }
					return in
				}
				// The reference: the folder's files as first written.
				ref := t.TempDir()
				if err := writeExecData(ref, f.inputs(0, "")); err != nil {
					t.Fatal(err)
				}
				check := `sh -c 'for f in ` + ref + `/*; do cmp -s "$f" {data}/$(basename "$f") || { echo "$f differs" >&2; exit 1; }; done; test $(ls {data} | wc -l) = $(ls ` + ref + ` | wc -l) || { echo extra files >&2; exit 1; }; cp {model} {out}'`
				first := newExec(t, map[string]any{"command": `sh -c 'cd {data} && ` + c.damage + ` && cp ` + ref + `/model.onnx {out}'`})
				if _, err := first.Unlearn(context.Background(), in(1)); err != nil {
					t.Fatal(err)
				}
				next := first
				if later == "population" {
					next = newExec(t, map[string]any{"command": check})
				} else {
					first.line, first.argv = check, mustParse(t, check)
				}
				if _, err := next.Unlearn(context.Background(), in(2)); err != nil {
					t.Fatalf("the later member read damaged data: %v", err)
				}
				dir := ""
				if cache != "" {
					dir = onlyDataDir(t, cache)
				} else {
					for _, d := range first.prepared {
						dir = d.dir
					}
				}
				if len(warnings) != 1 || !strings.Contains(warnings[0], dir) {
					t.Errorf("warnings %q, want one naming %s", warnings, dir)
				}
				if cache != "" {
					// Nothing left beside the folder: no temporary copy, no damaged one.
					ents, _ := os.ReadDir(filepath.Join(cache, "exec"))
					if len(ents) != 1 {
						t.Errorf("the cache's exec area holds %d entries", len(ents))
					}
				}
			})
		}
	}
}

func mustParse(t *testing.T, line string) []string {
	t.Helper()
	argv, err := parseCommand(line)
	if err != nil {
		t.Fatal(err)
	}
	return argv
}
