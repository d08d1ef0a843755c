package attack

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// The competition's grid constants (NeurIPS 2023 unlearning evaluation,
// metric.md): 100 thresholds per unit of confidence, and double-threshold
// windows searched within ±2 of the narrower sample's width.
const (
	ThresholdsPerUnit = 100
	doubleBuffer      = 2.0
)

// MaxThresholds bounds the single-threshold grid: logit-scaled confidences
// lie within about ±104, so a real example needs at most ~21,000
// thresholds; a larger span means the input is not confidences.
const MaxThresholds = 10_000_000

// CompetitionRules is the competition's two decision-rule families on one
// forget example: first the double-threshold rules (a value is positive when
// it lies in [l, r]), then the single-threshold rules (positive when >= t),
// on exactly the original's threshold grid. Counting uses sorted copies of
// the samples and moving pointers, so each rule costs O(1) amortised instead
// of O(N).
type CompetitionRules struct {
	pos, neg []float64 // sorted; the single family's positives and negatives

	// Double family: dpos is the peakier (narrower) sample.
	dpos, dneg []float64
	swapped    bool // dpos is neg
	width      float64
	lo, hi     float64
	nRight     int

	// Single family.
	tMin, tMax float64
	nSingle    int

	lefts []float64 // scratch

	// walkOnly makes Each walk every left threshold (tests compare the
	// jumps with it).
	walkOnly bool
}

// NLeft is the number of left thresholds per right threshold:
// ceil(2 * buffer * 100) = 400.
const NLeft = 400

// NewCompetitionRules builds the rule families for one example. pos and neg
// are the samples as the score's step 2 assigns them (pos = the population
// with the larger median); they are copied, not modified. Values must be
// finite and each sample non-empty.
func NewCompetitionRules(pos, neg []float64) (*CompetitionRules, error) {
	c := &CompetitionRules{}
	if err := c.Reset(pos, neg); err != nil {
		return nil, err
	}
	return c, nil
}

