package suite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"unlearnbench/attack"
	"unlearnbench/attack/feature"
	"unlearnbench/scoring"
)

// benchPopulations simulates n unlearned and n retrained models on e forget
// examples of 10 classes, as examples/gen does (the unlearned models keep
// part of some examples).
func benchPopulations(n, e int) (u, r *scoring.Logits, labels []int) {
	rng := rand.New(rand.NewPCG(2023, 0))
	labels, diff := set(rng, e, 10, 0)
	shift := make([]float64, e)
	for j := range shift {
		if rng.Float64() > 0.3 {
			shift[j] = rng.ExpFloat64()
		}
	}
	return logits(rng, n, e, 10, labels, diff, shift, 0.9), logits(rng, n, e, 10, labels, diff, nil, 1.2), labels
}

// perExampleAttack is what Run does for one per-example classifier: the
// features of both populations, the cross-validated classifier on every
// example, and the epsilons and F through the competition's table.
func perExampleAttack(b *testing.B, c attack.Classifier, u, r *scoring.Logits, labels []int) float64 {
	fu, err := feature.Compute(u, labels, feature.Default)
	if err != nil {
		b.Fatal(err)
	}
	fr, err := feature.Compute(r, labels, feature.Default)
	if err != nil {
		b.Fatal(err)
	}
	outs, err := attack.PerExample(fu, fr, func(e int) attack.Attack {
		return &attack.CrossValidated{Classifier: c, Folds: 5, Stream: uint64(e)}
	}, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	table := scoring.NewEpsilonTable(u.N, u.N, scoring.Delta)
	eps := make([]float64, len(outs))
	for e, o := range outs {
		ep, err := scoring.ExampleEpsilon(o.Rules, table)
		if err == nil {
			eps[e] = float64(ep.Value)
		}
	}
	f, _, _ := scoring.ForgettingQuality(eps, u.N)
	return f
}

// BenchmarkPerExample is issue 5's speed target for logreg (N = 256 models
// per population, E = 1000 forget examples, 5-fold CV: 5000 fits), with
// the other classifiers for comparison (the random forest on fewer
// examples: its cost is per example).
func BenchmarkPerExample(b *testing.B) {
	for _, c := range []struct {
		name string
		n, e int
	}{
		{attack.NameLogReg, 256, 1000}, {attack.NameSVM, 256, 1000}, {attack.NameKNN, 256, 1000}, {attack.NameForest, 256, 50},
	} {
		b.Run(fmt.Sprintf("%s/N=%d/E=%d", c.name, c.n, c.e), func(b *testing.B) {
			u, r, labels := benchPopulations(c.n, c.e)
			cl, _ := attack.NewClassifier(c.name, attack.ClassifierOptions{})
			for b.Loop() {
				perExampleAttack(b, cl, u, r, labels)
			}
		})
	}
}

// BenchmarkPooled times the pooled attacks (5 folds over models, every
// row scored), kNN and the forest with their default 4000-row cap.
func BenchmarkPooled(b *testing.B) {
	for _, c := range []struct {
		name string
		n, e int
	}{
		{attack.NameLogReg, 256, 1000}, {attack.NameSVM, 256, 1000}, {attack.NameForest, 128, 100}, {attack.NameKNN, 128, 100},
	} {
		b.Run(fmt.Sprintf("%s/N=%d/E=%d", c.name, c.n, c.e), func(b *testing.B) {
			u, r, labels := benchPopulations(c.n, c.e)
			fu, _ := feature.Compute(u, labels, feature.Default)
			fr, _ := feature.Compute(r, labels, feature.Default)
			cl, _ := attack.NewClassifier(c.name, attack.ClassifierOptions{})
			p := &attack.Pooled{Classifier: cl, Folds: 5}
			if c.name == attack.NameKNN || c.name == attack.NameForest {
				p.MaxTrainRows = 4000
			}
			for b.Loop() {
				if _, err := p.Run(fu, fr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRun times every default attack at the README example's size
// with held-out sets of 100 examples.
func BenchmarkRun(b *testing.B) {
	const n, e = 128, 100
	b.Run(fmt.Sprintf("N=%d/E=%d", n, e), func(b *testing.B) {
		in := runInputs(n, e)
		for b.Loop() {
			in.Score = nil
			if _, err := Run(context.Background(), in, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func runInputs(n, e int) *Inputs {
	rng := rand.New(rand.NewPCG(1, 0))
	u, r, labels := benchPopulations(n, e)
	in := &Inputs{N: n, E: e, Labels: labels, Unlearned: Population{Forget: u}, Retrained: Population{Forget: r}}
	retLabels, retDiff := set(rng, 100, 10, 1.5)
	testLabels, testDiff := set(rng, 100, 10, 0)
	in.RetainLabels, in.TestLabels = retLabels, testLabels
	for _, p := range []*Population{&in.Unlearned, &in.Retrained} {
		p.Retain = logits(rng, n, 100, 10, retLabels, retDiff, nil, 1)
		p.Test = logits(rng, n, 100, 10, testLabels, testDiff, nil, 1)
		p.Conf, _ = p.Forget.Confidences(labels)
	}
	return in
}
