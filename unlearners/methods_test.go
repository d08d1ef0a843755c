package unlearners

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
)

// small are budgets that keep each method's test run short.
var small = map[string]map[string]any{
	"noop":      nil,
	"retrain":   nil,
	"finetune":  {"epochs": 2},
	"l1sparse":  {"epochs": 2},
	"neggrad":   {"epochs": 2, "lr": 1e-3},
	"neggrad+":  {"epochs": 1},
	"randlabel": {"epochs": 1},
	"fisher":    nil,
	"ssd":       {"alpha": 2.0}, // the forget set is 1/6 of the data: I_f <= 6*I_D
	"salun":     {"epochs": 1},
	"scrub":     {"epochs": 2, "max_epochs": 1, "lr": 0.01},
	"reinit":    {"epochs": 1, "target": "weights", "select": "random-layers"},
}

// readsForget says which methods must depend on the forget set's images.
var readsForget = map[string]bool{"neggrad": true, "neggrad+": true, "randlabel": true, "ssd": true, "salun": true, "scrub": true}

func methods() []string {
	var out []string
	for _, n := range Names() {
		if _, ok := small[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

func TestEveryMethodHasATestBudget(t *testing.T) {
	for _, n := range Names() {
		if _, ok := small[n]; !ok && n != "exec" {
			t.Errorf("method %s has no test budget in small: its properties are untested", n)
		}
	}
}

func TestNoopIsTheOriginalBitForBit(t *testing.T) {
	w := getWorld(t)
	m := unlearn(t, "noop", nil, w.inputs(1))
	if m == w.original {
		t.Fatal("noop returned the original itself, not a copy")
	}
	if !sameWeights(m, w.original) || digest(t, m) != digest(t, w.original) {
		t.Fatal("noop changed the weights")
	}
}

// TestOriginalUntouched runs every method and checks that the original in
// memory is as it was, and that each returns a model of its own.
func TestOriginalUntouched(t *testing.T) {
	w := getWorld(t)
	before := digest(t, w.original)
	for _, name := range methods() {
		m := unlearn(t, name, small[name], w.inputs(5))
		if after := digest(t, w.original); after != before {
			t.Fatalf("%s changed the original model", name)
		}
		if m == w.original || (len(m.Params) > 0 && &m.Param(m.Params[0])[0] == &w.original.Param(m.Params[0])[0]) {
			t.Errorf("%s returned the original's memory", name)
		}
		if name != "noop" && sameWeights(m, w.original) {
			t.Errorf("%s returned the original's weights unchanged", name)
		}
	}
}

// TestForgetSetDependence replaces the forget set's images by noise: the
// methods that must not read them give the same weights, those that must
// give other ones.
func TestForgetSetDependence(t *testing.T) {
	w := getWorld(t)
	for _, name := range methods() {
		if name == "noop" {
			continue
		}
		a := unlearn(t, name, small[name], w.inputs(7))
		in := w.inputs(7)
		in.Forget = w.noiseForget
		b := unlearn(t, name, small[name], in)
		same := sameWeights(a, b)
		switch {
		case readsForget[name] && same:
			t.Errorf("%s gave the same weights with a noise forget set: it does not read the forget set", name)
		case !readsForget[name] && !same:
			t.Errorf("%s gave other weights with a noise forget set: it reads the forget set", name)
		}
	}
}

func TestSeeds(t *testing.T) {
	w := getWorld(t)
	for _, name := range methods() {
		if name == "noop" || name == "ssd" {
			continue // deterministic by definition: nothing is drawn
		}
		a := unlearn(t, name, small[name], w.inputs(21))
		b := unlearn(t, name, small[name], w.inputs(21))
		c := unlearn(t, name, small[name], w.inputs(22))
		if !sameWeights(a, b) {
			t.Errorf("%s: the same seed gave two models", name)
		}
		if sameWeights(a, c) {
			t.Errorf("%s: seeds 21 and 22 gave the same model", name)
		}
	}
}

// TestForgetAccuracy: at the same budget (epochs and learning rate),
// neggrad and randlabel lower the forget set's accuracy more than
// finetune does.
func TestForgetAccuracy(t *testing.T) {
	w := getWorld(t)
	budget := map[string]any{"epochs": 2, "lr": 0.01}
	ft := accuracy(unlearn(t, "finetune", budget, w.inputs(3)), w.forget)
	ng := accuracy(unlearn(t, "neggrad", budget, w.inputs(3)), w.forget)
	rl := accuracy(unlearn(t, "randlabel", budget, w.inputs(3)), w.forget)
	t.Logf("forget accuracy: original %.3f, finetune %.3f, neggrad %.3f, randlabel %.3f", w.originalAccuracy, ft, ng, rl)
	if !(ng < ft) {
		t.Errorf("neggrad forget accuracy %.3f, want below finetune's %.3f", ng, ft)
	}
	if !(rl < ft) {
		t.Errorf("randlabel forget accuracy %.3f, want below finetune's %.3f", rl, ft)
	}
}

// TestRetrainIgnoresTheOriginalWeights: retrain from an original whose
// weights and statistics are replaced gives the same model, and it learns.
func TestRetrainIgnoresTheOriginalWeights(t *testing.T) {
	w := getWorld(t)
	a := unlearn(t, "retrain", nil, w.inputs(9))
	other := w.original.Clone()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range other.Params {
		for i, v := range other.Param(name) {
			other.Param(name)[i] = v + float32(rng.NormFloat64())
		}
	}
	in := w.inputs(9)
	in.Original = other
	b := unlearn(t, "retrain", nil, in)
	if !sameWeights(a, b) {
		t.Error("retrain depends on the original's weights")
	}
	if acc := accuracy(a, w.test); acc < 0.6 {
		t.Errorf("retrained test accuracy %.3f: want >= 0.6 (it did not learn)", acc)
	}
	// The zoo's MLP gets exactly the zoo's initialisation; a model of
	// another name gets the zoo's initialisers tensor by tensor: both
	// train, neither reads the original.
	imp := w.original.Clone()
	imp.Graph.Name = "imported"
	c := unlearn(t, "retrain", nil, &Inputs{Original: imp, Retain: w.retain, Recipe: w.recipe, Runtime: rt, Seed: 9})
	if acc := accuracy(c, w.test); acc < 0.6 {
		t.Errorf("retrained imported model: test accuracy %.3f, want >= 0.6", acc)
	}
}

func TestRetrainNeedsARecipe(t *testing.T) {
	w := getWorld(t)
	u, _, _ := New("retrain", nil)
	in := w.inputs(1)
	in.Recipe = nn.TrainConfig{}
	_, err := u.Unlearn(context.Background(), in)
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "method retrain") || !strings.Contains(err.Error(), "recipe") {
		t.Fatalf("retrain without a recipe: %v", err)
	}
}

func TestBadParameters(t *testing.T) {
	for _, c := range []struct {
		method string
		given  map[string]any
		want   []string
	}{
		{"nosuch", nil, []string{`unknown method "nosuch"`, "finetune"}},
		{"finetune", map[string]any{"lr": -0.1}, []string{"method finetune", "lr = -0.1", "want > 0"}},
		{"finetune", map[string]any{"learning_rate": 0.1}, []string{"method finetune", `"learning_rate"`}},
		{"finetune", map[string]any{"epochs": "ten"}, []string{"method finetune", "epochs = ten", "integer"}},
		{"finetune", map[string]any{"lr": math.NaN()}, []string{"method finetune", "lr = NaN", "finite"}},
		{"neggrad+", map[string]any{"alpha": 1.5}, []string{"method neggrad+", "alpha = 1.5", "[0, 1]"}},
		{"fisher", map[string]any{"exponent": 0.3}, []string{"method fisher", "exponent = 0.3", "0.5", "0.25"}},
		{"fisher", map[string]any{"estimator": "exact"}, []string{"method fisher", "estimator = exact"}},
	} {
		_, _, err := New(c.method, c.given)
		if err == nil {
			t.Errorf("%s %v: no error", c.method, c.given)
			continue
		}
		if !usererr.Is(err) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %v: %v is not a one-line user error", c.method, c.given, err)
		}
		for _, s := range c.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s %v: error %q does not say %q", c.method, c.given, err, s)
			}
		}
	}
}

