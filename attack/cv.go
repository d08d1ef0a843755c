package attack

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// CrossValidated is a classifier attack measured with stratified k-fold
// cross-validation: the rows of each sample are dealt at random into Folds
// folds (the positives and the negatives separately, so every fold holds
// its share of each; whole groups when the samples have groups), and each
// fold's rows are scored by a classifier trained on the other folds. Every
// score, decision and rate is therefore measured on rows the classifier
// did not see. Features are standardised on each training set (mean 0,
// variance 1); a feature that is constant there is left out of that fit.
//
// The outcome's rules are thresholds on the held-out scores (ScoreRules):
// as with the competition's rules, the epsilon is the best threshold's,
// chosen after seeing the scores, while the classifier behind the scores
// never saw the rows it scored.
type CrossValidated struct {
	Classifier Classifier
	Folds      int
	// Seed and Stream seed the fold assignment and the classifier's
	// randomness (PCG); per-example attacks use the example as stream.
	Seed, Stream uint64
	// Features names the columns in warnings (optional).
	Features []string
}

// Name is the classifier's name.
func (a *CrossValidated) Name() string { return a.Classifier.Name() }

// Run cross-validates the classifier on the two samples.
func (a *CrossValidated) Run(pos, neg Sample) (*Outcome, error) {
	if err := checkSamples(pos, neg); err != nil {
		return nil, err
	}
	if a.Folds < 2 {
		return nil, fmt.Errorf("cross-validation needs at least 2 folds, have %d", a.Folds)
	}
	rng := rand.New(rand.NewPCG(a.Seed, a.Stream))
	posFold, err := dealFolds(pos, a.Folds, rng, "positive")
	if err != nil {
		return nil, err
	}
	negFold, err := dealFolds(neg, a.Folds, rng, "negative")
	if err != nil {
		return nil, err
	}
	d := pos.D
	o := &Outcome{
		PosScores: make([]float64, pos.Rows()), NegScores: make([]float64, neg.Rows()),
		Decision: &Counts{},
	}
	var warn warnings
	var trainX, testX []float64
	var trainY []bool
	var testRows []int // >= 0: positive row; < 0: negative row -1-i
	for f := 0; f < a.Folds; f++ {
		trainX, testX, trainY, testRows = trainX[:0], testX[:0], trainY[:0], testRows[:0]
		for i, fold := range posFold {
			if fold == f {
				testX = append(testX, pos.X[i*d:(i+1)*d]...)
				testRows = append(testRows, i)
			} else {
				trainX = append(trainX, pos.X[i*d:(i+1)*d]...)
				trainY = append(trainY, true)
			}
		}
		for i, fold := range negFold {
			if fold == f {
				testX = append(testX, neg.X[i*d:(i+1)*d]...)
				testRows = append(testRows, -1-i)
			} else {
				trainX = append(trainX, neg.X[i*d:(i+1)*d]...)
				trainY = append(trainY, false)
			}
		}
		scores := make([]float64, len(testRows))
		model, err := fitScore(a.Classifier, a.Features, trainX, d, trainY, testX, scores, rng, &warn)
		if err != nil {
			return nil, fmt.Errorf("fold %d of %d: %w", f+1, a.Folds, err)
		}
		for k, row := range testRows {
			isPos := model.Positive(scores[k])
			if row >= 0 {
				o.PosScores[row] = scores[k]
				if isPos {
					o.Decision.TP++
				} else {
					o.Decision.FN++
				}
			} else {
				o.NegScores[-1-row] = scores[k]
				if isPos {
					o.Decision.FP++
				} else {
					o.Decision.TN++
				}
			}
		}
	}
	rules, err := NewScoreRules(a.Classifier.Name(), o.PosScores, o.NegScores)
	if err != nil {
		return nil, err
	}
	o.Rules = rules
	o.Warnings = warn.list()
	return o, nil
}

