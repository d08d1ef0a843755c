package attack

import (
	"fmt"
	"math"
	"slices"

	"unlearnbench/internal/npsum"
)

// KLoM defaults, those of the EasyDUB benchmark's public code
// (compute_binned_KL_div in its src/eval.py).
const (
	KLoMBins = 20
	KLoMEps  = 1e-5
	KLoMClip = 100
)

// KLoMOptions tune KLoM; the zero value is the public code's computation.
type KLoMOptions struct {
	// Corrected counts a margin equal to the top bin edge in the last bin
	// (as np.histogram does). The public code's np.digitize leaves it out
	// of every bin, so each example loses its largest sample; KLoM values
	// are compared across papers, so that is the default.
	Corrected bool
	// UnlearnedFirst computes KL(unlearned || retrained). The benchmark's
	// main script (src/run.py) passes the retrained (oracle) margins first,
	// KL(retrained || unlearned), the default; some of its other scripts
	// pass them the other way.
	UnlearnedFirst bool
}

// Direction names the divergence the options compute, as reports print it.
func (o KLoMOptions) Direction() string {
	if o.UnlearnedFirst {
		return "KL(U || R)"
	}
	return "KL(R || U)"
}

// BinnedKL is the benchmark's compute_binned_KL_div(p, q): KL(p || q) in
// nats between the histograms of two samples. Both are clipped to
// [-100, 100]; the edges are np.linspace(lo, hi, 21) over the union's
// minimum and maximum (hi = lo + 1 when they are equal); each value's bin
// is np.digitize's, and only bins 1..20 are counted, so a value equal to
// the top edge (the union's maximum, always) falls in no bin unless
// Corrected; probabilities are counts over their total; q is raised to at
// least 1e-5 in the bins where p > 0; and the KL is scipy.stats.entropy's,
// which renormalises both. ok is false when no value of p was counted
// (every one equal to the top edge), where the public code's result is
// NaN. Values must not be NaN.
func BinnedKL(p, q []float64, opt KLoMOptions) (kl float64, ok bool) {
	var pc, qc [KLoMBins]float64
	return binnedKL(p, q, opt, &pc, &qc)
}

func binnedKL(p, q []float64, opt KLoMOptions, pc, qc *[KLoMBins]float64) (float64, bool) {
	clip := func(v float64) float64 { return min(max(v, -KLoMClip), KLoMClip) }
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range [][]float64{p, q} {
		for _, v := range s {
			lo, hi = min(lo, clip(v)), max(hi, clip(v))
		}
	}
	if lo >= hi {
		hi = lo + 1
	}
	var edges [KLoMBins + 1]float64
	linspace(edges[:0], lo, hi, KLoMBins+1)
	count := func(s []float64, c *[KLoMBins]float64) {
		*c = [KLoMBins]float64{}
		for _, v := range s {
			// np.digitize(x, edges) for increasing edges is the number of
			// edges <= x; values from 1 to 20 are counted in bin i-1.
			x := clip(v)
			i := sortSearchRight(edges[:], x)
			if i == KLoMBins+1 && opt.Corrected {
				i = KLoMBins
			}
			if i >= 1 && i <= KLoMBins {
				c[i-1]++
			}
		}
	}
	count(p, pc)
	count(q, qc)
	probs := func(c *[KLoMBins]float64) {
		total := 0.0
		for _, v := range c {
			total += v
		}
		for k := range c {
			if total > 0 {
				c[k] /= total
			} else {
				c[k] = 0
			}
		}
	}
	probs(pc)
	probs(qc)
	for k := range qc {
		if pc[k] > 0 {
			qc[k] = max(qc[k], KLoMEps)
		}
	}
	// scipy.stats.entropy: pk /= sum(pk), qk /= sum(qk) (NumPy's pairwise
	// sums), then the sum of rel_entr(pk, qk).
	sp, sq := npsum.Pairwise(pc[:]), npsum.Pairwise(qc[:])
	if sp == 0 {
		return 0, false
	}
	var terms [KLoMBins]float64
	for k := range pc {
		pk, qk := pc[k]/sp, qc[k]/sq
		if pk > 0 {
			terms[k] = pk * math.Log(pk/qk)
		}
	}
	return npsum.Pairwise(terms[:]), true
}

// sortSearchRight is np.searchsorted(edges, x, side="right"): the number
// of edges <= x, for increasing edges.
func sortSearchRight(edges []float64, x float64) int {
	i, _ := slices.BinarySearchFunc(edges, x, func(e, t float64) int {
		if e <= t {
			return -1
		}
		return 1
	})
	return i
}

// KLoM is the EasyDUB benchmark's per-example KL divergence between two
// populations' margins: for every example e, BinnedKL of the retrained
// models' margins against the unlearned models' (the other way with
// UnlearnedFirst). u and r hold margins N x E row-major (Margins), for nu
// and nr models; the populations may differ in size. undefined lists the
// examples where the first population had no value in a counted bin
// (see BinnedKL); their value is 0 and they belong in no summary. NaN or
// infinite margins are an error naming the first.
func KLoM(u, r []float64, nu, nr, e int, opt KLoMOptions) (vals []float64, undefined []int, err error) {
	if nu < 1 || nr < 1 || e < 1 {
		return nil, nil, fmt.Errorf("KLoM: %d unlearned and %d retrained models on %d examples; want at least 1 of each", nu, nr, e)
	}
	if len(u) != nu*e || len(r) != nr*e {
		return nil, nil, fmt.Errorf("KLoM: %d and %d margins for %d and %d models on %d examples", len(u), len(r), nu, nr, e)
	}
	for _, s := range []struct {
		name string
		v    []float64
	}{{"unlearned", u}, {"retrained", r}} {
		for k, v := range s.v {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("KLoM: %s model %d, example %d: margin is %v", s.name, k/e, k%e, v)
			}
		}
	}
	vals = make([]float64, e)
	cu, cr := make([]float64, nu), make([]float64, nr)
	var pc, qc [KLoMBins]float64
	for j := 0; j < e; j++ {
		for i := range cu {
			cu[i] = u[i*e+j]
		}
		for i := range cr {
			cr[i] = r[i*e+j]
		}
		p, q := cr, cu
		if opt.UnlearnedFirst {
			p, q = cu, cr
		}
		kl, ok := binnedKL(p, q, opt, &pc, &qc)
		if !ok {
			undefined = append(undefined, j)
			continue
		}
		vals[j] = kl
	}
	return vals, undefined, nil
}

// Percentile is np.percentile(v, q) with its default linear interpolation:
// the value at fractional rank q/100 * (n-1) of the sorted values. NaN for
// no values.
func Percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	pos := q / 100 * float64(len(s)-1)
	i := int(math.Floor(pos))
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	// NumPy's _lerp: a + (b-a)*t, or b - (b-a)*(1-t) from t = 0.5 on.
	t, a, b := pos-float64(i), s[i], s[i+1]
	d := b - a
	if t >= 0.5 {
		return b - d*(1-t)
	}
	return a + d*t
}
