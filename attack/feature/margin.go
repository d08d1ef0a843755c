package feature

import (
	"errors"
	"fmt"
	"math"

	"unlearnbench/scoring"
)

// Margins computes every model's margin on every example, N x E row-major:
// the logit of the true class minus the logsumexp of the other logits, as
// the benchmark computes it. It refuses fewer than 2 classes (no other
// logit: the margin is infinite), labels that are missing or out of range,
// and logits that are NaN or infinite. It is the competition's
// logit-scaled confidence ln p_y - ln sum_{k != y} p_k by another road, in
// float64 from the stored logits (the benchmark computes it in the model's
// precision, so the last bits of a margin can differ; a margin's bin almost
// never does).
func Margins(l *scoring.Logits, labels []int) ([]float64, error) {
	if l == nil {
		return nil, errors.New("margins: no logits")
	}
	if l.C < 2 {
		return nil, fmt.Errorf("margins: logits of %d class; the margin needs at least 2 classes", l.C)
	}
	if labels == nil {
		return nil, fmt.Errorf("margins: logits of %d examples without labels", l.E)
	}
	if len(labels) != l.E {
		return nil, fmt.Errorf("margins: %d labels for %d examples", len(labels), l.E)
	}
	for e, y := range labels {
		if y < 0 || y >= l.C {
			return nil, fmt.Errorf("margins: label of example %d is %d, outside [0, %d)", e, y, l.C)
		}
	}
	if err := l.CheckFinite(); err != nil {
		return nil, fmt.Errorf("margins: %w", err)
	}
	out := make([]float64, l.N*l.E)
	z := make([]float64, l.C)
	for i := 0; i < l.N; i++ {
		for e := 0; e < l.E; e++ {
			off := (i*l.E + e) * l.C
			if l.F64 != nil {
				copy(z, l.F64[off:off+l.C])
			} else {
				for k := range z {
					z[k] = float64(l.F32[off+k])
				}
			}
			out[i*l.E+e] = margin(z, labels[e])
		}
	}
	return out, nil
}

// margin is z_y - log sum_{k != y} e^{z_k}, computed around the largest
// other logit so that no exponential overflows.
func margin(z []float64, y int) float64 {
	top := math.Inf(-1)
	for k, v := range z {
		if k != y && v > top {
			top = v
		}
	}
	s := 0.0
	for k, v := range z {
		if k != y {
			s += math.Exp(v - top)
		}
	}
	return z[y] - (top + math.Log(s))
}
