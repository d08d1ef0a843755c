package result

import "unlearnbench/scoring"

// Kinds of the attack rows that hold the newer benchmarks' population
// metrics: KLoM per example of one set (named "klom/forget",
// "klom/retain", "klom/test") and ToW or ToW-MIA per model pair ("tow",
// "tow-mia"). Package attack/suite computes them.
const (
	KindKLoM = "klom"
	KindToW  = "tow"
)

// AttackResult is one membership-inference attack's outcome on a method's
// populations (or on each of its models, for single-model attacks). Fields
// an attack does not produce stay empty. Package attack computes these
// numbers; this type only carries them into result files.
type AttackResult struct {
	// Name identifies the attack and its variant, e.g. "decision-rules",
	// "logreg/per-example", "rf/pooled", "lira/offline/fixed-var",
	// "simple-mia", "mia-efficacy", "kl", "js", "klom/forget", "tow".
	Name string `json:"name"`
	// Kind groups attacks: "decision-rules", "per-example", "pooled",
	// "lira", "single-model", "divergence", "klom", "tow".
	Kind string `json:"kind"`
	// Features lists the per-(model, example) features the attack used.
	Features []string `json:"features,omitempty"`
	// Population names the population a single-model attack ran on
	// ("unlearned", or "retrained" for the reference row).
	Population string `json:"population,omitempty"`
	// Skipped says why the attack did not run (what input it needs, or
	// what went wrong); every other field is then empty.
	Skipped string `json:"skipped,omitempty"`

	// Threshold-free summaries, where the attack has scores. For
	// per-example attacks (kinds "decision-rules" and "per-example") each
	// is the mean over forget examples of that example's value, and
	// AUCStd the standard deviation of the examples' AUCs. Balanced
	// accuracy is that of the attack's own decisions where it has them
	// (a classifier at its trained threshold, on held-out rows), else
	// that of its best threshold.
	AUC              *float64   `json:"auc,omitempty"`
	AUCStd           *float64   `json:"auc_std,omitempty"`
	BalancedAccuracy *float64   `json:"balanced_accuracy,omitempty"`
	Advantage        *float64   `json:"advantage,omitempty"` // max |TPR - FPR|
	TPRAtFPR         []TPRPoint `json:"tpr_at_fpr,omitempty"`
	// ROC is the attack's ROC curve, thinned to a few hundred points.
	ROC []ROCPoint `json:"roc,omitempty"`

	// Per-example attacks: one epsilon per forget example (index order) and
	// the forgetting quality F they give through the competition's points.
	Epsilons []float64 `json:"epsilons,omitempty"`
	F        *float64  `json:"f,omitempty"`

	// Value is the attack's headline number when it is not one of the
	// above (simple MIA: mean accuracy; MIA-efficacy: fraction of the
	// forget set called non-member), named by ValueName, with its spread
	// over models when it is a population mean.
	Value     *float64 `json:"value,omitempty"`
	ValueName string   `json:"value_name,omitempty"`
	Spread    *float64 `json:"spread,omitempty"`
	// PerModel holds a single-model attack's value for each model of its
	// population (Value is their mean, Spread their standard deviation).
	PerModel []float64 `json:"per_model,omitempty"`
	// PerExample holds the value per forget example where it is one
	// (the divergences; Value is their mean, Spread their standard
	// deviation).
	PerExample []float64 `json:"per_example,omitempty"`
	// Undefined lists the examples (indices into PerExample, which holds
	// 0 there) where the value is undefined, left out of every summary:
	// KLoM where the public code returns NaN.
	Undefined []int `json:"undefined,omitempty"`
	// Median and P95 summarise PerExample over its defined examples
	// besides Value, their mean (KLoM; schema 1.1).
	Median *float64 `json:"median,omitempty"`
	P95    *float64 `json:"p95,omitempty"`
	// CILow and CIHigh bound Value's 95% t-based confidence interval over
	// PerModel (ToW and ToW-MIA; schema 1.1).
	CILow  *float64 `json:"ci_low,omitempty"`
	CIHigh *float64 `json:"ci_high,omitempty"`

	// Warnings are things the reader must see that did not stop the attack
	// (a constant feature, a fold without one class, too few models).
	Warnings []string `json:"warnings,omitempty"`
}

// TPRPoint is the true-positive rate at a fixed false-positive rate.
type TPRPoint struct {
	FPR float64 `json:"fpr"`
	TPR float64 `json:"tpr"`
}

// ROCPoint is one point of a ROC curve.
type ROCPoint struct {
	FPR float64 `json:"fpr"`
	TPR float64 `json:"tpr"`
}

// Distribution is one forget example's values under both populations, kept
// for the examples a report plots (the worst and a few typical ones).
type Distribution struct {
	Example   int       `json:"example"`
	Unlearned []float64 `json:"unlearned"`
	Retrained []float64 `json:"retrained"`
}

// TPRAt is the attack's true-positive rate at false-positive rate fpr: the
// attack's own value when it reported one, otherwise read off its ROC curve
// (the highest TPR among the points with FPR <= fpr, the rate a threshold
// reaches without exceeding fpr). ok is false when the attack has neither.
func (a *AttackResult) TPRAt(fpr float64) (tpr float64, ok bool) {
	for _, p := range a.TPRAtFPR {
		if p.FPR == fpr {
			return p.TPR, true
		}
	}
	if len(a.ROC) == 0 {
		return 0, false
	}
	for _, p := range a.ROC {
		if p.FPR <= fpr && p.TPR > tpr {
			tpr = p.TPR
		}
		ok = ok || p.FPR <= fpr
	}
	return tpr, ok
}

// AttackF is the forgetting quality of a per-example attack: its own F when
// it reported one, otherwise computed from its epsilons with the
// competition's points for n models.
func (a *AttackResult) AttackF(n int) (float64, bool) {
	if a.F != nil {
		return *a.F, true
	}
	if len(a.Epsilons) == 0 {
		return 0, false
	}
	f, _, _ := scoring.ForgettingQuality(a.Epsilons, n)
	return f, true
}
