package reports

// AttackResult is one membership-inference attack's outcome on a method's
// populations (or on each of its models, for single-model attacks). Fields
// an attack does not produce stay empty. Package attack computes these
// numbers; this type only carries them into result files.
type AttackResult struct {
	// Name identifies the attack and its variant, e.g. "decision-rules",
	// "logreg/per-example", "rf/pooled", "lira/offline/fixed-variance",
	// "simple-mia", "mia-efficacy".
	Name string `json:"name"`
	// Kind groups attacks: "decision-rules", "per-example", "pooled",
	// "lira", "single-model", "divergence".
	Kind string `json:"kind"`
	// Features lists the per-(model, example) features the attack used.
	Features []string `json:"features,omitempty"`

	// Threshold-free summaries, where the attack has scores.
	AUC              *float64   `json:"auc,omitempty"`
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
