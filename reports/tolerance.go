package reports

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"unlearnbench/internal/usererr"
)

// Tolerance is how much a gated metric may worsen, significantly, before
// compare calls it a regression: an absolute amount in the metric's own
// unit, or a fraction of the baseline's value. The metrics live on
// different scales (F is a few hundredths in the demo, ToW near 0.9, KLoM
// unbounded), so one absolute number cannot serve them all.
type Tolerance struct {
	Value    float64
	Relative bool // Value is a fraction of |baseline|
}

// Abs and Rel build tolerances.
func Abs(v float64) Tolerance { return Tolerance{Value: v} }
func Rel(v float64) Tolerance { return Tolerance{Value: v, Relative: true} }

// ParseTolerance reads "0.01" (absolute) or "10%" (relative to the
// baseline).
func ParseTolerance(s string) (Tolerance, error) {
	t := strings.TrimSpace(s)
	rel := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(t, "%"), 64)
	if err != nil {
		return Tolerance{}, fmt.Errorf("%q is not a number or a percentage", s)
	}
	if rel {
		return Rel(v / 100), nil
	}
	return Abs(v), nil
}

// String writes the tolerance as ParseTolerance reads it.
func (t Tolerance) String() string {
	if t.Relative {
		return strconv.FormatFloat(100*t.Value, 'g', 4, 64) + "%"
	}
	return strconv.FormatFloat(t.Value, 'g', 4, 64)
}

// Allowed is the absolute worsening t tolerates from baseline.
func (t Tolerance) Allowed(baseline float64) float64 {
	if t.Relative {
		return t.Value * math.Abs(baseline)
	}
	return t.Value
}

// Describe says what t tolerates from baseline, in words.
func (t Tolerance) Describe(baseline float64) string {
	if t.Relative {
		return fmt.Sprintf("%s of the baseline = %s", t, g4(t.Allowed(baseline)))
	}
	return t.String()
}

func g4(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// The gated metrics, each with its own tolerance. Each attack's F has one
// of its own: an attack's F moves with its classifier's fit as much as with
// the method (a LiRA variant on few models is noisy), so a gate that holds
// F firmly may want the attacks looser, or the other way round.
const (
	GateF       = "f"
	GateAttackF = "attack-f"
	GateFinal   = "final"
	GateToW     = "tow"
	GateKLoM    = "klom"
)

// Tolerances holds one tolerance per gated metric.
type Tolerances struct {
	F, AttackF, Final, ToW, KLoM Tolerance
}

// DefaultTolerances suit each metric's scale: F and the final score drop
// by at most 10% of the baseline (an absolute number would be most of a
// small F, or nothing of a large one), ToW by at most 0.01 (it lies in
// [0, 1], near 1 for a good method), and KLoM's mean (lower is better, in
// nats, with no fixed scale) rises by at most 10%.
var DefaultTolerances = Tolerances{F: Rel(0.10), AttackF: Rel(0.10), Final: Rel(0.10), ToW: Abs(0.01), KLoM: Rel(0.10)}

// Of returns the tolerance of a gate.
func (ts Tolerances) Of(gate string) Tolerance {
	switch gate {
	case GateF:
		return ts.F
	case GateAttackF:
		return ts.AttackF
	case GateFinal:
		return ts.Final
	case GateToW:
		return ts.ToW
	case GateKLoM:
		return ts.KLoM
	}
	return Tolerance{}
}

// ToleranceFlags names each gate's flag, for messages.
var ToleranceFlags = map[string]string{
	GateF: "--max-drop-f", GateAttackF: "--max-drop-attack-f", GateFinal: "--max-drop-final", GateToW: "--max-drop-tow", GateKLoM: "--max-rise-klom",
}

// Check refuses a tolerance that could let a regression pass unseen: NaN,
// infinite or negative, or one that tolerates every drop of a metric that
// lies in [0, 1] (an absolute drop of 1 or more, a relative one of 100% or
// more). KLoM is unbounded above, so only its sign and finiteness matter.
func (ts Tolerances) Check() error {
	for _, gate := range []string{GateF, GateAttackF, GateFinal, GateToW, GateKLoM} {
		t, flag := ts.Of(gate), ToleranceFlags[gate]
		if math.IsNaN(t.Value) || math.IsInf(t.Value, 0) || t.Value < 0 {
			return usererr.Errorf("%s is %s; want a finite amount >= 0 (like 0.01) or a percentage of the baseline (like 10%%)", flag, t)
		}
		if gate != GateKLoM && t.Value >= 1 {
			return usererr.Errorf("%s is %s; want less than %s (the metric lies in [0, 1], so it would tolerate every drop)", flag, t, map[bool]string{true: "100%", false: "1"}[t.Relative])
		}
	}
	return nil
}
