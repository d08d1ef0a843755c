package suite

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"unlearnbench/attack"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

// logits simulates n models on e examples of c classes: the true class's
// logit is difficulty[j] + shift[j] + sd * N(0, 1), the others N(0, 1).
func logits(rng *rand.Rand, n, e, c int, labels []int, difficulty, shift []float64, sd float64) *scoring.Logits {
	l := &scoring.Logits{N: n, E: e, C: c, F32: make([]float32, n*e*c)}
	for i := 0; i < n; i++ {
		for j := 0; j < e; j++ {
			row := l.F32[(i*e+j)*c : (i*e+j+1)*c]
			for k := range row {
				row[k] = float32(rng.NormFloat64())
			}
			s := 0.0
			if shift != nil {
				s = shift[j]
			}
			row[labels[j]] = float32(difficulty[j] + s + sd*rng.NormFloat64())
		}
	}
	return l
}

func set(rng *rand.Rand, e, c int, boost float64) ([]int, []float64) {
	labels, diff := make([]int, e), make([]float64, e)
	for j := range labels {
		labels[j] = rng.IntN(c)
		diff[j] = 2 + rng.NormFloat64() + boost
	}
	return labels, diff
}

// inputs builds a small method: the unlearned models keep part of the
// forget set (shift), and both populations have retain and test logits.
func inputs(t *testing.T, n, e int) *Inputs {
	t.Helper()
	rng := rand.New(rand.NewPCG(31, 0))
	const c = 4
	labels, diff := set(rng, e, c, 0)
	shift := make([]float64, e)
	for j := range shift {
		shift[j] = rng.ExpFloat64()
	}
	in := &Inputs{N: n, E: e, Labels: labels}
	in.Unlearned.Forget = logits(rng, n, e, c, labels, diff, shift, 0.9)
	in.Retrained.Forget = logits(rng, n, e, c, labels, diff, nil, 1.2)
	retLabels, retDiff := set(rng, 30, c, 1.5)
	testLabels, testDiff := set(rng, 30, c, 0)
	in.RetainLabels, in.TestLabels = retLabels, testLabels
	for _, p := range []*Population{&in.Unlearned, &in.Retrained} {
		p.Retain = logits(rng, n, 30, c, retLabels, retDiff, nil, 1)
		p.Test = logits(rng, n, 30, c, testLabels, testDiff, nil, 1)
		var err error
		if p.Conf, err = p.Forget.Confidences(labels); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

func names(res []result.AttackResult) []string {
	var out []string
	for _, r := range res {
		out = append(out, r.Name)
	}
	return out
}

func byName(t *testing.T, res []result.AttackResult, name string) result.AttackResult {
	t.Helper()
	for _, r := range res {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s among %v", name, names(res))
	return result.AttackResult{}
}

func TestRunEverything(t *testing.T) {
	in := inputs(t, 20, 12)
	in.In = in.Unlearned.Conf // any M x E population will do for "in"
	in.M = in.N
	res, err := Run(context.Background(), in, Options{PerExample: attack.ClassifierNames, Pooled: attack.ClassifierNames, Classifier: attack.ClassifierOptions{Trees: 4}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"decision-rules",
		"logreg/per-example", "svm/per-example", "knn/per-example", "rf/per-example",
		"logreg/pooled", "svm/pooled", "knn/pooled", "rf/pooled",
		"lira/offline/per-example-var", "lira/offline/fixed-var", "lira/offline-2s/per-example-var", "lira/offline-2s/fixed-var",
		"lira/online/per-example-var", "lira/online/fixed-var",
		"simple-mia", "simple-mia/retrained", "mia-efficacy", "mia-efficacy/retrained", "kl", "js",
		"klom/forget", "klom/retain", "klom/test", "tow", "tow-mia"}
	if got := names(res); !slices.Equal(got, want) {
		t.Fatalf("attacks %v\nwant %v", got, want)
	}
	for _, r := range res {
		if r.Skipped != "" {
			t.Errorf("%s skipped: %s", r.Name, r.Skipped)
			continue
		}
		switch r.Kind {
		case KindDecisionRules, KindPerExample, KindPooled, KindLiRA:
			if r.AUC == nil || r.F == nil || len(r.Epsilons) != in.E || len(r.TPRAtFPR) != 3 || r.Advantage == nil || r.BalancedAccuracy == nil {
				t.Errorf("%s: incomplete %+v", r.Name, r)
				continue
			}
			// Every per-example attack's epsilons reach F through the
			// competition's points.
			if f, _, _ := scoring.ForgettingQuality(r.Epsilons, in.N); f != *r.F {
				t.Errorf("%s: F %v, points of its epsilons give %v", r.Name, *r.F, f)
			}
		case KindSingleModel:
			if r.Value == nil || r.Spread == nil || len(r.PerModel) != in.N {
				t.Errorf("%s: incomplete %+v", r.Name, r)
			}
		case KindDivergence:
			if r.Value == nil || len(r.PerExample) != in.E {
				t.Errorf("%s: incomplete %+v", r.Name, r)
			}
		case KindKLoM:
			want := map[string]int{"klom/forget": in.E, "klom/retain": 30, "klom/test": 30}[r.Name]
			if r.Value == nil || r.Median == nil || r.P95 == nil || len(r.PerExample) != want || !(*r.P95 >= *r.Median) {
				t.Errorf("%s: incomplete %+v", r.Name, r)
			}
		case KindToW:
			if r.Value == nil || r.CILow == nil || r.CIHigh == nil || len(r.PerModel) != in.N || !(*r.CILow <= *r.Value && *r.Value <= *r.CIHigh) {
				t.Errorf("%s: incomplete %+v", r.Name, r)
			}
		}
		if r.Kind == KindPerExample || r.Kind == KindPooled {
			if len(r.Features) != 7 {
				t.Errorf("%s: features %v", r.Name, r.Features)
			}
		}
	}
	dr := byName(t, res, "decision-rules")
	for e, ex := range in.Score.Examples {
		if dr.Epsilons[e] != ex.Epsilon {
			t.Fatalf("decision rules: example %d epsilon %v, score %v", e, dr.Epsilons[e], ex.Epsilon)
		}
	}
	if *dr.F != in.Score.F {
		t.Errorf("decision rules F %v, score F %v", *dr.F, in.Score.F)
	}
	// The unlearned models kept part of the forget set: the simple MIA
	// tells their forget set from the test set better than it does the
	// retrained models'.
	if u, r := byName(t, res, "simple-mia"), byName(t, res, "simple-mia/retrained"); *u.Value <= *r.Value {
		t.Errorf("simple MIA: unlearned %.3f, retrained %.3f", *u.Value, *r.Value)
	}
}

func TestRunIsDeterministic(t *testing.T) {
	in := inputs(t, 12, 8)
	opt := Options{Seed: 5, Pooled: []string{"logreg", "rf"}, Classifier: attack.ClassifierOptions{Trees: 3}}
	a, err := Run(context.Background(), in, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.Workers = 1
	b, err := Run(context.Background(), in, opt)
	if err != nil {
		t.Fatal(err)
	}
	for k := range a {
		if !reflect.DeepEqual(a[k], b[k]) {
			t.Errorf("%s: the same inputs and seed gave different results with 1 worker:\n%+v\n%+v", a[k].Name, a[k], b[k])
		}
	}
	opt.Seed = 6
	c, _ := Run(context.Background(), in, opt)
	if reflect.DeepEqual(a, c) {
		t.Fatal("the seed changes nothing")
	}
}

func TestRunConfidencesOnly(t *testing.T) {
	full := inputs(t, 12, 8)
	in := &Inputs{N: full.N, E: full.E,
		Unlearned: Population{Conf: full.Unlearned.Conf}, Retrained: Population{Conf: full.Retrained.Conf}}
	res, err := Run(context.Background(), in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	skipped := map[string]string{}
	for _, r := range res {
		if r.Skipped != "" {
			skipped[r.Name] = r.Skipped
			continue
		}
		if r.Kind == KindPerExample || r.Kind == KindPooled {
			if !slices.Equal(r.Features, []string{"conf"}) || !slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.HasPrefix(w, "confidences only") }) {
				t.Errorf("%s: features %v, warnings %q", r.Name, r.Features, r.Warnings)
			}
		}
	}
	for name, need := range map[string]string{
		"simple-mia": "test set's logits", "mia-efficacy/retrained": "retain and test sets' logits",
		"kl": "logits", "js": "logits", "lira/online/fixed-var": "--original",
		"klom/retain": "logits on the retain set", "klom/test": "--test-labels",
		"tow":     "missing: unlearned forget, unlearned retain, unlearned test, retrained forget,",
		"tow-mia": "it did not run (simple-mia: needs the test set's logits",
	} {
		if !strings.Contains(skipped[name], need) {
			t.Errorf("%s: skipped %q, want it to say it needs %s", name, skipped[name], need)
		}
	}
	if len(skipped) != 12 {
		t.Errorf("skipped %v", skipped)
	}
	// KLoM on the forget set runs on the confidences, which are the margins.
	k := byName(t, res, "klom/forget")
	if k.Value == nil || len(k.PerExample) != in.E || !strings.HasPrefix(k.Warnings[0], "margins from the competition's confidences") {
		t.Errorf("klom/forget from confidences: %+v", k)
	}
	withLogits, err := Run(context.Background(), full, Options{PerExample: []string{"none"}, Pooled: []string{"none"}})
	if err != nil {
		t.Fatal(err)
	}
	kl := byName(t, withLogits, "klom/forget")
	for j := range kl.PerExample {
		if math.Abs(kl.PerExample[j]-k.PerExample[j]) > 1e-9 {
			t.Errorf("example %d: KLoM %v from logits, %v from confidences", j, kl.PerExample[j], k.PerExample[j])
		}
	}
}

func TestRunBadOptions(t *testing.T) {
	in := inputs(t, 4, 3)
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{Folds: 5}, "5 folds but N = 4"},
		{Options{Folds: 1}, "at least 2"},
		{Options{Folds: 2, PerExample: []string{"bogus"}}, `unknown classifier "bogus"`},
		{Options{Folds: 2, Features: []string{"loss", "nope"}}, `unknown feature "nope"`},
	} {
		_, err := Run(context.Background(), in, c.opt)
		if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c.opt, err)
		}
	}
}

