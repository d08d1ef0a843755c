package attack_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"

	"unlearnbench/attack"
	"unlearnbench/scoring"
)

var stdNormal = distuv.Normal{Mu: 0, Sigma: 1}

// aucSE is Hanley and McNeil's (1982) standard error of an AUC a measured
// on n1 positives and n2 negatives.
func aucSE(a float64, n1, n2 int) float64 {
	q1, q2 := a/(2-a), 2*a*a/(1+a)
	v := (a*(1-a) + float64(n1-1)*(q1-a*a) + float64(n2-1)*(q2-a*a)) / float64(n1*n2)
	return math.Sqrt(v)
}

func normals(rng *rand.Rand, n int, mu float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = mu + rng.NormFloat64()
	}
	return v
}

func TestGaussianAUC(t *testing.T) {
	// Two unit Gaussians d apart: AUC = Phi(d / sqrt 2), advantage =
	// 2 Phi(d / 2) - 1, within the sampling error of n = 2000 per side.
	rng := rand.New(rand.NewPCG(11, 0))
	const n = 2000
	for _, d := range []float64{0, 0.5, 1, 2} {
		m, err := attack.ScoreMetrics(normals(rng, n, d), normals(rng, n, 0))
		if err != nil {
			t.Fatal(err)
		}
		want := stdNormal.CDF(d / math.Sqrt2)
		if se := aucSE(want, n, n); math.Abs(m.AUC-want) > 4*se {
			t.Errorf("d = %g: AUC %.4f, want %.4f +- %.4f", d, m.AUC, want, 4*se)
		}
		// The advantage's error is that of two empirical CDFs (~ 1/sqrt n),
		// plus the upward bias of a maximum over thresholds.
		if wantAdv := 2*stdNormal.CDF(d/2) - 1; math.Abs(m.Advantage-wantAdv) > 0.05 {
			t.Errorf("d = %g: advantage %.4f, want %.4f", d, m.Advantage, wantAdv)
		}
		if m.ROC[0].FPR != 0 || m.ROC[0].TPR != 0 || m.ROC[len(m.ROC)-1].FPR != 1 || m.ROC[len(m.ROC)-1].TPR != 1 {
			t.Errorf("d = %g: ROC runs from %+v to %+v", d, m.ROC[0], m.ROC[len(m.ROC)-1])
		}
	}
}

func TestClassifierAttacksGaussianAUC(t *testing.T) {
	// The held-out scores of classifiers cross-validated on one Gaussian
	// feature d apart: linear models rank like the feature itself, so their
	// AUC is Phi(d / sqrt 2); kNN reports decisions only, so its AUC is its
	// balanced accuracy, at most Phi(d / 2) (the Bayes rule's); the forest
	// ranks coarser than the feature.
	rng := rand.New(rand.NewPCG(12, 0))
	const n = 600
	for _, d := range []float64{0.5, 1.5} {
		pos := attack.Sample{X: normals(rng, n, d), D: 1}
		neg := attack.Sample{X: normals(rng, n, 0), D: 1}
		want := stdNormal.CDF(d / math.Sqrt2)
		se := aucSE(want, n, n)
		for _, name := range attack.ClassifierNames {
			c, _ := attack.NewClassifier(name, attack.ClassifierOptions{Neighbours: 51})
			o, err := (&attack.CrossValidated{Classifier: c, Folds: 5, Seed: 1}).Run(pos, neg)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			m, err := o.Metrics()
			if err != nil {
				t.Fatal(err)
			}
			switch name {
			case attack.NameLogReg, attack.NameSVM:
				if math.Abs(m.AUC-want) > 4*se {
					t.Errorf("%s, d = %g: AUC %.4f, want %.4f +- %.4f", name, d, m.AUC, want, 4*se)
				}
			case attack.NameKNN:
				bayes := stdNormal.CDF(d / 2)
				if m.AUC > bayes+4*se || m.AUC < bayes-0.06 {
					t.Errorf("knn, d = %g: AUC %.4f, want near the Bayes balanced accuracy %.4f", d, m.AUC, bayes)
				}
			case attack.NameForest:
				if m.AUC > want+4*se || m.AUC < want-0.06 {
					t.Errorf("rf, d = %g: AUC %.4f, want a little under %.4f", d, m.AUC, want)
				}
			}
			if got := o.Decision.NPos() + o.Decision.NNeg(); got != 2*n {
				t.Errorf("%s: %d held-out decisions for %d rows", name, got, 2*n)
			}
		}
	}
}