// TestResolvedParametersWriteEveryDefault covers the methods of this
// package's tests (small); exec, with a required command, has its own.
func TestFractionParameters(t *testing.T) {
	_, p, err := New("fisher", map[string]any{"exponent": "1/4"})
	if err != nil || p.Float("exponent") != 0.25 {
		t.Fatalf("exponent 1/4: %v, %v", p, err)
	}
	if _, _, err := New("fisher", map[string]any{"exponent": "1/3"}); err == nil || !strings.Contains(err.Error(), "exponent = 1/3: want 0.5") {
		t.Errorf("exponent 1/3: %v", err)
	}
	if _, _, err := New("fisher", map[string]any{"exponent": "1/0"}); err == nil || !strings.Contains(err.Error(), "want a number") {
		t.Errorf("exponent 1/0: %v", err)
	}
}

func TestResolvedParametersWriteEveryDefault(t *testing.T) {
	for _, name := range methods() {
		s, _ := Lookup(name)
		_, p, err := New(name, nil)
		if err != nil {
			t.Fatalf("%s with its defaults: %v", name, err)
		}
		if len(p) != len(s.Params) {
			t.Errorf("%s: %d resolved parameters for %d declared", name, len(p), len(s.Params))
		}
		if s.Source == "" || s.Summary == "" {
			t.Errorf("%s: no source or summary", name)
		}
		for _, par := range s.Params {
			if par.Meaning == "" || par.Source == "" {
				t.Errorf("%s: parameter %s has no meaning or no source", name, par.Key)
			}
			if par.Check != nil {
				if err := par.Check(par.Default); err != nil {
					t.Errorf("%s: default %s = %v fails its own check: %v", name, par.Key, par.Default, err)
				}
			}
		}
	}
}

