package nn

import (
	"testing"

	"unlearnbench/datasets"
)

// fashionData converts a datasets part into Data, normalised by nrm.
func fashionData(t testing.TB, d *datasets.Dataset, nrm datasets.Normalization) *Data {
	t.Helper()
	idx := make([]int, d.N)
	for i := range idx {
		idx[i] = i
	}
	b, err := datasets.NewBatches(d, idx, datasets.BatchOptions{Size: 1000, Norm: &nrm})
	if err != nil {
		t.Fatal(err)
	}
	out := &Data{Shape: []int64{int64(d.C), int64(d.H), int64(d.W)}}
	for batch := range b.Epoch(0) {
		out.X = append(out.X, batch.X...)
		out.Y = append(out.Y, batch.Y...)
	}
	return out
}

// TestFashionMNISTSmallCNN is the acceptance test: the zoo's small CNN
// trained on the real Fashion-MNIST training set reaches at least 88% test
// accuracy.
func TestFashionMNISTSmallCNN(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for minutes")
	}
	src, err := datasets.LoadFashionMNIST("")
	if err != nil {
		t.Skipf("Fashion-MNIST not installed (make setup installs dataset-fashion-mnist): %v", err)
	}
	all := make([]int, src.Train.N)
	for i := range all {
		all[i] = i
	}
	nrm := datasets.ChannelStats(src.Train, all)
	train, test := fashionData(t, src.Train, nrm), fashionData(t, src.Test, nrm)
	m, err := New(ArchCNN, train.Shape, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := TrainConfig{Epochs: 2, BatchSize: 128, Seed: 1,
		Optimizer: OptimizerConfig{Name: "adam", LR: 2e-3}, Schedule: Schedule{Name: "cosine"}}
	hist, err := trainData(rt, m, train, test, cfg, Options{Progress: func(r EpochResult) {
		t.Logf("epoch %d: train loss %.4f acc %.4f, test loss %.4f acc %.4f", r.Epoch, r.TrainLoss, r.TrainAcc, r.Eval.Loss, r.Eval.Accuracy)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if acc := hist[len(hist)-1].Eval.Accuracy; acc < 0.88 {
		t.Errorf("test accuracy %.4f, want >= 0.88", acc)
	}
}
