package scoring

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/stat"
)

// Bootstrap defaults: 200 resamples give the 2.5% and 97.5% percentiles
// from the 5th and 195th draws, steady to about a tenth of the interval's
// width, at 200 times one score's cost (spread over the workers).
const (
	DefaultResamples = 200
	DefaultLevel     = 0.95
)

// BootstrapOptions tune BootstrapF.
type BootstrapOptions struct {
	// Resamples is the number of bootstrap draws (at least 2).
	Resamples int
	// Level is the interval's coverage, in (0, 1).
	Level float64
	// Seed seeds the draws: draw i uses its own generator seeded by (Seed,
	// i), so the interval does not depend on Workers.
	Seed uint64
	// Workers computes draws in parallel; 0 means GOMAXPROCS.
	Workers int
	// Size is the number of models each draw takes from each population
	// (0: N, the ordinary bootstrap). A smaller size gives the interval of
	// F at that size (its buckets and rules), for measuring how the width
	// changes with N (m-out-of-n bootstrap).
	Size int
	// MeasureExponent also measures how the width shrinks with N on these
	// populations (bootstraps at N/4 and N/2 besides N, so three times the
	// cost) and records it in the interval; N must be at least 12.
	MeasureExponent bool
	// Strict fails a draw with an example whose every rule was discarded,
	// as Options.Strict fails the score; otherwise such an example earns
	// what the score gives it (epsilon 0, the first bucket's points). A
	// draw duplicates models, so it meets such examples where the score
	// itself did not: without this, a run that scored with a warning
	// stopped at its interval.
	Strict bool
}

// Interval is F's bootstrap interval over models.
type Interval struct {
	// Low and High are the (1-Level)/2 and (1+Level)/2 percentiles of the
	// resampled F (gonum's empirical quantile, as compare's intervals).
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	// Level is the interval's coverage, e.g. 0.95.
	Level     float64 `json:"level"`
	Resamples int     `json:"resamples"`
	Seed      uint64  `json:"seed"`
	// Size is the models per population of each draw when it is not N.
	Size int `json:"size,omitempty"`
	// Mean and Std are the resampled F's mean and sample standard
	// deviation.
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	// FinalLow and FinalHigh bound the final score the same way, each
	// draw's F times its own accuracy ratios (the accuracies of the same
	// resampled models); nil without accuracies.
	FinalLow  *float64 `json:"final_low,omitempty"`
	FinalHigh *float64 `json:"final_high,omitempty"`
	// Exponent is the measured b of width ~ N^b (MeasureExponent), fitted
	// to the draws' standard deviations at ExponentSizes; nil when not
	// measured.
	Exponent      *float64 `json:"exponent,omitempty"`
	ExponentSizes []int    `json:"exponent_sizes,omitempty"`
	// TargetWidth is the width a user asked about (score --target-width),
	// for reports to state the N it needs; nil when none was.
	TargetWidth *float64 `json:"target_width,omitempty"`
}

// ScalingExponent is the exponent b of width ~ N^b that extrapolations
// from iv use: the measured one where iv has it, else AssumedExponent.
func (iv *Interval) ScalingExponent() float64 {
	if iv != nil && iv.Exponent != nil {
		return *iv.Exponent
	}
	return AssumedExponent
}

// NeededNStatement is NeededN for a user: the models per population an
// interval of width target needs, from iv measured at n models with width
// ~ N^exponent, and one sentence saying so with the assumption it rests
// on. The estimate is 0 when more models would not narrow the interval or
// iv is nil.
func NeededNStatement(n int, iv *Interval, target, exponent float64) (int, string) {
	if iv == nil {
		return 0, "F has no interval to extrapolate from"
	}
	assumption := fmt.Sprintf("assuming the width shrinks as N^%.2f", exponent)
	switch {
	case iv.Exponent != nil && *iv.Exponent == exponent:
		assumption = fmt.Sprintf("assuming the width keeps shrinking as N^%.2f, as measured on these populations by bootstraps of %v models", exponent, iv.ExponentSizes)
	case exponent == AssumedExponent:
		assumption = "assuming the width shrinks as 1/sqrt(N), which F need not do: its epsilons are maxima over rules down to rates of 1/N, and on synthetic populations its width stayed flat from N = 32 to 256"
	}
	w := iv.Width()
	need, err := NeededN(n, w, target, exponent)
	switch {
	case err != nil:
		return 0, fmt.Sprintf("F's %g%% interval is %.4f wide at N = %d: %v", 100*iv.Level, w, n, err)
	case need <= n:
		return need, fmt.Sprintf("F's %g%% interval is %.4f wide at N = %d, within the target %g", 100*iv.Level, w, n, target)
	}
	return need, fmt.Sprintf("F's %g%% interval is %.4f wide at N = %d; a width of %g needs N ≈ %d (%s)", 100*iv.Level, w, n, target, need, assumption)
}

