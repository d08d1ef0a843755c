package scoring

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/stat"

	"unlearnbench/attack"
	"unlearnbench/internal/npsum"
)

// Population is one population's values on the forget set: N models by E
// examples, model i's value on example e at Conf[i*E+e] (logit-scaled
// confidences), with each model's retain and test accuracy when known.
type Population struct {
	N, E      int
	Conf      []float64
	RetainAcc []float64 // len N, or nil
	TestAcc   []float64 // len N, or nil
}

// Column copies example e's values into dst.
func (p *Population) Column(e int, dst []float64) []float64 {
	dst = dst[:0]
	for i := 0; i < p.N; i++ {
		dst = append(dst, p.Conf[i*p.E+e])
	}
	return dst
}

// Population names.
const (
	Unlearned = "unlearned"
	Retrained = "retrained"
)

// Example is one forget example's part in the score.
type Example struct {
	Index   int     `json:"index"`
	Epsilon float64 `json:"epsilon"`
	// Bucket is the index of the bucket the epsilon fell in, -1 for none.
	Bucket int     `json:"bucket"`
	Points float64 `json:"points"`
	// Positive names the population with the larger median (step 2 of the
	// score): "retrained" only when its median is strictly larger.
	Positive        string  `json:"positive"`
	MedianUnlearned float64 `json:"median_unlearned"`
	MedianRetrained float64 `json:"median_retrained"`
	SpreadUnlearned float64 `json:"spread_unlearned"`
	SpreadRetrained float64 `json:"spread_retrained"`
	// Peaky is true when the narrower population's spread was under 1% of
	// the wider one's and the example got EpsilonCap without any rule.
	Peaky bool `json:"peaky"`
	// Separated is true when a rule told the populations apart perfectly.
	Separated bool `json:"separated"`
	// Undetermined is true when every rule was discarded (each had FPR or
	// FNR 0: no rule separates the populations at the metric's resolution)
	// and the example got epsilon 0, one point, instead of failing the
	// score as the competition's evaluation does (Options.Strict).
	Undetermined bool `json:"undetermined,omitempty"`
	// Rule is the first rule reaching the example's epsilon (nil if Peaky),
	// with FPR and FNR its rates as the epsilon used them.
	Rule *attack.Rule `json:"rule,omitempty"`
	FPR  *float32     `json:"fpr,omitempty"`
	FNR  *float32     `json:"fnr,omitempty"`
	// Rules is the number of rules in the grid of both families.
	Rules int `json:"rules"`
}

// Utility is the accuracy side of the final score: mean accuracies (RA_U,
// RA_R, TA_U, TA_R) and their sample standard deviations over the models.
type Utility struct {
	RetainUnlearned    float64 `json:"retain_unlearned"`
	RetainRetrained    float64 `json:"retain_retrained"`
	TestUnlearned      float64 `json:"test_unlearned"`
	TestRetrained      float64 `json:"test_retrained"`
	RetainUnlearnedStd float64 `json:"retain_unlearned_std"`
	RetainRetrainedStd float64 `json:"retain_retrained_std"`
	TestUnlearnedStd   float64 `json:"test_unlearned_std"`
	TestRetrainedStd   float64 `json:"test_retrained_std"`
	// RetainRatio is RA_U / RA_R and TestRatio TA_U / TA_R.
	RetainRatio float64 `json:"retain_ratio"`
	TestRatio   float64 `json:"test_ratio"`
}

// Result is a whole score.
type Result struct {
	N, E       int
	MaxEpsilon float64
	Buckets    []Bucket
	// BucketCounts[k] examples fell in bucket k; NoBucket in none.
	BucketCounts []int
	NoBucket     int
	// F is the forgetting quality: the mean of the examples' points.
	F float64
	// Utility and Final are nil when accuracies were not given.
	Utility  *Utility
	Final    *float64
	Examples []Example
	Warnings []string
}

// Options tunes Score.
type Options struct {
	// Workers scores examples in parallel; 0 means GOMAXPROCS.
	Workers int
	// Progress, when set, is called with the number of examples done; it
	// may be called from several goroutines.
	Progress func(done int)
	// Strict fails the score on an example whose every rule was discarded,
	// as the competition's evaluation does. Otherwise such an example gets
	// epsilon 0 (no rule tells the populations apart at the metric's
	// resolution: the best forgetting), and Result.Warnings says how many.
	Strict bool
	// Context, when set and done, stops scoring between two examples with
	// its error (a signal need not wait for every example).
	Context context.Context
}

