package attack

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat"
)

func TestScoreRulesCountsByBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 0))
	for trial := 0; trial < 20; trial++ {
		// Few distinct values, so that ties between and within the
		// samples are common.
		draw := func(n int) []float64 {
			v := make([]float64, n)
			for i := range v {
				v[i] = float64(rng.IntN(8))
			}
			return v
		}
		pos, neg := draw(1+rng.IntN(30)), draw(1+rng.IntN(30))
		rs, err := NewScoreRules("x", pos, neg)
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		rs.Each(func(i, fp, fn int) bool {
			r := rs.Rule(i)
			wantFP, wantFN := 0, 0
			for _, v := range neg {
				if v >= r.Lower {
					wantFP++
				}
			}
			for _, v := range pos {
				if v < r.Lower {
					wantFN++
				}
			}
			if fp != wantFP || fn != wantFN || r.Counts.FP != fp || r.Counts.FN != fn || r.Counts.NPos() != len(pos) || r.Counts.NNeg() != len(neg) {
				t.Fatalf("rule %d (>= %g): each gives fp %d fn %d, rule %+v, brute force fp %d fn %d", i, r.Lower, fp, fn, r.Counts, wantFP, wantFN)
			}
			seen++
			return true
		})
		if seen != rs.Len() {
			t.Fatalf("visited %d of %d rules", seen, rs.Len())
		}
	}
	if _, err := NewScoreRules("", []float64{math.NaN()}, []float64{1}); err == nil {
		t.Fatal("NaN score accepted")
	}
}

func TestLOOFitsByBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 0))
	for _, n := range []int{3, 4, 7, 10} {
		const e = 5
		r := make([]float64, n*e)
		for i := range r {
			r[i] = float64(rng.IntN(5)) + 0.25*float64(rng.IntN(2)) // ties
		}
		f := newLOOFits(r, n, e)
		mu, sd := make([]float64, e), make([]float64, e)
		for i := 0; i < n; i++ {
			f.leaveOut(i, mu, sd, false)
			for ex := 0; ex < e; ex++ {
				var rest []float64
				for j := 0; j < n; j++ {
					if j != i {
						rest = append(rest, r[j*e+ex])
					}
				}
				if m := Median(rest); mu[ex] != m {
					t.Fatalf("n %d, leave %d out, example %d: median %v, want %v", n, i, ex, mu[ex], m)
				}
				if s := math.Sqrt(stat.PopVariance(rest, nil)); math.Abs(sd[ex]-s) > 1e-12 {
					t.Fatalf("n %d, leave %d out, example %d: sd %v, want %v", n, i, ex, sd[ex], s)
				}
			}
		}
	}
}

func TestDivergencesKnownValues(t *testing.T) {
	if kl := KL([]float64{0.2, 0.8}, []float64{0.2, 0.8}); kl != 0 {
		t.Errorf("KL(p || p) = %v", kl)
	}
	if kl, want := KL([]float64{0.5, 0.5}, []float64{0.25, 0.75}), 0.5*math.Log(2)+0.5*math.Log(2.0/3); math.Abs(kl-want) > 1e-15 {
		t.Errorf("KL = %v, want %v", kl, want)
	}
	if js := JS([]float64{1, 0}, []float64{0, 1}); math.Abs(js-math.Ln2) > 1e-12 {
		t.Errorf("JS of disjoint distributions = %v, want ln 2", js)
	}
	if kl := KL([]float64{1, 0}, []float64{0, 1}); math.IsInf(kl, 0) || math.IsNaN(kl) || kl < 100 {
		t.Errorf("KL of disjoint distributions = %v; want large and finite (floored)", kl)
	}
	if _, _, err := Divergences([]float64{0.5, math.NaN()}, []float64{0.5, 0.5}, 1, 2); err == nil {
		t.Error("NaN probability accepted")
	}
}

func TestThinROC(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 0))
	pos, neg := make([]float64, 5000), make([]float64, 5000)
	for i := range pos {
		pos[i], neg[i] = rng.NormFloat64()+1, rng.NormFloat64()
	}
	m, err := ScoreMetrics(pos, neg)
	if err != nil {
		t.Fatal(err)
	}
	thin := ThinROC(m.ROC, 100)
	if len(thin) > 202 || len(thin) < 50 || thin[0] != m.ROC[0] || thin[len(thin)-1] != m.ROC[len(m.ROC)-1] {
		t.Fatalf("%d points, from %+v to %+v", len(thin), thin[0], thin[len(thin)-1])
	}
	for i := 1; i < len(thin); i++ {
		if thin[i].FPR < thin[i-1].FPR || thin[i].TPR < thin[i-1].TPR {
			t.Fatalf("thinned curve not monotone at %d", i)
		}
	}
	if TPRAtFPR(thin, 0.01) != TPRAtFPR(m.ROC, 0.01) {
		t.Error("thinning lost the TPR at 1% FPR")
	}
}