func TestRunUndeterminedExamplesGetWarnings(t *testing.T) {
	// An example where every model of both populations has the same
	// features: no rule keeps both error rates above 0, so the example's
	// epsilon is 0 with a warning, not a failure or a NaN.
	in := inputs(t, 10, 4)
	for i := 0; i < in.N; i++ {
		for _, p := range []*Population{&in.Unlearned, &in.Retrained} {
			row := p.Forget.F32[(i*in.E+1)*p.Forget.C : (i*in.E+2)*p.Forget.C]
			for k := range row {
				row[k] = float32(k)
			}
			p.Conf[i*in.E+1] = -1
		}
		in.Unlearned.Conf[i*in.E+1] = -1 + float64(i%2)*1e-3 // keeps the score's rules alive
	}
	res, err := Run(context.Background(), in, Options{PerExample: []string{"logreg"}, Pooled: []string{"none"}})
	if err != nil {
		t.Fatal(err)
	}
	lr := byName(t, res, "logreg/per-example")
	if lr.Skipped != "" || lr.Epsilons[1] != 0 || !slices.ContainsFunc(lr.Warnings, func(w string) bool {
		return strings.Contains(w, "every rule discarded") && strings.Contains(w, "first: 1")
	}) {
		t.Fatalf("%+v", lr)
	}
	for _, v := range lr.Epsilons {
		if math.IsNaN(v) {
			t.Fatal("NaN epsilon")
		}
	}
	// Strict: the competition's behaviour; the attack fails on the example.
	res, err = Run(context.Background(), in, Options{PerExample: []string{"logreg"}, Pooled: []string{"none"}, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if lr := byName(t, res, "logreg/per-example"); !strings.Contains(lr.Skipped, "forget example 1: every decision rule was discarded") {
		t.Fatalf("strict: %+v", lr)
	}
}

func TestRunKLoMToWIdenticalPopulations(t *testing.T) {
	// Both populations the very same models: KLoM is 0 on every example of
	// every set, and every pair's ToW and ToW-MIA is 1 (the simple MIA
	// draws model i's splits from the same stream in both populations).
	in := inputs(t, 10, 6)
	in.Retrained = in.Unlearned
	res, err := Run(context.Background(), in, Options{PerExample: []string{"none"}, Pooled: []string{"none"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"klom/forget", "klom/retain", "klom/test"} {
		r := byName(t, res, name)
		if r.Skipped != "" || *r.Value != 0 || *r.P95 != 0 || len(r.Undefined) != 0 {
			t.Errorf("%s: %+v, want 0", name, r)
		}
	}
	for _, name := range []string{"tow", "tow-mia"} {
		r := byName(t, res, name)
		if r.Skipped != "" || *r.Value != 1 || *r.CILow != 1 || *r.CIHigh != 1 {
			t.Errorf("%s: %+v, want 1", name, r)
		}
	}
}

func TestRunToWOfGivenAccuracies(t *testing.T) {
	// Hand-made accuracies: pair i's ToW is the product of 1 - |gap| over
	// the three sets, the row's value their mean with its t interval.
	in := inputs(t, 4, 12)
	in.Unlearned.ForgetAcc = []float64{0.8, 0.9, 1, 0.7}
	in.Unlearned.RetainAcc = []float64{0.95, 0.97, 0.99, 0.9}
	in.Unlearned.TestAcc = []float64{0.85, 0.86, 0.84, 0.8}
	in.Retrained.ForgetAcc = []float64{0.7, 0.72, 0.74, 0.7}
	in.Retrained.RetainAcc = []float64{0.96, 0.96, 0.96, 0.96}
	in.Retrained.TestAcc = []float64{0.86, 0.86, 0.86, 0.86}
	res, err := Run(context.Background(), in, Options{PerExample: []string{"none"}, Pooled: []string{"none"}, Folds: 2})
	if err != nil {
		t.Fatal(err)
	}
	r := byName(t, res, "tow")
	want := []float64{0.9 * 0.99 * 0.99, 0.82 * 0.99 * 1, 0.74 * 0.97 * 0.98, 1 * 0.94 * 0.94}
	for i, w := range want {
		if math.Abs(r.PerModel[i]-w) > 1e-12 {
			t.Errorf("pair %d: ToW %v, want %v", i, r.PerModel[i], w)
		}
	}
	m, lo, hi, _ := attack.TInterval(want, 0.95)
	if math.Abs(*r.Value-m) > 1e-12 || math.Abs(*r.CILow-lo) > 1e-12 || math.Abs(*r.CIHigh-hi) > 1e-12 {
		t.Errorf("ToW %v [%v, %v], want %v [%v, %v]", *r.Value, *r.CILow, *r.CIHigh, m, lo, hi)
	}
	// ToW-MIA: the simple MIA's accuracies in the forget term.
	mu, mr := byName(t, res, "simple-mia").PerModel, byName(t, res, "simple-mia/retrained").PerModel
	tm := byName(t, res, "tow-mia")
	for i := range want {
		w := (1 - math.Abs(mu[i]-mr[i])) * want[i] / (1 - math.Abs(in.Unlearned.ForgetAcc[i]-in.Retrained.ForgetAcc[i]))
		if math.Abs(tm.PerModel[i]-w) > 1e-12 {
			t.Errorf("pair %d: ToW-MIA %v, want %v", i, tm.PerModel[i], w)
		}
	}

	// Accuracies of another population size, or as percentages, fail in
	// one line; the other attacks still run.
	in.Retrained.TestAcc = []float64{0.86, 0.86, 0.86}
	res, err = Run(context.Background(), in, Options{PerExample: []string{"none"}, Pooled: []string{"none"}, Folds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r := byName(t, res, "tow"); !strings.Contains(r.Skipped, "3 retrained test-set accuracies for N = 4 models") {
		t.Errorf("short accuracies: %q", r.Skipped)
	}
	in.Retrained.TestAcc = []float64{86, 86, 86, 86}
	res, _ = Run(context.Background(), in, Options{PerExample: []string{"none"}, Pooled: []string{"none"}, Folds: 2})
	if r := byName(t, res, "tow"); !strings.Contains(r.Skipped, "model pair 0: ToW: retrained test accuracy is 86; want a fraction in [0, 1]") {
		t.Errorf("percentages: %q", r.Skipped)
	}
}

func TestRunKLoMOptions(t *testing.T) {
	// The options reach KLoM: the other direction and the corrected
	// binning change the values and say so.
	in := inputs(t, 10, 6)
	base, _ := Run(context.Background(), in, Options{PerExample: []string{"none"}, Pooled: []string{"none"}})
	for _, o := range []attack.KLoMOptions{{UnlearnedFirst: true}, {Corrected: true}} {
		res, err := Run(context.Background(), in, Options{PerExample: []string{"none"}, Pooled: []string{"none"}, KLoM: o})
		if err != nil {
			t.Fatal(err)
		}
		a, b := byName(t, base, "klom/forget"), byName(t, res, "klom/forget")
		if slices.Equal(a.PerExample, b.PerExample) || b.ValueName != "binned-margin "+o.Direction()+" mean" {
			t.Errorf("%+v: the same values %v, value name %q", o, b.PerExample, b.ValueName)
		}
		if o.Corrected && !slices.ContainsFunc(b.Warnings, func(w string) bool { return strings.HasPrefix(w, "corrected binning") }) {
			t.Errorf("corrected: warnings %q", b.Warnings)
		}
	}
}

func TestRunKLoMToWBadInput(t *testing.T) {
	none := Options{PerExample: []string{"none"}, Pooled: []string{"none"}}
	// Retain logits without their labels: KLoM and ToW on the retain set
	// say what they need.
	in := inputs(t, 10, 6)
	in.RetainLabels = nil
	res, err := Run(context.Background(), in, none)
	if err != nil {
		t.Fatal(err)
	}
	if r := byName(t, res, "klom/retain"); !strings.Contains(r.Skipped, "its labels (--unlearned-retain, --retrained-retain, --retain-labels") {
		t.Errorf("retain logits without labels: %q", r.Skipped)
	}
	if r := byName(t, res, "tow"); !strings.HasSuffix(r.Skipped, "missing: unlearned retain, retrained retain") {
		t.Errorf("ToW without retain labels: %q", r.Skipped)
	}
	// A single class: no margin.
	in = inputs(t, 10, 6)
	for _, p := range []*Population{&in.Unlearned, &in.Retrained} {
		p.Test = &scoring.Logits{N: 10, E: 30, C: 1, F32: make([]float32, 300)}
	}
	for i := range in.TestLabels {
		in.TestLabels[i] = 0
	}
	res, _ = Run(context.Background(), in, none)
	if r := byName(t, res, "klom/test"); r.Skipped != "failed: test set: margins: logits of 1 class; the margin needs at least 2 classes" {
		t.Errorf("one class: %q", r.Skipped)
	}
	// Populations of different sizes on the retain set: KLoM compares the
	// two histograms whatever their sizes; ToW pairs models and refuses.
	in = inputs(t, 10, 6)
	l := in.Retrained.Retain
	in.Retrained.Retain = &scoring.Logits{N: 9, E: l.E, C: l.C, F32: l.F32[:9*l.E*l.C]}
	res, _ = Run(context.Background(), in, none)
	if r := byName(t, res, "klom/retain"); r.Skipped != "" || len(r.PerExample) != 30 {
		t.Errorf("KLoM of 10 against 9 models: %+v", r)
	}
	if r := byName(t, res, "tow"); r.Skipped != "failed: the retrained population's retain-set logits hold 9 models, not N = 10" {
		t.Errorf("ToW of 10 against 9 models: %q", r.Skipped)
	}
	if r := byName(t, res, "mia-efficacy/retrained"); r.Skipped != "failed: the retrained population's retain-set logits hold 9 models, not N = 10" {
		t.Errorf("MIA-efficacy of 10 against 9 models: %q", r.Skipped)
	}
	// NaN logits fail in one line naming where.
	in = inputs(t, 10, 6)
	in.Unlearned.Test.F32[5] = float32(math.NaN())
	res, _ = Run(context.Background(), in, none)
	if r := byName(t, res, "klom/test"); !strings.HasPrefix(r.Skipped, "failed: test set: margins: model 0, example 1, class 1: logit is NaN") {
		t.Errorf("NaN logit: %q", r.Skipped)
	}
}
