package attack

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
)

// LiRA is the likelihood-ratio attack of Carlini et al. (2022, "Membership
// inference attacks from first principles") on logit-scaled confidences,
// turned on unlearning: for each forget example, Gaussians are fitted to the
// confidences of models trained without it ("out": the retrained
// population) and, online, of models trained with it ("in": the original
// models, when given), centred on the median with the population's
// standard deviation (NumPy's np.std), as in the authors' code. Targets are
// scored by how much likelier their confidence is under "in" than "out".
//
// The unlearned models are the targets suspected of membership (positive);
// the retrained models are the held-out non-members (negative). Each pair
// (unlearned model i, retrained model i) is scored with "out" fits that
// leave retrained model i out, so that no target is scored by a fit it is
// part of and both members of a pair see the same N-1 shadow models.
type LiRA struct {
	// Online uses the "in" population as well (score = log N(x; in) -
	// log N(x; out)); offline uses the "out" fit only.
	Online bool
	// FixedVariance replaces each example's standard deviation by one
	// global deviation, the root of the mean per-example variance; the
	// paper recommends it below about 64 shadow models.
	FixedVariance bool
	// TwoSided (offline only) scores -log N(x; out), the authors' code,
	// which flags a confidence far from the retrained models' in either
	// direction; the one-sided test of the paper scores (x - mu_out) /
	// sigma_out, which flags confidences that are too high only.
	TwoSided bool
}

// Name is "lira/online" or "lira/offline" or "lira/offline-2s", then
// "/per-example-var" or "/fixed-var".
func (l LiRA) Name() string {
	name := "lira/offline"
	switch {
	case l.Online:
		name = "lira/online"
	case l.TwoSided:
		name = "lira/offline-2s"
	}
	if l.FixedVariance {
		return name + "/fixed-var"
	}
	return name + "/per-example-var"
}

// stdFloor is LiRA's guard against a zero deviation (std + 1e-30).
const stdFloor = 1e-30

// Scores computes the attack's score of every target: unlearned model i's
// on example e at pos[i*E+e], retrained model i's at neg[i*E+e]. u and r
// are N x E confidences (N >= 3), in is M x E (M >= 2) or nil offline.
func (l LiRA) Scores(u, r []float64, n, nEx int, in []float64, m int) (pos, neg []float64, err error) {
	switch {
	case n < 3:
		return nil, nil, fmt.Errorf("LiRA needs at least 3 retrained models (N-1 >= 2 shadow models per fit), have %d", n)
	case len(u) != n*nEx || len(r) != n*nEx:
		return nil, nil, fmt.Errorf("LiRA: %d and %d confidences for %d models on %d examples", len(u), len(r), n, nEx)
	case l.Online && (in == nil || m < 2 || len(in) != m*nEx):
		return nil, nil, fmt.Errorf("online LiRA needs at least 2 models trained with the forget set (the \"in\" population), have %d", m)
	case l.Online && l.TwoSided:
		return nil, nil, fmt.Errorf("two-sided scoring is offline LiRA's; online LiRA's likelihood ratio is two-sided already")
	}
	for _, s := range []struct {
		name string
		v    []float64
	}{{"unlearned", u}, {"retrained", r}, {"in", in}} {
		for k, v := range s.v {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("LiRA: %s model %d, example %d: confidence is %v", s.name, k/nEx, k%nEx, v)
			}
		}
	}
	out := newLOOFits(r, n, nEx)
	var inMu, inSd []float64
	if l.Online {
		inMu, inSd = make([]float64, nEx), make([]float64, nEx)
		col := make([]float64, m)
		inVar := 0.0
		for e := 0; e < nEx; e++ {
			for i := 0; i < m; i++ {
				col[i] = in[i*nEx+e]
			}
			inMu[e] = Median(col)
			v := stat.PopVariance(col, nil) // np.var, ddof 0
			inSd[e] = math.Sqrt(v)
			inVar += v
		}
		if l.FixedVariance {
			g := math.Sqrt(inVar / float64(nEx))
			for e := range inSd {
				inSd[e] = g
			}
		}
	}
	pos, neg = make([]float64, n*nEx), make([]float64, n*nEx)
	mu, sd := make([]float64, nEx), make([]float64, nEx)
	for i := 0; i < n; i++ {
		out.leaveOut(i, mu, sd, l.FixedVariance)
		for e := 0; e < nEx; e++ {
			for _, t := range []struct {
				x   float64
				dst []float64
			}{{u[i*nEx+e], pos}, {r[i*nEx+e], neg}} {
				var s float64
				switch {
				case l.Online:
					s = logNormal(t.x, inMu[e], inSd[e]+stdFloor) - logNormal(t.x, mu[e], sd[e]+stdFloor)
				case l.TwoSided:
					s = -logNormal(t.x, mu[e], sd[e]+stdFloor)
				default:
					s = (t.x - mu[e]) / (sd[e] + stdFloor)
				}
				t.dst[i*nEx+e] = s
			}
		}
	}
	for k := range pos {
		if math.IsInf(pos[k], 0) || math.IsInf(neg[k], 0) {
			return nil, nil, fmt.Errorf("LiRA: a score overflowed at example %d (a population with no spread on it)", k%nEx)
		}
	}
	return pos, neg, nil
}

