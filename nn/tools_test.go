package nn

import (
	"math"
	"slices"
	"testing"

	"unlearnbench/internal/usererr"
)

// seqIdx is [from, from+n).
func seqIdx(from, n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = from + i
	}
	return idx
}

// TestUpdateMaskFreezesBits: elements with factor 0 keep their bits through
// several steps with momentum (Nesterov), weight decay and Adam, and their
// moments stay zero; the other elements move; nil lifts the mask.
func TestUpdateMaskFreezesBits(t *testing.T) {
	base := MLP([]int64{1, 4, 4}, []int64{8}, 3, 1)
	d := randomData(3, 48, base.Shape, 3)
	for _, opt := range []OptimizerConfig{
		{Name: "sgd", LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 0.05},
		{Name: "adam", LR: 0.01, WeightDecay: 0.05},
	} {
		m := base.Clone()
		tr, err := NewTrainer(rt, m, opt, LossConfig{}, 1)
		if err != nil {
			t.Fatal(err)
		}
		w := m.Param("fc1.weight")
		scale := make([]float32, len(w))
		for i := range scale {
			scale[i] = []float32{0, 1, 0.5}[i%3]
		}
		if err := tr.SetUpdateMask("fc1.weight", scale); err != nil {
			t.Fatal(err)
		}
		scale[0] = 1 // the trainer keeps its own copy
		if err := tr.SetUpdateMask("out.bias", make([]float32, 3)); err != nil {
			t.Fatal(err)
		}
		before := slices.Clone(w)
		biasBefore := slices.Clone(m.Param("out.bias"))
		for s := 0; s < 5; s++ {
			if _, err := tr.Compute(d, seqIdx(8*s, 8)); err != nil {
				t.Fatal(err)
			}
			tr.Apply(opt.LR)
		}
		kw, kb := slices.Index(m.Params, "fc1.weight"), slices.Index(m.Params, "out.bias")
		moved := 0
		for i := range w {
			frozen := i%3 == 0
			if frozen {
				if math.Float32bits(w[i]) != math.Float32bits(before[i]) {
					t.Fatalf("%s: frozen fc1.weight[%d] changed from %v to %v", opt.Name, i, before[i], w[i])
				}
				for _, mom := range [][][]float32{tr.opt.v, tr.opt.s} {
					if mom != nil && mom[kw][i] != 0 {
						t.Fatalf("%s: moment of frozen fc1.weight[%d] is %v", opt.Name, i, mom[kw][i])
					}
				}
			} else if w[i] != before[i] {
				moved++
			}
		}
		if moved < len(w)*2/3-2 {
			t.Errorf("%s: only %d of %d unfrozen elements moved", opt.Name, moved, len(w)*2/3)
		}
		for i, v := range m.Param("out.bias") {
			if math.Float32bits(v) != math.Float32bits(biasBefore[i]) || tr.opt.v[kb][i] != 0 {
				t.Fatalf("%s: frozen out.bias[%d] changed", opt.Name, i)
			}
		}
		if err := tr.SetUpdateMask("out.bias", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Compute(d, seqIdx(40, 8)); err != nil {
			t.Fatal(err)
		}
		tr.Apply(opt.LR)
		if slices.Equal(m.Param("out.bias"), biasBefore) {
			t.Errorf("%s: out.bias did not move after its mask was removed", opt.Name)
		}
		tr.Close()
	}
}

// TestUpdateMaskScales: a factor s gives p - lr·s·(g + wd·p) in a plain SGD
// step, computed here from Grad.
func TestUpdateMaskScales(t *testing.T) {
	m := MLP([]int64{1, 4, 4}, []int64{8}, 3, 2)
	d := randomData(4, 8, m.Shape, 3)
	const lr, wd = 0.3, 0.1
	tr, err := NewTrainer(rt, m, OptimizerConfig{Name: "sgd", LR: lr, WeightDecay: wd}, LossConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	w := m.Param("fc1.weight")
	scale := make([]float32, len(w))
	for i := range scale {
		scale[i] = float32(i%5) * 0.5
	}
	if err := tr.SetUpdateMask("fc1.weight", scale); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Compute(d, seqIdx(0, 8)); err != nil {
		t.Fatal(err)
	}
	g := slices.Clone(tr.Grad("fc1.weight"))
	before := slices.Clone(w)
	tr.Apply(lr)
	nonzero := 0
	for i := range w {
		want := float64(before[i]) - lr*float64(scale[i])*(float64(g[i])+wd*float64(before[i]))
		if math.Abs(float64(w[i])-want) > 1e-6*(1+math.Abs(want)) {
			t.Fatalf("fc1.weight[%d] = %v, want %v (factor %v)", i, w[i], want, scale[i])
		}
		if g[i] != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("all gradients are zero: the check proves nothing")
	}
	for _, bad := range []struct {
		p string
		s []float32
	}{{"nope", nil}, {"fc1.weight", make([]float32, 3)}, {"fc1.bias", []float32{0, 0, 0, 0, 0, 0, 0, float32(math.NaN())}}} {
		if err := tr.SetUpdateMask(bad.p, bad.s); err == nil || !usererr.Is(err) {
			t.Errorf("SetUpdateMask(%q, %d factors): %v, want a user error", bad.p, len(bad.s), err)
		}
	}
}

// TestAccumulate: gradients of two batches accumulated with factors a and b
// and one step equal the step on a·g_A + b·g_B (from Grad); the running
// statistics are those of the latest batch; the accumulator is cleared, and
// Accumulate(1) then ApplyAccumulated is Apply bit for bit.
func TestAccumulate(t *testing.T) {
	m := SmallCNN([]int64{1, 8, 8}, 3, 1)
	d := randomData(5, 16, m.Shape, 3)
	const lr, wd, a, b = 0.2, 0.01, 0.7, -0.4
	opt := OptimizerConfig{Name: "sgd", LR: lr, WeightDecay: wd}
	ref := m.Clone()
	tr, err := NewTrainer(rt, m, opt, LossConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	grads := func() map[string][]float32 {
		g := map[string][]float32{}
		for _, p := range m.Params {
			g[p] = slices.Clone(tr.Grad(p))
		}
		return g
	}
	if _, err := tr.Compute(d, seqIdx(0, 8)); err != nil {
		t.Fatal(err)
	}
	gA := grads()
	tr.Accumulate(a)
	if _, err := tr.Compute(d, seqIdx(8, 8)); err != nil {
		t.Fatal(err)
	}
	gB := grads()
	tr.Accumulate(b)
	stats := map[string][]float32{}
	for _, u := range tr.ups {
		stats[u.Mean] = slices.Clone(tr.cur.out[u.NewMean])
		stats[u.Var] = slices.Clone(tr.cur.out[u.NewVar])
	}
	before := map[string][]float32{}
	for _, p := range m.Params {
		before[p] = slices.Clone(m.Param(p))
	}
	tr.ApplyAccumulated(lr)
	if tr.Step != 1 {
		t.Errorf("Step = %d after one ApplyAccumulated", tr.Step)
	}
	for _, p := range m.Params {
		for i, v := range m.Param(p) {
			w0 := float64(before[p][i])
			want := w0 - lr*(a*float64(gA[p][i])+b*float64(gB[p][i])+wd*w0)
			if math.Abs(float64(v)-want) > 1e-6*(1+math.Abs(want)) {
				t.Fatalf("%s[%d] = %v, want %v", p, i, v, want)
			}
		}
	}
	for name, want := range stats {
		if !slices.Equal(m.Param(name), want) {
			t.Errorf("%s is not the latest batch's running statistic", name)
		}
	}
	after := m.Clone()
	tr.ApplyAccumulated(lr) // cleared: nothing to apply
	for _, p := range m.Params {
		if !slices.Equal(m.Param(p), after.Param(p)) {
			t.Fatalf("a second ApplyAccumulated moved %s", p)
		}
	}

	// Accumulate(1) and ApplyAccumulated is Apply, bit for bit.
	if err := ref.CopyWeightsFrom(m); err != nil {
		t.Fatal(err)
	}
	tr2, err := NewTrainer(rt, ref, opt, LossConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	for _, x := range []*Trainer{tr, tr2} {
		if _, err := x.Compute(d, seqIdx(4, 8)); err != nil {
			t.Fatal(err)
		}
	}
	tr.Accumulate(1)
	tr.ApplyAccumulated(lr)
	tr2.Apply(lr)
	for _, p := range append(slices.Clone(m.Params), m.Buffers...) {
		if !slices.Equal(m.Param(p), ref.Param(p)) {
			t.Errorf("%s: Accumulate(1)+ApplyAccumulated differs from Apply", p)
		}
	}
}
