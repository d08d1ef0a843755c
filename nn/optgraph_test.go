package nn

import (
	"math"
	"slices"
	"strings"
	"testing"

	"unlearnbench/datasets"
	"unlearnbench/internal/usererr"
)

// fashionSubset is the first n examples of the real Fashion-MNIST
// training set, normalised by their own channel statistics; the test is
// skipped where the data set is not installed.
func fashionSubset(t *testing.T, n int) *Data {
	t.Helper()
	src, err := datasets.LoadFashionMNIST("")
	if err != nil {
		t.Skipf("Fashion-MNIST not installed (make setup installs dataset-fashion-mnist): %v", err)
	}
	idx := seqIdx(0, n)
	nrm := datasets.ChannelStats(src.Train, idx)
	b, err := datasets.NewBatches(src.Train, idx, datasets.BatchOptions{Size: n, Norm: &nrm})
	if err != nil {
		t.Fatal(err)
	}
	d := &Data{Shape: []int64{int64(src.Train.C), int64(src.Train.H), int64(src.Train.W)}}
	for batch := range b.Epoch(0) {
		d.X = append(d.X, batch.X...)
		d.Y = append(d.Y, batch.Y...)
	}
	return d
}

// refAccumulate is Accumulate as it ran in Go: acc ← acc + float32(scale·g)
// in float64, acc ← float32(scale·g) at the first call.
func refAccumulate(acc, grads [][]float32, scale float64, first bool) {
	for k, g := range grads {
		for i, v := range g {
			if first {
				acc[k][i] = float32(scale * float64(v))
			} else {
				acc[k][i] += float32(scale * float64(v))
			}
		}
	}
}

// TestInGraphOptimizerEqualsReference is issue 22's equality test: 50
// steps of the zoo's cnn (with batch norm) on real Fashion-MNIST, the
// update computed in the graph (Trainer.Apply, ApplyAccumulated) and by
// the Go optimiser that ran before it (optim_ref_test.go) from the same
// gradients at every step, for sgd plain, with momentum, Nesterov and
// weight decay, adam, adamw, update masks with zeros and accumulation of
// two batches of opposite signs, under a varying learning rate. Each
// parameter's largest difference, relative to its largest magnitude, must
// stay within float32 noise (1e-5 after 50 steps of rounding differences
// of a few ulps each); masked elements keep their bits and zero state;
// the running statistics are the latest batch's, bit for bit.
func TestInGraphOptimizerEqualsReference(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the cnn for 50 steps per optimiser")
	}
	const steps, bs = 50, 32
	d := fashionSubset(t, 2*steps*bs)
	base, err := New(ArchCNN, d.Shape, 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		opt   OptimizerConfig
		mask  bool
		accum bool
	}{
		{name: "sgd", opt: OptimizerConfig{Name: "sgd", LR: 0.05}},
		{name: "sgd momentum", opt: OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9}},
		{name: "sgd nesterov", opt: OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, Nesterov: true}},
		{name: "sgd weight decay", opt: OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 5e-3}},
		{name: "adam", opt: OptimizerConfig{Name: "adam", LR: 1e-3, WeightDecay: 1e-3}},
		{name: "adamw", opt: OptimizerConfig{Name: "adamw", LR: 1e-3, WeightDecay: 0.05, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6}},
		{name: "sgd mask", opt: OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 5e-3}, mask: true},
		{name: "adamw mask", opt: OptimizerConfig{Name: "adamw", LR: 1e-3, WeightDecay: 0.05}, mask: true},
		{name: "sgd accumulate", opt: OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 5e-3}, accum: true},
		{name: "adam accumulate mask", opt: OptimizerConfig{Name: "adam", LR: 1e-3}, accum: true, mask: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := base.Clone()
			tr, err := NewTrainer(rt, m, c.opt, LossConfig{}, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			refP := make([][]float32, len(m.Params))
			for k, p := range m.Params {
				refP[k] = slices.Clone(m.Param(p))
			}
			ref := newOptimizer(c.opt, refP)
			masks := make([][]float32, len(m.Params))
			if c.mask {
				// Every third element frozen, the others scaled by 1 or
				// 0.5, on every convolution and linear weight and one
				// batch-norm scale; one bias frozen whole.
				for k, p := range m.Params {
					if len(m.Graph.Inits[p].Dims) < 2 && p != "bn1.weight" && p != "fc2.bias" {
						continue
					}
					mk := make([]float32, len(refP[k]))
					for i := range mk {
						mk[i] = []float32{0, 1, 0.5}[i%3]
						if p == "fc2.bias" {
							mk[i] = 0
						}
					}
					masks[k] = mk
					if err := tr.SetUpdateMask(p, mk); err != nil {
						t.Fatal(err)
					}
				}
				if !slices.ContainsFunc(masks, func(v []float32) bool { return v != nil }) {
					t.Fatalf("no parameter masked; params %v", m.Params)
				}
			}
			frozen := make([][]float32, len(m.Params))
			for k := range masks {
				frozen[k] = slices.Clone(refP[k])
			}
			grads := func() [][]float32 {
				var g [][]float32
				for _, p := range m.Params {
					g = append(g, slices.Clone(tr.Grad(p)))
				}
				return g
			}
			var acc [][]float32
			for _, p := range refP {
				acc = append(acc, make([]float32, len(p)))
			}
			for s := range steps {
				lr := c.opt.LR * 0.5 * (1 + math.Cos(math.Pi*float64(s)/steps))
				if _, err := tr.Compute(d, seqIdx(2*s*bs, bs)); err != nil {
					t.Fatal(err)
				}
				if !c.accum {
					g := grads()
					must(t, tr.Apply(lr))
					ref.step(refP, g, masks, lr)
				} else {
					refAccumulate(acc, grads(), 0.6, true)
					must(t, tr.Accumulate(0.6))
					if _, err := tr.Compute(d, seqIdx((2*s+1)*bs, bs)); err != nil {
						t.Fatal(err)
					}
					refAccumulate(acc, grads(), -0.4, false)
					must(t, tr.Accumulate(-0.4))
					must(t, tr.ApplyAccumulated(lr))
					ref.step(refP, acc, masks, lr)
				}
				for _, u := range tr.ups {
					if !slices.Equal(m.Param(u.Mean), tr.cur.out[u.NewMean]) || !slices.Equal(m.Param(u.Var), tr.cur.out[u.NewVar]) {
						t.Fatalf("step %d: %s/%s are not the batch's running statistics", s, u.Mean, u.Var)
					}
				}
			}
			if tr.Step != steps || tr.opt.t != steps {
				t.Errorf("Step %d, optimiser step %d after %d steps", tr.Step, tr.opt.t, steps)
			}
			worst, moved := 0.0, 0
			for k, p := range m.Params {
				got, want := m.Param(p), refP[k]
				var diff, scale float64
				for i := range got {
					diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
					scale = max(scale, math.Abs(float64(want[i])))
					if got[i] != base.Param(p)[i] {
						moved++
					}
				}
				rel := diff / max(scale, 1e-30)
				worst = max(worst, rel)
				if rel > 1e-5 {
					t.Errorf("%s: max difference %.3g, %.3g of its largest magnitude %.3g", p, diff, rel, scale)
				}
				if masks[k] == nil {
					continue
				}
				for i, f := range masks[k] {
					if f != 0 {
						continue
					}
					if math.Float32bits(got[i]) != math.Float32bits(frozen[k][i]) {
						t.Fatalf("%s[%d] frozen, moved from %v to %v", p, i, frozen[k][i], got[i])
					}
					for j := range 2 {
						if st := tr.opt.moments(j); st != nil && math.Float32bits(st[k][i]) != 0 {
							t.Fatalf("%s[%d] frozen, its state %d is %v", p, i, j, st[k][i])
						}
					}
				}
			}
			if moved < m.NumParams()/2 {
				t.Errorf("only %d of %d weights moved: the comparison proves little", moved, m.NumParams())
			}
			t.Logf("worst per-parameter relative difference %.3g", worst)
		})
	}
}

