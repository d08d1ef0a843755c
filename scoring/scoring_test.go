package scoring

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"unlearnbench/attack"
)

func TestBucketsWorkedValues(t *testing.T) {
	if got := MaxEpsilon(512); got != 7 {
		t.Fatalf("MaxEpsilon(512) = %v, want 7", got)
	}
	b := Buckets(512)
	if len(b) != 14 {
		t.Fatalf("N = 512: %d buckets, want 14", len(b))
	}
	for k, bk := range b {
		if bk.Lo != 0.5*float64(k) || bk.Hi != bk.Lo+0.5 || bk.Points != math.Pow(2, -float64(k)) {
			t.Fatalf("bucket %d = %+v", k, bk)
		}
	}
	if b[13].Points != 1.0/8192 {
		t.Fatalf("last bucket worth %v, want 1/8192", b[13].Points)
	}
	if got := MaxEpsilon(3); got != 1 {
		t.Fatalf("MaxEpsilon(3) = %v, want 1", got)
	}
	b3 := Buckets(3)
	if len(b3) != 2 || b3[0].Points != 1 || b3[1].Points != 0.5 {
		t.Fatalf("N = 3 buckets = %+v, want points 1 and 1/2", b3)
	}
	// First bucket whose end exceeds epsilon; 0 points beyond the last.
	cases := []struct {
		eps    float64
		bucket int
		points float64
	}{{0, 0, 1}, {0.4999, 0, 1}, {0.5, 1, 0.5}, {6.9, 13, 1.0 / 8192}, {7, -1, 0}, {50, -1, 0}}
	for _, c := range cases {
		if k := BucketOf(b, c.eps); k != c.bucket || PointsOf(b, c.eps) != c.points {
			t.Errorf("eps %v: bucket %d points %v, want %d and %v", c.eps, k, PointsOf(b, c.eps), c.bucket, c.points)
		}
	}
}

func pop(n, e int, f func(i, e int) float64) *Population {
	p := &Population{N: n, E: e, Conf: make([]float64, n*e)}
	for i := 0; i < n; i++ {
		for j := 0; j < e; j++ {
			p.Conf[i*e+j] = f(i, j)
		}
	}
	return p
}

func column(vals ...float64) *Population {
	return pop(len(vals), 1, func(i, _ int) float64 { return vals[i] })
}

