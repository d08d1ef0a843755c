package attack

import (
	"fmt"
	"math"
	"sort"
)

// FamilyScoreThreshold names the rules of ScoreRules.
const FamilyScoreThreshold = "score-threshold"

// ScoreRules is the rule set of an attack that scores every row (a trained
// classifier's held-out scores, LiRA's likelihood ratios): one rule per
// distinct score t, "score >= t is positive", in increasing t. It is the
// competition's single-threshold family on the attack's scores, with the
// data's own values as thresholds instead of a 0.01 grid, so that
// scoring.ExampleEpsilon turns it into an epsilon the same way.
type ScoreRules struct {
	family   string
	pos, neg []float64 // sorted
	ts       []float64 // distinct scores, increasing
}

// NewScoreRules builds the rules for scores of a positive and a negative
// sample (copied). family names them in Rule (FamilyScoreThreshold when
// empty). Scores must be finite.
func NewScoreRules(family string, pos, neg []float64) (*ScoreRules, error) {
	r := &ScoreRules{}
	return r, r.Reset(family, pos, neg)
}

// Reset reuses r's buffers for other scores.
func (r *ScoreRules) Reset(family string, pos, neg []float64) error {
	if family == "" {
		family = FamilyScoreThreshold
	}
	if len(pos) == 0 || len(neg) == 0 {
		return fmt.Errorf("score rules need two non-empty samples, have %d and %d scores", len(pos), len(neg))
	}
	r.family = family
	r.pos = append(r.pos[:0], pos...)
	r.neg = append(r.neg[:0], neg...)
	for _, s := range [][]float64{r.pos, r.neg} {
		for i, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("score %d is %v; attack scores must be finite", i, v)
			}
		}
		sort.Float64s(s)
	}
	r.ts = r.ts[:0]
	i, j := 0, 0
	for i < len(r.pos) || j < len(r.neg) {
		var v float64
		if j >= len(r.neg) || (i < len(r.pos) && r.pos[i] <= r.neg[j]) {
			v = r.pos[i]
			i++
		} else {
			v = r.neg[j]
			j++
		}
		if len(r.ts) == 0 || v != r.ts[len(r.ts)-1] {
			r.ts = append(r.ts, v)
		}
	}
	return nil
}

// NPos is the number of positive scores.
func (r *ScoreRules) NPos() int { return len(r.pos) }

// NNeg is the number of negative scores.
func (r *ScoreRules) NNeg() int { return len(r.neg) }

// Len is the number of rules, one per distinct score.
func (r *ScoreRules) Len() int { return len(r.ts) }

// Each visits the rules in increasing threshold (see RuleSet).
func (r *ScoreRules) Each(visit func(rule, fp, fn int) bool) {
	pLT, nLT := 0, 0
	for i, t := range r.ts {
		for pLT < len(r.pos) && r.pos[pLT] < t {
			pLT++
		}
		for nLT < len(r.neg) && r.neg[nLT] < t {
			nLT++
		}
		if !visit(i, len(r.neg)-nLT, pLT) {
			return
		}
	}
}

// Rule describes rule i: "score >= Lower is positive".
func (r *ScoreRules) Rule(i int) Rule {
	t := r.ts[i]
	tp := len(r.pos) - sort.SearchFloat64s(r.pos, t)
	fp := len(r.neg) - sort.SearchFloat64s(r.neg, t)
	return Rule{
		Family: r.family, Index: i, Lower: t,
		Counts: Counts{TP: tp, FN: len(r.pos) - tp, FP: fp, TN: len(r.neg) - fp},
	}
}