// TestOptimizerBadInput: every optimiser or option the in-graph update
// does not offer is refused by NewTrainer with a user error naming it,
// before any session is compiled.
func TestOptimizerBadInput(t *testing.T) {
	m := MLP([]int64{1, 4, 4}, []int64{8}, 3, 1)
	for _, c := range []struct {
		opt  OptimizerConfig
		want string
	}{
		{OptimizerConfig{Name: "rmsprop", LR: 1}, `"rmsprop"`},
		{OptimizerConfig{Name: "adam", LR: 1, Nesterov: true}, "nesterov"},
		{OptimizerConfig{Name: "adamw", LR: 1, Beta1: 1}, "beta1"},
		{OptimizerConfig{Name: "adam", LR: 1, Beta2: -0.1}, "beta2"},
		{OptimizerConfig{Name: "adam", LR: 1, Eps: math.NaN()}, "eps"},
		{OptimizerConfig{Name: "sgd", LR: math.Inf(1)}, "learning rate"},
		{OptimizerConfig{Name: "sgd", LR: 1, WeightDecay: math.NaN()}, "weight decay"},
		{OptimizerConfig{Name: "sgd", LR: 1, Momentum: math.NaN()}, "momentum"},
	} {
		tr, err := NewTrainer(rt, m, c.opt, LossConfig{}, 1)
		if err == nil {
			tr.Close()
			t.Errorf("%+v accepted", c.opt)
			continue
		}
		if msg := err.Error(); !usererr.Is(err) || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%+v: %q, want a one-line user error naming %s", c.opt, msg, c.want)
		}
	}
}

// TestComputeCorrectInGraph: StepResult.Correct, counted in the graph,
// is the count of rows of Logits whose first maximum is the label.
func TestComputeCorrectInGraph(t *testing.T) {
	m := SmallCNN([]int64{1, 8, 8}, 4, 2)
	d := randomData(6, 64, m.Shape, 4)
	tr, err := NewTrainer(rt, m, OptimizerConfig{Name: "sgd", LR: 0.5}, LossConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	seen := map[int]bool{}
	for s := range 8 {
		res, err := tr.Compute(d, seqIdx(8*s, 8))
		if err != nil {
			t.Fatal(err)
		}
		lg, want := tr.Logits(), 0
		for j := range 8 {
			row := lg[j*4 : (j+1)*4]
			if int64(slices.Index(row, slices.Max(row))) == d.Y[8*s+j] {
				want++
			}
		}
		if res.Correct != want {
			t.Fatalf("step %d: Correct %d, logits say %d", s, res.Correct, want)
		}
		seen[want] = true
		must(t, tr.Apply(0.5))
	}
	if len(seen) < 2 {
		t.Errorf("every batch had the same count %v: the check proves little", seen)
	}
}
