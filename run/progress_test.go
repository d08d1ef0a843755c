package run

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// Every stage of a run reports its progress through Options.Progress (run
// prints nothing itself): each population's members, then each method's
// score, counted in forget examples, and its attacks, each to its total.
func TestRunReportsEveryStage(t *testing.T) {
	cfg, err := Load(testConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	last := map[string][2]int{}
	ended := map[string]bool{}
	opt := Options{Progress: func(s Stage) (func(done, total int), func()) {
		key := s.Label + " (" + s.Unit + ")"
		mu.Lock()
		order = append(order, key)
		mu.Unlock()
		return func(done, total int) {
				mu.Lock()
				defer mu.Unlock()
				if done > last[key][0] || total != last[key][1] {
					last[key] = [2]int{max(done, last[key][0]), total}
				}
			}, func() {
				mu.Lock()
				ended[key] = true
				mu.Unlock()
			}
	}}
	if _, err := Execute(context.Background(), cfg, opt); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"computing reference (members)", "computing test-copy (members)", "computing scratch (members)",
		"scoring test-copy (forget examples)", "attacking test-copy (attacks)",
		"scoring scratch (forget examples)", "attacking scratch (attacks)",
	}
	if !slices.Equal(order, want) {
		t.Fatalf("stages %q; want %q", order, want)
	}
	for _, k := range want {
		got := last[k]
		if got[1] <= 0 || got[0] != got[1] || !ended[k] {
			t.Errorf("%s: reached %d of %d, ended %v; want its total, ended", k, got[0], got[1], ended[k])
		}
	}
	if n := last["scoring test-copy (forget examples)"][1]; n != 40 {
		t.Errorf("scoring counted %d forget examples; want 40", n)
	}
	t.Log(fmt.Sprint(last))
}
