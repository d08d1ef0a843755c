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
// assumption it rests on. exponent is how the width shrinks with N:
// scoring.AssumedExponent (width ~ 1/sqrt(N)) unless it was measured
// (scoring.WidthExponent). It returns the estimate (0 when more models
// would not narrow the interval, or iv is nil) and one sentence for a
// user.
func NeededN(n int, iv *scoring.Interval, target, exponent float64) (int, string) {
	if iv == nil {
		return 0, "F has no interval to extrapolate from"
	}
	assumption := fmt.Sprintf("assuming the width shrinks as N^%.2f", exponent)
	if exponent == scoring.AssumedExponent {
		assumption = "assuming the width shrinks as 1/sqrt(N), which F need not do: its epsilons are maxima over rules down to rates of 1/N, and on synthetic populations its width stayed flat from N = 32 to 256"
	}
	w := iv.Width()
	need, err := scoring.NeededN(n, w, target, exponent)
	switch {
	case err != nil:
		return 0, fmt.Sprintf("F's %g%% interval is %.4f wide at N = %d: %v", 100*iv.Level, w, n, err)
	case need <= n:
		return need, fmt.Sprintf("F's %g%% interval is %.4f wide at N = %d, within the target %g", 100*iv.Level, w, n, target)
	}
	return need, fmt.Sprintf("F's %g%% interval is %.4f wide at N = %d; a width of %g needs N ≈ %d (%s)", 100*iv.Level, w, n, target, need, assumption)
}

// GrowthPlan grows a population until F's interval is narrower than
// Target or N reaches Cap. Members are cached, so each step only adds the
// models between one N and the next.
type GrowthPlan struct {
	// Target is the interval width wanted; Cap the most models per
	// population.
	Target float64
	Cap    int
	// Exponent is how the width shrinks with N (0: scoring.AssumedExponent).
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
		exp = scoring.AssumedExponent
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
	need, why := NeededN(n, iv, g.Target, exp)
	if need == 0 {
		return Step{N: n, Done: true, Why: why}
	}
	next := min(max(need, n+max(1, n/4)), 4*n, g.Cap)
	return Step{N: next, Why: fmt.Sprintf("%s; growing to N = %d", why, next)}
}