// ExampleError says which example could not be scored: attack's type, so
// that one errors.As finds the failing example whether scoring or an
// attack reported it.
type ExampleError = attack.ExampleError

// ReferenceN is the population size the competition used; scores from
// smaller populations have fewer buckets and are not comparable.
const ReferenceN = 512

// Score computes the competition's score of an unlearned population against
// a retrained one (metric.md, steps 2 to 5).
func Score(u, r *Population, opt Options) (*Result, error) {
	if err := checkPopulations(u, r); err != nil {
		return nil, err
	}
	n, nEx := u.N, u.E
	res := &Result{N: n, E: nEx, MaxEpsilon: MaxEpsilon(n), Buckets: Buckets(n)}
	res.Examples = make([]Example, nEx)
	table := NewEpsilonTable(n, n, Delta)

	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, nEx)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := newExampleScorer(n, table, res.Buckets)
			for {
				e := int(next.Add(1) - 1)
				if e >= nEx {
					return
				}
				if opt.Context != nil && opt.Context.Err() != nil {
					errs[w] = opt.Context.Err()
					next.Store(int64(nEx))
					return
				}
				ex, err := s.score(u, r, e)
				if errors.Is(err, ErrAllDiscarded) && !opt.Strict {
					ex, err = s.undetermined(ex), nil
				}
				if err != nil {
					errs[w] = &ExampleError{Example: e, Err: err}
					next.Store(int64(nEx)) // stop the others
					return
				}
				res.Examples[e] = ex
				if opt.Progress != nil {
					opt.Progress(int(done.Add(1)))
				}
			}
		}(w)
	}
	wg.Wait()
	// Report the lowest-numbered failing example, whichever worker saw it.
	var first *ExampleError
	for _, err := range errs {
		var ee *ExampleError
		if errors.As(err, &ee) && (first == nil || ee.Example < first.Example) {
			first = ee
		}
	}
	if first != nil {
		return nil, first
	}
	if opt.Context != nil && opt.Context.Err() != nil {
		return nil, opt.Context.Err()
	}

	eps := make([]float64, nEx)
	for i, ex := range res.Examples {
		eps[i] = ex.Epsilon
	}
	res.F, res.BucketCounts, res.NoBucket = ForgettingQuality(eps, n)
	if u.RetainAcc != nil && r.RetainAcc != nil {
		util, err := utility(u, r)
		if err != nil {
			return nil, err
		}
		res.Utility = util
		final := res.F * util.RetainRatio * util.TestRatio
		res.Final = &final
	}
	res.Warnings = warnings(res)
	return res, nil
}

// ForgettingQuality is the competition's F for per-example epsilons from
// populations of n models: the mean of the points the epsilons earn (0 for
// one past the last bucket). It also returns how many epsilons fell in each
// bucket and in none. Any attack's per-example epsilons can be scored so.
func ForgettingQuality(epsilons []float64, n int) (f float64, bucketCounts []int, noBucket int) {
	buckets := Buckets(n)
	bucketCounts = make([]int, len(buckets))
	sum := 0.0
	for _, e := range epsilons {
		k := BucketOf(buckets, e)
		if k < 0 {
			noBucket++
			continue
		}
		bucketCounts[k]++
		sum += buckets[k].Points
	}
	return sum / float64(len(epsilons)), bucketCounts, noBucket
}

