package run

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"unlearnbench/attack"
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
		key := scoreKey(p.dir, refPop.dir, cfg.N, cfg.Attacks)
		// A member computed in this run (new, or replacing a damaged
		// file) has a new wall time: score again rather than show the
		// old one.
		var m *result.Method
		if len(p.missing) == 0 && len(refPop.missing) == 0 {
			if m, err = readCachedMethod(cfg.cache(), key, p.Name); err != nil {
				e.opt.Warn(fmt.Sprintf("%v; scoring again", err))
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
			update, end := e.stage("scoring " + p.Name)
			m, err = evaluate.Method(ctx, u, ref, s.labels, evaluate.Options{Method: p.Name, Attacks: attackOpt, ScoreProgress: update, AttackProgress: update})
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
		res.Methods = append(res.Methods, *m)
	}
	e.out.Timing.Scoring = time.Since(t2).Seconds()
	return res, nil
}

// suiteOptions maps the config's attacks onto the suite's options (nil:
// the competition's score only).
func suiteOptions(a AttacksConfig) *suite.Options {
	if !a.Enabled {
		return nil
	}
	o := &suite.Options{Folds: a.Folds, Seed: a.Seed, PerExample: a.Classifiers, Pooled: a.Pooled, Features: a.Features,
		Classifier: attack.ClassifierOptions{Neighbours: a.KnnK, Trees: a.Trees}, PooledMaxTrain: a.PooledMaxTrain, MIASplits: a.MIASplits}
	if a.PooledMaxTrain == 0 {
		o.PooledMaxTrain = -1
	}
	return o
}

// scoreKey identifies a method's evaluation: its population and the
// reference's (directories named by their keys), N and the attack
// settings. Its bytes are those of every earlier version (Key.Sum):
// cached scores stay valid.
func scoreKey(u, r *population.Dir, n int, attacks AttacksConfig) string {
	a, _ := json.Marshal(attacks)
	var k population.Key
	k.Add("", "unlearnbench score")
	k.Add("layout", population.Layout)
	k.Add("", u.Manifest.Digest)
	k.Add("", r.Manifest.Digest)
	k.Add("n", n)
	k.Add("attacks", string(a))
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
