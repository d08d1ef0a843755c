package nn

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
)

// weightsOf copies every parameter and buffer of m.
func weightsOf(m *Model) [][]float32 {
	var out [][]float32
	for _, n := range append(slices.Clone(m.Params), m.Buffers...) {
		out = append(out, slices.Clone(m.Param(n)))
	}
	return out
}

func sameWeights(a, b [][]float32) bool {
	return slices.EqualFunc(a, b, func(x, y []float32) bool { return slices.Equal(x, y) })
}

// TestBestKeeperFollowsTrainLib checks the selection rule on given
// accuracies, against train_lib.py's loop worked by hand: best_acc
// starts at 0 and rises on every strictly better epoch, eligible or not;
// only eligible ones are saved; the last save is what a reload finds.
func TestBestKeeperFollowsTrainLib(t *testing.T) {
	m, err := New(ArchMLP, []int64{1, 4, 4}, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		min  int
		accs []float64
		want int // epoch kept, from 0; -1: none, the last weights stay
	}{
		{"best is the first of equals", 0, []float64{0.2, 0.5, 0.5, 0.4}, 1},
		{"later better eligible epoch", 2, []float64{0.2, 0.3, 0.4, 0.6, 0.5}, 3},
		// Epoch 1's 0.7 is ineligible but raises best_acc: nothing later beats it.
		{"ineligible best blocks the save", 2, []float64{0.2, 0.7, 0.6, 0.65}, -1},
		{"eligible epoch must beat the ineligible ones", 2, []float64{0.2, 0.7, 0.6, 0.75, 0.72}, 3},
		{"zero accuracy is never saved", 0, []float64{0, 0, 0}, -1},
	} {
		b := &bestKeeper{m: m, minEpoch: c.min, epoch: -1}
		var per [][][]float32
		for ep, a := range c.accs {
			// Mark the weights with the epoch so that the kept copy is
			// recognisable.
			for _, n := range m.Params {
				for i := range m.Param(n) {
					m.Param(n)[i] = float32(ep*1000 + i%7)
				}
			}
			per = append(per, weightsOf(m))
			b.observe(ep, &Metrics{Accuracy: a})
		}
		got := b.restore()
		if got != c.want {
			t.Errorf("%s: kept epoch %d, want %d", c.name, got, c.want)
			continue
		}
		want := per[len(per)-1]
		if got >= 0 {
			want = per[got]
		}
		if !sameWeights(weightsOf(m), want) {
			t.Errorf("%s: the model does not hold epoch %d's weights", c.name, got)
		}
	}
}

