package run

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/population"
)

// A dry run estimates a population with no cached member from the last
// measured member of the same method and parameters elsewhere in the
// cache, and says so.
func TestDryRunGuessesFromTheSameMethod(t *testing.T) {
	file := testConfig(t, "")
	mustExecute(t, file, Options{})
	// Renamed, the population draws other seeds: a directory of its own,
	// with nothing cached, of the same method and parameters.
	text := strings.Replace(readFile(t, file), "{name: scratch, method: test-scratch}", "{name: scratch-2, method: test-scratch}", 1)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	o, out, _ := mustExecute(t, file, Options{DryRun: true, Replace: true})
	p := o.Plan
	if p == nil || len(p.Populations) != 3 {
		t.Fatalf("plan %+v\n%s", p, out)
	}
	r := p.Populations[2]
	if r.Name != "scratch-2" || r.Cached != 0 || r.Missing != 4 || r.Bound || !strings.Contains(r.Guess, "the last measured member of the same method and parameters (population scratch,") {
		t.Fatalf("scratch-2's row: %+v", r)
	}
	// The guess is the newest member of scratch's population.
	members, _ := filepath.Glob(filepath.Join(filepath.Dir(file), "cache", "populations", "*", "member-*.npz"))
	var newest float64
	var newestMod int64
	for _, m := range members {
		mem, err := population.ReadMember(m)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(m)
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(m), "manifest.json"))
		if strings.Contains(string(b), `"name": "scratch"`) && st.ModTime().UnixNano() > newestMod {
			newest, newestMod = mem.Seconds, st.ModTime().UnixNano()
		}
	}
	if want := 4 * newest / float64(p.Workers); newest == 0 || math.Abs(r.Seconds-want) > 1e-9*want {
		t.Fatalf("scratch-2's estimate %v s; want 4 x %v s / %d workers", r.Seconds, newest, p.Workers)
	}
	// test-copy's population is cached: measured, not guessed.
	if c := p.Populations[1]; c.Guess != "" || c.Bound {
		t.Fatalf("test-copy's row: %+v", c)
	}
}
