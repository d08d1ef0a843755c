package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn/graph"
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
// several steps (Apply and ApplyAccumulated) with momentum (Nesterov),
// weight decay and Adam, and their
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
			if s%2 == 0 {
				must(t, tr.Apply(opt.LR))
				continue
			}
			// Accumulated steps honour the mask too.
			must(t, tr.Accumulate(0.5))
			if _, err := tr.Compute(d, seqIdx(8*s+4, 8)); err != nil {
				t.Fatal(err)
			}
			must(t, tr.Accumulate(-0.25))
			must(t, tr.ApplyAccumulated(opt.LR))
		}
		kw, kb := slices.Index(m.Params, "fc1.weight"), slices.Index(m.Params, "out.bias")
		moved := 0
		for i := range w {
			frozen := i%3 == 0
			if frozen {
				if math.Float32bits(w[i]) != math.Float32bits(before[i]) {
					t.Fatalf("%s: frozen fc1.weight[%d] changed from %v to %v", opt.Name, i, before[i], w[i])
				}
				for _, mom := range [][][]float32{tr.opt.moments(0), tr.opt.moments(1)} {
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
			if math.Float32bits(v) != math.Float32bits(biasBefore[i]) || tr.opt.moments(0)[kb][i] != 0 {
				t.Fatalf("%s: frozen out.bias[%d] changed", opt.Name, i)
			}
		}
		if err := tr.SetUpdateMask("out.bias", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Compute(d, seqIdx(40, 8)); err != nil {
			t.Fatal(err)
		}
		must(t, tr.Apply(opt.LR))
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
	must(t, tr.Apply(lr))
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
	must(t, tr.Accumulate(a))
	if _, err := tr.Compute(d, seqIdx(8, 8)); err != nil {
		t.Fatal(err)
	}
	gB := grads()
	must(t, tr.Accumulate(b))
	stats := map[string][]float32{}
	for _, u := range tr.ups {
		stats[u.Mean] = slices.Clone(tr.cur.out[u.NewMean])
		stats[u.Var] = slices.Clone(tr.cur.out[u.NewVar])
	}
	before := map[string][]float32{}
	for _, p := range m.Params {
		before[p] = slices.Clone(m.Param(p))
	}
	must(t, tr.ApplyAccumulated(lr))
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
	must(t, tr.ApplyAccumulated(lr)) // cleared: nothing to apply
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
	must(t, tr.Accumulate(1))
	must(t, tr.ApplyAccumulated(lr))
	must(t, tr2.Apply(lr))
	for _, p := range append(slices.Clone(m.Params), m.Buffers...) {
		if !slices.Equal(m.Param(p), ref.Param(p)) {
			t.Errorf("%s: Accumulate(1)+ApplyAccumulated differs from Apply", p)
		}
	}
}

// legacyTrainStep is the training graph as NewTrainer built it before
// per-example factors and distillation existed (mean cross-entropy and its
// gradients), run once on examples idx of d: the reference that nil
// weights must reproduce bit for bit.
func legacyTrainStep(t *testing.T, m *Model, loss LossConfig, d *Data, idx []int) (float32, map[string][]float32) {
	t.Helper()
	g := m.inferenceGraph()
	ups, err := g.LowerBatchNormTraining()
	if err != nil {
		t.Fatal(err)
	}
	labels := g.AddInput("labels", graph.Int64, -1)
	ce := graph.CrossEntropy{LabelSmoothing: loss.LabelSmoothing}
	if loss.ClassWeights != nil {
		ce.Weights = g.AddInit("class_weights", &graph.Tensor{DType: graph.Float, Dims: []int64{int64(m.Classes)}, F32: slices.Clone(loss.ClassWeights)})
	}
	_, mean := g.CrossEntropyLoss(m.Output, labels, ce)
	grads, err := g.Gradients(mean, m.Params, graph.GradOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lossOut := vec1(g, mean)
	outs := []string{lossOut}
	for _, p := range m.Params {
		outs = append(outs, grads[p])
	}
	for _, u := range ups {
		outs = append(outs, u.NewMean)
	}
	r, err := newRunner(rt, m, g, []string{m.Input, labels}, m.fixedNames(), outs)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	b, err := r.io(len(idx))
	if err != nil {
		t.Fatal(err)
	}
	d.gather(idx, b.inF[m.Input], b.inI["labels"])
	if err := r.run(b); err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, p := range m.Params {
		out[p] = slices.Clone(b.out[grads[p]])
	}
	return b.out[lossOut][0], out
}

func batchOf(d *Data, idx []int) Batch {
	s := d.Subset(idx)
	return Batch{X: s.X, Y: s.Y}
}

// TestLossNilWeightsBitForBit: ComputeBatchOf without factors gives the
// loss and gradients of the graph as it was before them, bit for bit, with
// and without class weights and label smoothing; factors of -1 give exactly
// the negated gradients, and a step on them raises the batch's loss.
func TestLossNilWeightsBitForBit(t *testing.T) {
	m := SmallCNN([]int64{1, 8, 8}, 3, 1)
	d := randomData(6, 12, m.Shape, 3)
	idx := seqIdx(0, 12)
	for _, loss := range []LossConfig{{}, {LabelSmoothing: 0.1, ClassWeights: []float32{0.5, 2, 1}}} {
		wantLoss, wantGrads := legacyTrainStep(t, m, loss, d, idx)
		tr, err := NewTrainer(rt, m, OptimizerConfig{Name: "sgd", LR: 0.5}, loss, 1)
		if err != nil {
			t.Fatal(err)
		}
		res, err := tr.ComputeBatchOf(batchOf(d, idx))
		if err != nil {
			t.Fatal(err)
		}
		if math.Float32bits(float32(res.Loss)) != math.Float32bits(wantLoss) {
			t.Errorf("%+v: loss %v, the plain graph's %v", loss, res.Loss, wantLoss)
		}
		for _, p := range m.Params {
			if !slices.Equal(tr.Grad(p), wantGrads[p]) {
				t.Errorf("%+v: gradient of %s differs from the plain graph's", loss, p)
			}
		}
		b := batchOf(d, idx)
		b.Weights = make([]float32, len(idx))
		fill(b.Weights, -1)
		if _, err := tr.ComputeBatchOf(b); err != nil {
			t.Fatal(err)
		}
		for _, p := range m.Params {
			for i, v := range tr.Grad(p) {
				if v != -wantGrads[p][i] {
					t.Fatalf("%+v: weight -1: gradient of %s[%d] is %v, want %v", loss, p, i, v, -wantGrads[p][i])
				}
			}
		}
		must(t, tr.Apply(0.5))
		after, err := tr.ComputeBatchOf(batchOf(d, idx))
		if err != nil {
			t.Fatal(err)
		}
		if !(after.Loss > res.Loss) {
			t.Errorf("%+v: a step with weights -1 took the loss from %v to %v, want an ascent", loss, res.Loss, after.Loss)
		}
		tr.Close()
		m = SmallCNN([]int64{1, 8, 8}, 3, 1) // undo the step for the next configuration
	}
}

// lossInGo is LossConfig's loss (no class weights, no smoothing) of logits
// lg for batch b, in float64.
func lossInGo(lg []float32, b Batch, c int, temp float64) float64 {
	logSoftmax := func(z []float32, scale float64) []float64 {
		mx := math.Inf(-1)
		for _, v := range z {
			mx = max(mx, float64(v)*scale)
		}
		var s float64
		for _, v := range z {
			s += math.Exp(float64(v)*scale - mx)
		}
		out := make([]float64, len(z))
		for k, v := range z {
			out[k] = float64(v)*scale - mx - math.Log(s)
		}
		return out
	}
	var sum float64
	n := len(b.Y)
	for i := 0; i < n; i++ {
		z := lg[i*c : (i+1)*c]
		w := 1.0
		if b.Weights != nil {
			w = float64(b.Weights[i])
		}
		sum += -w * logSoftmax(z, 1)[b.Y[i]]
		if b.Teacher != nil {
			lp, lq := logSoftmax(b.Teacher[i*c:(i+1)*c], 1/temp), logSoftmax(z, 1/temp)
			var kl float64
			for k := range lp {
				kl += math.Exp(lp[k]) * (lp[k] - lq[k])
			}
			k := 1.0
			if b.KLWeights != nil {
				k = float64(b.KLWeights[i])
			}
			sum += k * temp * temp * kl
		}
	}
	return sum / float64(n)
}

// TestLossTermsGradients: per-example factors (some negative) and the
// distillation term at T = 4 with its own factors: the loss equals the
// formula computed in Go from the batch's logits, and the gradients match
// central differences of it.
func TestLossTermsGradients(t *testing.T) {
	m := MLP([]int64{1, 4, 4}, []int64{16}, 5, 3)
	d := randomData(7, 10, m.Shape, 5)
	b := batchOf(d, seqIdx(0, 10))
	rng := rand.New(rand.NewPCG(8, 8))
	b.Weights, b.KLWeights, b.Teacher = make([]float32, 10), make([]float32, 10), make([]float32, 50)
	for i := range b.Weights {
		b.Weights[i] = float32(rng.Float64()*2 - 0.6)
		b.KLWeights[i] = float32(rng.Float64()*2 - 0.6)
	}
	for i := range b.Teacher {
		b.Teacher[i] = float32(rng.NormFloat64() * 2)
	}
	const temp = 4
	tr, err := NewTrainer(rt, m, OptimizerConfig{Name: "sgd", LR: 0.1}, LossConfig{Distill: true, Temperature: temp}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	res, err := tr.ComputeBatchOf(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := lossInGo(tr.Logits(), b, 5, temp); math.Abs(res.Loss-want) > 1e-5*(1+math.Abs(want)) {
		t.Errorf("loss %v, want %v", res.Loss, want)
	}
	checkGradientsOf(t, m, func() (float64, error) {
		r, err := tr.ComputeBatchOf(b)
		return r.Loss, err
	}, func(p string) []float32 { return tr.Grad(p) }, m.Params, 1e-3, 0.03)

	for _, bad := range []Batch{
		{X: b.X, Y: b.Y}, // no teacher
		{X: b.X, Y: b.Y, Teacher: b.Teacher[:49]}, // short teacher
		{X: b.X, Y: b.Y, Teacher: b.Teacher, Weights: b.Weights[:3]},
		{X: b.X, Y: b.Y, Teacher: b.Teacher, KLWeights: []float32{0, 0, 0, 0, 0, 0, 0, 0, 0, float32(math.Inf(1))}},
	} {
		if _, err := tr.ComputeBatchOf(bad); err == nil || !usererr.Is(err) {
			t.Errorf("bad batch accepted or not a user error: %v", err)
		}
	}
	if _, err := tr.Compute(d, seqIdx(0, 4)); err == nil || !usererr.Is(err) {
		t.Errorf("Compute on a distilling trainer: %v, want a user error", err)
	}
	plain, err := NewTrainer(rt, m, OptimizerConfig{Name: "sgd", LR: 0.1}, LossConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.ComputeBatchOf(Batch{X: b.X, Y: b.Y, Teacher: b.Teacher}); err == nil || !usererr.Is(err) {
		t.Errorf("teacher without Distill: %v, want a user error", err)
	}
	if _, err := NewTrainer(rt, m, OptimizerConfig{Name: "sgd", LR: 0.1}, LossConfig{Distill: true, Temperature: -1}, 1); err == nil || !usererr.Is(err) {
		t.Errorf("temperature -1: %v, want a user error", err)
	}
	if _, err := trainData(rt, m, d, nil, TrainConfig{Epochs: 1, BatchSize: 4, Optimizer: OptimizerConfig{Name: "sgd", LR: 0.1}, Loss: LossConfig{Distill: true}}, Options{}); err == nil || !usererr.Is(err) {
		t.Errorf("Train with a distillation loss: %v, want a user error", err)
	}
}

// checkGradientsOf compares grad(p) after loss() with central differences
// of loss() on two coordinates of every parameter in params (the largest
// gradient and a random one), as checkModelGradients does.
func checkGradientsOf(t *testing.T, m *Model, loss func() (float64, error), grad func(string) []float32, params []string, h, rtol float64) {
	t.Helper()
	if _, err := loss(); err != nil {
		t.Fatal(err)
	}
	type probe struct {
		p  string
		i  int
		an float64
	}
	var probes []probe
	rng := rand.New(rand.NewPCG(9, 9))
	for _, p := range params {
		g := grad(p)
		best := 0
		for i, v := range g {
			if math.Abs(float64(v)) > math.Abs(float64(g[best])) {
				best = i
			}
		}
		r := rng.IntN(len(g))
		probes = append(probes, probe{p, best, float64(g[best])}, probe{p, r, float64(g[r])})
	}
	fds := make([]float64, len(probes))
	var scale float64
	for k, pr := range probes {
		w := m.Param(pr.p)
		old := w[pr.i]
		w[pr.i] = old + float32(h)
		lp, err := loss()
		if err != nil {
			t.Fatal(err)
		}
		w[pr.i] = old - float32(h)
		lm, _ := loss()
		w[pr.i] = old
		fds[k] = (lp - lm) / (2 * h)
		scale = max(scale, math.Abs(fds[k]))
	}
	if scale == 0 {
		t.Fatal("every finite difference is 0: the check proves nothing")
	}
	for k, pr := range probes {
		if math.Abs(fds[k]-pr.an) > rtol*max(math.Abs(fds[k]), 0.1*scale)+1e-5 {
			t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", pr.p, pr.i, pr.an, fds[k])
		}
	}
}

// TestReinit: He normal from the fan-in (Conv: input channels × kernel;
// Gemm: input features), zeros for biases and batch-norm shifts, ones for
// batch-norm scales; the same seed gives the same bits, another seed other
// values; a mask re-draws only its elements, with the values an unmasked
// re-draw gives them.
func TestReinit(t *testing.T) {
	m := SmallCNN([]int64{1, 28, 28}, 10, 1)
	for _, c := range []struct {
		p      string
		fanIn  float64
		minLen int
	}{{"conv2.weight", 16 * 9, 4000}, {"fc1.weight", 32 * 7 * 7, 100000}} {
		w := m.Param(c.p)
		if len(w) < c.minLen {
			t.Fatalf("%s has %d elements", c.p, len(w))
		}
		if err := m.Reinit(c.p, nil, 3); err != nil {
			t.Fatal(err)
		}
		var s, ss float64
		for _, v := range w {
			s += float64(v)
			ss += float64(v) * float64(v)
		}
		n := float64(len(w))
		mean, std, want := s/n, math.Sqrt(ss/n-(s/n)*(s/n)), math.Sqrt(2/c.fanIn)
		if math.Abs(mean) > 4*want/math.Sqrt(n) || math.Abs(std/want-1) > 5/math.Sqrt(n)+0.01 {
			t.Errorf("%s: mean %.4g, std %.4g; want 0 and %.4g (He, fan-in %v)", c.p, mean, std, want, c.fanIn)
		}
	}
	w := m.Param("fc2.weight")
	if err := m.Reinit("fc2.weight", nil, 7); err != nil {
		t.Fatal(err)
	}
	first := slices.Clone(w)
	if err := m.Reinit("fc2.weight", nil, 7); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w, first) {
		t.Error("the same seed gave other values")
	}
	if err := m.Reinit("fc2.weight", nil, 8); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(w, first) {
		t.Error("another seed gave the same values")
	}
	other := slices.Clone(w)
	mask := make([]bool, len(w))
	for i := range mask {
		mask[i] = i%4 == 1
	}
	if err := m.Reinit("fc2.weight", mask, 7); err != nil {
		t.Fatal(err)
	}
	for i := range w {
		want := other[i]
		if mask[i] {
			want = first[i]
		}
		if math.Float32bits(w[i]) != math.Float32bits(want) {
			t.Fatalf("fc2.weight[%d] = %v, want %v (masked %v)", i, w[i], want, mask[i])
		}
	}
	for p, want := range map[string]float32{"fc1.bias": 0, "bn1.weight": 1, "bn1.bias": 0} {
		fill(m.Param(p), 0.25)
		if err := m.Reinit(p, nil, 1); err != nil {
			t.Fatal(err)
		}
		for i, v := range m.Param(p) {
			if v != want {
				t.Fatalf("%s[%d] = %v after Reinit, want %v", p, i, v, want)
			}
		}
	}
	for _, bad := range []struct {
		p    string
		mask []bool
	}{{"nope", nil}, {"bn1.running_mean", nil}, {"fc2.weight", make([]bool, 3)}} {
		if err := m.Reinit(bad.p, bad.mask, 1); err == nil || !usererr.Is(err) {
			t.Errorf("Reinit(%q, %d mask elements): %v, want a user error", bad.p, len(bad.mask), err)
		}
	}
}

// must fails the test on a non-nil error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
