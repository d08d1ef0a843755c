package attack

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Sample is one side of an attack's input: rows of D features, row-major
// (for example N models' features on one forget example, or one model's
// losses on the forget set).
type Sample struct {
	X []float64
	D int
	// Group, when not nil, names each row's group (the model it came
	// from, when one model contributes a row per example): cross-validation
	// keeps a group's rows together in one fold.
	Group []int
}

// Rows is the number of rows.
func (s Sample) Rows() int {
	if s.D == 0 {
		return 0
	}
	return len(s.X) / s.D
}

// Outcome is what an attack measured on a positive and a negative sample.
type Outcome struct {
	// Rules are the attack's decision rules with their counts on the two
	// samples (held-out counts for trained attacks), for
	// scoring.ExampleEpsilon; nil for attacks measured per split only.
	Rules RuleSet
	// PosScores and NegScores score every row of each sample (held out
	// for trained attacks; higher means "positive"); nil when the attack
	// has no scores.
	PosScores, NegScores []float64
	// Decision counts the attack's own decisions (a trained classifier at
	// its own threshold, on held-out rows); nil when it has none.
	Decision *Counts
	// Splits counts each cross-validation split's held-out decisions, for
	// attacks reported per split (the starting kit's simple MIA).
	Splits []Counts
	// Warnings are what the caller must see that did not stop the attack.
	Warnings []string
}

// Metrics computes the ROC summaries of the outcome's scores.
func (o *Outcome) Metrics() (*Metrics, error) {
	if o.PosScores == nil {
		return nil, errors.New("the attack has no scores")
	}
	return ScoreMetrics(o.PosScores, o.NegScores)
}

// MeanSplitAccuracy is the mean over splits of the held-out accuracy, as
// scikit-learn's cross_val_score(scoring="accuracy") averages it.
func (o *Outcome) MeanSplitAccuracy() float64 {
	s := 0.0
	for _, c := range o.Splits {
		s += c.Decision().Accuracy
	}
	return s / float64(len(o.Splits))
}

// Attack tells a positive sample from a negative one.
type Attack interface {
	// Name identifies the attack, e.g. "logreg" or "decision-rules".
	Name() string
	Run(pos, neg Sample) (*Outcome, error)
}

// checkSamples checks that both samples have rows of the same width and
// finite values.
func checkSamples(pos, neg Sample) error {
	if pos.D < 1 || pos.D != neg.D {
		return fmt.Errorf("the samples have %d and %d features per row; want the same, at least 1", pos.D, neg.D)
	}
	for _, s := range []struct {
		name string
		s    Sample
	}{{"positive", pos}, {"negative", neg}} {
		if len(s.s.X)%s.s.D != 0 || len(s.s.X) == 0 {
			return fmt.Errorf("%s sample: %d values do not make rows of %d features", s.name, len(s.s.X), s.s.D)
		}
		if s.s.Group != nil && len(s.s.Group) != s.s.Rows() {
			return fmt.Errorf("%s sample: %d group ids for %d rows", s.name, len(s.s.Group), s.s.Rows())
		}
		for i, v := range s.s.X {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s sample: row %d, feature %d is %v; features must be finite", s.name, i/s.s.D, i%s.s.D, v)
			}
		}
	}
	return nil
}

// DecisionRules is the competition's decision-rule attack (CompetitionRules)
// on a single feature, the logit-scaled confidence: the sample with the
// larger median is the positive one (metric.md, step 2; the other sample's
// scores are then negated so that higher still means the first sample).
// It leaves out the score's shortcut for peaky samples, which
// scoring.Score applies before any rule.
type DecisionRules struct{}

// Name is "decision-rules".
func (DecisionRules) Name() string { return NameDecisionRules }

// NameDecisionRules names the competition's decision rules in results.
const NameDecisionRules = "decision-rules"

// Run builds the competition's rules on the two samples' only feature.
func (DecisionRules) Run(pos, neg Sample) (*Outcome, error) {
	if err := checkSamples(pos, neg); err != nil {
		return nil, err
	}
	if pos.D != 1 {
		return nil, fmt.Errorf("decision rules look at one feature, have %d", pos.D)
	}
	p, n := pos.X, neg.X
	if Median(n) > Median(p) {
		p, n = n, p
	}
	rules, err := NewCompetitionRules(p, n)
	if err != nil {
		return nil, err
	}
	return &Outcome{Rules: rules, PosScores: slices.Clone(pos.X), NegScores: slices.Clone(neg.X)}, nil
}

// Median is NumPy's median: the middle value, or the mean of the two
// middle ones (gonum's quantiles pick or interpolate differently).
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ExampleError says which forget example an attack (or scoring, through
// its alias) failed on.
type ExampleError struct {
	Example int
	Err     error
}

func (e *ExampleError) Error() string { return fmt.Sprintf("forget example %d: %v", e.Example, e.Err) }
func (e *ExampleError) Unwrap() error { return e.Err }

// PerExample runs an attack on every forget example: the unlearned
// population's rows on that example (positive) against the retrained
// population's (negative). newAttack gives the attack for example e (so
// that each example draws from its own seeded stream, whatever the order
// the workers take them in). Examples run in parallel on workers
// goroutines (0: GOMAXPROCS); progress, when set, is called with the number
// done. An error names the lowest-numbered failing example.
func PerExample(u, r *FeatureSet, newAttack func(e int) Attack, workers int, progress func(done int)) ([]*Outcome, error) {
	if u.E != r.E || u.D() != r.D() {
		return nil, fmt.Errorf("the populations have %d and %d examples of %d and %d features", u.E, r.E, u.D(), r.D())
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, u.E))
	out := make([]*Outcome, u.E)
	var next, done atomic.Int64
	var failed atomic.Bool
	errs := make([]error, u.E)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ubuf, rbuf []float64
			for !failed.Load() {
				e := int(next.Add(1) - 1)
				if e >= u.E {
					return
				}
				ubuf, rbuf = u.Example(e, ubuf), r.Example(e, rbuf)
				o, err := newAttack(e).Run(Sample{X: ubuf, D: u.D()}, Sample{X: rbuf, D: r.D()})
				if err != nil {
					errs[e] = err
					failed.Store(true)
					return
				}
				out[e] = o
				if progress != nil {
					progress(int(done.Add(1)))
				}
			}
		}()
	}
	wg.Wait()
	for e, err := range errs {
		if err != nil {
			return nil, &ExampleError{Example: e, Err: err}
		}
	}
	return out, nil
}
