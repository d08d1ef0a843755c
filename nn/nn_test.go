package nn

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn/ort"
	"unlearnbench/nn/ort/orttest"
)

var rt *ort.Runtime

func TestMain(m *testing.M) { orttest.Main(m, "nn", &rt) }

// trainData trains m on d, as every caller with a Data does: DataBatches,
// then Train.
func trainData(rt *ort.Runtime, m *Model, d, eval *Data, cfg TrainConfig, opt Options) ([]EpochResult, error) {
	src, err := DataBatches(m, d, cfg)
	if err != nil {
		return nil, err
	}
	return Train(rt, m, src, eval, cfg, opt)
}

// randomData makes n examples of the given shape with labels in [0, classes).
func randomData(seed uint64, n int, shape []int64, classes int) *Data {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := &Data{Shape: shape, X: make([]float32, n*int(numel(shape))), Y: make([]int64, n)}
	for i := range d.X {
		d.X[i] = float32(rng.NormFloat64())
	}
	for i := range d.Y {
		d.Y[i] = rng.Int64N(int64(classes))
	}
	return d
}

// checkModelGradients compares the training graph's gradients with central
// differences of its loss on a sample of parameter coordinates: in each
// sampled parameter, the coordinate with the largest gradient and a random one.
func checkModelGradients(t *testing.T, m *Model, d *Data, params []string, h, rtol float64) {
	t.Helper()
	tr, err := NewTrainer(rt, m, OptimizerConfig{Name: "sgd", LR: 0.1}, LossConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	idx := make([]int, d.Len())
	for i := range idx {
		idx[i] = i
	}
	if _, err := tr.Compute(d, idx); err != nil {
		t.Fatal(err)
	}
	type probe struct {
		p  string
		i  int
		an float64
	}
	var probes []probe
	rng := rand.New(rand.NewPCG(5, 5))
	for _, p := range params {
		g := slices.Clone(tr.Grad(p))
		best := 0
		for i, v := range g {
			if math.Abs(float64(v)) > math.Abs(float64(g[best])) {
				best = i
			}
		}
		r := rng.IntN(len(g))
		probes = append(probes, probe{p, best, float64(g[best])}, probe{p, r, float64(g[r])})
	}
	var fds []float64
	for _, pr := range probes {
		w := m.Param(pr.p)
		old := w[pr.i]
		w[pr.i] = old + float32(h)
		lp, err := tr.Compute(d, idx)
		if err != nil {
			t.Fatal(err)
		}
		w[pr.i] = old - float32(h)
		lm, _ := tr.Compute(d, idx)
		w[pr.i] = old
		fds = append(fds, (lp.Loss-lm.Loss)/(2*h))
	}
	var scale float64
	for _, f := range fds {
		scale = max(scale, math.Abs(f))
	}
	bad := 0
	for k, pr := range probes {
		if math.Abs(fds[k]-pr.an) > rtol*max(math.Abs(fds[k]), 0.1*scale)+1e-5 {
			bad++
			t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", pr.p, pr.i, pr.an, fds[k])
		}
	}
	t.Logf("%d probes, %d off", len(probes), bad)
}

func TestResNet18CIFARGradients(t *testing.T) {
	m := ResNet18([]int64{3, 8, 8}, 10, true, 7)
	if got := m.NumParams(); got != 11173962 {
		t.Errorf("CIFAR ResNet-18 has %d parameters, want 11173962 (torchvision's with a 3x3 stem, 10 classes)", got)
	}
	d := randomData(3, 8, m.Shape, 10)
	var params []string
	for _, p := range m.Params {
		if slices.Contains([]string{"conv1.weight", "bn1.weight", "layer1.0.conv2.weight", "layer2.0.downsample.0.weight",
			"layer3.1.bn1.bias", "layer4.1.conv2.weight", "layer4.1.bn2.weight", "fc.weight", "fc.bias"}, p) {
			params = append(params, p)
		}
	}
	checkModelGradients(t, m, d, params, 1e-3, 0.05)
}

func TestZooShapes(t *testing.T) {
	for _, c := range []struct {
		arch    string
		shape   []int64
		classes int
		params  int
	}{
		{ArchMLP, []int64{1, 28, 28}, 10, 784*256 + 256 + 256*128 + 128 + 128*10 + 10},
		{ArchCNN, []int64{1, 28, 28}, 10, -1},
		{ArchResNet18, []int64{3, 64, 64}, 1000, 11689512}, // torchvision.models.resnet18()
		{ArchResNet18CIFAR, []int64{1, 28, 28}, 7, -1},
	} {
		m, err := New(c.arch, c.shape, c.classes, 1)
		if err != nil {
			t.Fatal(err)
		}
		if c.params > 0 && m.NumParams() != c.params {
			t.Errorf("%s: %d parameters, want %d", c.arch, m.NumParams(), c.params)
		}
		ev, err := NewEvaluator(rt, m, 4)
		if err != nil {
			t.Fatal(err)
		}
		lg, err := ev.Logits(randomData(1, 3, c.shape, c.classes))
		ev.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(lg) != 3*c.classes {
			t.Errorf("%s: %d logits, want %d", c.arch, len(lg), 3*c.classes)
		}
	}
}

func TestScheduleAndOptimizerValidation(t *testing.T) {
	s := Schedule{Name: "cosine", WarmupSteps: 10}
	lrs := []float64{s.LR(1, 0, 0, 110), s.LR(1, 9, 0, 110), s.LR(1, 10, 0, 110), s.LR(1, 60, 0, 110), s.LR(1, 110, 0, 110)}
	want := []float64{0.1, 1, 1, 0.5, 0}
	for i := range want {
		if math.Abs(lrs[i]-want[i]) > 1e-9 {
			t.Errorf("cosine lr %d = %v, want %v", i, lrs[i], want[i])
		}
	}
	st := Schedule{Name: "step", StepEpochs: 2, Gamma: 0.1}
	if got := st.LR(1, 0, 5, 0); math.Abs(got-0.01) > 1e-12 {
		t.Errorf("step lr at epoch 5 = %v", got)
	}
	for _, bad := range []OptimizerConfig{{Name: "rmsprop", LR: 1}, {Name: "sgd"}, {Name: "sgd", LR: 1, Nesterov: true}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestOptimizers checks one SGD (momentum, Nesterov, weight decay) and Adam
// step against values worked out by hand with PyTorch's update rules.
func TestOptimizers(t *testing.T) {
	p := [][]float32{{1, -2}}
	g := [][]float32{{0.5, 0.25}}
	o := newOptimizer(OptimizerConfig{Name: "sgd", LR: 0.1, Momentum: 0.9, WeightDecay: 0.1, Nesterov: true}, p)
	o.step(p, g, nil, 0.1)
	// g' = g + 0.1 p = (0.6, 0.05); v = g'; nesterov: g' + 0.9 v = (1.14, 0.095)
	want := []float32{1 - 0.114, -2 - 0.0095}
	for i := range want {
		if math.Abs(float64(p[0][i]-want[i])) > 1e-6 {
			t.Errorf("sgd p[%d] = %v, want %v", i, p[0][i], want[i])
		}
	}
	p = [][]float32{{1, -2}}
	o = newOptimizer(OptimizerConfig{Name: "adam", LR: 0.01}, p)
	o.step(p, g, nil, 0.01)
	// The first Adam step moves every coordinate by lr*sign(g).
	want = []float32{0.99, -2.01}
	for i := range want {
		if math.Abs(float64(p[0][i]-want[i])) > 1e-6 {
			t.Errorf("adam p[%d] = %v, want %v", i, p[0][i], want[i])
		}
	}
}

// TestTrainStopsOnNaN: a NaN in the third batch stops training there with
// the epoch and step named, and the model keeps the weights of step 2.
func TestTrainStopsOnNaN(t *testing.T) {
	m := MLP([]int64{1, 4, 4}, []int64{8}, 3, 1)
	d := randomData(2, 32, m.Shape, 3)
	d.X[2*8*16+5] = float32(math.NaN())
	batches := func(upto int) EpochBatches {
		return EpochBatches{Steps: 4, Examples: 32, Epoch: func(_ int, yield func(x []float32, y []int64) bool) {
			for s := 0; s < upto; s++ {
				if !yield(d.X[s*8*16:(s+1)*8*16], d.Y[s*8:(s+1)*8]) {
					return
				}
			}
		}}
	}
	cfg := TrainConfig{Epochs: 1, BatchSize: 8, Optimizer: OptimizerConfig{Name: "sgd", LR: 0.1}}
	ref := m.Clone()
	if _, err := Train(rt, ref, batches(2), nil, cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	_, err := Train(rt, m, batches(4), nil, cfg, Options{})
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Epoch != 1 || nf.Step != 3 || !usererr.Is(err) {
		t.Fatalf("error %v, want a user error for epoch 1, step 3", err)
	}
	if !strings.Contains(err.Error(), "epoch 1, step 3") {
		t.Errorf("message %q does not name the epoch and step", err)
	}
	for _, p := range m.Params {
		if !slices.Equal(m.Param(p), ref.Param(p)) {
			t.Fatalf("%s differs from the weights after step 2", p)
		}
	}
}

func TestPrependNormalization(t *testing.T) {
	m := SmallCNN([]int64{2, 8, 8}, 3, 1)
	d := randomData(1, 5, m.Shape, 3)
	mean, std := []float64{0.5, -0.25}, []float64{2, 0.5}
	nd := &Data{Shape: d.Shape, Y: d.Y, X: slices.Clone(d.X)}
	for i := range nd.X {
		c := (i / 64) % 2
		nd.X[i] = float32((float64(d.X[i]) - mean[c]) / std[c])
	}
	want := logitsOf(t, m, nd)
	if err := m.PrependNormalization(mean, std); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "normalised logits", logitsOf(t, m, d), want, 1e-5)
	if err := m.PrependNormalization([]float64{1}, []float64{1}); err == nil || !usererr.Is(err) {
		t.Errorf("wrong channel count: %v", err)
	}
}
