package attack

import (
	"fmt"
	"math"
)

// probFloor is the smallest probability the divergences use: a mean
// predictive distribution can hold an exact 0 where every model's softmax
// underflowed, which would make KL infinite. 1e-45 is the floor the
// competition's confidence adds before its logarithms.
const probFloor = 1e-45

// KL is the Kullback-Leibler divergence sum_k p_k ln(p_k / q_k) in nats,
// with both distributions floored at 1e-45 and renormalised.
func KL(p, q []float64) float64 {
	pf, qf := floored(p), floored(q)
	s := 0.0
	for k := range pf {
		s += pf[k] * math.Log(pf[k]/qf[k])
	}
	return max(s, 0)
}

// JS is the Jensen-Shannon divergence (KL(p || m) + KL(q || m)) / 2 with
// m = (p + q) / 2, in nats (at most ln 2).
func JS(p, q []float64) float64 {
	pf, qf := floored(p), floored(q)
	m := make([]float64, len(pf))
	for k := range m {
		m[k] = (pf[k] + qf[k]) / 2
	}
	s := 0.0
	for k := range m {
		s += pf[k]*math.Log(pf[k]/m[k]) + qf[k]*math.Log(qf[k]/m[k])
	}
	return min(max(s/2, 0), math.Ln2)
}

func floored(p []float64) []float64 {
	out := make([]float64, len(p))
	s := 0.0
	for k, v := range p {
		out[k] = max(v, probFloor)
		s += out[k]
	}
	for k := range out {
		out[k] /= s
	}
	return out
}

// Divergences computes, per example, KL(unlearned || retrained) and the
// Jensen-Shannon divergence between the two populations' mean predictive
// distributions, given as E x C row-major arrays (feature.MeanPredictive).
func Divergences(pu, pr []float64, nEx, c int) (kl, js []float64, err error) {
	if len(pu) != nEx*c || len(pr) != nEx*c {
		return nil, nil, fmt.Errorf("divergences: %d and %d probabilities for %d examples of %d classes", len(pu), len(pr), nEx, c)
	}
	for i := range pu {
		if !(pu[i] >= 0 && pr[i] >= 0) || math.IsInf(pu[i], 0) || math.IsInf(pr[i], 0) {
			return nil, nil, fmt.Errorf("divergences: example %d, class %d: probabilities %v and %v", i/c, i%c, pu[i], pr[i])
		}
	}
	kl, js = make([]float64, nEx), make([]float64, nEx)
	for e := 0; e < nEx; e++ {
		p, q := pu[e*c:(e+1)*c], pr[e*c:(e+1)*c]
		kl[e], js[e] = KL(p, q), JS(p, q)
	}
	return kl, js, nil
}
