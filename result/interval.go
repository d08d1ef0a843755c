package result

import (
	"errors"
	"fmt"
	"math"
)

// validateInterval checks F's interval: finite, ordered, within [0, 1],
// with a level and a count of resamples that mean something.
func (s *Score) validateInterval() error {
	iv := s.Interval
	if iv == nil {
		if len(s.Unseparated) > 0 {
			return errors.New("field \"score.unseparated\" without field \"score.f_interval\"")
		}
		return nil
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"low", iv.Low}, {"high", iv.High}, {"mean", iv.Mean}} {
		if !(f.v >= 0 && f.v <= 1) {
			return fmt.Errorf("field \"score.f_interval.%s\" is %v; F lies in [0, 1]", f.name, f.v)
		}
	}
	if iv.Low > iv.High {
		return fmt.Errorf("field \"score.f_interval\": low %v is above high %v", iv.Low, iv.High)
	}
	if !(iv.Level > 0 && iv.Level < 1) {
		return fmt.Errorf("field \"score.f_interval.level\" is %v; want a value strictly between 0 and 1", iv.Level)
	}
	if iv.Resamples < 2 {
		return fmt.Errorf("field \"score.f_interval.resamples\" is %d; want 2 or more", iv.Resamples)
	}
	if !(iv.Std >= 0) || math.IsInf(iv.Std, 0) {
		return fmt.Errorf("field \"score.f_interval.std\" is %v; want a finite value, 0 or more", iv.Std)
	}
	if (iv.FinalLow == nil) != (iv.FinalHigh == nil) {
		return errors.New("fields \"score.f_interval.final_low\" and \"final_high\" come together")
	}
	if (iv.Exponent == nil) != (len(iv.ExponentSizes) == 0) {
		return errors.New("fields \"score.f_interval.exponent\" and \"exponent_sizes\" come together")
	}
	if iv.Exponent != nil && (math.IsNaN(*iv.Exponent) || math.IsInf(*iv.Exponent, 0)) {
		return fmt.Errorf("field \"score.f_interval.exponent\" is %v", *iv.Exponent)
	}
	for _, n := range iv.ExponentSizes {
		if n < 3 {
			return fmt.Errorf("field \"score.f_interval.exponent_sizes\" holds %d; a score needs at least 3 models", n)
		}
	}
	if iv.TargetWidth != nil && !(*iv.TargetWidth > 0 && !math.IsInf(*iv.TargetWidth, 0)) {
		return fmt.Errorf("field \"score.f_interval.target_width\" is %v; want a positive width", *iv.TargetWidth)
	}
	if iv.FinalLow != nil && !(*iv.FinalLow >= 0 && *iv.FinalLow <= *iv.FinalHigh && !math.IsInf(*iv.FinalHigh, 0)) {
		return fmt.Errorf("field \"score.f_interval\": final_low %v and final_high %v are not an interval of scores", *iv.FinalLow, *iv.FinalHigh)
	}
	return nil
}

// rankInterval is the interval of the value a ranking orders by: F's, or
// the final score's when the ranking is by final score.
func rankInterval(m *Method, byFinal bool) (lo, hi float64, ok bool) {
	iv := m.Score.Interval
	switch {
	case iv == nil:
		return 0, 0, false
	case byFinal:
		if iv.FinalLow == nil {
			return 0, 0, false
		}
		return *iv.FinalLow, *iv.FinalHigh, true
	}
	return iv.Low, iv.High, true
}

// MarkUnseparated sets each method's Score.Unseparated to its neighbours
// in the ranking (Ranked) whose intervals overlap its own. Two overlapping
// intervals do not prove the methods equal, only that at this N the
// bootstrap cannot order them; disjoint ones at level 0.95 separate them
// at least as surely as a test at 0.05. Methods without an interval are
// never marked.
func MarkUnseparated(methods []Method) {
	byFinal := RankedByFinal(methods)
	for i := range methods {
		methods[i].Score.Unseparated = nil
	}
	order := Ranked(methods)
	for k := 1; k < len(order); k++ {
		a, b := &methods[order[k-1]], &methods[order[k]]
		alo, ahi, aok := rankInterval(a, byFinal)
		blo, bhi, bok := rankInterval(b, byFinal)
		if aok && bok && alo <= bhi && blo <= ahi {
			a.Score.Unseparated = append(a.Score.Unseparated, b.Name)
			b.Score.Unseparated = append(b.Score.Unseparated, a.Name)
		}
	}
}
