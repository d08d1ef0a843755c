package run

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"unlearnbench/internal/atomicfile"
)

// The dry run's estimate of scoring and attacks. A method's evaluation
// costs about N x E "units" (models per population x forget examples) at
// a rate that depends on the attack settings: the competition's score is
// a pass over every (model, example) pair, the per-example classifiers fit
// 2N rows per example, the pooled ones 2NE rows (kNN and the forest on a
// capped sample). Each scoring run records its measured rate per attack
// setting in CACHE/costs.json; a dry run uses it, or, before any was
// measured, the assumed rates below.
const (
	// assumedAttackRate is seconds per model x forget example of the
	// default attack suite: 2.8 s per method at N = 32, E = 300 on a quiet
	// 2-core machine (BENCHMARKS.md). Per-example kNN grows as N^2 x E, so
	// at large N this is a lower bound.
	assumedAttackRate = 2.8 / (32 * 300)
	// assumedScoreRate is the score alone (attacks: {enabled: false}):
	// 1 s for N = 512, E = 1,000 on one worker (BENCHMARKS.md).
	assumedScoreRate = 1.0 / (512 * 1000)
)

// costsFile is where measured rates are kept, keyed by the attack
// settings (as the score cache keys them).
func (c *Config) costsFile() string { return filepath.Join(c.Cache, "costs.json") }

// costKey is the attack settings a rate was measured with.
func costKey(a AttacksConfig) string {
	b, _ := json.Marshal(a)
	return string(b)
}

// scoringRate is the seconds per model x forget example of one method's
// evaluation with cfg's attack settings, and whether it was measured.
func (c *Config) scoringRate() (float64, bool) {
	rates := map[string]float64{}
	if b, err := os.ReadFile(c.costsFile()); err == nil && json.Unmarshal(b, &rates) == nil {
		if r, ok := rates[costKey(c.Attacks)]; ok && r > 0 {
			return r, true
		}
	}
	if c.Attacks.Enabled {
		return assumedAttackRate, false
	}
	return assumedScoreRate, false
}

// recordScoringRate keeps the rate measured scoring methods methods of n
// models and e forget examples in d. The record only improves a later dry
// run's estimate: a cache that cannot be written (a read-only mount) keeps
// none, without a failure.
func (c *Config) recordScoringRate(d time.Duration, methods, n, e int) {
	if methods == 0 || n*e == 0 {
		return
	}
	rates := map[string]float64{}
	if b, err := os.ReadFile(c.costsFile()); err == nil {
		_ = json.Unmarshal(b, &rates) // a damaged record is replaced
	}
	rates[costKey(c.Attacks)] = d.Seconds() / float64(methods*n*e)
	b, err := json.MarshalIndent(rates, "", "  ")
	if err != nil {
		return
	}
	_ = atomicfile.WriteBytes(c.costsFile(), append(b, '\n'))
}

// scoringPlan estimates the scoring and attacks of the methods whose
// scores are not cached, for the dry run's plan.
func (e *execution) scoringPlan() (methods int, seconds float64, how string) {
	cfg := e.cfg
	E := len(e.sets.split.Forget)
	if e.pops == nil {
		methods = len(cfg.methods) - 1
	} else {
		ref := e.pops[0]
		for _, p := range e.pops[1:] {
			if len(p.missing) > 0 || len(ref.missing) > 0 {
				methods++
				continue
			}
			if m, err := readCachedMethod(cfg.cache(), scoreKey(p.dir, ref.dir, cfg.N, cfg.Attacks, cfg.Scoring), p.Name); err != nil || m == nil {
				methods++
			}
		}
	}
	rate, measured := cfg.scoringRate()
	seconds = float64(methods) * rate * float64(cfg.N) * float64(E)
	how = fmt.Sprintf("%.3g ms per model x forget example, ", rate*1e3)
	if measured {
		how += "measured by an earlier run with these attack settings"
	} else {
		how += "assumed: none measured with these attack settings yet, and per-example kNN grows faster than N x E"
	}
	return methods, seconds, how
}