// Reset reuses c's buffers for another example.
func (c *CompetitionRules) Reset(pos, neg []float64) error {
	// The original requires equal sizes (it scores N unlearned against N
	// retrained models), and the double family's swap relies on it: its
	// counts are against the swapped samples but share NPos and NNeg.
	if len(pos) == 0 || len(pos) != len(neg) {
		return fmt.Errorf("decision rules need two non-empty samples of equal size, have %d and %d values", len(pos), len(neg))
	}
	c.pos = append(c.pos[:0], pos...)
	c.neg = append(c.neg[:0], neg...)
	sort.Float64s(c.pos)
	sort.Float64s(c.neg)
	if !finite(c.pos[0]) || !finite(c.pos[len(c.pos)-1]) || !finite(c.neg[0]) || !finite(c.neg[len(c.neg)-1]) {
		return fmt.Errorf("decision rules need finite values")
	}

	posDiff := c.pos[len(c.pos)-1] - c.pos[0]
	negDiff := c.neg[len(c.neg)-1] - c.neg[0]
	smallest := posDiff
	if posDiff > negDiff {
		smallest = negDiff
	}
	c.dpos, c.dneg, c.swapped = c.pos, c.neg, false
	if posDiff >= negDiff {
		c.dpos, c.dneg, c.swapped = c.neg, c.pos, true
	}
	c.width = smallest
	c.lo = c.dpos[0] + c.width - doubleBuffer
	c.hi = c.dpos[len(c.dpos)-1] + doubleBuffer
	c.nRight = gridCount(c.hi-c.lo, ThresholdsPerUnit)

	c.tMin = min(c.pos[0], c.neg[0])
	c.tMax = max(c.pos[len(c.pos)-1], c.neg[len(c.neg)-1])
	c.nSingle = gridCount(c.tMax-c.tMin, ThresholdsPerUnit)
	if c.nSingle > MaxThresholds {
		return fmt.Errorf("values span [%g, %g], which needs %d single thresholds (more than %d): these are not logit-scaled confidences", c.tMin, c.tMax, c.nSingle, MaxThresholds)
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// NPos is the size of the positive sample (equal to NNeg).
func (c *CompetitionRules) NPos() int { return len(c.pos) }

// NNeg is the size of the negative sample.
func (c *CompetitionRules) NNeg() int { return len(c.neg) }

// Swapped reports whether the double family treats the step-2 negatives as
// its positives (they are the peakier sample).
func (c *CompetitionRules) Swapped() bool { return c.swapped }

// NDouble is the number of double-threshold rules, nRight * 400.
func (c *CompetitionRules) NDouble() int { return c.nRight * NLeft }

// NRight is the number of right thresholds of the double family.
func (c *CompetitionRules) NRight() int { return c.nRight }

// NSingle is the number of single-threshold rules.
func (c *CompetitionRules) NSingle() int { return c.nSingle }

// Len is the number of rules of both families.
func (c *CompetitionRules) Len() int { return c.NDouble() + c.nSingle }

// RightThreshold is the j-th right threshold of the double family.
func (c *CompetitionRules) RightThreshold(j int) float64 {
	return linspaceAt(c.lo, c.hi, c.nRight, j)
}

// LeftThreshold is the k-th left threshold paired with right threshold r:
// linspace((r - width) - 2, (r - width) + 2, 400)[k], in that order of
// evaluation, as the original.
func (c *CompetitionRules) LeftThreshold(r float64, k int) float64 {
	return linspaceAt((r-c.width)-doubleBuffer, (r-c.width)+doubleBuffer, NLeft, k)
}

// SingleThreshold is the i-th threshold of the single family.
func (c *CompetitionRules) SingleThreshold(i int) float64 {
	return linspaceAt(c.tMin, c.tMax, c.nSingle, i)
}

// Each visits every rule's false-positive and false-negative counts in
// order (see RuleSet).
func (c *CompetitionRules) Each(visit func(rule, fp, fn int) bool) {
	prevFP, prevFN := -1, -1
	npos, nneg := len(c.dpos), len(c.dneg)
	dpos, dneg := c.dpos, c.dneg
	// Right thresholds increase, so "how many values are <= r" only grows.
	pLE, nLE := 0, 0
	for j := 0; j < c.nRight; j++ {
		r := c.RightThreshold(j)
		for pLE < npos && dpos[pLE] <= r {
			pLE++
		}
		for nLE < nneg && dneg[nLE] <= r {
			nLE++
		}
		a, b := (r-c.width)-doubleBuffer, (r-c.width)+doubleBuffer
		// Left thresholds increase too: count values < l with pointers that
		// start from a binary search for the first one.
		pLT := sort.SearchFloat64s(dpos, a)
		nLT := sort.SearchFloat64s(dneg, a)
		base := j * NLeft
		// With few values inside the window (small N), the counts stay
		// the same over long runs of left thresholds, and every rule of a
		// run but its first is skipped below as a repeat: jump from one
		// value to the next instead of walking the 400 thresholds. Where
		// the window holds many values (N in the hundreds) the walk is
		// cheaper. Both visit the same rules with the same counts.
		if inWindow := sort.SearchFloat64s(dpos[pLT:], b) + sort.SearchFloat64s(dneg[nLT:], b); !c.walkOnly && inWindow < NLeft/2 {
			if !c.eachLeftByValue(visit, a, b, base, pLE, nLE, pLT, nLT, &prevFP, &prevFN) {
				return
			}
			continue
		}
		c.lefts = linspace(c.lefts, a, b, NLeft)
		for k, l := range c.lefts {
			for pLT < npos && dpos[pLT] < l {
				pLT++
			}
			for nLT < nneg && dneg[nLT] < l {
				nLT++
			}
			// Values in [l, r]; when l > r the difference is <= 0 and no
			// value lies in the window.
			tp := max(pLE-pLT, 0)
			fp := max(nLE-nLT, 0)
			if tp == 0 && fp == 0 {
				continue
			}
			fn := npos - tp
			if fp == prevFP && fn == prevFN {
				continue
			}
			prevFP, prevFN = fp, fn
			if !visit(base+k, fp, fn) {
				return
			}
		}
	}

	// Single family on the unswapped samples: positive when v >= t.
	npos, nneg = len(c.pos), len(c.neg)
	pLT, nLT := 0, 0
	base := c.NDouble()
	prevFP, prevFN = -1, -1
	for i := 0; i < c.nSingle; i++ {
		t := c.SingleThreshold(i)
		for pLT < npos && c.pos[pLT] < t {
			pLT++
		}
		for nLT < nneg && c.neg[nLT] < t {
			nLT++
		}
		tp, fp := npos-pLT, nneg-nLT
		if tp == 0 && fp == 0 {
			continue
		}
		fn := pLT
		if fp == prevFP && fn == prevFN {
			continue
		}
		prevFP, prevFN = fp, fn
		if !visit(base+i, fp, fn) {
			return
		}
	}
}

// eachLeftByValue visits the double family's rules of one right threshold
// (values <= r: pLE of dpos, nLE of dneg) whose left thresholds are
// linspace(a, b, 400), as Each's walk over them does, but only at the left
// thresholds where a count changes: from each one it jumps to the first
// threshold above the next value. pLT and nLT count the values below a.
// It returns false when visit asked to stop.
func (c *CompetitionRules) eachLeftByValue(visit func(rule, fp, fn int) bool, a, b float64, base, pLE, nLE, pLT, nLT int, prevFP, prevFN *int) bool {
	npos, nneg := len(c.dpos), len(c.dneg)
	dpos, dneg := c.dpos, c.dneg
	step := (b - a) / float64(NLeft-1)
	if step == 0 || math.IsInf(step, 0) {
		// linspace's other arithmetic; never for confidences.
		c.lefts = linspace(c.lefts, a, b, NLeft)
	}
	// left is linspace(a, b, 400)[k], by linspace's own arithmetic.
	left := func(k int) float64 {
		switch {
		case step == 0 || math.IsInf(step, 0):
			return c.lefts[k]
		case k == NLeft-1:
			return b
		}
		return float64(float64(k)*step) + a
	}
	for k := 0; k < NLeft; {
		l := left(k)
		for pLT < npos && dpos[pLT] < l {
			pLT++
		}
		for nLT < nneg && dneg[nLT] < l {
			nLT++
		}
		tp := max(pLE-pLT, 0)
		fp := max(nLE-nLT, 0)
		if tp != 0 || fp != 0 {
			if fn := npos - tp; fp != *prevFP || fn != *prevFN {
				*prevFP, *prevFN = fp, fn
				if !visit(base+k, fp, fn) {
					return false
				}
			}
		}
		// The counts change next at the first threshold above the
		// smallest value not yet below l.
		var v float64
		switch {
		case pLT < npos && (nLT >= nneg || dpos[pLT] <= dneg[nLT]):
			v = dpos[pLT]
		case nLT < nneg:
			v = dneg[nLT]
		default:
			return true // no value left: the rest repeat this rule
		}
		next := k + 1
		if est := (v - a) / step; est >= float64(NLeft) {
			next = NLeft
		} else if est > float64(next) {
			next = int(est)
		}
		for next > k+1 && left(next-1) > v {
			next--
		}
		for next < NLeft && left(next) <= v {
			next++
		}
		k = next
	}
	return true
}

// Rule describes rule i with its thresholds and counts, computed afresh by
// binary search (used for the few winning rules, not in the hot loop).
func (c *CompetitionRules) Rule(i int) Rule {
	if i < c.NDouble() {
		j, k := i/NLeft, i%NLeft
		r := c.RightThreshold(j)
		l := c.LeftThreshold(r, k)
		tp := countIn(c.dpos, l, r)
		fp := countIn(c.dneg, l, r)
		upper := r
		return Rule{
			Family: FamilyDoubleThreshold, Index: i, Lower: l, Upper: &upper,
			Counts: Counts{TP: tp, FN: len(c.dpos) - tp, FP: fp, TN: len(c.dneg) - fp},
		}
	}
	t := c.SingleThreshold(i - c.NDouble())
	tp := len(c.pos) - sort.SearchFloat64s(c.pos, t)
	fp := len(c.neg) - sort.SearchFloat64s(c.neg, t)
	return Rule{
		Family: FamilySingleThreshold, Index: i, Lower: t,
		Counts: Counts{TP: tp, FN: len(c.pos) - tp, FP: fp, TN: len(c.neg) - fp},
	}
}

// countIn counts sorted values v with l <= v <= r.
func countIn(sorted []float64, l, r float64) int {
	if l > r {
		return 0
	}
	lo := sort.SearchFloat64s(sorted, l)
	hi, _ := slices.BinarySearchFunc(sorted, r, func(v, t float64) int {
		if v <= t {
			return -1
		}
		return 1
	})
	return max(hi-lo, 0)
}
