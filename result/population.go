package result

import (
	"cmp"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat"

	"unlearnbench/scoring"
)

// NewPopulation describes a scored population for the result file: its size
// and each model's retain and test accuracy when they are known.
func NewPopulation(role string, p *scoring.Population) Population {
	return Population{Role: role, N: p.N, RetainAcc: p.RetainAcc, TestAcc: p.TestAcc}
}

// Population returns the method's population of the role ("unlearned" or
// "retrained"), or nil when the result does not describe it.
func (m *Method) Population(role string) *Population {
	for i := range m.Populations {
		if m.Populations[i].Role == role {
			return &m.Populations[i]
		}
	}
	return nil
}

// Spread is a mean with the sample standard deviation of the values it is
// the mean of (0 for a single value).
type Spread struct {
	Mean, Std float64
	// N is the number of values; 0 means none were known.
	N int
}

func spreadOf(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	if len(v) == 1 {
		return Spread{Mean: v[0], N: 1}
	}
	mean, std := stat.MeanStdDev(v, nil)
	return Spread{Mean: mean, Std: std, N: len(v)}
}

// Accuracy names one of the accuracies a population can carry.
type Accuracy string

// The accuracies, in the order reports show them.
const (
	RetainAccuracy Accuracy = "retain"
	TestAccuracy   Accuracy = "test"
	ForgetAccuracy Accuracy = "forget"
)

// Accuracies lists the accuracies in report order.
var Accuracies = []Accuracy{RetainAccuracy, TestAccuracy, ForgetAccuracy}

// AccuracySpread is the mean accuracy of one population over its models,
// with its spread: from the per-model values when the result has them,
// otherwise from the method's utility summary (retain and test only). N is
// 0 when the result holds neither.
func (m *Method) AccuracySpread(role string, acc Accuracy) Spread {
	if p := m.Population(role); p != nil {
		var v []float64
		switch acc {
		case RetainAccuracy:
			v = p.RetainAcc
		case TestAccuracy:
			v = p.TestAcc
		case ForgetAccuracy:
			v = p.ForgetAcc
		}
		if len(v) > 0 {
			return spreadOf(v)
		}
	}
	u := m.Utility
	if u == nil {
		return Spread{}
	}
	switch {
	case role == scoring.Unlearned && acc == RetainAccuracy:
		return Spread{Mean: u.RetainUnlearned, Std: u.RetainUnlearnedStd, N: m.N}
	case role == scoring.Unlearned && acc == TestAccuracy:
		return Spread{Mean: u.TestUnlearned, Std: u.TestUnlearnedStd, N: m.N}
	case role == scoring.Retrained && acc == RetainAccuracy:
		return Spread{Mean: u.RetainRetrained, Std: u.RetainRetrainedStd, N: m.N}
	case role == scoring.Retrained && acc == TestAccuracy:
		return Spread{Mean: u.TestRetrained, Std: u.TestRetrainedStd, N: m.N}
	}
	return Spread{}
}

// SecondsPerModel is the mean wall time of one model of the population,
// with its spread; N is 0 when the result has no times.
func (m *Method) SecondsPerModel(role string) Spread {
	if p := m.Population(role); p != nil {
		return spreadOf(p.Seconds)
	}
	return Spread{}
}

// ScoreValue is the method's headline number: the final score when the
// result has accuracies, otherwise F; name says which.
func (m *Method) ScoreValue() (v float64, name string) {
	if m.Score.Final != nil {
		return *m.Score.Final, "final score"
	}
	return m.Score.F, "forgetting quality F"
}

// KeepDistributions stores, for the worst forgotten examples (highest
// epsilon) and a few typical ones (epsilon nearest the median epsilon), both
// populations' confidences, so that reports can plot them against the
// winning rule's thresholds. u and r are the populations the method was
// scored on.
func (m *Method) KeepDistributions(u, r *scoring.Population, worst, typical int) {
	m.Distributions = nil
	for _, e := range PlotExamples(m.Examples, worst, typical) {
		m.Distributions = append(m.Distributions, Distribution{
			Example:   e,
			Unlearned: u.Column(e, nil),
			Retrained: r.Column(e, nil),
		})
	}
}

// PlotExamples picks the examples a report plots: the worst (highest
// epsilon first, ties by index), then typical ones, those whose epsilon lies
// nearest the median epsilon among the rest (ties by index).
func PlotExamples(examples []scoring.Example, worst, typical int) []int {
	ranked := WorstExamples(examples)
	worst = min(max(worst, 0), len(ranked))
	var picked []int
	for _, e := range ranked[:worst] {
		picked = append(picked, e.Index)
	}
	rest := ranked[worst:]
	if len(rest) == 0 || typical <= 0 {
		return picked
	}
	eps := make([]float64, len(examples))
	for i, e := range examples {
		eps[i] = e.Epsilon
	}
	slices.Sort(eps)
	median := stat.Quantile(0.5, stat.Empirical, eps, nil)
	byDistance := slices.Clone(rest)
	slices.SortStableFunc(byDistance, func(a, b scoring.Example) int {
		return cmp.Or(cmp.Compare(math.Abs(a.Epsilon-median), math.Abs(b.Epsilon-median)), cmp.Compare(a.Index, b.Index))
	})
	for _, e := range byDistance[:min(typical, len(byDistance))] {
		picked = append(picked, e.Index)
	}
	return picked
}

// Rank is each example's place by epsilon, 1 for the worst forgotten.
func Rank(examples []scoring.Example) map[int]int {
	rank := make(map[int]int, len(examples))
	for k, e := range WorstExamples(examples) {
		rank[e.Index] = k + 1
	}
	return rank
}

// WorstExamples returns the examples ordered by epsilon, highest first, ties
// by index.
func WorstExamples(examples []scoring.Example) []scoring.Example {
	out := append([]scoring.Example(nil), examples...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Epsilon > out[j].Epsilon })
	return out
}