func checkPopulations(u, r *Population) error {
	switch {
	case u.N != r.N:
		return fmt.Errorf("the unlearned population has %d models and the retrained one %d; the score needs the same N", u.N, r.N)
	case u.E != r.E:
		return fmt.Errorf("the unlearned population has %d forget examples and the retrained one %d", u.E, r.E)
	case u.N < 3:
		return fmt.Errorf("N = %d models per population; the score needs at least 3 (ln(N-1) bounds epsilon)", u.N)
	case u.E < 1:
		return fmt.Errorf("no forget examples to score")
	}
	for _, p := range []struct {
		name string
		pop  *Population
	}{{Unlearned, u}, {Retrained, r}} {
		if len(p.pop.Conf) != p.pop.N*p.pop.E {
			return fmt.Errorf("%s population: %d values for %d models x %d examples", p.name, len(p.pop.Conf), p.pop.N, p.pop.E)
		}
		for i, v := range p.pop.Conf {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s population: model %d, example %d: confidence is %v", p.name, i/p.pop.E, i%p.pop.E, v)
			}
		}
		if (p.pop.RetainAcc == nil) != (p.pop.TestAcc == nil) {
			return fmt.Errorf("%s population: retain and test accuracies must be given together", p.name)
		}
		for _, acc := range []struct {
			field string
			vals  []float64
		}{{"retain", p.pop.RetainAcc}, {"test", p.pop.TestAcc}} {
			if acc.vals == nil {
				continue
			}
			if len(acc.vals) != p.pop.N {
				return fmt.Errorf("%s population: %d %s accuracies for %d models", p.name, len(acc.vals), acc.field, p.pop.N)
			}
			for i, v := range acc.vals {
				if !(v >= 0 && v <= 1) {
					return fmt.Errorf("%s population: model %d: %s accuracy %v is outside [0, 1]", p.name, i, acc.field, v)
				}
			}
		}
	}
	if (u.RetainAcc == nil) != (r.RetainAcc == nil) {
		return fmt.Errorf("accuracies are given for one population only; the final score needs both")
	}
	return nil
}

// mean is np.mean: NumPy's pairwise sum divided by the count, so that the
// utility ratios match the original to the last bit.
func mean(v []float64) float64 { return npsum.Pairwise(v) / float64(len(v)) }

func utility(u, r *Population) (*Utility, error) {
	util := &Utility{
		RetainUnlearned: mean(u.RetainAcc), RetainRetrained: mean(r.RetainAcc),
		TestUnlearned: mean(u.TestAcc), TestRetrained: mean(r.TestAcc),
		RetainUnlearnedStd: stat.StdDev(u.RetainAcc, nil), RetainRetrainedStd: stat.StdDev(r.RetainAcc, nil),
		TestUnlearnedStd: stat.StdDev(u.TestAcc, nil), TestRetrainedStd: stat.StdDev(r.TestAcc, nil),
	}
	if util.RetainRetrained == 0 {
		return nil, fmt.Errorf("retrained population: mean retain accuracy is 0, so RA_U / RA_R is undefined")
	}
	if util.TestRetrained == 0 {
		return nil, fmt.Errorf("retrained population: mean test accuracy is 0, so TA_U / TA_R is undefined")
	}
	util.RetainRatio = util.RetainUnlearned / util.RetainRetrained
	util.TestRatio = util.TestUnlearned / util.TestRetrained
	return util, nil
}

func warnings(res *Result) []string {
	var w []string
	if res.N != ReferenceN {
		w = append(w, fmt.Sprintf("N = %d: the largest reachable epsilon is %g (%d buckets); the competition used N = %d (epsilon up to %g, %d buckets), so this score is not comparable with it",
			res.N, res.MaxEpsilon, len(res.Buckets), ReferenceN, MaxEpsilon(ReferenceN), len(Buckets(ReferenceN))))
	}
	peaky, separated := 0, 0
	for _, ex := range res.Examples {
		if ex.Peaky {
			peaky++
		}
		if ex.Separated {
			separated++
		}
	}
	if peaky > 0 {
		w = append(w, fmt.Sprintf("%d of %d examples had one population's spread under 1%% of the other's and got epsilon %d (the original's shortcut for peaky distributions)", peaky, res.E, EpsilonCap))
	}
	if separated > 0 {
		w = append(w, fmt.Sprintf("%d of %d examples were separated perfectly by a rule (epsilon %d)", separated, res.E, EpsilonCap))
	}
	var undetermined []int
	for _, ex := range res.Examples {
		if ex.Undetermined {
			undetermined = append(undetermined, ex.Index)
		}
	}
	if len(undetermined) > 0 {
		w = append(w, UndeterminedWarning(undetermined, res.E))
	}
	if u := res.Utility; u != nil {
		for _, r := range []struct {
			name  string
			ratio float64
		}{{"RA_U / RA_R", u.RetainRatio}, {"TA_U / TA_R", u.TestRatio}} {
			if r.ratio > 1 {
				w = append(w, fmt.Sprintf("%s = %.4f > 1: the unlearned models are more accurate than the retrained ones, and the competition does not cap the ratio", r.name, r.ratio))
			}
		}
	}
	return w
}