// Width is High - Low.
func (iv *Interval) Width() float64 { return iv.High - iv.Low }

// CheckBootstrap says what is wrong with opt, naming the field.
func CheckBootstrap(opt BootstrapOptions) error {
	if opt.Resamples < 2 {
		return fmt.Errorf("bootstrap resamples is %d; want 2 or more", opt.Resamples)
	}
	if !(opt.Level > 0 && opt.Level < 1) {
		return fmt.Errorf("bootstrap level is %v; want a value strictly between 0 and 1", opt.Level)
	}
	if opt.Size != 0 && opt.Size < 3 {
		return fmt.Errorf("bootstrap size is %d models; the score needs at least 3", opt.Size)
	}
	if opt.MeasureExponent && opt.Size != 0 && opt.Size < 12 {
		return fmt.Errorf("measuring how F's interval narrows with N needs at least 12 models (it bootstraps N/4 of them); have %d", opt.Size)
	}
	return nil
}

// BootstrapF puts an interval around the forgetting quality F of u against
// r by a bootstrap over models: each draw resamples N members of each
// population with replacement (independently: the populations are
// independent samples of models), recomputes every example's epsilon on
// exactly the competition's rules, and takes F; the interval is the
// percentile interval of the draws.
//
// What it measures: how much F moves when other N models are drawn from the
// same methods. F is a maximum over hundreds of thousands of rules, so
// sampling noise alone pushes epsilons up: two populations of the same
// method score near a ceiling well below 1 (about 0.17 at N = 32), and a
// resampled pair of populations always carries that noise. The interval is
// therefore that of F at this N, not of F's limit for infinitely many
// models, and it need not contain the point F: for populations that are
// nearly identical the point F is higher than any draw's.
//
// Accuracies are not resampled: the interval is F's, not the final score's.
func BootstrapF(u, r *Population, opt BootstrapOptions) (*Interval, error) {
	if err := checkPopulations(u, r); err != nil {
		return nil, err
	}
	if err := CheckBootstrap(opt); err != nil {
		return nil, err
	}
	if opt.MeasureExponent && opt.Size == 0 && u.N < 12 {
		return nil, fmt.Errorf("measuring how F's interval narrows with N needs at least 12 models (it bootstraps N/4 of them); have N = %d", u.N)
	}
	draws, finals, err := bootstrapDraws(u, r, opt)
	if err != nil {
		return nil, err
	}
	iv := &Interval{Level: opt.Level, Resamples: opt.Resamples, Seed: opt.Seed, Size: opt.Size}
	iv.Low, iv.High = percentiles(draws, opt.Level)
	iv.Mean, iv.Std = stat.MeanStdDev(draws, nil)
	if finals != nil {
		lo, hi := percentiles(finals, opt.Level)
		iv.FinalLow, iv.FinalHigh = &lo, &hi
	}
	if opt.MeasureExponent {
		n := u.N
		if opt.Size > 0 {
			n = opt.Size
		}
		sizes := []int{n / 4, n / 2}
		o := opt
		o.MeasureExponent = false
		_, stds, err := WidthExponent(u, r, o, sizes)
		if err != nil {
			return nil, err
		}
		sizes, stds = append(sizes, n), append(stds, iv.Std)
		b, err := FitExponent(sizes, stds)
		if err != nil {
			// A width of 0 at some size (every draw scored alike)
			// has no exponent to fit.
			return iv, nil
		}
		iv.Exponent, iv.ExponentSizes = &b, sizes
	}
	return iv, nil
}

// percentiles is the percentile interval of draws at level.
func percentiles(draws []float64, level float64) (lo, hi float64) {
	sorted := slices.Clone(draws)
	sort.Float64s(sorted)
	return stat.Quantile((1-level)/2, stat.Empirical, sorted, nil), stat.Quantile((1+level)/2, stat.Empirical, sorted, nil)
}

// ResampleError says which draw and example could not be scored.
type ResampleError struct {
	Resample, Example int
	Err               error
}

