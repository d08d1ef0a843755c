package unlearners

import (
	"math"
	"testing"

	"unlearnbench/nn"
)

// frozenCheck verifies that the elements f marks false are the original's
// bit for bit and that most of those it marks true moved.
func frozenCheck(t *testing.T, method string, orig, m *nn.Model, free func(name string, i int) bool) {
	t.Helper()
	frozen, moved, freeN := 0, 0, 0
	for _, name := range orig.Params {
		a, b := orig.Param(name), m.Param(name)
		for i := range a {
			same := math.Float32bits(a[i]) == math.Float32bits(b[i])
			if free(name, i) {
				freeN++
				if !same {
					moved++
				}
				continue
			}
			frozen++
			if !same {
				t.Fatalf("%s: frozen element %d of %s moved from %v to %v", method, i, name, a[i], b[i])
			}
		}
	}
	if frozen == 0 || freeN == 0 || moved < freeN/2 {
		t.Fatalf("%s: %d frozen elements, %d free of which %d moved: the check proves nothing", method, frozen, freeN, moved)
	}
	t.Logf("%s: %d frozen elements kept their bits; %d of %d free ones moved", method, frozen, moved, freeN)
}

// TestSalunFreezesOutsideItsMask: weight decay and momentum are on (the
// defaults), and the weights outside the saliency mask keep their bits.
func TestSalunFreezesOutsideItsMask(t *testing.T) {
	w := getWorld(t)
	in := w.inputs(2)
	m := unlearn(t, "salun", map[string]any{"epochs": 2, "ratio": 0.3}, in)
	tr, err := nn.NewTrainer(rt, w.original.Clone(), nn.OptimizerConfig{Name: "sgd", LR: 0.1}, nn.LossConfig{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	mask, err := saliencyMask(tr, in, batchSize(Params{"batch_size": 0}, in), 0.3)
	if err != nil {
		t.Fatal(err)
	}
	n, on := 0, 0
	for _, v := range mask {
		for _, x := range v {
			n++
			if x == 1 {
				on++
			}
		}
	}
	if on != int(0.3*float64(n)) {
		t.Fatalf("mask holds %d of %d weights, want %d", on, n, int(0.3*float64(n)))
	}
	frozenCheck(t, "salun", w.original, m, func(name string, i int) bool { return mask[name][i] == 1 })
}

// TestReinitFreezesAtScaleZero: with scale 0 every weight not
// re-initialised keeps the original's bits; the re-initialised ones are
// drawn again and trained.
func TestReinitFreezesAtScaleZero(t *testing.T) {
	w := getWorld(t)
	for _, sel := range []string{"gradient", "random-layers"} {
		params := map[string]any{"epochs": 1, "target": "weights", "select": sel, "scale": 0.0}
		in := w.inputs(6)
		m := unlearn(t, "reinit", params, in)
		u, p, _ := New("reinit", params)
		r := u.(*checked).u.(*reinit)
		r.p = p
		tr, err := nn.NewTrainer(rt, w.original.Clone(), nn.OptimizerConfig{Name: "sgd", LR: 0.1}, nn.LossConfig{ClassWeights: classWeights(w.retain, 10)}, 6)
		if err != nil {
			t.Fatal(err)
		}
		targets, _ := r.targets(w.original)
		chosen, err := r.choose(tr, in, targets, batchSize(p, in))
		tr.Close()
		if err != nil {
			t.Fatal(err)
		}
		frozenCheck(t, "reinit "+sel, w.original, m, func(name string, i int) bool { return chosen[name] != nil && chosen[name][i] })
	}
}

// TestReinitGradientSelectionReadsTheForgetSet: choosing weights by the
// gradient of CE(retain) - CE(forget) depends on the forget set's images;
// random layers do not (TestForgetSetDependence).
func TestReinitGradientSelectionReadsTheForgetSet(t *testing.T) {
	w := getWorld(t)
	params := map[string]any{"epochs": 1, "target": "weights"}
	a := unlearn(t, "reinit", params, w.inputs(8))
	in := w.inputs(8)
	in.Forget = w.noiseForget
	if sameWeights(a, unlearn(t, "reinit", params, in)) {
		t.Error("reinit with select gradient gave the same weights with a noise forget set")
	}
	if _, _, err := New("reinit", map[string]any{"target": "conv"}); err != nil {
		t.Fatal(err)
	}
	u, _, _ := New("reinit", map[string]any{"target": "conv"})
	if _, err := u.Unlearn(t.Context(), w.inputs(1)); err == nil || err.Error() != `method reinit: parameter target = conv: model "mlp" has no such weights` {
		t.Errorf("reinit of convolution weights of an MLP: %v", err)
	}
}

// TestReinitDefaultTargetFitsTheModel: with its defaults (target auto)
// reinit runs on the MLP, which has no convolutions, as with target
// weights; on a CNN it takes the convolutions, as with target conv.
func TestReinitDefaultTargetFitsTheModel(t *testing.T) {
	w := getWorld(t)
	def := unlearn(t, "reinit", map[string]any{"epochs": 1}, w.inputs(5))
	if !sameWeights(def, unlearn(t, "reinit", map[string]any{"epochs": 1, "target": "weights"}, w.inputs(5))) {
		t.Error("reinit's default target on the MLP is not weights")
	}
	cnn, err := nn.New(nn.ArchCNN, w.retain.Shape, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	small := func(d *nn.Data, n int) *nn.Data {
		return &nn.Data{Shape: d.Shape, X: d.X[:n*d.Size()], Y: d.Y[:n]}
	}
	in := &Inputs{Original: cnn, Retain: small(w.retain, 48), Forget: small(w.forget, 16), Recipe: w.recipe, Runtime: rt, Seed: 5}
	params := map[string]any{"epochs": 1, "batch_size": 16}
	auto := unlearn(t, "reinit", params, in)
	params["target"] = "conv"
	conv := unlearn(t, "reinit", params, in)
	params["target"] = "weights"
	weights := unlearn(t, "reinit", params, in)
	if !sameWeights(auto, conv) || sameWeights(auto, weights) {
		t.Error("reinit's default target on a CNN is not conv")
	}
}
