package evaluate

import (
	"fmt"
	"math"

	"unlearnbench/internal/usererr"
	"unlearnbench/scoring"
)

// CheckTargetWidth refuses a target width for F's interval that is not a
// positive number, naming the flag or field it came from; callers run it
// before any work.
func CheckTargetWidth(name string, w float64) error {
	if !(w > 0) || math.IsInf(w, 0) {
		return usererr.Errorf("%s is %v; want a positive interval width for F (e.g. 0.02)", name, w)
	}
	return nil
}

// NeededN states the models per population that an interval of width
// target needs, from the interval measured at n models, with the
// assumption it rests on (scoring.NeededNStatement, with the exponent
// measured on these populations where iv has one, otherwise
// scoring.AssumedExponent). It returns the estimate (0 when more models
// would not narrow the interval, or iv is nil) and one sentence for a
// user. run --dry-run calls it with the last run's interval.
func NeededN(n int, iv *scoring.Interval, target float64) (int, string) {
	return scoring.NeededNStatement(n, iv, target, iv.ScalingExponent())
}

// GrowthPlan grows a population until F's interval is narrower than
// Target or N reaches Cap. Members are cached, so each step only adds the
// models between one N and the next.
type GrowthPlan struct {
	// Target is the interval width wanted; Cap the most models per
	// population.
	Target float64
	Cap    int
	// Exponent is how the width shrinks with N (0: the interval's measured
	// exponent where it has one, else scoring.AssumedExponent).
	Exponent float64
}

// NewGrowthPlan checks a plan's target (name is the flag or field giving
// it) and cap.
func NewGrowthPlan(name string, target float64, cap int) (*GrowthPlan, error) {
	if err := CheckTargetWidth(name, target); err != nil {
		return nil, err
	}
	if cap < 3 {
		return nil, usererr.Errorf("the cap on N is %d; the score needs at least 3 models per population", cap)
	}
	return &GrowthPlan{Target: target, Cap: cap}, nil
}

// Step is one decision of a plan: the N to run next, or Done with the
// reason to stop.
type Step struct {
	N    int
	Done bool
	Why  string
}

// Next decides from F's interval iv measured at n models. It grows to the
// N the width's law predicts, but by at least a quarter (a noisy width
// must not stall the plan) and at most four times (nor overshoot it), and
// never past Cap.
func (g *GrowthPlan) Next(n int, iv *scoring.Interval) Step {
	exp := g.Exponent
	if exp == 0 {
		exp = iv.ScalingExponent()
	}
	if iv == nil {
		return Step{N: n, Done: true, Why: "F has no interval"}
	}
	w := iv.Width()
	if w <= g.Target {
		return Step{N: n, Done: true, Why: fmt.Sprintf("F's interval is %.4f wide at N = %d, within the target %g", w, n, g.Target)}
	}
	if n >= g.Cap {
		return Step{N: n, Done: true, Why: fmt.Sprintf("F's interval is %.4f wide at N = %d, above the target %g, and N has reached its cap %d", w, n, g.Target, g.Cap)}
	}
	need, why := scoring.NeededNStatement(n, iv, g.Target, exp)
	if need == 0 {
		return Step{N: n, Done: true, Why: why}
	}
	next := min(max(need, n+max(1, n/4)), 4*n, g.Cap)
	return Step{N: next, Why: fmt.Sprintf("%s; growing to N = %d", why, next)}
}
