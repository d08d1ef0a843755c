package nn

import (
	"math"
	"testing"

	"unlearnbench/internal/usererr"
)

// TestFisherMatchesLoop checks the batched per-example squared gradients of
// every parameter against the batch-size-1 loop, for all three kinds (MC
// with 3 samples per example, drawn alike, and 20, more than one graph
// holds), on models with Gemm, Conv (with and without bias) and batch norm,
// and with more classes than the true Fisher's graph holds.
func TestFisherMatchesLoop(t *testing.T) {
	cnn := SmallCNN([]int64{1, 8, 8}, 4, 3)
	// Move the running statistics off their initial values.
	d0 := randomData(4, 16, cnn.Shape, 4)
	if _, err := trainData(rt, cnn, d0, nil, TrainConfig{Epochs: 1, BatchSize: 8, Seed: 1, Optimizer: OptimizerConfig{Name: "sgd", LR: 0.05}}, Options{}); err != nil {
		t.Fatal(err)
	}
	mlp := MLP([]int64{2, 3, 3}, []int64{7}, 3, 5)
	resnet := ResNet18([]int64{3, 8, 8}, 3, true, 6)
	stem := ResNet18([]int64{3, 16, 16}, 3, false, 8) // 7x7 stride-2 stem, padded max-pool
	many := MLP([]int64{1, 2, 2}, []int64{5}, 21, 9)  // two groups of classes (16 + 5), of MC samples (16 + 4)
	for _, m := range []*Model{cnn, mlp, resnet, stem, many} {
		d := randomData(7, 10, m.Shape, m.Classes)
		kinds := []FisherKind{FisherEmpirical, FisherMC, FisherTrue}
		switch m {
		case resnet, stem:
			kinds = kinds[:1]
		case many:
			kinds = kinds[1:]
		}
		fc, err := NewFisherComputer(rt, m, 4)
		if err != nil {
			t.Fatal(err)
		}
		defer fc.Close()
		for _, kind := range kinds {
			samples := 1
			if kind == FisherMC {
				samples = 3
				if m == many {
					samples = 20
				}
			}
			got, err := fc.ComputeK(d, kind, samples, 11)
			if err != nil {
				t.Fatal(err)
			}
			want, err := fisherLoop(rt, m, d, kind, samples, 11)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range m.Params {
				var num, den float64
				for i := range want[p] {
					num += (got[p][i] - want[p][i]) * (got[p][i] - want[p][i])
					den += want[p][i] * want[p][i]
				}
				if math.Sqrt(num) > 1e-3*math.Sqrt(den)+1e-9 {
					t.Errorf("%s %v %s: relative error %.3g", m.Graph.Name, kind, p, math.Sqrt(num/den))
				}
			}
		}
	}
}

// TestFisherMCApproachesTrue: the mean of MC estimates over many seeds
// approaches the true Fisher (its expectation), (its error shrinking as 1/√seeds), an order of magnitude
// closer than a single draw.
func TestFisherMCApproachesTrue(t *testing.T) {
	m := MLP([]int64{1, 3, 3}, []int64{6}, 4, 2)
	d := randomData(3, 20, m.Shape, 4)
	fc, err := NewFisherComputer(rt, m, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	want, err := fc.Compute(d, FisherTrue, 0)
	if err != nil {
		t.Fatal(err)
	}
	relErr := func(got map[string][]float64) float64 {
		var num, den float64
		for _, p := range m.Params {
			for i := range want[p] {
				num += (got[p][i] - want[p][i]) * (got[p][i] - want[p][i])
				den += want[p][i] * want[p][i]
			}
		}
		return math.Sqrt(num / den)
	}
	const seeds = 1024
	mean := map[string][]float64{}
	var single float64
	for s := range uint64(seeds) {
		got, err := fc.Compute(d, FisherMC, s)
		if err != nil {
			t.Fatal(err)
		}
		if s < 8 {
			single += relErr(got) / 8
		}
		for _, p := range m.Params {
			if mean[p] == nil {
				mean[p] = make([]float64, len(got[p]))
			}
			for i, v := range got[p] {
				mean[p][i] += v / seeds
			}
		}
	}
	for _, bad := range []struct {
		kind    FisherKind
		samples int
	}{{FisherMC, 0}, {FisherKind(7), 1}} {
		if _, err := fc.ComputeK(d, bad.kind, bad.samples, 1); err == nil || !usererr.Is(err) {
			t.Errorf("ComputeK(kind %d, %d samples): %v, want a user error", bad.kind, bad.samples, err)
		}
	}
	e := relErr(mean)
	t.Logf("relative error of one draw %.3f, of the mean of %d: %.3f", single, seeds, e)
	if e > 0.05 || e > single/10 {
		t.Errorf("MC mean over %d seeds is %.3f off the true Fisher (one draw: %.3f)", seeds, e, single)
	}
}

// TestFisherSharesTheForwardPass: the true and MC graphs of the small CNN
// hold the model's forward nodes once (its two max-pools, one Conv reading
// the input), not once per class or sample.
func TestFisherSharesTheForwardPass(t *testing.T) {
	m := SmallCNN([]int64{1, 8, 8}, 10, 1)
	fc, err := NewFisherComputer(rt, m, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	for _, c := range []struct {
		kind    FisherKind
		samples int64
	}{{FisherTrue, 0}, {FisherMC, 5}} {
		fg, err := fc.graph(c.kind, c.samples)
		if err != nil {
			t.Fatal(err)
		}
		// A max-pool whose windows tile its input runs as a ReduceMax over
		// its SpaceToDepth where it is differentiated (see
		// graph.poolBySpaceToDepth): either form counts, and the
		// SpaceToDepth is the forward's too.
		pools, s2d, convs := 0, 0, 0
		for _, n := range fg.g.Nodes {
			switch {
			case n.OpType == "MaxPool" || n.OpType == "ReduceMax":
				pools++
			case n.OpType == "SpaceToDepth":
				s2d++
			case n.OpType == "Conv" && n.Input[0] == m.Input:
				convs++
			}
		}
		if pools != 2 || s2d > 2 || convs != 1 {
			t.Errorf("%v graph: %d max-pool nodes, %d SpaceToDepth and %d Conv nodes on the input, want the forward's 2, at most 2 and 1", c.kind, pools, s2d, convs)
		}
	}
}