func TestEmptyForgetSet(t *testing.T) {
	w := getWorld(t)
	for _, name := range Names() {
		s, _ := Lookup(name)
		if !s.NeedsForget {
			continue
		}
		u, _, _ := New(name, small[name])
		in := w.inputs(1)
		in.Forget = &nn.Data{Shape: w.forget.Shape}
		_, err := u.Unlearn(context.Background(), in)
		if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "method "+name+":") || !strings.Contains(err.Error(), "forget set is empty") {
			t.Errorf("%s with an empty forget set: %v", name, err)
		}
	}
}

func TestCancelled(t *testing.T) {
	w := getWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, name := range []string{"finetune", "neggrad+", "randlabel", "retrain", "fisher", "scrub", "salun", "reinit"} {
		u, _, _ := New(name, small[name])
		if _, err := u.Unlearn(ctx, w.inputs(1)); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v", name, err)
		}
	}
}

// TestFinetunePull: a strong L2 pull toward the original keeps the weights
// closer to it than plain fine-tuning does.
func TestFinetunePull(t *testing.T) {
	w := getWorld(t)
	dist := func(m *nn.Model) float64 {
		var s float64
		for _, name := range m.Params {
			a, b := m.Param(name), w.original.Param(name)
			for i := range a {
				d := float64(a[i] - b[i])
				s += d * d
			}
		}
		return s
	}
	plain := dist(unlearn(t, "finetune", map[string]any{"epochs": 2, "weight_decay": 0.0}, w.inputs(4)))
	pulled := dist(unlearn(t, "finetune", map[string]any{"epochs": 2, "weight_decay": 0.0, "l2_pull": 10.0}, w.inputs(4)))
	if !(pulled < plain/2) {
		t.Errorf("squared distance to the original: %.4g with the pull, %.4g without; want less than half", pulled, plain)
	}
}

// TestForgetTermsOff: with its forget term switched off, a method that
// reads the forget set no longer depends on it (neggrad+ at alpha 1,
// scrub without max steps), so the dependence TestForgetSetDependence
// sees comes from the forget term.
func TestForgetTermsOff(t *testing.T) {
	w := getWorld(t)
	for _, c := range []struct {
		method string
		params map[string]any
	}{
		{"neggrad+", map[string]any{"epochs": 1, "alpha": 1.0}},
		{"scrub", map[string]any{"epochs": 1, "max_epochs": 0, "lr": 0.01}},
	} {
		a := unlearn(t, c.method, c.params, w.inputs(2))
		in := w.inputs(2)
		in.Forget = w.noiseForget
		if !sameWeights(a, unlearn(t, c.method, c.params, in)) {
			t.Errorf("%s %v depends on the forget set's images", c.method, c.params)
		}
	}
}