// population draws n models' features on e examples: feature f of model i
// on example j is centre[j][f] + shift[f] + N(0, 1).
func population(rng *rand.Rand, n, e int, centre [][]float64, shift []float64, names []string) *attack.FeatureSet {
	d := len(names)
	fs := &attack.FeatureSet{N: n, E: e, Names: names, X: make([]float64, n*e*d)}
	for i := 0; i < n; i++ {
		for j := 0; j < e; j++ {
			row := fs.Row(i, j)
			for f := range row {
				row[f] = centre[j][f] + shift[f] + rng.NormFloat64()
			}
		}
	}
	return fs
}

func centres(rng *rand.Rand, e, d int) [][]float64 {
	c := make([][]float64, e)
	for j := range c {
		c[j] = make([]float64, d)
		for f := range c[j] {
			c[j][f] = 3 * rng.NormFloat64()
		}
	}
	return c
}

// epsilons scores per-example outcomes through the competition's epsilon
// table and points, as package suite does.
func epsilons(t *testing.T, outcomes []*attack.Outcome, n int) ([]float64, float64) {
	t.Helper()
	table := scoring.NewEpsilonTable(n, n, scoring.Delta)
	eps := make([]float64, len(outcomes))
	for e, o := range outcomes {
		ep, err := scoring.ExampleEpsilon(o.Rules, table)
		if err != nil {
			t.Fatalf("example %d: %v", e, err)
		}
		eps[e] = float64(ep.Value)
	}
	f, _, _ := scoring.ForgettingQuality(eps, n)
	return eps, f
}

