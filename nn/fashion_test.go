package nn

import (
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
)

const fashionDir = "/usr/share/datasets/fashion-mnist"

// readIDX reads a gzipped IDX file (the test's own minimal reader: the
// datasets package owns the real one).
func readIDX(t *testing.T, name string) ([]int, []byte) {
	t.Helper()
	f, err := os.Open(filepath.Join(fashionDir, name))
	if err != nil {
		t.Skipf("Fashion-MNIST not installed (make setup installs dataset-fashion-mnist): %v", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	nd := int(b[3])
	dims := make([]int, nd)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(b[4+4*i:]))
	}
	return dims, b[4+4*nd:]
}

func loadFashion(t *testing.T, split string) *Data {
	dims, px := readIDX(t, split+"-images-idx3-ubyte.gz")
	_, lb := readIDX(t, split+"-labels-idx1-ubyte.gz")
	d := &Data{Shape: []int64{1, int64(dims[1]), int64(dims[2])}, X: make([]float32, len(px)), Y: make([]int64, dims[0])}
	for i, p := range px {
		d.X[i] = (float32(p)/255 - 0.2860) / 0.3530
	}
	for i, l := range lb {
		d.Y[i] = int64(l)
	}
	return d
}

// TestFashionMNISTSmallCNN is the acceptance test: the zoo's small CNN
// trained on the real Fashion-MNIST training set reaches at least 88% test
// accuracy.
func TestFashionMNISTSmallCNN(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for minutes")
	}
	train, test := loadFashion(t, "train"), loadFashion(t, "t10k")
	m, err := New(ArchCNN, train.Shape, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := TrainConfig{Epochs: 2, BatchSize: 128, Seed: 1,
		Optimizer: OptimizerConfig{Name: "adam", LR: 2e-3}, Schedule: Schedule{Name: "cosine"}}
	hist, err := Train(rt, m, train, test, cfg, func(r EpochResult) {
		t.Logf("epoch %d: train loss %.4f acc %.4f, test loss %.4f acc %.4f", r.Epoch, r.TrainLoss, r.TrainAcc, r.Eval.Loss, r.Eval.Accuracy)
	})
	if err != nil {
		t.Fatal(err)
	}
	if acc := hist[len(hist)-1].Eval.Accuracy; acc < 0.88 {
		t.Errorf("test accuracy %.4f, want >= 0.88", acc)
	}
}
