package unlearners

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"unlearnbench/datasets"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
	"unlearnbench/nn/ort/orttest"
)

var rt *ort.Runtime

func TestMain(m *testing.M) { orttest.Main(m, "unlearners", &rt) }

// world is the tests' shared setting: an MLP of the zoo trained on 600
// real Fashion-MNIST training images (500 retain, 100 forget), and 300
// test images; trained once per test binary.
type world struct {
	original         *nn.Model
	retain, forget   *nn.Data
	test             *nn.Data
	recipe           nn.TrainConfig
	classForget      *nn.Data // every example of class 0 among the 600
	classRetain      *nn.Data // the others
	noiseForget      *nn.Data // the forget set's labels on Gaussian-noise images
	originalAccuracy float64  // on the forget set
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

func getWorld(t *testing.T) *world {
	t.Helper()
	worldOnce.Do(func() { theWorld, worldErr = buildWorld() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

func nnData(d *datasets.Dataset, idx []int) (*nn.Data, error) {
	out := &nn.Data{Shape: []int64{int64(d.C), int64(d.H), int64(d.W)}}
	b, err := datasets.NewBatches(d, idx, datasets.BatchOptions{Size: len(idx)})
	if err != nil {
		return nil, err
	}
	for batch := range b.Epoch(0) {
		out.X = append(out.X, batch.X...)
		out.Y = append(out.Y, batch.Y...)
	}
	return out, nil
}

func buildWorld() (*world, error) {
	src, err := datasets.LoadFashionMNIST("")
	if err != nil {
		return nil, fmt.Errorf("Fashion-MNIST (make setup installs it): %w", err)
	}
	var retainIdx, forgetIdx, testIdx, train []int
	rng := rand.New(rand.NewPCG(11, 12))
	perm := rng.Perm(src.Train.N)[:600]
	slices.Sort(perm)
	train = perm
	for k, i := range perm {
		if k%6 == 0 {
			forgetIdx = append(forgetIdx, i)
		} else {
			retainIdx = append(retainIdx, i)
		}
	}
	for i := 0; i < 300; i++ {
		testIdx = append(testIdx, i)
	}
	w := &world{}
	if w.retain, err = nnData(src.Train, retainIdx); err != nil {
		return nil, err
	}
	if w.forget, err = nnData(src.Train, forgetIdx); err != nil {
		return nil, err
	}
	if w.test, err = nnData(src.Test, testIdx); err != nil {
		return nil, err
	}
	var c0, rest []int
	for _, i := range train {
		if src.Train.Labels[i] == 0 {
			c0 = append(c0, i)
		} else {
			rest = append(rest, i)
		}
	}
	if w.classForget, err = nnData(src.Train, c0); err != nil {
		return nil, err
	}
	if w.classRetain, err = nnData(src.Train, rest); err != nil {
		return nil, err
	}
	w.noiseForget = &nn.Data{Shape: w.forget.Shape, Y: slices.Clone(w.forget.Y), X: make([]float32, len(w.forget.X))}
	nr := rand.New(rand.NewPCG(3, 4))
	for i := range w.noiseForget.X {
		w.noiseForget.X[i] = float32(nr.Float64())
	}

	m, err := nn.New(nn.ArchMLP, w.retain.Shape, 10, 1)
	if err != nil {
		return nil, err
	}
	st := datasets.ChannelStats(src.Train, train)
	if err := m.PrependNormalization(st.Mean, st.Std); err != nil {
		return nil, err
	}
	all := &nn.Data{Shape: w.retain.Shape, X: append(slices.Clone(w.retain.X), w.forget.X...), Y: append(slices.Clone(w.retain.Y), w.forget.Y...)}
	w.recipe = nn.TrainConfig{Epochs: 8, BatchSize: 64, Seed: 1,
		Optimizer: nn.OptimizerConfig{Name: "adam", LR: 1e-3}, Schedule: nn.Schedule{Name: "constant"}}
	batches, err := nn.DataBatches(m, all, w.recipe)
	if err != nil {
		return nil, err
	}
	if _, err := nn.Train(rt, m, batches, nil, w.recipe, nn.Options{}); err != nil {
		return nil, err
	}
	w.original = m
	w.originalAccuracy = accuracy(m, w.forget)
	return w, nil
}

func accuracy(m *nn.Model, d *nn.Data) float64 {
	ev, err := nn.NewEvaluator(rt, m, 256)
	if err != nil {
		panic(err)
	}
	defer ev.Close()
	mt, err := ev.Evaluate(d)
	if err != nil {
		panic(err)
	}
	return mt.Accuracy
}

// inputs are the world's inputs for a run with seed.
func (w *world) inputs(seed uint64) *Inputs {
	return &Inputs{Original: w.original, Retain: w.retain, Forget: w.forget, Recipe: w.recipe, Runtime: rt, Seed: seed}
}

// unlearn runs method with parameters on in.
func unlearn(t *testing.T, method string, params map[string]any, in *Inputs) *nn.Model {
	t.Helper()
	u, _, err := New(method, params)
	if err != nil {
		t.Fatal(err)
	}
	m, err := u.Unlearn(context.Background(), in)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return m
}

// sameWeights reports whether a and b hold the same parameters and
// buffers, bit for bit.
func sameWeights(a, b *nn.Model) bool {
	for _, name := range append(slices.Clone(a.Params), a.Buffers...) {
		x, y := a.Param(name), b.Param(name)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				return false
			}
		}
	}
	return true
}

func digest(t *testing.T, m *nn.Model) string {
	t.Helper()
	d, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