// logNormal is the log density of N(mu, sd^2) at x.
func logNormal(x, mu, sd float64) float64 {
	z := (x - mu) / sd
	return -0.5*z*z - math.Log(sd) - 0.5*math.Log(2*math.Pi)
}

// looFits gives each example's median and standard deviation of the
// retrained confidences with one model left out, in O(1) per example.
type looFits struct {
	n, nEx int
	r      []float64
	sorted [][]float64 // per example, the values sorted
	rank   [][]int     // per example, model i's position in sorted
	mean   []float64
	m2     []float64 // sum of squared deviations from mean
}

func newLOOFits(r []float64, n, nEx int) *looFits {
	f := &looFits{n: n, nEx: nEx, r: r, sorted: make([][]float64, nEx), rank: make([][]int, nEx), mean: make([]float64, nEx), m2: make([]float64, nEx)}
	for e := 0; e < nEx; e++ {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return r[idx[a]*nEx+e] < r[idx[b]*nEx+e] })
		f.sorted[e] = make([]float64, n)
		f.rank[e] = make([]int, n)
		for pos, i := range idx {
			f.sorted[e][pos] = r[i*nEx+e]
			f.rank[e][i] = pos
		}
		col := f.sorted[e]
		f.mean[e] = stat.Mean(col, nil)
		for _, x := range col {
			f.m2[e] += (x - f.mean[e]) * (x - f.mean[e])
		}
	}
	return f
}

// leaveOut writes each example's median and deviation of the retrained
// values without model i; with fixed variance, every deviation is the
// root of the mean of those variances.
func (f *looFits) leaveOut(i int, mu, sd []float64, fixed bool) {
	k := f.n - 1
	total := 0.0
	for e := 0; e < f.nEx; e++ {
		s, p := f.sorted[e], f.rank[e][i]
		at := func(j int) float64 { // j-th value of the remaining k
			if j < p {
				return s[j]
			}
			return s[j+1]
		}
		if k%2 == 1 {
			mu[e] = at(k / 2)
		} else {
			mu[e] = (at(k/2-1) + at(k/2)) / 2
		}
		// Welford's update, run backwards to remove x.
		x := f.r[i*f.nEx+e]
		m1 := f.mean[e] - (x-f.mean[e])/float64(k)
		m2 := f.m2[e] - (x-f.mean[e])*(x-m1)
		v := max(m2, 0) / float64(k)
		sd[e] = math.Sqrt(v)
		total += v
	}
	if fixed {
		g := math.Sqrt(total / float64(f.nEx))
		for e := range sd {
			sd[e] = g
		}
	}
}
