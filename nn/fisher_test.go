package nn

import (
	"math"
	"testing"
)

// TestFisherMatchesLoop checks the batched per-example squared gradients of
// every parameter against the batch-size-1 loop, for all three kinds, on
// models with Gemm, Conv (with and without bias) and batch norm.
func TestFisherMatchesLoop(t *testing.T) {
	cnn := SmallCNN([]int64{1, 8, 8}, 4, 3)
	// Move the running statistics off their initial values.
	d0 := randomData(4, 16, cnn.Shape, 4)
	if _, err := Train(rt, cnn, d0, nil, TrainConfig{Epochs: 1, BatchSize: 8, Seed: 1, Optimizer: OptimizerConfig{Name: "sgd", LR: 0.05}}, nil); err != nil {
		t.Fatal(err)
	}
	mlp := MLP([]int64{2, 3, 3}, []int64{7}, 3, 5)
	resnet := ResNet18([]int64{3, 8, 8}, 3, true, 6)
	for _, m := range []*Model{cnn, mlp, resnet} {
		d := randomData(7, 10, m.Shape, m.Classes)
		kinds := []FisherKind{FisherEmpirical, FisherMC, FisherTrue}
		if m == resnet {
			kinds = kinds[:1]
		}
		for _, kind := range kinds {
			fc, err := NewFisherComputer(rt, m, 4)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fc.Compute(d, kind, 11)
			fc.Close()
			if err != nil {
				t.Fatal(err)
			}
			want, err := fisherLoop(rt, m, d, kind, 11)
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