// dealFolds assigns each row of s (each group, when s has groups) to one
// of k folds: a random permutation dealt in turn, so fold sizes differ by
// at most one.
func dealFolds(s Sample, k int, rng *rand.Rand, name string) ([]int, error) {
	n := s.Rows()
	if s.Group == nil {
		if n < k {
			return nil, fmt.Errorf("the %s sample has %d rows, fewer than the %d folds: every fold needs rows of both samples", name, n, k)
		}
		fold := make([]int, n)
		for pos, i := range rng.Perm(n) {
			fold[i] = pos % k
		}
		return fold, nil
	}
	ids := slices.Clone(s.Group)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) < k {
		return nil, fmt.Errorf("the %s sample has %d groups (models), fewer than the %d folds: every fold needs models of both samples", name, len(ids), k)
	}
	groupFold := make(map[int]int, len(ids))
	for pos, i := range rng.Perm(len(ids)) {
		groupFold[ids[i]] = pos % k
	}
	fold := make([]int, n)
	for i, g := range s.Group {
		fold[i] = groupFold[g]
	}
	return fold, nil
}

// standardiser maps rows to the training set's non-constant features,
// centred and scaled to unit variance.
type standardiser struct {
	cols      []int
	mean, inv []float64
}

// fitStandardiser computes the training rows' feature means and standard
// deviations; features whose deviation is 0 (or not finite) are dropped,
// and their indices returned.
func fitStandardiser(x []float64, d int) (*standardiser, []int) {
	n := len(x) / d
	mean := make([]float64, d)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			mean[j] += x[i*d+j]
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	variance := make([]float64, d)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			dv := x[i*d+j] - mean[j]
			variance[j] += dv * dv
		}
	}
	s := &standardiser{}
	var dropped []int
	for j := 0; j < d; j++ {
		sd := math.Sqrt(variance[j] / float64(n))
		// A spread below the rounding of the mean is no spread.
		if !(sd > 1e-12*max(1, math.Abs(mean[j]))) || math.IsInf(sd, 0) {
			dropped = append(dropped, j)
			continue
		}
		s.cols = append(s.cols, j)
		s.mean = append(s.mean, mean[j])
		s.inv = append(s.inv, 1/sd)
	}
	return s, dropped
}

// apply returns the rows of x (d features) standardised into dst.
func (s *standardiser) apply(x []float64, d int, dst []float64) []float64 {
	n := len(x) / d
	dst = dst[:0]
	for i := 0; i < n; i++ {
		for k, j := range s.cols {
			dst = append(dst, (x[i*d+j]-s.mean[k])*s.inv[k])
		}
	}
	return dst
}

// fitScore standardises, trains c on the training rows and scores the test
// rows into scores, returning the model (for its decisions).
func fitScore(c Classifier, names []string, trainX []float64, d int, trainY []bool, testX []float64, scores []float64, rng *rand.Rand, warn *warnings) (Model, error) {
	std, dropped := fitStandardiser(trainX, d)
	for _, j := range dropped {
		name := fmt.Sprintf("%d", j)
		if j < len(names) {
			name = names[j]
		}
		warn.add(fmt.Sprintf("feature %s was constant in a training set and left out of that fit", name))
	}
	if len(std.cols) == 0 {
		warn.add("no feature varies in a training set; that fit scores every row the same")
		m := constantModel{}
		return m, m.Score(nil, 1, scores)
	}
	dk := len(std.cols)
	model, err := c.Fit(std.apply(trainX, d, nil), dk, trainY, rng)
	if err != nil {
		return nil, err
	}
	if w, ok := model.(warner); ok {
		for _, s := range w.Warnings() {
			warn.add(s)
		}
	}
	if err := model.Score(std.apply(testX, d, nil), dk, scores); err != nil {
		return nil, err
	}
	for i, s := range scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("%s scored test row %d as %v", c.Name(), i, s)
		}
	}
	return model, nil
}

// warnings collects distinct messages.
type warnings struct{ seen map[string]bool }

func (w *warnings) add(s string) {
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	w.seen[s] = true
}

