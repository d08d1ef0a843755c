package attack

import "math"

// Counts is the confusion of one rule on a positive and a negative sample:
// true positives and false negatives among the positives, false positives and
// true negatives among the negatives.
type Counts struct {
	TP, FN, FP, TN int
}

// NPos is the size of the positive sample.
func (c Counts) NPos() int { return c.TP + c.FN }

// NNeg is the size of the negative sample.
func (c Counts) NNeg() int { return c.FP + c.TN }

// Rate is count/n as the competition computes it: the float32 mean of 0/1
// values, which on a CPU is float32(count) / float32(n).
func Rate(count, n int) float32 {
	if n == 0 {
		return float32(math.NaN())
	}
	return float32(count) / float32(n)
}

// Rates returns TPR, FNR, FPR and TNR with the competition's float32 semantics.
func (c Counts) Rates() (tpr, fnr, fpr, tnr float32) {
	np, nn := c.NPos(), c.NNeg()
	return Rate(c.TP, np), Rate(c.FN, np), Rate(c.FP, nn), Rate(c.TN, nn)
}

// Rule families.
const (
	FamilyDoubleThreshold = "double-threshold"
	FamilySingleThreshold = "single-threshold"
)

// Rule describes one decision rule of an attack and what it did.
type Rule struct {
	// Family names the kind of rule, e.g. FamilyDoubleThreshold or a
	// classifier's name.
	Family string `json:"family"`
	// Index is the rule's position in its attack's enumeration.
	Index int `json:"index"`
	// Lower and Upper are the thresholds: a double-threshold rule calls a
	// value positive when Lower <= v <= Upper; a single-threshold rule when
	// v >= Lower (Upper is +Inf and omitted from JSON as null).
	Lower float64  `json:"lower"`
	Upper *float64 `json:"upper,omitempty"`
	// PositiveIs names the population the rule calls positive ("retrained"
	// or "unlearned"); set by the caller, who knows the populations.
	PositiveIs string `json:"positive_is,omitempty"`
	Counts     Counts `json:"counts"`
}

// RuleSet is what an attack produces on one pair of samples: numbered rules
// and their error counts.
type RuleSet interface {
	// NPos and NNeg are the sizes of the positive and negative samples the
	// rules' counts refer to.
	NPos() int
	NNeg() int
	// Len is the number of rules.
	Len() int
	// Each calls visit with every rule's index and false-positive and
	// false-negative counts, in index order, until visit returns false. It
	// may skip a rule whose counts equal those of the rule visited just
	// before it, and rules that call nothing positive (FP = TP = 0): neither
	// can change a maximum taken over the rules in order.
	Each(visit func(rule, fp, fn int) bool)
	// Rule describes rule i, with its counts.
	Rule(i int) Rule
}
