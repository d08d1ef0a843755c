package run

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"time"

	"unlearnbench/evaluate"
	"unlearnbench/internal/usererr"
	"unlearnbench/population"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

// How run scores beyond the competition's F: the strict stop, F's
// bootstrap interval, and growing N until that interval is narrow enough.

// ScoringConfig is the config's scoring section.
type ScoringConfig struct {
	// Strict stops the run on a forget example whose every rule was
	// discarded, as the competition's evaluation did; by default such an
	// example gets epsilon 0 and a warning (evaluate.Options.Strict).
	Strict bool `yaml:"strict"`
	// Resamples is the number of bootstrap draws of F's interval over
	// models (0: no interval); Level its coverage; Seed seeds the draws.
	Resamples int     `yaml:"resamples"`
	Level     float64 `yaml:"level"`
	Seed      uint64  `yaml:"seed"`
	// TargetWidth, when set, is the width of F's interval wanted: the
	// interval then also measures how it narrows with N (when N >= 12,
	// three bootstraps instead of one), the reports state the N it
	// needs, and so does a dry run from the last result.
	TargetWidth *float64 `yaml:"target_width"`
	// NMax, when set (with TargetWidth), grows N after scoring until the
	// widest interval of F is at most TargetWidth or N reaches NMax.
	NMax int `yaml:"n_max"`
}

// defaultScoring is the scoring section's defaults.
func defaultScoring() ScoringConfig {
	return ScoringConfig{Resamples: scoring.DefaultResamples, Level: scoring.DefaultLevel}
}

// check refuses bad scoring settings, one line naming the field, before
// any work; n is the config's n.
func (s ScoringConfig) check(file string, n int) error {
	bad := func(format string, args ...any) error {
		return usererr.Errorf("config %s: scoring."+format, append([]any{file}, args...)...)
	}
	switch {
	case s.Resamples < 0 || s.Resamples == 1:
		return bad("resamples: %d; want 0 (no interval of F) or 2 or more", s.Resamples)
	case s.Resamples > 1_000_000:
		return bad("resamples: %d; want at most 1000000", s.Resamples)
	case !(s.Level > 0 && s.Level < 1):
		return bad("level: %v; want a coverage strictly between 0 and 1 (e.g. 0.95)", s.Level)
	case s.NMax < 0:
		return bad("n_max: %d; want 0 (no growth) or a cap on n", s.NMax)
	}
	if s.TargetWidth != nil {
		if err := evaluate.CheckTargetWidth(fmt.Sprintf("config %s: scoring.target_width", file), *s.TargetWidth); err != nil {
			return err
		}
		if s.Resamples == 0 {
			return bad("target_width: %v with resamples: 0; a width needs F's interval (resamples: %d)", *s.TargetWidth, scoring.DefaultResamples)
		}
	}
	if s.NMax > 0 {
		if s.TargetWidth == nil {
			return bad("n_max: %d without target_width: growth stops at a width of F's interval; give one (e.g. target_width: 0.05)", s.NMax)
		}
		if _, err := evaluate.NewGrowthPlan("scoring.target_width", *s.TargetWidth, s.NMax); err != nil {
			return usererr.Errorf("config %s: scoring.n_max: %v", file, err)
		}
		if s.NMax < n {
			return bad("n_max: %d is below n: %d; the cap must be at least n", s.NMax, n)
		}
	}
	return nil
}

// measureExponent reports whether the interval also measures how it
// narrows with N: only for a target width (the N it needs rests on it),
// and only where N/4 models still make a score.
func (s ScoringConfig) measureExponent(n int) bool {
	return s.TargetWidth != nil && n >= 12
}

// bootstrap is evaluate's bootstrap options at n models (nil: no
// interval).
func (s ScoringConfig) bootstrap(n int) *scoring.BootstrapOptions {
	if s.Resamples == 0 {
		return nil
	}
	return &scoring.BootstrapOptions{Resamples: s.Resamples, Level: s.Level, Seed: s.Seed, MeasureExponent: s.measureExponent(n)}
}

// addKey adds to a score's cache key what changes the cached method: the
// strict stop when set, and the interval's settings when they are not
// the defaults. With the defaults the key is the one every earlier
// version wrote, so cached scores stay found; the interval is not in the
// key then, so cached reads whether a cached method carries the interval
// wanted (those written before run computed intervals do not: addInterval
// adds it once, and rewrites the file).
func (s ScoringConfig) addKey(k *population.Key, n int) {
	if s.Strict {
		k.Add("strict", true)
	}
	if s.Resamples == 0 {
		return
	}
	if d := defaultScoring(); s.Resamples != d.Resamples || s.Level != d.Level || s.Seed != d.Seed {
		k.Add("interval", fmt.Sprintf("resamples %d level %v seed %d", s.Resamples, s.Level, s.Seed))
	}
	if s.measureExponent(n) {
		k.Add("exponent", true)
	}
}

// cached returns the cached method m without an interval this config
// does not want (none, or one drawn otherwise), for addInterval to draw
// the one wanted. (Whether the width's exponent was measured is in the
// key: a measurement may legitimately find none.)
func (s ScoringConfig) cached(m *result.Method) *result.Method {
	if m == nil {
		return nil
	}
	if iv := m.Score.Interval; iv != nil && (s.Resamples == 0 || iv.Resamples != s.Resamples || iv.Level != s.Level || iv.Seed != s.Seed || iv.Size != 0) {
		m.Score.Interval = nil
	}
	return m
}