// UndeterminedWarning says that the examples listed (indices) had every
// rule discarded and were given epsilon 0; e is the number of examples.
func UndeterminedWarning(examples []int, e int) string {
	first := make([]string, 0, 6)
	for _, x := range examples[:min(5, len(examples))] {
		first = append(first, fmt.Sprint(x))
	}
	if len(examples) > 5 {
		first = append(first, "...")
	}
	return fmt.Sprintf("%d of %d examples had every rule discarded (FPR or FNR 0 for each: no rule separates the populations at the metric's resolution) and were given epsilon 0, 1 point; the competition's evaluation stops with an error instead (--strict); first: %s",
		len(examples), e, strings.Join(first, ", "))
}

// exampleScorer holds one worker's buffers.
type exampleScorer struct {
	table   *EpsilonTable
	buckets []Bucket
	colU    []float64
	colR    []float64
	sortBuf []float64
	rules   attack.CompetitionRules
}

func newExampleScorer(n int, table *EpsilonTable, buckets []Bucket) *exampleScorer {
	return &exampleScorer{
		table: table, buckets: buckets,
		colU: make([]float64, 0, n), colR: make([]float64, 0, n), sortBuf: make([]float64, 0, n),
	}
}

// median is np.median: the middle value, or the mean of the two middle ones.
func (s *exampleScorer) median(v []float64) float64 {
	s.sortBuf = append(s.sortBuf[:0], v...)
	sort.Float64s(s.sortBuf)
	n := len(s.sortBuf)
	if n%2 == 1 {
		return s.sortBuf[n/2]
	}
	return (s.sortBuf[n/2-1] + s.sortBuf[n/2]) / 2
}

func spread(v []float64) float64 { return slices.Max(v) - slices.Min(v) }

// undetermined finishes an example whose every rule was discarded: epsilon
// 0, the first bucket's points.
func (s *exampleScorer) undetermined(ex Example) Example {
	ex.Undetermined = true
	ex.Epsilon = 0
	ex.Bucket = BucketOf(s.buckets, 0)
	ex.Points = PointsOf(s.buckets, 0)
	return ex
}

func (s *exampleScorer) score(u, r *Population, e int) (Example, error) {
	s.colU = u.Column(e, s.colU)
	s.colR = r.Column(e, s.colR)
	ex := Example{
		Index:           e,
		MedianUnlearned: s.median(s.colU), MedianRetrained: s.median(s.colR),
		SpreadUnlearned: spread(s.colU), SpreadRetrained: spread(s.colR),
	}
	// Step 2: the positive population has the strictly larger median.
	pos, neg := s.colU, s.colR
	negName := Retrained
	ex.Positive = Unlearned
	if ex.MedianRetrained > ex.MedianUnlearned {
		pos, neg = s.colR, s.colU
		ex.Positive, negName = Retrained, Unlearned
	}
	posDiff, negDiff := spread(pos), spread(neg)
	largest, smallest := negDiff, posDiff
	if posDiff > negDiff {
		largest, smallest = posDiff, negDiff
	}
	// 0/0 is NaN and fails the comparison, as in the original.
	if smallest/largest < PeakyRatio {
		ex.Peaky = true
		ex.Epsilon = EpsilonCap
		ex.Bucket = BucketOf(s.buckets, ex.Epsilon)
		ex.Points = PointsOf(s.buckets, ex.Epsilon)
		return ex, nil
	}
	if err := s.rules.Reset(pos, neg); err != nil {
		return ex, err
	}
	ex.Rules = s.rules.Len()
	eps, err := ExampleEpsilon(&s.rules, s.table)
	if err != nil {
		return ex, err
	}
	ex.Epsilon = float64(eps.Value)
	ex.Separated = eps.Separated
	ex.Bucket = BucketOf(s.buckets, ex.Epsilon)
	ex.Points = PointsOf(s.buckets, ex.Epsilon)
	rule := s.rules.Rule(eps.Rule)
	rule.PositiveIs = ex.Positive
	if rule.Family == attack.FamilyDoubleThreshold && s.rules.Swapped() {
		rule.PositiveIs = negName
	}
	_, fnr, fpr, _ := rule.Counts.Rates()
	ex.Rule, ex.FPR, ex.FNR = &rule, &fpr, &fnr
	return ex, nil
}
