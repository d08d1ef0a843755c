package scoring

import (
	"math"
)

// This file is a second, deliberately naive reading of metric.md, used to
// check the fast path: every rule of the original's grid is built as a
// threshold pair and compared with every value, rates are float32 means, and
// each rule's epsilon is computed on its own. It shares no code with the
// package beyond the constants.

func refLinspace(start, stop float64, n int) []float64 {
	if n <= 0 {
		return nil
	}
	out := make([]float64, n)
	if n == 1 {
		out[0] = start
		return out
	}
	div := float64(n - 1)
	delta := stop - start
	step := delta / div
	for i := range out {
		if step == 0 {
			out[i] = float64(float64(float64(i)/div)*delta) + start
		} else {
			out[i] = float64(float64(i)*step) + start
		}
	}
	out[n-1] = stop
	return out
}

type refRule struct {
	double   bool
	lo, hi   float64
	tpr, fnr float32
	fpr, tnr float32
}

func refMean(pred []bool) float32 {
	c := 0
	for _, p := range pred {
		if p {
			c++
		}
	}
	return float32(c) / float32(len(pred))
}

func refRules(pos, neg []float64) []refRule {
	minOf := func(v []float64) float64 {
		m := v[0]
		for _, x := range v {
			m = math.Min(m, x)
		}
		return m
	}
	maxOf := func(v []float64) float64 {
		m := v[0]
		for _, x := range v {
			m = math.Max(m, x)
		}
		return m
	}
	var rules []refRule
	// Double family.
	dp, dn := pos, neg
	posDiff, negDiff := maxOf(pos)-minOf(pos), maxOf(neg)-minOf(neg)
	smallest := posDiff
	if posDiff > negDiff {
		smallest = negDiff
	}
	if posDiff >= negDiff {
		dp, dn = neg, pos
	}
	width := smallest
	lo := minOf(dp) + width - 2
	hi := maxOf(dp) + 2
	for _, r := range refLinspace(lo, hi, int(math.Ceil((hi-lo)*100))) {
		for _, l := range refLinspace(r-width-2, r-width+2, 400) {
			in := func(vals []float64) ([]bool, []bool) {
				pp, pn := make([]bool, len(vals)), make([]bool, len(vals))
				for i, c := range vals {
					pp[i] = l <= c && c <= r
					pn[i] = !pp[i]
				}
				return pp, pn
			}
			ppPos, pnPos := in(dp)
			ppNeg, pnNeg := in(dn)
			rules = append(rules, refRule{double: true, lo: l, hi: r,
				tpr: refMean(ppPos), fnr: refMean(pnPos), fpr: refMean(ppNeg), tnr: refMean(pnNeg)})
		}
	}
	// Single family.
	all := append(append([]float64{}, pos...), neg...)
	mn, mx := minOf(all), maxOf(all)
	for _, t := range refLinspace(mn, mx, int(math.Ceil((mx-mn)*100))) {
		ge := func(vals []float64, want bool) []bool {
			out := make([]bool, len(vals))
			for i, c := range vals {
				out[i] = (c >= t) == want
			}
			return out
		}
		rules = append(rules, refRule{lo: t, hi: math.Inf(1),
			tpr: refMean(ge(pos, true)), fnr: refMean(ge(pos, false)), fpr: refMean(ge(neg, true)), tnr: refMean(ge(neg, false))})
	}
	return rules
}

// refEpsilon returns the example's epsilon, the index of the winning rule
// (-1 for the peaky shortcut), and whether every rule was discarded.
func refEpsilon(pos, neg []float64) (eps float32, winner int, allDiscarded bool) {
	spread := func(v []float64) float64 {
		mn, mx := v[0], v[0]
		for _, x := range v {
			mn, mx = math.Min(mn, x), math.Max(mx, x)
		}
		return mx - mn
	}
	posDiff, negDiff := spread(pos), spread(neg)
	largest, smallest := negDiff, posDiff
	if posDiff > negDiff {
		largest, smallest = posDiff, negDiff
	}
	if smallest/largest < 0.01 {
		return 50, -1, false
	}
	best := float32(math.NaN())
	winner = -1
	c := float32(1 - 1e-5)
	for i, r := range refRules(pos, neg) {
		var e float32
		switch {
		case r.fpr+r.fnr == 0 && r.tpr+r.tnr == 2:
			e = float32(math.Inf(1))
		case r.fpr*r.fnr == 0:
			continue
		default:
			e1 := float32(math.Log(float64(c-r.fpr))) - float32(math.Log(float64(r.fnr)))
			e2 := float32(math.Log(float64(c-r.fnr))) - float32(math.Log(float64(r.fpr)))
			switch {
			case e1 != e1 && e2 != e2:
				continue
			case e1 != e1:
				e = e2
			case e2 != e2:
				e = e1
			default:
				e = float32(math.Max(float64(e1), float64(e2)))
			}
			if e < 0 {
				e = 0
			}
		}
		if winner < 0 || e > best {
			best, winner = e, i
		}
	}
	if winner < 0 {
		return 0, -1, true
	}
	if best > 50 {
		best = 50
	}
	return best, winner, false
}