func (e *ResampleError) Error() string {
	return fmt.Sprintf("bootstrap resample %d, forget example %d: %v", e.Resample, e.Example, e.Err)
}
func (e *ResampleError) Unwrap() error { return e.Err }

// bootstrapDraws returns F of every draw, in draw order, and the final
// score of every draw when both populations have accuracies (else nil).
func bootstrapDraws(u, r *Population, opt BootstrapOptions) (draws, finals []float64, err error) {
	nEx := u.E
	n := u.N // models drawn per population
	if opt.Size > 0 {
		n = opt.Size
	}
	// Column-major copies: a draw gathers N values per example, and
	// gathering from a contiguous column is far cheaper than striding E.
	colsU, colsR := columns(u), columns(r)
	table := NewEpsilonTable(n, n, Delta)
	buckets := Buckets(n)
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, opt.Resamples)
	draws = make([]float64, opt.Resamples)
	withAcc := u.RetainAcc != nil && r.RetainAcc != nil
	if withAcc {
		finals = make([]float64, opt.Resamples)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := newExampleScorer(n, table, buckets)
			idxU, idxR := make([]int, n), make([]int, n)
			cu, cr := make([]float64, n), make([]float64, n)
			acc := make([]float64, n)
			// meanAt is the mean of v over the drawn models.
			meanAt := func(v []float64, idx []int) float64 {
				for i, k := range idx {
					acc[i] = v[k]
				}
				return mean(acc)
			}
			for {
				b := int(next.Add(1) - 1)
				if b >= opt.Resamples {
					return
				}
				rng := rand.New(rand.NewPCG(opt.Seed, uint64(b)))
				for i := range idxU {
					idxU[i] = rng.IntN(u.N)
				}
				for i := range idxR {
					idxR[i] = rng.IntN(r.N)
				}
				sum := 0.0
				for e := 0; e < nEx; e++ {
					col := colsU[e*u.N : (e+1)*u.N]
					for i, k := range idxU {
						cu[i] = col[k]
					}
					col = colsR[e*r.N : (e+1)*r.N]
					for i, k := range idxR {
						cr[i] = col[k]
					}
					p, err := s.points(cu, cr)
					if errors.Is(err, ErrAllDiscarded) && !opt.Strict {
						p, err = PointsOf(buckets, 0), nil
					}
					if err != nil {
						errs[w] = &ResampleError{Resample: b, Example: e, Err: err}
						next.Store(int64(opt.Resamples)) // stop the others
						return
					}
					sum += p
				}
				draws[b] = sum / float64(nEx)
				if withAcc {
					// A draw whose retrained models all have accuracy 0
					// has no ratio; it counts as a final score of 0.
					ra, ta := meanAt(r.RetainAcc, idxR), meanAt(r.TestAcc, idxR)
					if ra > 0 && ta > 0 {
						finals[b] = draws[b] * meanAt(u.RetainAcc, idxU) / ra * meanAt(u.TestAcc, idxU) / ta
					}
				}
			}
		}(w)
	}
	wg.Wait()
	var first *ResampleError
	for _, err := range errs {
		var re *ResampleError
		if errors.As(err, &re) && (first == nil || re.Resample < first.Resample) {
			first = re
		}
	}
	if first != nil {
		return nil, nil, first
	}
	return draws, finals, nil
}

// columns returns p's values example by example: [E][N] flattened.
func columns(p *Population) []float64 {
	out := make([]float64, len(p.Conf))
	for i := 0; i < p.N; i++ {
		row := p.Conf[i*p.E : (i+1)*p.E]
		for e, v := range row {
			out[e*p.N+i] = v
		}
	}
	return out
}

// points is the points one example earns from the unlearned values colU and
// the retrained values colR: score's steps 2 to 4 without the bookkeeping
// an Example carries, and stopping at the first rule whose epsilon already
// earns nothing (the maximum can only be larger, and earns nothing too).
func (s *exampleScorer) points(colU, colR []float64) (float64, error) {
	pos, neg := colU, colR
	if s.median(colR) > s.median(colU) {
		pos, neg = colR, colU
	}
	posDiff, negDiff := spread(pos), spread(neg)
	largest, smallest := negDiff, posDiff
	if posDiff > negDiff {
		largest, smallest = posDiff, negDiff
	}
	if smallest/largest < PeakyRatio {
		return PointsOf(s.buckets, EpsilonCap), nil
	}
	if err := s.rules.Reset(pos, neg); err != nil {
		return 0, err
	}
	noPoints := math.Inf(1)
	if len(s.buckets) > 0 {
		noPoints = s.buckets[len(s.buckets)-1].Hi
	}
	best := float32(-1)
	found := false
	s.rules.Each(func(_, fp, fn int) bool {
		e := s.table.At(fp, fn)
		if e != e {
			return true
		}
		found = true
		best = max(best, e)
		return float64(best) < noPoints
	})
	if !found {
		return 0, ErrAllDiscarded
	}
	return PointsOf(s.buckets, min(float64(best), EpsilonCap)), nil
}