// TestSSDOnlyDampens: SSD selects nothing when alpha is huge, and
// otherwise only shrinks weights toward zero, never grows or flips them.
func TestSSDOnlyDampens(t *testing.T) {
	w := getWorld(t)
	if m := unlearn(t, "ssd", map[string]any{"alpha": 1e9}, w.inputs(1)); !sameWeights(m, w.original) {
		t.Error("ssd with alpha 1e9 changed weights")
	}
	m := unlearn(t, "ssd", map[string]any{"alpha": 1.5, "lambda": 0.5}, w.inputs(1))
	changed := 0
	for _, name := range m.Params {
		a, b := m.Param(name), w.original.Param(name)
		for i := range a {
			if a[i] == b[i] {
				continue
			}
			changed++
			if math.Abs(float64(a[i])) > math.Abs(float64(b[i])) || a[i]*b[i] < 0 {
				t.Fatalf("%s[%d]: %v became %v, not a dampening", name, i, b[i], a[i])
			}
		}
	}
	if changed == 0 {
		t.Error("ssd with alpha 1.5 dampened nothing")
	}
	t.Logf("ssd dampened %d weights", changed)
}

// TestRetrainInitialisesAZooModelAsTheZoo: an original saved to ONNX and
// imported again (as unlearn reads it) is re-initialised exactly as the
// zoo initialises its architecture for the seed, normalisation kept.
func TestRetrainInitialisesAZooModelAsTheZoo(t *testing.T) {
	w := getWorld(t)
	path := t.TempDir() + "/original.onnx"
	if err := w.original.Save(path); err != nil {
		t.Fatal(err)
	}
	imp, err := nn.Import(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := freshInit(imp, 5); err != nil {
		t.Fatal(err)
	}
	z, _ := nn.New(nn.ArchMLP, w.original.Shape, 10, 5)
	for _, name := range z.Params {
		if !slices.Equal(imp.Param(name), z.Param(name)) {
			t.Fatalf("%s is not the zoo's initialisation for seed 5", name)
		}
	}
	if imp.Graph.Inits["input.norm_mean"] == nil || !slices.Equal(imp.Graph.Inits["input.norm_mean"].F32, w.original.Graph.Inits["input.norm_mean"].F32) {
		t.Error("the input normalisation was not kept")
	}
}

// TestFreshInitReadsNothingOfTheOriginal: on a model with batch norm,
// zoo-named or not, the fresh initialisation does not depend on the
// weights or running statistics it replaces, and resets the statistics.
func TestFreshInitReadsNothingOfTheOriginal(t *testing.T) {
	for _, name := range []string{"cnn", "imported-cnn"} {
		a := nn.SmallCNN([]int64{1, 28, 28}, 10, 1)
		a.Graph.Name = name
		b := a.Clone()
		rng := rand.New(rand.NewPCG(7, 7))
		for _, p := range append(slices.Clone(b.Params), b.Buffers...) {
			for i := range b.Param(p) {
				b.Param(p)[i] = float32(rng.Float64() + 0.5)
			}
		}
		if err := freshInit(a, 3); err != nil {
			t.Fatal(err)
		}
		if err := freshInit(b, 3); err != nil {
			t.Fatal(err)
		}
		if !sameWeights(a, b) {
			t.Errorf("%s: the fresh initialisation depends on the weights it replaces", name)
		}
		for _, buf := range b.Buffers {
			want := float32(0)
			if strings.HasSuffix(buf, "running_var") {
				want = 1
			}
			for _, v := range b.Param(buf) {
				if v != want {
					t.Fatalf("%s: %s holds %v after the fresh initialisation, want %v", name, buf, v, want)
				}
			}
		}
	}
}

// TestStringParametersReadYAMLScalars: YAML reads `estimator: true` (or
// --param estimator=true) as a bool; a string parameter takes its text, and
// the parameter's own check still refuses what it does not list.
func TestStringParametersReadYAMLScalars(t *testing.T) {
	_, p, err := New("fisher", map[string]any{"estimator": true})
	if err != nil || p.String("estimator") != "true" {
		t.Fatalf("estimator true (a YAML bool): %v, %v", p, err)
	}
	_, _, err = New("fisher", map[string]any{"estimator": false})
	if err == nil || !strings.Contains(err.Error(), "estimator = false") {
		t.Errorf("estimator false (a YAML bool): %v, want a refusal naming the value", err)
	}
	_, _, err = New("fisher", map[string]any{"estimator": 1.5})
	if err == nil || !strings.Contains(err.Error(), "want a string") {
		t.Errorf("estimator 1.5: %v, want a refusal", err)
	}
}
