package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// maxDiff returns the largest |a-b| and the largest |a|.
func maxDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i])-float64(b[i])))
		scale = max(scale, math.Abs(float64(a[i])))
	}
	return diff, scale
}

// randomiseNorms gives every batch-norm scale, shift and running statistic
// of m values away from their initial 1 and 0, so that folding them into
// the Conv weights (which the constant-weight session does) changes the
// arithmetic.
func randomiseNorms(m *Model, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	for _, name := range m.fixedNames() {
		w := m.Param(name)
		switch {
		case strings.HasSuffix(name, ".running_var"):
			for i := range w {
				w[i] = float32(0.5 + rng.Float64())
			}
		case strings.HasSuffix(name, ".running_mean"), len(m.Graph.Inits[name].Dims) == 1:
			for i := range w {
				w[i] += float32(0.2 * rng.NormFloat64())
			}
		}
	}
}

// TestConstantWeightEvaluatorMatchesInputWeights: the session compiled with
// the weights as constants (batch norms folded into the convolutions,
// prepacked, blocked layout) gives the logits of the session that reads
// them as inputs, within float32 rounding.
func TestConstantWeightEvaluatorMatchesInputWeights(t *testing.T) {
	for _, c := range []struct {
		arch  string
		shape []int64
	}{{"resnet18", []int64{3, 32, 32}}, {"cnn", []int64{1, 28, 28}}, {"mlp", []int64{1, 28, 28}}} {
		m, err := New(c.arch, c.shape, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		randomiseNorms(m, 2)
		d := randomData(3, 24, m.Shape, 10)
		cst, err := NewEvaluator(rt, m, 16)
		if err != nil {
			t.Fatal(err)
		}
		defer cst.Close()
		in, err := NewEvaluator(rt, m, 16)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		cst.RecompileAfter, in.RecompileAfter = 1, 0
		a, err := cst.Logits(d)
		if err != nil {
			t.Fatal(err)
		}
		b, err := in.Logits(d)
		if err != nil {
			t.Fatal(err)
		}
		if cst.cst == nil || cst.in != nil || in.cst != nil || in.in == nil {
			t.Fatalf("%s: sessions (const, input) = (%v, %v) and (%v, %v); want the constant one, then the input one",
				c.arch, cst.cst != nil, cst.in != nil, in.cst != nil, in.in != nil)
		}
		diff, scale := maxDiff(a, b)
		t.Logf("%s: max |logit| %.3g, max difference %.3g", c.arch, scale, diff)
		if !(scale > 0.1) || diff > 1e-5*scale+1e-6 {
			t.Errorf("%s: constant-weight logits differ from input-weight ones by %g (max |logit| %g)", c.arch, diff, scale)
		}
		// LogitsBatch of the first batch serves from the same session.
		lb, err := cst.LogitsBatch(d.X[:8*int(numel(m.Shape))], 8)
		if err != nil {
			t.Fatal(err)
		}
		if diff, _ := maxDiff(lb, a[:8*10]); diff != 0 {
			t.Errorf("%s: LogitsBatch differs from Logits by %g on the same session", c.arch, diff)
		}
	}
}

// TestEvaluatorSeesEveryUpdate: one evaluator, used between Trainer steps,
// direct writes through Param and CopyWeightsFrom, gives after each the
// logits of a fresh input-weight evaluator, through both of its sessions.
func TestEvaluatorSeesEveryUpdate(t *testing.T) {
	m := SmallCNN([]int64{1, 8, 8}, 3, 1)
	d := randomData(7, 16, m.Shape, 3)
	other := SmallCNN([]int64{1, 8, 8}, 3, 9)
	tr, err := NewTrainer(rt, m, OptimizerConfig{Name: "sgd", LR: 0.1, Momentum: 0.9}, LossConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ev, err := NewEvaluator(rt, m, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	ev.RecompileAfter = 12 // Logits of all 16 compiles; a LogitsBatch of 4 does not
	fresh := func() []float32 {
		t.Helper()
		e, err := NewEvaluator(rt, m, 8)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		e.RecompileAfter = 0
		lg, err := e.Logits(d)
		if err != nil {
			t.Fatal(err)
		}
		return lg
	}
	updates := []struct {
		name string
		do   func()
	}{
		{"Trainer.Apply", func() {
			if _, err := tr.Compute(d, seqIdx(0, 16)); err != nil {
				t.Fatal(err)
			}
			tr.Apply(0.1)
		}},
		{"a second Trainer.Apply", func() {
			if _, err := tr.Compute(d, seqIdx(0, 16)); err != nil {
				t.Fatal(err)
			}
			tr.Apply(0.1)
		}},
		{"Trainer.ApplyAccumulated", func() {
			if _, err := tr.Compute(d, seqIdx(0, 16)); err != nil {
				t.Fatal(err)
			}
			tr.Accumulate(1)
			tr.ApplyAccumulated(0.1)
		}},
		{"a write through Param", func() {
			w := m.Param(m.Params[0])
			for i := range w {
				w[i] *= -1
			}
		}},
		{"CopyWeightsFrom", func() {
			if err := m.CopyWeightsFrom(other); err != nil {
				t.Fatal(err)
			}
		}},
	}
	prev, err := ev.Logits(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range updates {
		u.do()
		// The small batch first: it runs on the input-weight session, as
		// the constant one is stale and 4 examples are below RecompileAfter.
		x4 := d.X[:4*int(numel(m.Shape))]
		small, err := ev.LogitsBatch(x4, 4)
		if err != nil {
			t.Fatal(err)
		}
		small = append([]float32(nil), small...)
		if ev.cst != nil && ev.cstGen == m.Generation() {
			t.Fatalf("after %s: the constant-weight session is current before any recompile", u.name)
		}
		got, err := ev.Logits(d)
		if err != nil {
			t.Fatal(err)
		}
		if ev.cst == nil || ev.cstGen != m.Generation() {
			t.Fatalf("after %s: Logits of 16 examples did not recompile the constant-weight session", u.name)
		}
		want := fresh()
		if diff, scale := maxDiff(want, got); diff > 1e-5*scale+1e-6 {
			t.Errorf("after %s: constant-weight logits differ from a fresh evaluator's by %g", u.name, diff)
		}
		if diff, scale := maxDiff(want[:4*3], small); diff > 1e-5*scale+1e-6 {
			t.Errorf("after %s: input-weight LogitsBatch differs from a fresh evaluator's by %g", u.name, diff)
		}
		if diff, _ := maxDiff(prev, got); diff < 1e-4 {
			t.Errorf("after %s: logits moved by %g; the update was not seen", u.name, diff)
		}
		prev = got
	}
}

// TestConstantWeightsPullFromTheDevice: with a device-resident Trainer the
// model's memory is stale after a step until something reads it; an
// evaluator that compiles the weights as constants must bring them in
// first, or it would bake in the weights of before the step.
func TestConstantWeightsPullFromTheDevice(t *testing.T) {
	m := SmallCNN([]int64{1, 8, 8}, 3, 1)
	d := randomData(7, 16, m.Shape, 3)
	tr, err := NewTrainer(deviceRuntime(t), m, OptimizerConfig{Name: "sgd", LR: 0.5}, LossConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ev, err := NewEvaluator(rt, m, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	ev.RecompileAfter = 1
	before, err := ev.Logits(d)
	if err != nil {
		t.Fatal(err)
	}
	before = slices.Clone(before)
	if _, err := tr.Compute(d, seqIdx(0, 16)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Apply(0.5); err != nil {
		t.Fatal(err)
	}
	got, err := ev.Logits(d) // recompiles: the first read since the step
	if err != nil {
		t.Fatal(err)
	}
	if ev.cst == nil || ev.cstGen != m.Generation() {
		t.Fatal("the step did not recompile the constant-weight session")
	}
	e, err := NewEvaluator(rt, m, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.RecompileAfter = 0
	want, err := e.Logits(d)
	if err != nil {
		t.Fatal(err)
	}
	if diff, scale := maxDiff(want, got); diff > 1e-5*scale+1e-6 {
		t.Errorf("constant-weight logits after a device-resident step differ from the step's weights by %g", diff)
	}
	if diff, _ := maxDiff(before, got); diff < 1e-4 {
		t.Errorf("logits moved by %g after the step: the constants are the weights of before it", diff)
	}
}