// AssumedExponent is the exponent of the usual assumption that an
// interval's width shrinks as N^-1/2. F does not follow it: on synthetic
// populations (bootstrap_test.go) its width barely moves between N = 32
// and 256, because each example's epsilon is a maximum over rules whose
// rates reach down to 1/N, and that noise does not average out with more
// models, only with more examples. NeededN says so rather than promise an
// N that would not deliver.
const AssumedExponent = -0.5

// FlatExponent: a fitted exponent above this means more models do not
// narrow the interval in any useful way.
const FlatExponent = -0.1

// NeededN estimates the models per population for an interval of width
// target, given width measured at n models, when the width shrinks as
// N^exponent (AssumedExponent, or one FitExponent measured): n times
// (width/target)^(-1/exponent), rounded up, at least 3. It returns n when
// the width is already within target, and an error when the exponent is
// not below FlatExponent (more models would not narrow it) or the inputs
// are not positive.
func NeededN(n int, width, target, exponent float64) (int, error) {
	switch {
	case n < 3:
		return 0, fmt.Errorf("N = %d; the score needs at least 3 models", n)
	case !(target > 0) || math.IsInf(target, 0):
		return 0, fmt.Errorf("target interval width is %v; want a positive number", target)
	case !(width >= 0) || math.IsInf(width, 0):
		return 0, fmt.Errorf("measured interval width is %v", width)
	case width <= target:
		return n, nil
	case !(exponent < FlatExponent):
		return 0, fmt.Errorf("the interval's width shrinks as N^%.2f: more models do not narrow it to %g (it is %.4f at N = %d); more forget examples would", exponent, target, width, n)
	}
	need := float64(n) * math.Pow(width/target, -1/exponent)
	if need > math.MaxInt32 {
		return 0, fmt.Errorf("an interval of width %g needs more than %d models (it is %.4f at N = %d)", target, math.MaxInt32, width, n)
	}
	return max(3, int(math.Ceil(need-1e-9))), nil
}

// FitExponent is the least-squares slope of log(width) against log(N): the
// exponent b of width ~ N^b. It needs two or more distinct sizes and
// positive widths.
func FitExponent(sizes []int, widths []float64) (float64, error) {
	if len(sizes) != len(widths) || len(sizes) < 2 {
		return 0, fmt.Errorf("fitting an exponent needs two or more sizes with a width each, have %d and %d", len(sizes), len(widths))
	}
	xs, ys := make([]float64, len(sizes)), make([]float64, len(sizes))
	for i := range sizes {
		if sizes[i] < 1 || !(widths[i] > 0) || math.IsInf(widths[i], 0) {
			return 0, fmt.Errorf("size %d with width %v: both must be positive", sizes[i], widths[i])
		}
		xs[i], ys[i] = math.Log(float64(sizes[i])), math.Log(widths[i])
	}
	if slices.Min(xs) == slices.Max(xs) {
		return 0, errors.New("fitting an exponent needs two distinct sizes")
	}
	_, slope := stat.LinearRegression(xs, ys, nil, false)
	return slope, nil
}

// WidthExponent measures how F's interval narrows with N on these
// populations: the bootstrap at each of sizes (m-out-of-n, each at most N)
// and the fitted exponent of the draws' standard deviation against the
// size. It costs one bootstrap per size.
func WidthExponent(u, r *Population, opt BootstrapOptions, sizes []int) (exponent float64, stds []float64, err error) {
	for _, m := range sizes {
		if m > u.N {
			return 0, nil, fmt.Errorf("bootstrap size %d is above N = %d", m, u.N)
		}
		o := opt
		o.Size = m
		iv, err := BootstrapF(u, r, o)
		if err != nil {
			return 0, nil, err
		}
		stds = append(stds, iv.Std)
	}
	exponent, err = FitExponent(sizes, stds)
	return exponent, stds, err
}
