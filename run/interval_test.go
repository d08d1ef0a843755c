package run

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/population"
	"unlearnbench/scoring"
)

// With the default scoring settings (and with the interval off), a score's
// cache key is byte for byte the one earlier versions wrote, so their
// cached scores stay found; strict and every other interval setting make
// a key of their own.
func TestScoreKeyKeepsTheOldKeys(t *testing.T) {
	u := &population.Dir{Manifest: population.Manifest{Digest: "d1"}}
	r := &population.Dir{Manifest: population.Manifest{Digest: "d2"}}
	attacks := Defaults().Attacks
	b, _ := json.Marshal(attacks)
	s := sha256.Sum256(fmt.Appendf(nil, "unlearnbench score\x00layout %d\x00d1\x00d2\x00n %d\x00attacks %s", population.Layout, 32, b))
	old := hex.EncodeToString(s[:])
	def := defaultScoring()
	off := def
	off.Resamples = 0
	for name, sc := range map[string]ScoringConfig{"default": def, "no interval": off} {
		if got := scoreKey(u, r, 32, attacks, sc); got != old {
			t.Errorf("%s: key %s; earlier versions wrote %s", name, got, old)
		}
	}
	w := 0.05
	changed := map[string]func(*ScoringConfig){
		"strict":       func(c *ScoringConfig) { c.Strict = true },
		"resamples":    func(c *ScoringConfig) { c.Resamples = 50 },
		"level":        func(c *ScoringConfig) { c.Level = 0.9 },
		"seed":         func(c *ScoringConfig) { c.Seed = 7 },
		"target width": func(c *ScoringConfig) { c.TargetWidth = &w }, // measures the exponent at N = 32
	}
	seen := map[string]string{old: "default"}
	for name, f := range changed {
		sc := defaultScoring()
		f(&sc)
		k := scoreKey(u, r, 32, attacks, sc)
		if other, dup := seen[k]; dup {
			t.Errorf("%s: the same key as %s", name, other)
		}
		seen[k] = name
	}
	// Below 12 models no exponent is measured: the target width changes
	// nothing cached.
	sc := defaultScoring()
	sc.TargetWidth = &w
	if scoreKey(u, r, 8, attacks, sc) != scoreKey(u, r, 8, attacks, def) {
		t.Error("a target width at N = 8 changed the key")
	}
}

// Bad scoring settings stop the run in one line naming the field, before
// any data is read or anything written.
func TestRunScoringConfigErrors(t *testing.T) {
	cases := []struct{ extra, want string }{
		{"scoring: {resamples: 1}\n", "scoring.resamples: 1; want 0"},
		{"scoring: {resamples: -3}\n", "scoring.resamples: -3"},
		{"scoring: {level: 1.5}\n", "scoring.level: 1.5"},
		{"scoring: {target_width: 0}\n", "scoring.target_width is 0; want a positive"},
		{"scoring: {target_width: .nan}\n", "scoring.target_width is NaN"},
		{"scoring: {target_width: -0.1, n_max: 8}\n", "scoring.target_width is -0.1"},
		{"scoring: {target_width: 0.05, resamples: 0}\n", "with resamples: 0"},
		{"scoring: {n_max: 8}\n", "n_max: 8 without target_width"},
		{"scoring: {target_width: 0.05, n_max: 3}\n", "n_max: 3 is below n: 4"},
		{"scoring: {target_width: 0.05, n_max: -1}\n", "n_max: -1"},
		{"scoring: {strict: maybe}\n", "scoring.strict: want true or false"},
		{"scoring: {resample: 5}\n", `did you mean "scoring.resamples"`},
	}
	for _, c := range cases {
		cfg := testConfig(t, c.extra)
		o, out, _, err := execute(t, cfg, Options{})
		t.Logf("%q: %v", c.extra, err)
		if !usererr.Is(err) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") || o != nil {
			t.Errorf("%q: %v; want a one-line user error with %q", c.extra, err, c.want)
		}
		if out != "" {
			t.Errorf("%q: the run started before refusing: %s", c.extra, out)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "cache")); err == nil {
			t.Errorf("%q: the cache was written", c.extra)
		}
	}
}

