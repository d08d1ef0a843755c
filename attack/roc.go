package attack

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat"
)

// FPRTargets are the false-positive rates at which attacks report their
// true-positive rate (0.1%, 1% and 10%), as LiRA (Carlini et al. 2022)
// reports them.
var FPRTargets = []float64{0.001, 0.01, 0.1}

// ROCPoint is one point of a ROC curve: the rates of the rule "score >=
// Threshold is positive".
type ROCPoint struct {
	FPR, TPR  float64
	Threshold float64
}

// Metrics are an attack's threshold-free summaries on one positive and one
// negative sample of scores.
type Metrics struct {
	// AUC is the area under the ROC curve: the probability that a random
	// positive scores above a random negative, ties counting one half.
	AUC float64
	// Advantage is the attacker's advantage, max over thresholds of
	// |TPR - FPR| (Yeom et al. 2018).
	Advantage float64
	// BestBalancedAccuracy is max over thresholds of (TPR + TNR) / 2, the
	// balanced accuracy of the best threshold.
	BestBalancedAccuracy float64
	// TPRAt[i] is the largest TPR among thresholds whose FPR is at most
	// FPRTargets[i] (no interpolation between thresholds).
	TPRAt []float64
	// MinFPR is the smallest non-zero FPR the negatives can show, 1/nNeg:
	// TPRAt for a smaller target is the TPR at zero false positives.
	MinFPR float64
	// ROC is the curve from (0, 0) to (1, 1), one point per distinct score.
	ROC []ROCPoint
}

// ScoreMetrics computes the ROC of scores where higher means "positive",
// with gonum's stat.ROC, and its summaries. Scores must be finite and both
// samples non-empty.
func ScoreMetrics(pos, neg []float64) (*Metrics, error) {
	if len(pos) == 0 || len(neg) == 0 {
		return nil, fmt.Errorf("ROC needs both samples, have %d positive and %d negative scores", len(pos), len(neg))
	}
	y := make([]float64, 0, len(pos)+len(neg))
	classes := make([]bool, 0, len(pos)+len(neg))
	for _, s := range pos {
		y = append(y, s)
		classes = append(classes, true)
	}
	for _, s := range neg {
		y = append(y, s)
		classes = append(classes, false)
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("score %d is %v; attack scores must be finite", i, v)
		}
	}
	stat.SortWeightedLabeled(y, classes, nil)
	tpr, fpr, thresh := stat.ROC(nil, y, classes, nil)
	m := &Metrics{MinFPR: 1 / float64(len(neg)), ROC: make([]ROCPoint, len(tpr))}
	for i := range tpr {
		m.ROC[i] = ROCPoint{FPR: fpr[i], TPR: tpr[i], Threshold: thresh[i]}
	}
	m.summarise()
	return m, nil
}

func (m *Metrics) summarise() {
	// The curve runs from (0, 0) to (1, 1) with non-decreasing rates; the
	// trapezoids under it give the AUC with ties counted one half (vertical
	// and diagonal steps included, which integrate.Trapezoidal's strictly
	// increasing abscissae cannot take).
	m.AUC = 0
	for i := 1; i < len(m.ROC); i++ {
		a, b := m.ROC[i-1], m.ROC[i]
		m.AUC += (b.FPR - a.FPR) * (a.TPR + b.TPR) / 2
	}
	m.Advantage, m.BestBalancedAccuracy = 0, 0.5
	for _, p := range m.ROC {
		m.Advantage = max(m.Advantage, math.Abs(p.TPR-p.FPR))
		m.BestBalancedAccuracy = max(m.BestBalancedAccuracy, (p.TPR+1-p.FPR)/2)
	}
	m.TPRAt = make([]float64, len(FPRTargets))
	for k, target := range FPRTargets {
		m.TPRAt[k] = TPRAtFPR(m.ROC, target)
	}
}

// TPRAtFPR is the largest TPR of a point of roc whose FPR is at most target
// (a small tolerance absorbs the rounding of count/n).
func TPRAtFPR(roc []ROCPoint, target float64) float64 {
	best := 0.0
	for _, p := range roc {
		if p.FPR <= target*(1+1e-12) {
			best = max(best, p.TPR)
		}
	}
	return best
}

// ThinROC keeps at most about 2*n points of a ROC curve for storage and
// plots: for n FPR values spaced evenly on a log scale from 1e-5 to 1 and n
// spaced evenly on a linear scale, the point with the highest TPR at or
// below each, plus both ends. The kept points are in curve order.
func ThinROC(roc []ROCPoint, n int) []ROCPoint {
	if len(roc) <= 2*n+2 {
		return slices.Clone(roc)
	}
	keep := map[int]bool{0: true, len(roc) - 1: true}
	// Both rates are non-decreasing along the curve, so the highest TPR at
	// or below an FPR is at the last point at or below it.
	pick := func(target float64) {
		i := sort.Search(len(roc), func(i int) bool { return roc[i].FPR > target })
		if i > 0 {
			keep[i-1] = true
		}
	}
	for k := 0; k < n; k++ {
		pick(math.Pow(10, -5+5*float64(k)/float64(n-1)))
		pick(float64(k) / float64(n-1))
	}
	out := make([]ROCPoint, 0, len(keep))
	for i, p := range roc {
		if keep[i] {
			out = append(out, p)
		}
	}
	return out
}

// DecisionMetrics are the rates of one decision (a trained classifier at its
// own threshold).
type DecisionMetrics struct {
	TPR, FPR, TNR, FNR float64
	// BalancedAccuracy is (TPR + TNR) / 2; Accuracy is (TP + TN) / rows.
	BalancedAccuracy, Accuracy float64
}

// Decision turns counts into rates (float64; the competition's float32
// rates are for epsilons only).
func (c Counts) Decision() DecisionMetrics {
	np, nn := float64(c.NPos()), float64(c.NNeg())
	d := DecisionMetrics{
		TPR: float64(c.TP) / np, FNR: float64(c.FN) / np,
		FPR: float64(c.FP) / nn, TNR: float64(c.TN) / nn,
	}
	d.BalancedAccuracy = (d.TPR + d.TNR) / 2
	d.Accuracy = float64(c.TP+c.TN) / (np + nn)
	return d
}
