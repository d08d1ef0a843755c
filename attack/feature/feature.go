// Package feature computes what membership-inference attacks look at for
// one model on one example (confidence, loss, entropy, margin, ...) from
// logits and labels, and the populations' mean predictive distributions.
package feature

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"

	"unlearnbench/attack"
	"unlearnbench/scoring"
)

// Feature names: what an attack may look at for one model on one example,
// computed from the model's logits z (C classes) and the example's label y,
// with p = softmax(z).
const (
	// Conf is the logit-scaled confidence ln p_y - ln sum_{k != y}
	// p_k, bit for bit as the competition computes it (scoring.Confidence).
	Conf = "conf"
	// Loss is the cross-entropy loss -ln p_y.
	Loss = "loss"
	// Prob is the true-class probability p_y (MIA-efficacy's
	// "confidence").
	Prob = "prob"
	// Top1 is the largest probability max_k p_k.
	Top1 = "top1"
	// Entropy is the prediction entropy -sum_k p_k ln p_k.
	Entropy = "entropy"
	// MEntropy is the modified entropy of Song and Mittal (2021,
	// "Systematic evaluation of privacy risks of machine learning models"):
	// -(1 - p_y) ln p_y - sum_{k != y} p_k ln(1 - p_k).
	MEntropy = "mentropy"
	// Margin is the logit margin z_y - max_{k != y} z_k.
	Margin = "margin"
	// Correct is 1 when the largest logit (the first, on ties) is
	// the label's, else 0.
	Correct = "correct"
)

// Default are the features classifier attacks use when logits are
// given: every feature but Prob, which is a monotone function of the
// loss and the confidence.
var Default = []string{Conf, Loss, Top1, Entropy, MEntropy, Margin, Correct}

// All lists every feature Compute knows.
var All = []string{Conf, Loss, Prob, Top1, Entropy, MEntropy, Margin, Correct}

// FromConfidences wraps logit-scaled confidences (N x E, row-major) as a
// one-feature set; what an attack can use when no logits were given.
func FromConfidences(conf []float64, n, e int) *attack.FeatureSet {
	return &attack.FeatureSet{N: n, E: e, Names: []string{Conf}, X: conf}
}

// CheckNames reports an unknown feature name.
func CheckNames(names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("no features selected")
	}
	for _, n := range names {
		if !slices.Contains(All, n) {
			return fmt.Errorf("unknown feature %q (known: %s)", n, strings.Join(All, ", "))
		}
	}
	return nil
}

// Compute computes the named features of every model on every
// example from logits and labels (one per example), using every core.
func Compute(l *scoring.Logits, labels []int, names []string) (*attack.FeatureSet, error) {
	if err := CheckNames(names); err != nil {
		return nil, err
	}
	// The score's confidences, which also check the labels and logits.
	conf, err := l.Confidences(labels)
	if err != nil {
		return nil, err
	}
	fs := &attack.FeatureSet{N: l.N, E: l.E, Names: slices.Clone(names), X: make([]float64, l.N*l.E*len(names))}
	workers := min(runtime.GOMAXPROCS(0), l.N)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			fc := computer{z: make([]float64, l.C)}
			for i := w; i < l.N; i += workers {
				for e := 0; e < l.E; e++ {
					off := (i*l.E + e) * l.C
					if l.F32 != nil {
						for k := range fc.z {
							fc.z[k] = float64(l.F32[off+k])
						}
					} else {
						copy(fc.z, l.F64[off:off+l.C])
					}
					fc.compute(labels[e], conf[i*l.E+e], names, fs.Row(i, e))
				}
			}
		}(w)
	}
	wg.Wait()
	return fs, nil
}

type computer struct {
	z []float64
}

// compute fills dst with the named features of logits fc.z and label y.
// Every quantity is computed from log-probabilities so that no feature is
// NaN or infinite for finite logits: ln p_k = z_k - logsumexp(z), and
// ln(1 - p_k) for the one class that may have p_k >= 1/2 from the sum of the
// other classes' exponentials rather than from 1 - p_k.
func (fc *computer) compute(y int, conf float64, names []string, dst []float64) {
	z := fc.z
	m, arg := z[0], 0
	for k, v := range z {
		if v > m {
			m, arg = v, k
		}
	}
	sum := 0.0
	for _, v := range z {
		sum += math.Exp(v - m)
	}
	lse := m + math.Log(sum)
	logp := func(k int) float64 { return z[k] - lse }
	for j, name := range names {
		var v float64
		switch name {
		case Conf:
			v = conf
		case Loss:
			v = lse - z[y]
		case Prob:
			v = math.Exp(logp(y))
		case Top1:
			v = math.Exp(m - lse)
		case Entropy:
			for k := range z {
				lp := logp(k)
				v -= math.Exp(lp) * lp
			}
		case MEntropy:
			// 1 - p_y summed from the other classes, which keeps its
			// precision when p_y is close to 1.
			wrong := 0.0
			for k := range z {
				if k != y {
					wrong += math.Exp(logp(k))
				}
			}
			v = -wrong * logp(y)
			for k := range z {
				if k == y {
					continue
				}
				pk := math.Exp(logp(k))
				v -= pk * fc.log1mp(k, pk, lse)
			}
		case Margin:
			other := math.Inf(-1)
			for k, zk := range z {
				if k != y && zk > other {
					other = zk
				}
			}
			v = z[y] - other
		case Correct:
			if arg == y {
				v = 1
			}
		}
		dst[j] = v
	}
}

// log1mp is ln(1 - p_k): log1p(-p_k) while p_k < 1/2, else the log-sum-exp
// of the other classes' logits minus logsumexp(z), which stays finite even
// when their probabilities underflow.
func (fc *computer) log1mp(k int, pk, lse float64) float64 {
	if pk < 0.5 {
		return math.Log1p(-pk)
	}
	m2 := math.Inf(-1)
	for j, v := range fc.z {
		if j != k && v > m2 {
			m2 = v
		}
	}
	rest := 0.0
	for j, v := range fc.z {
		if j != k {
			rest += math.Exp(v - m2)
		}
	}
	return m2 + math.Log(rest) - lse
}

// MeanPredictive is the population's mean predictive distribution on every
// example: the mean over models of softmax(logits), E x C row-major.
func MeanPredictive(l *scoring.Logits) ([]float64, error) {
	if err := l.CheckFinite(); err != nil {
		return nil, err
	}
	out := make([]float64, l.E*l.C)
	z := make([]float64, l.C)
	for i := 0; i < l.N; i++ {
		for e := 0; e < l.E; e++ {
			off := (i*l.E + e) * l.C
			for k := range z {
				if l.F32 != nil {
					z[k] = float64(l.F32[off+k])
				} else {
					z[k] = l.F64[off+k]
				}
			}
			m := z[0]
			for _, v := range z {
				m = max(m, v)
			}
			s := 0.0
			for k, v := range z {
				z[k] = math.Exp(v - m)
				s += z[k]
			}
			for k, v := range z {
				out[e*l.C+k] += v / s
			}
		}
	}
	for k := range out {
		out[k] /= float64(l.N)
	}
	return out, nil
}