// A run puts F's interval on every method by default, marks the methods
// it does not separate, and serves it from the score cache; a cached
// score without the interval wanted gets it added once (the same a full
// scoring draws), one with an interval no longer wanted is served
// without it; strict is a score of
// its own. A run with n_max grows N until the target width or the cap.
func TestRunIntervalsAndGrowth(t *testing.T) {
	cfg := testConfig(t, "scoring: {resamples: 0}\n")
	o, out, _ := mustExecute(t, cfg, Options{})
	for _, m := range o.Result.Methods {
		if m.Score.Interval != nil || m.Score.Unseparated != nil {
			t.Fatalf("%s: an interval with resamples: 0:\n%s", m.Name, out)
		}
	}
	// The default: 200 resamples at level 0.95. The scores cached
	// without intervals get them, without attacking again.
	setLine(t, cfg, "scoring", "")
	var stages []string
	o, out, _ = mustExecute(t, cfg, Options{Progress: func(st Stage) (func(int, int), func()) {
		stages = append(stages, st.Label)
		return func(int, int) {}, func() {}
	}})
	if o.Timing.Computed != 0 || o.Timing.Scored != 2 || strings.Join(stages, ", ") != "interval of test-copy, interval of scratch" {
		t.Fatalf("intervals wanted of cached scores without them: computed %d, scored %d, stages %q; want 0, 2 and the intervals alone:\n%s", o.Timing.Computed, o.Timing.Scored, stages, out)
	}
	checkIntervals := func(o *Outcome, n int, target *float64) {
		t.Helper()
		ms := o.Result.Methods
		for _, m := range ms {
			iv := m.Score.Interval
			if iv == nil || iv.Resamples != scoring.DefaultResamples || iv.Level != scoring.DefaultLevel || iv.Seed != 0 || m.N != n ||
				!(iv.Low <= iv.High) || (target == nil) != (iv.TargetWidth == nil) || target != nil && *iv.TargetWidth != *target {
				t.Fatalf("%s: N %d, interval %+v; want N = %d, 200 resamples at 0.95, seed 0, target %v", m.Name, m.N, iv, n, target)
			}
		}
		// Two methods: each is unseparated from the other, or neither.
		a, b := ms[0].Score, ms[1].Score
		overlap := a.Interval.Low <= b.Interval.High && b.Interval.Low <= a.Interval.High
		if ms[0].Score.Final != nil && ms[1].Score.Final != nil {
			overlap = *a.Interval.FinalLow <= *b.Interval.FinalHigh && *b.Interval.FinalLow <= *a.Interval.FinalHigh
		}
		if overlap != (len(a.Unseparated) == 1 && a.Unseparated[0] == ms[1].Name) || overlap != (len(b.Unseparated) == 1 && b.Unseparated[0] == ms[0].Name) {
			t.Fatalf("overlap %v but unseparated %v and %v", overlap, a.Unseparated, b.Unseparated)
		}
	}
	checkIntervals(o, 4, nil)
	first := methodsJSON(t, o.Result)
	o, out, _ = mustExecute(t, cfg, Options{})
	if o.Timing.Scored != 0 || methodsJSON(t, o.Result) != first {
		t.Fatalf("the rerun scored %d methods or differs:\n%s", o.Timing.Scored, out)
	}
	// The interval added to a cached score (the score alone, no attacks)
	// is the one a full scoring draws.
	scores, _ := filepath.Glob(filepath.Join(filepath.Dir(cfg), "cache", "scores", "*.json"))
	for _, f := range scores {
		os.Remove(f)
	}
	o, out, _ = mustExecute(t, cfg, Options{})
	if len(scores) != 2 || o.Timing.Scored != 2 || methodsJSON(t, o.Result) != first {
		t.Fatalf("scored from scratch (%d cache files removed, %d scored), the methods differ from the cached ones with an interval added:\n%s\n%s", len(scores), o.Timing.Scored, methodsJSON(t, o.Result), first)
	}
	// Without an interval wanted, the cached score serves without it.
	setLine(t, cfg, "scoring", "scoring: {resamples: 0}\n")
	o, _, _ = mustExecute(t, cfg, Options{})
	if o.Timing.Scored != 0 || o.Result.Methods[0].Score.Interval != nil || o.Result.Methods[1].Score.Unseparated != nil {
		t.Fatalf("resamples: 0 on a cached score with an interval: scored %d, %+v", o.Timing.Scored, o.Result.Methods[0].Score)
	}
	// Strict is a score of its own: scored, not served from the cache.
	// (Whether it stops depends on the populations: every member of
	// test-copy is the original, so its examples' rules are all kept or
	// all discarded alike; either way strict reached the scoring.)
	setLine(t, cfg, "scoring", "scoring: {strict: true, resamples: 0}\n")
	o, out, warn, err := execute(t, cfg, Options{})
	switch {
	case err != nil && (!usererr.Is(err) || !strings.Contains(err.Error(), "discarded")):
		t.Fatalf("strict: %v", err)
	case err == nil && o.Timing.Scored != 2:
		t.Fatalf("strict: scored %d methods; want 2 (a key of its own):\n%s%s", o.Timing.Scored, out, warn)
	}
	t.Logf("strict: %v", err)

	// Growth: a width no interval at this size reaches, capped at 6.
	w := 0.001
	setLine(t, cfg, "scoring", fmt.Sprintf("scoring: {target_width: %v, n_max: 6}\n", w))
	o, out, _ = mustExecute(t, cfg, Options{})
	t.Log(out)
	g := o.Growth
	// The width's law asks for far more than 6 models: one step to the
	// cap (N = 4 served from the cache), then the stop.
	if len(g) != 2 || g[0].N != 6 || g[0].Done || !g[1].Done || !strings.Contains(g[1].Why, "reached its cap 6") {
		t.Fatalf("growth from 4 to a cap of 6: %+v", g)
	}
	if o.Timing.Computed != 6 || o.Timing.Scored != 2 || strings.Count(out, "growth: ") != 2 {
		t.Fatalf("growth from 4 to 6 computed %d members, scored %d; want 6 and 2:\n%s", o.Timing.Computed, o.Timing.Scored, out)
	}
	checkIntervals(o, 6, &w)
	if b := readFile(t, filepath.Join(o.Dir, "config.yaml")); !strings.Contains(b, "\n\"n\": 6\n") || !strings.Contains(b, "n_max: 6") {
		t.Fatalf("the run directory's config lacks the N reached:\n%s", b)
	}
	// A width the first interval meets stops at once, computing nothing.
	setLine(t, cfg, "scoring", "scoring: {target_width: 2, n_max: 6}\n")
	o, _, _ = mustExecute(t, cfg, Options{})
	if g := o.Growth; len(g) != 1 || !g[0].Done || !strings.Contains(g[0].Why, "within the target 2") || o.Timing.Computed != 0 {
		t.Fatalf("a width met at once: %+v, computed %d", g, o.Timing.Computed)
	}

	// The dry run states the N a width needs from the last result (the
	// run directory's: N = 4 here).
	setLine(t, cfg, "scoring", fmt.Sprintf("scoring: {target_width: %v}\n", w))
	o, _, _ = mustExecute(t, cfg, Options{DryRun: true})
	nd := o.Plan.Needed
	if nd == nil || nd.Target != w || nd.N <= 4 || !strings.Contains(nd.Why, "the widest in") || !strings.Contains(nd.Why, "needs N ≈") {
		t.Fatalf("dry run's N needed: %+v", nd)
	}
	// Without a target width it says nothing; without an earlier result
	// it says it cannot.
	setLine(t, cfg, "scoring", "")
	if o, _, _ = mustExecute(t, cfg, Options{DryRun: true}); o.Plan.Needed != nil {
		t.Fatalf("a dry run without a target width: %+v", o.Plan.Needed)
	}
	fresh := testConfig(t, "scoring: {target_width: 0.05}\n")
	o, _, _ = mustExecute(t, fresh, Options{DryRun: true})
	if nd := o.Plan.Needed; nd == nil || nd.N != 0 || !strings.Contains(nd.Why, "cannot say: no earlier result") {
		t.Fatalf("a dry run without an earlier result: %+v", nd)
	}
}

// The scoring section is out of the config's digest (shards agree
// whatever they would score with), so digests from before it existed
// hold.
func TestDigestLeavesOutScoring(t *testing.T) {
	cfg, err := Parse("a.yaml", []byte("methods: [{method: test-copy}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := Parse("b.yaml", []byte("methods: [{method: test-copy}]\nscoring: {strict: true, resamples: 0, target_width: 0.1, n_max: 64}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := cfg.Digest()
	d2, _ := other.Digest()
	if d1 != d2 {
		t.Error("the scoring section changed the digest")
	}
	if y, _ := cfg.YAML(); !strings.Contains(string(y), "scoring:\n  strict: false\n  resamples: 200\n  level: 0.95\n") {
		t.Errorf("the resolved config does not write the scoring defaults:\n%s", y)
	}
}