func meanAUC(t *testing.T, outcomes []*attack.Outcome) float64 {
	t.Helper()
	s := 0.0
	for _, o := range outcomes {
		m, err := o.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		s += m.AUC
	}
	return s / float64(len(outcomes))
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

var names3 = []string{"conf", "entropy", "margin"}

func perExample(t *testing.T, c attack.Classifier, u, r *attack.FeatureSet) []*attack.Outcome {
	t.Helper()
	out, err := attack.PerExample(u, r, func(e int) attack.Attack {
		return &attack.CrossValidated{Classifier: c, Folds: 5, Seed: 7, Stream: uint64(e), Features: u.Names}
	}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func confOnly(fs *attack.FeatureSet) *attack.FeatureSet {
	c, err := fs.Select([]string{"conf"})
	if err != nil {
		panic(err)
	}
	return c
}

func decisionRules(t *testing.T, u, r *attack.FeatureSet) []*attack.Outcome {
	t.Helper()
	out, err := attack.PerExample(confOnly(u), confOnly(r), func(int) attack.Attack { return attack.DecisionRules{} }, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// nullLevel is the mean epsilon of an attack on two populations drawn from
// one distribution. The competition's estimator takes the largest epsilon
// over all thresholds, and thresholds in the tails compare counts of a few
// models (3 of N against 1 of N gives ln 3), so even identically
// distributed populations show epsilons around 1 to 2 whatever N is; an
// attack "finds nothing" when its epsilons stay at this level.
func nullLevel(t *testing.T, run func(u, r *attack.FeatureSet) []*attack.Outcome, n, e int, seed uint64) float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	c := centres(rng, e, 3)
	zero := []float64{0, 0, 0}
	eps, _ := epsilons(t, run(population(rng, n, e, c, zero, names3), population(rng, n, e, c, zero, names3)), n)
	return mean(eps)
}

func TestIdenticalPopulations(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 0))
	const n, e = 64, 40
	c := centres(rng, e, 3)
	zero := []float64{0, 0, 0}
	u := population(rng, n, e, c, zero, names3)

	// The same values in both populations: every threshold rule has
	// FPR = TPR, so every example is in the first bucket (metric.md).
	same := &attack.FeatureSet{N: n, E: e, Names: u.Names, X: append([]float64(nil), u.X...)}
	rules := decisionRules(t, u, same)
	if eps, f := epsilons(t, rules, n); slicesMax(eps) >= 0.5 || f != 1 {
		t.Errorf("decision rules on identical values: largest epsilon %.3f, F = %.3f; want every example in the first bucket", slicesMax(eps), f)
	}

	// Independent draws from one distribution: AUC 0.5 within sampling
	// error, and epsilons at the null level, well below those of a real
	// difference (TestPlantedFeature...).
	r := population(rng, n, e, c, zero, names3)
	se := aucSE(0.5, n, n) / math.Sqrt(e) // of a mean over e independent examples
	for _, cl := range []attack.Classifier{attack.LogisticRegression(), attack.LinearSVM()} {
		out := perExample(t, cl, u, r)
		if auc := meanAUC(t, out); math.Abs(auc-0.5) > 4*se {
			t.Errorf("%s: mean AUC %.4f, want 0.5 +- %.4f", cl.Name(), auc, 4*se)
		}
		eps, f := epsilons(t, out, n)
		if m := mean(eps); m > 1.2 || f < 0.3 {
			t.Errorf("%s: mean epsilon %.3f, F = %.3f on identically distributed populations", cl.Name(), m, f)
		}
	}
	if auc := meanAUC(t, decisionRules(t, u, r)); math.Abs(auc-0.5) > 4*se+0.03 {
		t.Errorf("decision rules: mean AUC %.4f", auc)
	}
}

func slicesMax(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func TestPlantedFeatureFoundByClassifiersMissedByThresholds(t *testing.T) {
	// The populations differ in the entropy only (by 2 standard
	// deviations); the confidence is distributed identically. Classifiers
	// on all features find it; the competition's thresholds on the
	// confidence cannot.
	rng := rand.New(rand.NewPCG(14, 0))
	const n, e = 64, 30
	c := centres(rng, e, 3)
	u := population(rng, n, e, c, []float64{0, 2, 0}, names3)
	r := population(rng, n, e, c, []float64{0, 0, 0}, names3)
	want := stdNormal.CDF(2 / math.Sqrt2) // 0.921
	lrNull := nullLevel(t, func(u, r *attack.FeatureSet) []*attack.Outcome {
		return perExample(t, attack.LogisticRegression(), u, r)
	}, n, e, 99)
	for _, cl := range []attack.Classifier{attack.LogisticRegression(), attack.LinearSVM(), attack.NewForest(10, 0)} {
		out := perExample(t, cl, u, r)
		tol := 0.04
		if cl.Name() == attack.NameForest {
			tol = 0.1 // shallow golearn ID3 trees on ~100 rows rank coarsely
		}
		if auc := meanAUC(t, out); auc < want-tol {
			t.Errorf("%s: mean AUC %.4f, want about %.4f", cl.Name(), auc, want)
		}
		if eps, _ := epsilons(t, out, n); mean(eps) < lrNull+1 {
			t.Errorf("%s: mean epsilon %.3f, hardly above the null level %.3f", cl.Name(), mean(eps), lrNull)
		}
	}
	knn := perExample(t, attack.NewKNN(9), u, r)
	if auc := meanAUC(t, knn); auc < stdNormal.CDF(1)-0.07 {
		t.Errorf("knn: mean AUC %.4f, want about %.4f", auc, stdNormal.CDF(1))
	}
	pooled, err := (&attack.Pooled{Classifier: attack.LogisticRegression(), Folds: 5, Seed: 3}).Run(u, r)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := pooled.All.Metrics(); m.AUC < want-0.04 {
		t.Errorf("pooled logreg: AUC %.4f, want about %.4f", m.AUC, want)
	}
	if eps, _ := epsilons(t, pooled.Examples, n); mean(eps) < lrNull+1 {
		t.Errorf("pooled logreg: mean epsilon %.3f, hardly above the null level %.3f", mean(eps), lrNull)
	}

	rules := decisionRules(t, u, r)
	se := aucSE(0.5, n, n) / math.Sqrt(e)
	// The rules orient each example by its medians, which pushes the mean
	// AUC of pure noise a little above 0.5.
	if auc := meanAUC(t, rules); math.Abs(auc-0.5) > 4*se+0.03 {
		t.Errorf("decision rules on conf: mean AUC %.4f, want about 0.5", auc)
	}
	rulesNull := nullLevel(t, func(u, r *attack.FeatureSet) []*attack.Outcome { return decisionRules(t, u, r) }, n, e, 98)
	if eps, _ := epsilons(t, rules, n); math.Abs(mean(eps)-rulesNull) > 0.3 {
		t.Errorf("decision rules on conf: mean epsilon %.3f, want the null level %.3f: the confidence carries no difference", mean(eps), rulesNull)
	}
}

func TestLiRAGaussians(t *testing.T) {
	// Per example, retrained confidences ~ N(mu_e, 1), unlearned ones
	// N(mu_e + d, 1): LiRA's scores are monotone in the confidence within
	// an example and comparable across examples, so the pooled AUC is
	// Phi(d / sqrt 2) up to the noise of fitting mu and sigma on N - 1
	// models.
	rng := rand.New(rand.NewPCG(15, 0))
	const n, e, d = 128, 60, 1.0
	u, r, in := make([]float64, n*e), make([]float64, n*e), make([]float64, n*e)
	for j := 0; j < e; j++ {
		mu := 4 * rng.NormFloat64()
		for i := 0; i < n; i++ {
			u[i*e+j] = mu + d + rng.NormFloat64()
			r[i*e+j] = mu + rng.NormFloat64()
			in[i*e+j] = mu + d + rng.NormFloat64()
		}
	}
	want := stdNormal.CDF(d / math.Sqrt2)
	se := aucSE(want, n*e, n*e)
	for _, l := range []attack.LiRA{{}, {FixedVariance: true}, {Online: true}, {Online: true, FixedVariance: true}} {
		pos, neg, err := l.Scores(u, r, n, e, in, n)
		if err != nil {
			t.Fatal(err)
		}
		m, err := attack.ScoreMetrics(pos, neg)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(m.AUC-want) > 4*se+0.01 {
			t.Errorf("%s: AUC %.4f, want %.4f", l.Name(), m.AUC, want)
		}
	}
	// Two-sided: a shift of d is found from either side.
	pos, neg, err := attack.LiRA{TwoSided: true}.Scores(r, u, n, e, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := attack.ScoreMetrics(pos, neg); m.AUC < 0.6 {
		t.Errorf("two-sided LiRA on a downward shift: AUC %.4f", m.AUC)
	}
	if _, _, err := (attack.LiRA{Online: true}).Scores(u, r, n, e, nil, 0); err == nil || !strings.Contains(err.Error(), "in") {
		t.Errorf("online LiRA without an in population: %v", err)
	}
}

func TestSimpleMIAKnownAccuracy(t *testing.T) {
	// Forget losses N(0, 1), test losses N(d, 1) (members have lower
	// loss): the best threshold's accuracy on balanced samples is
	// Phi(d / 2).
	rng := rand.New(rand.NewPCG(16, 0))
	for _, d := range []float64{0, 1.5} {
		acc, o, err := attack.SimpleMIA{Seed: 1}.Run(normals(rng, 800, 0), normals(rng, 1000, d))
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Splits) != 10 || o.Splits[0].NPos() != 80 || o.Splits[0].NNeg() != 80 {
			t.Fatalf("splits %+v", o.Splits[0])
		}
		// 10 splits of 160 held-out rows overlap; their mean varies
		// about as one split of 500 would.
		if want := stdNormal.CDF(d / 2); math.Abs(acc-want) > 0.06 {
			t.Errorf("d = %g: mean accuracy %.4f, want %.4f", d, acc, want)
		}
	}
}

func TestMIAEfficacyKnownFraction(t *testing.T) {
	// Retain N(2, 1) members, test N(0, 1) non-members: the threshold
	// falls near 1, so a forget set like the test set is called
	// non-member with probability Phi(1), one like the retain set with
	// 1 - Phi(1).
	rng := rand.New(rand.NewPCG(17, 0))
	retain, test := normals(rng, 3000, 2), normals(rng, 1000, 0)
	for _, c := range []struct {
		forget []float64
		want   float64
	}{{normals(rng, 2000, 0), stdNormal.CDF(1)}, {normals(rng, 2000, 2), 1 - stdNormal.CDF(1)}} {
		got, _, err := attack.MIAEfficacy{Classifier: attack.LinearSVM(), Seed: 2}.Run(retain, test, c.forget)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-c.want) > 0.04 {
			t.Errorf("fraction called non-member %.4f, want %.4f", got, c.want)
		}
	}
}