// addInterval draws F's interval for a cached method that lacks it (one
// cached before run computed intervals) and rewrites its cache file: the
// score alone with its bootstrap, not the attacks, which the interval
// does not depend on. When the score it recomputes is not the cached one
// (a cache from an older scoring), it returns nil: score again from
// scratch. ref is the reference population, loaded here when nil.
func (e *execution) addInterval(ctx context.Context, m *result.Method, p, refPop *pop, ref *population.Population, key string) (*result.Method, *population.Population, error) {
	cfg := e.cfg
	if ctx.Err() != nil {
		return nil, nil, &InterruptedError{Err: fmt.Errorf("interrupted while scoring: every population and %d scores are cached: rerun to continue", e.out.Timing.Scored)}
	}
	var err error
	if ref == nil {
		if ref, err = refPop.dir.Load(cfg.N, refPop.Name); err != nil {
			return nil, nil, err
		}
	}
	u, err := p.dir.Load(cfg.N, p.Name)
	if err != nil {
		return nil, nil, err
	}
	update, end := e.stage(Stage{Label: "interval of " + p.Name, Unit: "forget examples"})
	fresh, err := evaluate.Method(ctx, u, ref, e.sets.labels, evaluate.Options{Method: p.Name, Strict: cfg.Scoring.Strict, Bootstrap: cfg.Scoring.bootstrap(cfg.N), ScoreProgress: update})
	end()
	if err != nil && ctx.Err() != nil {
		return nil, nil, &InterruptedError{Err: fmt.Errorf("interrupted while scoring %s: every population and %d scores are cached: rerun to continue: %w", p.Name, e.out.Timing.Scored, ctx.Err())}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("evaluating %s: %w", p.Name, err)
	}
	if fresh.Score.F != m.Score.F || !reflect.DeepEqual(fresh.Score.Final, m.Score.Final) {
		return nil, ref, nil
	}
	m.Score.Interval = fresh.Score.Interval
	if err := cfg.cache().WriteScore(key, m); err != nil {
		return nil, nil, err
	}
	e.out.Timing.Scored++
	return m, ref, nil
}

// record puts the target width into m's interval, for the reports to
// state the N it needs. It is not cached: the width changes nothing
// computed.
func (s ScoringConfig) record(m *result.Method) {
	if s.TargetWidth != nil && m.Score.Interval != nil {
		w := *s.TargetWidth
		m.Score.Interval.TargetWidth = &w
	}
}

// widest is the widest interval of F among the result's methods, nil
// when none has one.
func widest(r *result.Result) (*result.Method, *scoring.Interval) {
	var wm *result.Method
	var w *scoring.Interval
	for i := range r.Methods {
		iv := r.Methods[i].Score.Interval
		if iv != nil && (w == nil || iv.Width() > w.Width()) {
			wm, w = &r.Methods[i], iv
		}
	}
	return wm, w
}

// grow runs cfg, then runs it again at a larger N while F's widest
// interval is wider than the target and N is below the cap. Members are
// cached, so each step computes only the members between one N and the
// next; each step writes the run directory, and the last one's is the
// outcome (its config.yaml has the N reached).
func grow(ctx context.Context, cfg *Config, opt Options) (*Outcome, error) {
	if err := cfg.Resolve(); err != nil {
		return nil, err
	}
	plan, err := evaluate.NewGrowthPlan("scoring.target_width", *cfg.Scoring.TargetWidth, cfg.Scoring.NMax)
	if err != nil {
		return nil, err
	}
	opt.growing = true
	start := time.Now()
	var sum Timing
	var steps []evaluate.Step
	for {
		o, err := Execute(ctx, cfg, opt)
		if err != nil {
			return nil, err
		}
		t := o.Timing
		sum.Original += t.Original
		sum.Computed += t.Computed
		sum.Members += t.Members
		sum.MethodSeconds += t.MethodSeconds
		sum.Workers = t.Workers
		sum.Scored += t.Scored
		sum.Scoring += t.Scoring
		if len(o.Incomplete) > 0 {
			// Members failed: their methods are not scored, so their
			// intervals cannot say how far to grow; a rerun computes the
			// failed members first.
			if opt.Out != nil {
				fmt.Fprintf(opt.Out, "growth: stopped at N = %d: members failed (rerun to compute them, then growth goes on)\n", cfg.N)
			}
			sum.Start = start
			o.Timing, o.Growth = sum, steps
			return o, nil
		}
		_, iv := widest(o.Result)
		step := plan.Next(cfg.N, iv)
		steps = append(steps, step)
		if opt.Out != nil {
			fmt.Fprintf(opt.Out, "growth: %s\n", step.Why)
		}
		if step.Done {
			sum.Start = start
			o.Timing, o.Growth = sum, steps
			return o, nil
		}
		cfg.N = step.N
		// The first step passed the run directory's check; the next ones
		// write the same run at a larger N, which that check would take
		// for another config's.
		opt.Replace = true
	}
}

// needed is what a dry run says about the N the target width needs, from
// the last result in the run directory; nil without a target width.
func (e *execution) needed() *result.PlanNeeded {
	tw := e.cfg.Scoring.TargetWidth
	if tw == nil {
		return nil
	}
	nd := &result.PlanNeeded{Target: *tw}
	path := filepath.Join(e.cfg.Runs, e.cfg.Name, "result.json")
	r, err := result.Read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		nd.Why = fmt.Sprintf("cannot say: no earlier result in %s to extrapolate from; run once first", path)
		return nd
	case err != nil:
		nd.Why = fmt.Sprintf("cannot say: %v", err)
		return nd
	}
	m, iv := widest(r)
	if iv == nil {
		nd.Why = fmt.Sprintf("cannot say: the methods in %s have no interval of F (it was scored with scoring.resamples: 0)", path)
		return nd
	}
	n, why := evaluate.NeededN(m.N, iv, *tw)
	nd.N = n
	nd.Why = fmt.Sprintf("from %s's interval, the widest in %s: %s", m.Name, path, why)
	return nd
}
