package run

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"unlearnbench/attack/suite"
	"unlearnbench/evaluate"
	"unlearnbench/population"
	"unlearnbench/result"
)

// score scores every method against the reference into the run's result.
// Scores are cached too, keyed by the two populations and the attack
// settings, so that a rerun takes seconds, not the attacks' minutes.
func (e *execution) score(ctx context.Context) (*result.Result, error) {
	cfg, s := e.cfg, e.sets
	t2 := time.Now()
	res := result.NewFrom("run", map[string]string{"config": cfg.File}, &result.DataSplit{Dataset: s.src.Name, Classes: s.src.Train.Classes, Train: len(s.trainIdx),
		Retain: len(s.split.Retain), Forget: len(s.split.Forget), Validation: len(s.split.Validation), Test: len(s.split.Test),
		ForgetSelection: s.split.Config.Forget.String(), ForgetDigest: result.IDsDigest(s.split.Forget)})
	var err error
	if res.Config, err = cfg.JSON(); err != nil {
		return nil, err
	}
	attackOpt := suiteOptions(cfg.Attacks)
	refPop := e.pops[0]
	var ref *population.Population
	for _, p := range e.pops[1:] {
		if e.unscored(p) {
			continue
		}
		key := scoreKey(p.dir, refPop.dir, cfg.N, cfg.Attacks, cfg.Scoring)
		// A member computed in this run (new, or replacing a damaged
		// file) has a new wall time: score again rather than show the
		// old one.
		var m *result.Method
		if len(p.missing) == 0 && len(refPop.missing) == 0 {
			if m, err = readCachedMethod(cfg.cache(), key, p.Name); err != nil {
				e.opt.Warn(fmt.Sprintf("%v; scoring again", err))
			}
			m = cfg.Scoring.cached(m)
			if m != nil && m.Score.Interval == nil && cfg.Scoring.Resamples > 0 {
				if m, ref, err = e.addInterval(ctx, m, p, refPop, ref, key); err != nil {
					return nil, err
				}
			}
		}
		if m == nil {
			interrupted := func() error {
				return &InterruptedError{Err: fmt.Errorf("interrupted while scoring %s: every population and %d scores are cached: rerun to continue: %w", p.Name, e.out.Timing.Scored, ctx.Err())}
			}
			if ctx.Err() != nil {
				return nil, interrupted()
			}
			if ref == nil {
				if ref, err = refPop.dir.Load(cfg.N, refPop.Name); err != nil {
					return nil, err
				}
			}
			u, err := p.dir.Load(cfg.N, p.Name)
			if err != nil {
				return nil, err
			}
			scoreProgress, attackProgress, end := e.scoringStages(p.Name)
			m, err = evaluate.Method(ctx, u, ref, s.labels, evaluate.Options{Method: p.Name, Attacks: attackOpt, ScoreProgress: scoreProgress, AttackProgress: attackProgress,
				Strict: cfg.Scoring.Strict, Bootstrap: cfg.Scoring.bootstrap(cfg.N)})
			end()
			if err != nil && ctx.Err() != nil {
				return nil, interrupted()
			}
			if err != nil {
				return nil, fmt.Errorf("evaluating %s: %w", p.Name, err)
			}
			if err := cfg.cache().WriteScore(key, m); err != nil {
				return nil, err
			}
			e.out.Timing.Scored++
		}
		cfg.Scoring.record(m)
		res.Methods = append(res.Methods, *m)
	}
	if err := e.completeScoring(res); err != nil {
		return nil, err
	}
	result.MarkUnseparated(res.Methods)
	e.out.Timing.Scoring = time.Since(t2).Seconds()
	cfg.recordScoringRate(time.Since(t2), e.out.Timing.Scored, cfg.N, len(s.split.Forget))
	return res, nil
}

// suiteOptions maps the config's attacks onto the suite's options (nil:
// the competition's score only).
func suiteOptions(a AttacksConfig) *suite.Options {
	if !a.Enabled {
		return nil
	}
	o := a.settings().Options()
	return &o
}

// scoreKey identifies a method's evaluation: its population and the
// reference's (directories named by their keys), N and the attack
// settings, and the scoring settings that are not the defaults
// (ScoringConfig.addKey). Its bytes are those of every earlier version
// (Key.Sum): cached scores stay valid.
func scoreKey(u, r *population.Dir, n int, attacks AttacksConfig, sc ScoringConfig) string {
	a, _ := json.Marshal(attacks)
	var k population.Key
	k.Add("", "unlearnbench score")
	k.Add("layout", population.Layout)
	k.Add("", u.Manifest.Digest)
	k.Add("", r.Manifest.Digest)
	k.Add("n", n)
	k.Add("attacks", string(a))
	sc.addKey(&k, n)
	return k.Sum("\x00", false)
}

// readCachedMethod reads the cached evaluation of method name under key;
// nil, nil when there is none. An entry of another key, or one that is
// not a complete evaluation of this method, is an error (a
// *population.EntryError naming the file): the caller scores again.
func readCachedMethod(c population.Cache, key, name string) (*result.Method, error) {
	var m result.Method
	found, err := c.ReadScore(key, &m)
	if err != nil || !found {
		return nil, err
	}
	if m.Name != name {
		return nil, &population.EntryError{Path: c.Score(key), Err: fmt.Errorf("holds the evaluation of %q, not %q", m.Name, name)}
	}
	return &m, nil
}

// scoringStages are a method's two progress stages, the score (counted in
// forget examples) and then the attacks: the attack stage starts when the
// score is complete, so that its ETA counts only the attacks' time.
func (e *execution) scoringStages(name string) (score, attack func(done, total int), end func()) {
	var mu sync.Mutex
	sUpdate, sEnd := e.stage(Stage{"scoring " + name, "forget examples"})
	var aUpdate func(int, int)
	aEnd := func() {}
	startAttacks := func() { // mu held
		if aUpdate == nil {
			sEnd()
			aUpdate, aEnd = e.stage(Stage{"attacking " + name, "attacks"})
		}
	}
	score = func(done, total int) {
		sUpdate(done, total)
		if done >= total {
			mu.Lock()
			startAttacks()
			mu.Unlock()
		}
	}
	attack = func(done, total int) {
		mu.Lock()
		startAttacks()
		update := aUpdate
		mu.Unlock()
		update(done, total)
	}
	end = func() {
		mu.Lock()
		defer mu.Unlock()
		sEnd()
		aEnd()
	}
	return score, attack, end
}