// TestTrainKeepsBestValidationEpoch trains for real and checks that the
// model ends with the weights it had after the epoch the rule picks from
// the epochs' own validation accuracies (the Checkpoint hook sees each
// epoch's weights), and that the run picks an epoch other than the last,
// so the test would notice weights that were not put back.
func TestTrainKeepsBestValidationEpoch(t *testing.T) {
	d, eval := learnable(randomData(11, 96, []int64{1, 4, 4}, 3)), learnable(randomData(12, 60, []int64{1, 4, 4}, 3))
	cfg := TrainConfig{Epochs: 8, BatchSize: 16, Seed: 3,
		Optimizer:      OptimizerConfig{Name: "sgd", LR: 0.3, Momentum: 0.9},
		Schedule:       Schedule{Name: "constant"},
		BestValidation: &BestValidation{MinEpoch: 1, RetrainMinEpoch: 1}}
	m, err := New(ArchMLP, d.Shape, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	var per [][][]float32
	hist, err := trainData(rt, m, d, eval, cfg, Options{Checkpoint: func(*TrainState) error {
		per = append(per, weightsOf(m))
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	best, want := 0.0, -1
	for ep, r := range hist {
		if r.Eval.Accuracy > best {
			best = r.Eval.Accuracy
			if ep >= cfg.BestValidation.MinEpoch {
				want = ep
			}
		}
	}
	var accs []float64
	for _, r := range hist {
		accs = append(accs, r.Eval.Accuracy)
	}
	t.Logf("validation accuracies %v; kept epoch %d (from 0)", accs, want)
	if want < 0 || want == len(hist)-1 {
		t.Fatalf("the run kept epoch %d of %d: pick a run whose best epoch is not the last", want, len(hist))
	}
	if !sameWeights(weightsOf(m), per[want]) {
		t.Errorf("the model does not hold the weights of epoch %d", want)
	}
	for ep, r := range hist {
		if r.Kept != (ep == want) {
			t.Errorf("epoch %d: Kept %v", ep, r.Kept)
		}
	}
	m2, _ := New(ArchMLP, d.Shape, 3, 2)
	for _, c := range []struct {
		eval *Data
		cfg  TrainConfig
		opt  Options
		want string
	}{
		{nil, cfg, Options{}, "no validation examples"},
		{eval, func() TrainConfig { c := cfg; c.BestValidation = &BestValidation{MinEpoch: 8}; return c }(), Options{}, "min_epoch 8"},
		{eval, cfg, Options{Resume: &TrainState{}}, "cannot be resumed"},
	} {
		_, err := trainData(rt, m2, d, c.eval, c.cfg, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v; want one saying %q", err, c.want)
		}
	}
}

// learnable relabels d by which third of each example's values has the
// largest sum, so that training makes progress and the validation
// accuracy moves from epoch to epoch.
func learnable(d *Data) *Data {
	s := d.Size()
	for i := range d.Y {
		x := d.X[i*s : (i+1)*s]
		best, arg := math.Inf(-1), 0
		for k := range 3 {
			var sum float64
			for _, v := range x[k*s/3 : (k+1)*s/3] {
				sum += float64(v)
			}
			if sum > best {
				best, arg = sum, k
			}
		}
		d.Y[i] = int64(arg)
	}
	return d
}

// TestCosineEpochs: constant within an epoch, PyTorch's
// CosineAnnealingLR(T_max=E) stepped after each epoch.
func TestCosineEpochs(t *testing.T) {
	s := Schedule{Name: "cosine_epochs"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	// 30 epochs of 10 steps, base 1e-4 (train_lib.py's original).
	for _, c := range []struct {
		step, epoch int
		want        float64
	}{{0, 0, 1e-4}, {9, 0, 1e-4}, {150, 15, 0.5e-4}, {159, 15, 0.5e-4}, {299, 29, 1e-4 * 0.5 * (1 + math.Cos(math.Pi*29/30))}} {
		if got := s.EpochLR(1e-4, c.step, c.epoch, 30, 300); math.Abs(got-c.want) > 1e-18 {
			t.Errorf("step %d, epoch %d: lr %v, want %v", c.step, c.epoch, got, c.want)
		}
	}
	// One epoch (main.py's example unlearner): the base rate throughout.
	if got := s.EpochLR(1e-3, 5, 0, 1, 10); got != 1e-3 {
		t.Errorf("one epoch: lr %v, want 1e-3", got)
	}
	if got := (Schedule{Name: "cosine"}).EpochLR(1, 60, 0, 11, 110); math.Abs(got-0.5*(1+math.Cos(math.Pi*60/110))) > 1e-12 {
		t.Errorf("cosine through EpochLR: %v", got)
	}
}

func TestInverseFrequencyWeights(t *testing.T) {
	w, err := InverseFrequencyWeights([]int64{2, 0, 2, 1, 2, 0, 2}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{0.5, 1, 0.25}; !slices.Equal(w, want) {
		t.Errorf("weights %v, want %v", w, want)
	}
	if w, _ := InverseFrequencyWeights([]int64{0, 0, 0, 1, 1, 1, 1, 1, 1}, 2); w[0] != float32(1.0/3.0) {
		t.Errorf("1/3 is %v, want float32(1.0/3.0)", w[0])
	}
	for _, c := range []struct {
		labels []int64
		want   string
	}{{[]int64{0, 2}, "class 1 has no training example"}, {[]int64{0, 3}, "label 3 of training example 1"}} {
		if _, err := InverseFrequencyWeights(c.labels, 3); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.labels, err, c.want)
		}
	}
	m, _ := New(ArchMLP, []int64{1, 4, 4}, 3, 1)
	if _, err := NewTrainer(rt, m, OptimizerConfig{Name: "sgd", LR: 0.1}, LossConfig{InverseFrequency: true}, 1); err == nil || !strings.Contains(err.Error(), "inverse_frequency") {
		t.Errorf("inverse_frequency without weights: %v", err)
	}
}

// TestNewRecipeFieldsKeepOldJSON: the recipe's JSON is part of every
// cache key (run's original, every population); a recipe that uses none
// of best_validation, inverse_frequency marshals as before they existed
// (the bytes below are those of the code before them), and one that uses
// them says so.
func TestNewRecipeFieldsKeepOldJSON(t *testing.T) {
	cfg := TrainConfig{Epochs: 10, BatchSize: 128, Optimizer: OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4},
		Schedule: Schedule{Name: "cosine", Gamma: 0.1}}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	old := `{"Epochs":10,"BatchSize":128,"Seed":0,"Optimizer":{"Name":"sgd","LR":0.05,"Momentum":0.9,"Nesterov":false,"WeightDecay":0.0005,"Beta1":0,"Beta2":0,"Eps":0},"Schedule":{"Name":"cosine","StepEpochs":0,"Gamma":0.1,"WarmupSteps":0},"Loss":{"LabelSmoothing":0,"ClassWeights":null,"Distill":false,"Temperature":0}}`
	if string(b) != old {
		t.Errorf("recipe JSON\n%s\nwant the old\n%s", b, old)
	}
	cfg.BestValidation = &BestValidation{RetrainMinEpoch: 20}
	cfg.Loss.InverseFrequency = true
	b, _ = json.Marshal(cfg)
	for _, want := range []string{`"BestValidation":{"MinEpoch":0,"RetrainMinEpoch":20}`, `"InverseFrequency":true`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("recipe JSON %s lacks %s", b, want)
		}
	}
}