func TestCrossValidatedBadInput(t *testing.T) {
	cv := &CrossValidated{Classifier: LogisticRegression(), Folds: 5, Seed: 1, Features: []string{"a", "b"}}
	row := func(n int, f func(i int) (float64, float64)) Sample {
		x := make([]float64, 0, 2*n)
		for i := 0; i < n; i++ {
			a, b := f(i)
			x = append(x, a, b)
		}
		return Sample{X: x, D: 2}
	}
	noisy := func(i int) (float64, float64) { return math.Sin(float64(i)), math.Cos(float64(3 * i)) }
	ok := row(20, noisy)

	// Fewer models than folds.
	if _, err := cv.Run(row(3, noisy), ok); err == nil || !strings.Contains(err.Error(), "3 rows, fewer than the 5 folds") {
		t.Errorf("fewer rows than folds: %v", err)
	}
	// NaN feature.
	bad := row(20, noisy)
	bad.X[2*7+1] = math.NaN()
	if _, err := cv.Run(ok, bad); err == nil || !strings.Contains(err.Error(), "row 7, feature 1 is NaN") {
		t.Errorf("NaN feature: %v", err)
	}
	// Different widths.
	if _, err := cv.Run(ok, Sample{X: make([]float64, 20), D: 1}); err == nil {
		t.Error("samples of different widths accepted")
	}
	// A constant feature is left out, with a warning naming it.
	constB := row(20, func(i int) (float64, float64) { return math.Sin(float64(i)), 1 })
	o, err := cv.Run(constB, row(20, func(i int) (float64, float64) { return math.Cos(float64(i)), 1 }))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Warnings) != 1 || !strings.Contains(o.Warnings[0], "feature b was constant") {
		t.Errorf("warnings %q", o.Warnings)
	}
	// No feature varies: every score is the same, said so.
	constant := row(20, func(int) (float64, float64) { return 1, 1 })
	o, err = cv.Run(constant, constant)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(o.Warnings, func(s string) bool { return strings.Contains(s, "no feature varies") }) {
		t.Errorf("warnings %q", o.Warnings)
	}
	for _, s := range append(o.PosScores, o.NegScores...) {
		if s != o.PosScores[0] || math.IsNaN(s) {
			t.Fatalf("scores %v", o.PosScores)
		}
	}
	// Groups: fewer models than folds.
	g := row(20, noisy)
	g.Group = make([]int, 20)
	for i := range g.Group {
		g.Group[i] = i % 3
	}
	if _, err := cv.Run(g, ok); err == nil || !strings.Contains(err.Error(), "3 groups (models), fewer than the 5 folds") {
		t.Errorf("fewer groups than folds: %v", err)
	}
	// One fold.
	if _, err := (&CrossValidated{Classifier: LogisticRegression(), Folds: 1}).Run(ok, ok); err == nil {
		t.Error("1 fold accepted")
	}
}

func TestShuffleSplitsTooFewRows(t *testing.T) {
	ss := &ShuffleSplits{Classifier: LogisticRegression(), Splits: 10, TestFraction: 0.1}
	if _, err := ss.Run(Sample{X: []float64{1}, D: 1}, Sample{X: []float64{0, 2, 3}, D: 1}); err == nil || !strings.Contains(err.Error(), "too few") {
		t.Errorf("one positive row: %v", err)
	}
	// Ten rows: ceil(0.1 * 10) = 1 test row cannot hold both samples.
	five := Sample{X: []float64{1, 2, 3, 4, 5}, D: 1}
	if _, err := ss.Run(five, five); err == nil || !strings.Contains(err.Error(), "holding out 1") {
		t.Errorf("one test row: %v", err)
	}
}

func TestPooledBadInput(t *testing.T) {
	fs := func(n int) *FeatureSet {
		x := make([]float64, n*4)
		for i := range x {
			x[i] = math.Sin(float64(i))
		}
		return &FeatureSet{N: n, E: 4, Names: []string{"conf"}, X: x}
	}
	p := &Pooled{Classifier: LogisticRegression(), Folds: 5}
	if _, err := p.Run(fs(3), fs(3)); err == nil || !strings.Contains(err.Error(), "fewer than the 5 folds") {
		t.Errorf("3 models, 5 folds: %v", err)
	}
	if _, err := p.Run(fs(6), fs(7)); err == nil {
		t.Error("populations of different sizes accepted")
	}
	nan := fs(6)
	nan.X[5] = math.Inf(1)
	if _, err := p.Run(fs(6), nan); err == nil || !strings.Contains(err.Error(), "+Inf") {
		t.Errorf("infinite feature: %v", err)
	}
}

func TestPerExampleNamesTheFailingExample(t *testing.T) {
	x := make([]float64, 8*3)
	for i := range x {
		x[i] = math.Sin(float64(i))
	}
	bad := append([]float64(nil), x...)
	bad[5*3+2] = math.NaN() // model 5, example 2
	_, err := PerExample(&FeatureSet{N: 8, E: 3, Names: []string{"conf"}, X: x}, &FeatureSet{N: 8, E: 3, Names: []string{"conf"}, X: bad},
		func(int) Attack { return &CrossValidated{Classifier: LogisticRegression(), Folds: 2} }, 2, nil)
	var ee *ExampleError
	if err == nil || !errors.As(err, &ee) || ee.Example != 2 || !strings.Contains(err.Error(), "row 5") {
		t.Fatalf("error %v", err)
	}
}
