package scoring

import (
	"fmt"
	"math"

	"unlearnbench/attack"
	"unlearnbench/internal/nplog"
)

// The competition's constants.
const (
	// Delta is the delta of (epsilon, delta) in the epsilon bound.
	Delta = 1e-5
	// EpsilonCap is the largest epsilon an example can get; the peaky
	// shortcut and perfect separation both give it.
	EpsilonCap = 50
	// PeakyRatio: when the narrower population's spread is below this
	// fraction of the wider one's, the example gets EpsilonCap outright.
	PeakyRatio = 0.01
)

// EpsilonTable holds the epsilon of a rule for every (false-positive count,
// false-negative count) pair on samples of fixed sizes, so that the hundreds
// of thousands of rules per example cost a table lookup each: the logarithms
// are computed once per pair, not once per rule. NaN marks a discarded rule,
// +Inf a perfect separation.
type EpsilonTable struct {
	nPos, nNeg int
	eps        []float32 // [fp*(nPos+1) + fn]
}

// NewEpsilonTable computes the table for nPos positives and nNeg negatives.
//
// One rule's epsilon, as the original computes it (float32 throughout, as
// NumPy does on float32 rates):
//   - fpr + fnr == 0 and tpr + tnr == 2: +Inf (perfect separation);
//   - otherwise fpr * fnr == 0: discarded;
//   - otherwise max(ln(1-delta-fpr) - ln(fnr), ln(1-delta-fnr) - ln(fpr))
//     ignoring a NaN term (np.nanmax; a log of a negative number when a rate
//     is 1), discarded when both terms are NaN, and clipped below at 0.
func NewEpsilonTable(nPos, nNeg int, delta float64) *EpsilonTable {
	t := &EpsilonTable{nPos: nPos, nNeg: nNeg, eps: make([]float32, (nPos+1)*(nNeg+1))}
	oneMinusDelta := float32(1 - delta) // NumPy: a Python float meets a float32 array
	logFNR := make([]float32, nPos+1)
	logOneMinusFNR := make([]float32, nPos+1)
	for fn := 0; fn <= nPos; fn++ {
		r := attack.Rate(fn, nPos)
		logFNR[fn] = log32(r)
		logOneMinusFNR[fn] = log32(oneMinusDelta - r)
	}
	for fp := 0; fp <= nNeg; fp++ {
		fpr := attack.Rate(fp, nNeg)
		tnr := attack.Rate(nNeg-fp, nNeg)
		logFPR := log32(fpr)
		logOneMinusFPR := log32(oneMinusDelta - fpr)
		row := t.eps[fp*(nPos+1) : (fp+1)*(nPos+1)]
		for fn := 0; fn <= nPos; fn++ {
			fnr := attack.Rate(fn, nPos)
			tpr := attack.Rate(nPos-fn, nPos)
			switch {
			case fpr+fnr == 0 && tpr+tnr == 2:
				row[fn] = float32(math.Inf(1))
			case fpr*fnr == 0:
				row[fn] = float32(math.NaN())
			default:
				e1 := logOneMinusFPR - logFNR[fn]
				e2 := logOneMinusFNR[fn] - logFPR
				e := nanmax32(e1, e2)
				if e < 0 {
					e = 0
				}
				row[fn] = e
			}
		}
	}
	return t
}

// log32 is a float32 natural logarithm: NumPy's float64 logarithm
// (internal/nplog) rounded to float32 (NaN below 0, -Inf at 0), as the
// parity fixture's generator computes it. For the rates of every N from 3
// to 4096 it equals Go's math.Log rounded to float32 (measured); NumPy's
// float32 log, np.log of a float32 array, differs from both on about a
// fifth of them (docs/commands/score.md, "Exactness").
func log32(x float32) float32 { return float32(nplog.Log(float64(x))) }

func nanmax32(a, b float32) float32 {
	switch {
	case a != a:
		return b
	case b != b:
		return a
	case a > b:
		return a
	default:
		return b
	}
}

// At is the epsilon of a rule with fp false positives and fn false negatives.
func (t *EpsilonTable) At(fp, fn int) float32 { return t.eps[fp*(t.nPos+1)+fn] }

// Sizes returns the sample sizes the table is for.
func (t *EpsilonTable) Sizes() (nPos, nNeg int) { return t.nPos, t.nNeg }

// Epsilon is one example's epsilon under one attack.
type Epsilon struct {
	// Value is the example's epsilon, the maximum over the kept rules,
	// clipped to [0, EpsilonCap]; float32 as in the original.
	Value float32
	// Separated is true when a rule separated the samples perfectly
	// (its epsilon was +Inf and Value is EpsilonCap).
	Separated bool
	// Rule is the index of the first rule that reached the maximum.
	Rule int
	// Kept counts the distinct rules visited that were not discarded.
	Kept int
}

// ErrAllDiscarded is returned (wrapped) when every rule of an example had a
// false-positive or false-negative rate of exactly 0; the original fails on
// such an example rather than score it.
var ErrAllDiscarded = fmt.Errorf("every decision rule was discarded (each had FPR or FNR equal to 0)")

// ExampleEpsilon computes an example's epsilon from any attack's rule set:
// the maximum of its rules' epsilons. table must be for the rule set's sizes.
func ExampleEpsilon(rs attack.RuleSet, table *EpsilonTable) (Epsilon, error) {
	if np, nn := table.Sizes(); np != rs.NPos() || nn != rs.NNeg() {
		return Epsilon{}, fmt.Errorf("epsilon table for %d/%d samples used on %d/%d", np, nn, rs.NPos(), rs.NNeg())
	}
	best := float32(-1)
	bestRule, kept := -1, 0
	inf := float32(math.Inf(1))
	rs.Each(func(rule, fp, fn int) bool {
		e := table.At(fp, fn)
		if e != e {
			return true
		}
		kept++
		if e > best {
			best, bestRule = e, rule
		}
		// Nothing beats a perfect separation, and the first one found is
		// the arg-max.
		return best != inf
	})
	if bestRule < 0 {
		return Epsilon{Rule: -1}, ErrAllDiscarded
	}
	out := Epsilon{Value: best, Rule: bestRule, Kept: kept}
	if best == inf {
		out.Separated = true
	}
	if out.Value > EpsilonCap {
		out.Value = EpsilonCap
	}
	return out, nil
}