func (w *warnings) list() []string {
	if len(w.seen) == 0 {
		return nil
	}
	out := make([]string, 0, len(w.seen))
	for s := range w.seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// ShuffleSplits is a classifier attack measured on repeated stratified
// random splits, as scikit-learn's StratifiedShuffleSplit (the starting
// kit's simple MIA uses 10 splits with its default test fraction, 0.1):
// each split holds out ceil(TestFraction * rows) rows, the two samples in
// proportion (the remainder going to the sample with the larger fractional
// share, ties at random), trains on the rest and counts the held-out
// decisions. The splits are drawn from this package's seeded source, not
// scikit-learn's.
type ShuffleSplits struct {
	Classifier   Classifier
	Splits       int
	TestFraction float64
	Seed, Stream uint64
	Features     []string // names the columns in warnings (optional)
}

// Name is the classifier's name.
func (a *ShuffleSplits) Name() string { return a.Classifier.Name() }

// Run measures the classifier on the splits; the outcome has Splits only.
func (a *ShuffleSplits) Run(pos, neg Sample) (*Outcome, error) {
	if err := checkSamples(pos, neg); err != nil {
		return nil, err
	}
	np, nn := pos.Rows(), neg.Rows()
	n := np + nn
	nTest := int(math.Ceil(a.TestFraction * float64(n)))
	if a.Splits < 1 || !(a.TestFraction > 0 && a.TestFraction < 1) {
		return nil, fmt.Errorf("shuffle splits need at least 1 split and a test fraction in (0, 1), have %d and %g", a.Splits, a.TestFraction)
	}
	if np < 2 || nn < 2 || nTest < 2 || n-nTest < 2 {
		return nil, fmt.Errorf("%d positive and %d negative rows are too few for stratified splits holding out %d: each sample needs 2 rows, and the test and training sets 2 each", np, nn, nTest)
	}
	rng := rand.New(rand.NewPCG(a.Seed, a.Stream))
	d := pos.D
	o := &Outcome{}
	var warn warnings
	for s := 0; s < a.Splits; s++ {
		fp := float64(nTest) * float64(np) / float64(n)
		pTest := int(fp)
		nTestNeg := int(float64(nTest) * float64(nn) / float64(n))
		if pTest+nTestNeg < nTest {
			fn := float64(nTest) * float64(nn) / float64(n)
			switch rp, rn := fp-math.Floor(fp), fn-math.Floor(fn); {
			case rp > rn, rp == rn && rng.IntN(2) == 0:
				pTest++
			default:
				nTestNeg++
			}
		}
		pTest, nTestNeg = min(max(pTest, 1), np-1), min(max(nTestNeg, 1), nn-1)
		pp, nperm := rng.Perm(np), rng.Perm(nn)
		var trainX, testX []float64
		var trainY, testY []bool
		for k, i := range pp {
			if k < pTest {
				testX, testY = append(testX, pos.X[i*d:(i+1)*d]...), append(testY, true)
			} else {
				trainX, trainY = append(trainX, pos.X[i*d:(i+1)*d]...), append(trainY, true)
			}
		}
		for k, i := range nperm {
			if k < nTestNeg {
				testX, testY = append(testX, neg.X[i*d:(i+1)*d]...), append(testY, false)
			} else {
				trainX, trainY = append(trainX, neg.X[i*d:(i+1)*d]...), append(trainY, false)
			}
		}
		scores := make([]float64, len(testY))
		model, err := fitScore(a.Classifier, a.Features, trainX, d, trainY, testX, scores, rng, &warn)
		if err != nil {
			return nil, fmt.Errorf("split %d of %d: %w", s+1, a.Splits, err)
		}
		var c Counts
		for k, isPos := range testY {
			switch said := model.Positive(scores[k]); {
			case isPos && said:
				c.TP++
			case isPos:
				c.FN++
			case said:
				c.FP++
			default:
				c.TN++
			}
		}
		o.Splits = append(o.Splits, c)
	}
	o.Warnings = warn.list()
	return o, nil
}