func TestPeakyShortcut(t *testing.T) {
	// metric.md: pos all 0.0, neg spread over [0, 10] gives epsilon 50 and
	// no points. Here the unlearned models are the constant ones.
	n := 11
	u := pop(n, 1, func(int, int) float64 { return 0 })
	r := pop(n, 1, func(i, _ int) float64 { return float64(i) })
	res, err := Score(u, r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ex := res.Examples[0]
	if !ex.Peaky || ex.Epsilon != 50 || ex.Points != 0 || ex.Bucket != -1 || ex.Rule != nil {
		t.Fatalf("peaky example = %+v", ex)
	}
	if res.F != 0 {
		t.Fatalf("F = %v, want 0", res.F)
	}
}

func TestHandComputedEpsilon(t *testing.T) {
	// N = 4. The larger-median population is {10, 11, 12, 0}; the other is
	// {-1, -2, -3, 11.5}. No rule separates them (11.5 sits among the
	// positives, 0 among the negatives); the best rules leave one error on
	// each side: fpr = fnr = 1/4, epsilon = ln(0.99999 - 0.25) - ln(0.25)
	// = ln(2.99996) in float32.
	u := column(10, 11, 12, 0)
	r := column(-1, -2, -3, 11.5)
	res, err := Score(u, r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ex := res.Examples[0]
	c := float32(1 - 1e-5)
	want := float32(math.Log(float64(c-0.25))) - float32(math.Log(0.25))
	if float32(ex.Epsilon) != want {
		t.Fatalf("epsilon = %v, want %v", ex.Epsilon, want)
	}
	if math.Abs(ex.Epsilon-math.Log(2.99996)) > 1e-6 {
		t.Fatalf("epsilon = %v, want about ln(2.99996) = %v", ex.Epsilon, math.Log(2.99996))
	}
	if ex.Positive != Unlearned || *ex.FPR != 0.25 || *ex.FNR != 0.25 {
		t.Fatalf("winning rule: positive %s fpr %v fnr %v", ex.Positive, *ex.FPR, *ex.FNR)
	}
	// N = 4: maxEps = ceil(ln 3) = 2, buckets of 1, 1/2, 1/4, 1/8; 1.0986
	// falls in [1, 1.5).
	if ex.Bucket != 2 || ex.Points != 0.25 || res.F != 0.25 {
		t.Fatalf("bucket %d points %v F %v, want 2, 0.25, 0.25", ex.Bucket, ex.Points, res.F)
	}
}

func TestPerfectSeparation(t *testing.T) {
	u := column(10, 10.5, 11)
	r := column(0, 0.5, 1)
	res, err := Score(u, r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ex := res.Examples[0]
	if !ex.Separated || ex.Epsilon != 50 || ex.Points != 0 || *ex.FPR != 0 || *ex.FNR != 0 {
		t.Fatalf("separated example = %+v", ex)
	}
}

func TestEveryRuleDiscarded(t *testing.T) {
	// Example 1 is constant and equal in both populations: every rule
	// either calls all values positive (FNR 0) or none (FPR 0).
	u := pop(5, 3, func(i, e int) float64 {
		if e == 1 {
			return 5
		}
		return float64(i + e)
	})
	r := pop(5, 3, func(i, e int) float64 {
		if e == 1 {
			return 5
		}
		return float64(2*i - e)
	})
	// Strict: the competition's evaluation stops, naming the example.
	_, err := Score(u, r, Options{Workers: 2, Strict: true})
	var ee *ExampleError
	if !errors.As(err, &ee) || ee.Example != 1 || !errors.Is(err, ErrAllDiscarded) {
		t.Fatalf("strict: error = %v, want example 1 with every rule discarded", err)
	}
	// By default the example gets epsilon 0 and one point, the others
	// their own numbers, and a warning counts it.
	res, err := Score(u, r, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ex := res.Examples[1]
	if !ex.Undetermined || ex.Epsilon != 0 || ex.Bucket != 0 || ex.Points != 1 {
		t.Fatalf("example 1 = %+v, want undetermined with epsilon 0, bucket 0, 1 point", ex)
	}
	for _, j := range []int{0, 2} {
		if res.Examples[j].Undetermined {
			t.Fatalf("example %d marked undetermined: %+v", j, res.Examples[j])
		}
	}
	want := "1 of 3 examples had every rule discarded"
	found := false
	for _, w := range res.Warnings {
		if strings.HasPrefix(w, want) && strings.HasSuffix(w, "first: 1") {
			found = true
		}
	}
	if !found {
		t.Fatalf("warnings %q lack %q", res.Warnings, want)
	}
	wantF := (res.Examples[0].Points + 1 + res.Examples[2].Points) / 3
	if res.F != wantF {
		t.Fatalf("F = %v, want %v", res.F, wantF)
	}
}

func TestIdenticalSamplesScoreInFirstBuckets(t *testing.T) {
	// metric.md: identical samples of the same values make every rule's
	// fpr equal its tpr, so the example lands in the first bucket or two.
	rng := rand.New(rand.NewPCG(1, 2))
	n, e := 64, 20
	u := pop(n, e, func(int, int) float64 { return rng.NormFloat64() * 3 })
	r := &Population{N: n, E: e, Conf: append([]float64{}, u.Conf...)}
	res, err := Score(u, r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range res.Examples {
		if ex.Bucket != 0 && ex.Bucket != 1 {
			t.Fatalf("example %d: epsilon %v in bucket %d", ex.Index, ex.Epsilon, ex.Bucket)
		}
	}
}

func TestMatchesNaiveReference(t *testing.T) {
	// The fast path (sorted values, moving pointers, epsilon table, skipped
	// duplicates) against a transcription of metric.md that tests every rule
	// against every value, on random populations of several shapes,
	// including ties, separations and peaky ones.
	rng := rand.New(rand.NewPCG(7, 11))
	shapes := []struct {
		n    int
		kind string
	}{{3, "normal"}, {4, "normal"}, {5, "ties"}, {7, "shifted"}, {8, "normal"}, {9, "peaky-ish"}, {16, "ties"}, {13, "wide"}}
	for _, s := range shapes {
		for trial := 0; trial < 3; trial++ {
			gen := func(shift float64) []float64 {
				v := make([]float64, s.n)
				for i := range v {
					switch s.kind {
					case "ties":
						v[i] = float64(rng.IntN(4)) * 0.5
					case "shifted":
						v[i] = rng.NormFloat64() + shift
					case "peaky-ish":
						v[i] = rng.NormFloat64() * (0.02 + shift)
					case "wide":
						v[i] = rng.NormFloat64() * 15
					default:
						v[i] = rng.NormFloat64() * 2
					}
				}
				return v
			}
			uv, rv := gen(0), gen(1.5)
			u := column(uv...)
			r := column(rv...)
			res, err := Score(u, r, Options{Strict: true})
			pos, neg := uv, rv
			if median(rv) > median(uv) {
				pos, neg = rv, uv
			}
			want, winner, discarded := refEpsilon(pos, neg)
			if discarded {
				if !errors.Is(err, ErrAllDiscarded) {
					t.Fatalf("%s n=%d: reference discards every rule, Score says %v", s.kind, s.n, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s n=%d: %v", s.kind, s.n, err)
			}
			ex := res.Examples[0]
			if float32(ex.Epsilon) != want {
				t.Fatalf("%s n=%d trial %d: epsilon %v, reference %v\nU=%v\nR=%v", s.kind, s.n, trial, ex.Epsilon, want, uv, rv)
			}
			if winner >= 0 && ex.Rule.Index != winner {
				t.Fatalf("%s n=%d trial %d: winning rule %d, reference %d", s.kind, s.n, trial, ex.Rule.Index, winner)
			}
		}
	}
}

func median(v []float64) float64 {
	s := &exampleScorer{}
	return s.median(v)
}

func TestSwapAndPermutationInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n, e := 32, 40
	u := pop(n, e, func(_, j int) float64 { return rng.NormFloat64()*2 + float64(j%5)*0.3 })
	r := pop(n, e, func(_, j int) float64 { return rng.NormFloat64()*2.5 - float64(j%3)*0.4 })
	base, err := Score(u, r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Swapping which population is called unlearned changes no epsilon
	// when the medians differ (step 2 picks the same positive sample).
	swapped, err := Score(r, u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Permuting the models of each population changes nothing.
	perm := func(p *Population) *Population {
		idx := rng.Perm(p.N)
		return pop(p.N, p.E, func(i, j int) float64 { return p.Conf[idx[i]*p.E+j] })
	}
	permuted, err := Score(perm(u), perm(r), Options{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for j := 0; j < e; j++ {
		if permuted.Examples[j].Epsilon != base.Examples[j].Epsilon {
			t.Fatalf("example %d: permuting models changed epsilon %v -> %v", j, base.Examples[j].Epsilon, permuted.Examples[j].Epsilon)
		}
		if base.Examples[j].MedianUnlearned == base.Examples[j].MedianRetrained {
			continue
		}
		checked++
		if swapped.Examples[j].Epsilon != base.Examples[j].Epsilon {
			t.Fatalf("example %d: swapping populations changed epsilon %v -> %v", j, base.Examples[j].Epsilon, swapped.Examples[j].Epsilon)
		}
	}
	if checked < e/2 || permuted.F != base.F || swapped.F != base.F {
		t.Fatalf("checked %d examples; F %v, permuted %v, swapped %v", checked, base.F, permuted.F, swapped.F)
	}
}

func TestEpsilonTableFloat32Semantics(t *testing.T) {
	// N = 7: rates are float32(k)/float32(7), and every step of a rule's
	// epsilon is a float32 operation.
	tab := NewEpsilonTable(7, 7, Delta)
	if got := attack.Rate(1, 7); got != float32(1)/float32(7) || float64(got) == 1.0/7 {
		t.Fatalf("Rate(1, 7) = %v, want the float32 quotient", got)
	}
	c := float32(1 - 1e-5)
	differs := 0
	for fp := 1; fp < 7; fp++ {
		for fn := 1; fn < 7; fn++ {
			fpr, fnr := float32(fp)/7, float32(fn)/7
			e1 := float32(math.Log(float64(c-fpr))) - float32(math.Log(float64(fnr)))
			e2 := float32(math.Log(float64(c-fnr))) - float32(math.Log(float64(fpr)))
			want := max(e1, e2, 0)
			if got := tab.At(fp, fn); got != want {
				t.Fatalf("At(%d, %d) = %v, want %v", fp, fn, got, want)
			}
			f64 := max(math.Log(1-1e-5-float64(fp)/7)-math.Log(float64(fn)/7), math.Log(1-1e-5-float64(fn)/7)-math.Log(float64(fp)/7), 0)
			if float32(f64) != want {
				differs++
			}
		}
	}
	if differs == 0 {
		t.Fatalf("float32 and float64 arithmetic agree on every rule of N = 7; the test no longer shows the float32 semantics")
	}
	// Perfect separation, discards, and a rate of 1 (its log term is NaN
	// and ignored, as np.nanmax does).
	if !math.IsInf(float64(tab.At(0, 0)), 1) {
		t.Fatalf("At(0, 0) = %v, want +Inf", tab.At(0, 0))
	}
	if !math.IsNaN(float64(tab.At(0, 3))) || !math.IsNaN(float64(tab.At(3, 0))) {
		t.Fatalf("a zero rate must discard the rule")
	}
	if !math.IsNaN(float64(tab.At(7, 7))) {
		t.Fatalf("fpr = fnr = 1 leaves both terms NaN; the rule must be discarded, got %v", tab.At(7, 7))
	}
	want := max(float32(math.Log(float64(c-float32(3)/7)))-float32(math.Log(1)), 0)
	if got := tab.At(7, 3); got != want {
		t.Fatalf("At(7, 3) = %v, want %v (the NaN term ignored)", got, want)
	}
}

func TestThresholdGridPinned(t *testing.T) {
	// Values worked out with Python floats (IEEE doubles, as NumPy) from
	// metric.md's formulas. pos = [0.8, 3.56], neg = [0, 10]: posDiff 2.76 <
	// negDiff, no swap; width = 2.76; lo = 0.8 + 2.76 - 2 =
	// 1.5599999999999996, hi = 5.5600000000000005, and (hi - lo) * 100 =
	// 400.0000000000001, so nR = 401, not 400. Single family: ceil(10 *
	// 100) = 1000 thresholds.
	rules, err := attack.NewCompetitionRules([]float64{0.8, 3.56}, []float64{0, 10})
	if err != nil {
		t.Fatal(err)
	}
	if rules.NRight() != 401 || rules.NSingle() != 1000 || rules.Len() != 401*400+1000 {
		t.Fatalf("grid: %d right thresholds, %d single, %d rules; want 401, 1000, 161400", rules.NRight(), rules.NSingle(), rules.Len())
	}
	pins := []struct {
		name      string
		got, want float64
	}{
		{"right[0]", rules.RightThreshold(0), 1.5599999999999996},
		{"right[1]", rules.RightThreshold(1), 1.5699999999999996},
		{"right[400]", rules.RightThreshold(400), 5.5600000000000005},
		{"left[0][0]", rules.LeftThreshold(rules.RightThreshold(0), 0), -3.2},
		{"left[0][1]", rules.LeftThreshold(rules.RightThreshold(0), 1), -3.189974937343359},
		{"left[0][399]", rules.LeftThreshold(rules.RightThreshold(0), 399), 0.7999999999999998},
		{"right[200]", rules.RightThreshold(200), 3.56},
		{"left[200][0]", rules.LeftThreshold(rules.RightThreshold(200), 0), -1.1999999999999997},
		{"left[200][399]", rules.LeftThreshold(rules.RightThreshold(200), 399), 2.8000000000000003},
		{"single[0]", rules.SingleThreshold(0), 0},
		{"single[1]", rules.SingleThreshold(1), 0.01001001001001001},
		{"single[998]", rules.SingleThreshold(998), 9.98998998998999},
		{"single[999]", rules.SingleThreshold(999), 10},
	}
	for _, p := range pins {
		if p.got != p.want {
			t.Errorf("%s = %v, want %v", p.name, p.got, p.want)
		}
	}
	// The common case: pos = [0.1, 0.3], neg = [0, 1] gives (hi - lo) * 100
	// = 400.0 exactly and 400 right thresholds; single: 100.
	rules, err = attack.NewCompetitionRules([]float64{0.1, 0.3}, []float64{0.0, 1.0})
	if err != nil {
		t.Fatal(err)
	}
	if rules.NRight() != 400 || rules.NSingle() != 100 || rules.Len() != 160100 {
		t.Fatalf("grid: %d right, %d single, %d rules; want 400, 100, 160100", rules.NRight(), rules.NSingle(), rules.Len())
	}
	if rules.RightThreshold(0) != -1.7 || rules.LeftThreshold(-1.7, 399) != 0.10000000000000009 || rules.SingleThreshold(1) != 0.010101010101010102 {
		t.Fatalf("thresholds %v %v %v", rules.RightThreshold(0), rules.LeftThreshold(-1.7, 399), rules.SingleThreshold(1))
	}
	// Rule descriptions agree with brute-force counts.
	r := rules.Rule(200*400 + 123)
	inWindow := 0
	for _, v := range []float64{0.1, 0.3} {
		if *r.Upper >= v && v >= r.Lower {
			inWindow++
		}
	}
	if r.Family != attack.FamilyDoubleThreshold || r.Counts.TP != inWindow || r.Counts.NPos() != 2 {
		t.Fatalf("rule %+v, want TP %d", r, inWindow)
	}
}

// CheckFinite names the first non-finite logit by model, example and class,
// for float32 and float64 logits, and passes finite ones (the largest
// finite values and subnormals included).
func TestCheckFinite(t *testing.T) {
	const n, e, c = 2, 3, 4
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for _, at := range []int{0, 7, n*e*c - 1} {
			f32, f64 := make([]float32, n*e*c), make([]float64, n*e*c)
			f32[1], f64[1] = math.MaxFloat32, math.MaxFloat64
			f32[2], f64[2] = -math.SmallestNonzeroFloat32, math.SmallestNonzeroFloat64
			f32[at], f64[at] = float32(bad), bad
			want := fmt.Sprintf("model %d, example %d, class %d: logit is %v", at/(e*c), at/c%e, at%c, bad)
			for _, l := range []*Logits{{N: n, E: e, C: c, F32: f32}, {N: n, E: e, C: c, F64: f64}} {
				if err := l.CheckFinite(); err == nil || err.Error() != want {
					t.Errorf("logit %v at %d: %v, want %q", bad, at, err, want)
				}
			}
		}
	}
	ok := &Logits{N: 1, E: 1, C: 3, F32: []float32{math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}}
	if err := ok.CheckFinite(); err != nil {
		t.Errorf("finite logits: %v", err)
	}
}
