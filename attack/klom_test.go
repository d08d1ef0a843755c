package attack_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/attack"
	"unlearnbench/attack/feature"
	"unlearnbench/scoring"
)

func TestBinnedKLByHand(t *testing.T) {
	// Retrained margins p = 0, 0.5, 1.5, 2.5 and unlearned q = 0.5, 1.5,
	// 2.5, 4: the edges are linspace(0, 4, 21), 0.2 apart, so p falls in
	// bins 1, 3, 8 and 13 (1/4 each), and q in 3, 8 and 13; q's 4 equals the
	// top edge and np.digitize gives it index 21, which is counted in no bin
	// (the public code's quirk), so q is 1/3 in each of its three bins. In
	// bin 1, p > 0 = q and q is raised to 1e-5; scipy renormalises q by its
	// sum 1 + 1e-5. KL(p || q) = 1/4 ln(1/4 (1+1e-5) / 1e-5)
	// + 3/4 ln(1/4 (1+1e-5) / (1/3)).
	p := []float64{0, 0.5, 1.5, 2.5}
	q := []float64{0.5, 1.5, 2.5, 4}
	s := 1 + 1e-5
	want := 0.25*math.Log(0.25*s/1e-5) + 0.75*math.Log(0.25*s*3)
	got, ok := attack.BinnedKL(p, q, attack.KLoMOptions{})
	if !ok || math.Abs(got-want) > 1e-12 {
		t.Errorf("BinnedKL = %v (ok %v), want %v", got, ok, want)
	}
	// Corrected: q's 4 counts in bin 20, so q is 1/4 in bins 3, 8, 13 and
	// 20; p's bin 1 again gets q = 1e-5: KL = 1/4 ln(1/4 (1+1e-5) / 1e-5)
	// + 3/4 ln(1 + 1e-5).
	want = 0.25*math.Log(0.25*s/1e-5) + 0.75*math.Log(s)
	if got, ok := attack.BinnedKL(p, q, attack.KLoMOptions{Corrected: true}); !ok || math.Abs(got-want) > 1e-12 {
		t.Errorf("corrected BinnedKL = %v (ok %v), want %v", got, ok, want)
	}
	// The other way round, KL(q || p): q is 1/3 in bins 3, 8, 13, where p is
	// 1/4 and no floor is needed; p's sum is 1: KL = ln(4/3).
	if got, _ := attack.BinnedKL(q, p, attack.KLoMOptions{}); math.Abs(got-math.Log(4.0/3)) > 1e-12 {
		t.Errorf("BinnedKL(q, p) = %v, want ln(4/3) = %v", got, math.Log(4.0/3))
	}
	// Values past +-100 are clipped first: 150 and 1000 both become 100.
	a, _ := attack.BinnedKL([]float64{-5, 150}, []float64{-5, 1000}, attack.KLoMOptions{Corrected: true})
	if a != 0 {
		t.Errorf("clipped samples: KL %v, want 0", a)
	}
}

func TestBinnedKLUndefined(t *testing.T) {
	// Every p equal to the union's maximum: p has no value in a counted
	// bin, where the public code divides 0 by 0 and returns NaN.
	p, q := []float64{5, 5, 5}, []float64{1, 2, 3}
	if kl, ok := attack.BinnedKL(p, q, attack.KLoMOptions{}); ok || kl != 0 {
		t.Errorf("BinnedKL = %v, ok %v; want undefined", kl, ok)
	}
	if kl, ok := attack.BinnedKL(p, q, attack.KLoMOptions{Corrected: true}); !ok || !(kl > 0) {
		t.Errorf("corrected BinnedKL = %v, ok %v; want a positive KL", kl, ok)
	}
	// All equal: hi = lo + 1, every value in bin 1, KL 0.
	if kl, ok := attack.BinnedKL([]float64{2, 2}, []float64{2, 2, 2}, attack.KLoMOptions{}); !ok || kl != 0 {
		t.Errorf("constant samples: KL %v, ok %v; want 0", kl, ok)
	}
}

func TestKLoMIdentical(t *testing.T) {
	// Identical populations: every example's histograms are equal, KL 0.
	const n, e = 50, 7
	m := make([]float64, n*e)
	for k := range m {
		m[k] = math.Sin(float64(k)) * 10
	}
	vals, undef, err := attack.KLoM(m, m, n, n, e, attack.KLoMOptions{})
	if err != nil || len(undef) != 0 {
		t.Fatal(err, undef)
	}
	for j, v := range vals {
		if v != 0 {
			t.Errorf("example %d: KLoM %v, want 0", j, v)
		}
	}
}

func TestKLoMShiftedGaussians(t *testing.T) {
	// Retrained margins N(0, 1), unlearned N(delta, 1), as n quantiles
	// (the sample's j-th value is Phi^-1((j + 0.5) / n)), on one example.
	// The hand computation: the edges run from the smallest sample,
	// lo = Phi^-1(0.5 / n), to the largest, hi = delta - lo, in 20 equal
	// bins; bin k holds P_k = Phi(e_k+1) - Phi(e_k) of the retrained
	// Gaussian and Q_k = Phi(e_k+1 - delta) - Phi(e_k - delta) of the
	// unlearned one, Q raised to 1e-5 where P > 0, both normalised; the
	// KL is sum P_k ln(P_k / Q_k). The quantile samples put within 1/n of
	// each mass in its bin, and the tails beyond the samples (Q's mass
	// below the smallest unlearned sample, under 1e-4) move the KL by
	// a few 1e-3 at delta = 2, hence the tolerance.
	const n = 20000
	for _, delta := range []float64{0.5, 1, 2} {
		r, u := make([]float64, n), make([]float64, n)
		for j := range r {
			r[j] = stdNormal.Quantile((float64(j) + 0.5) / n)
			u[j] = r[j] + delta
		}
		lo, hi := r[0], u[n-1]
		var pk, qk [20]float64
		sp, sq := 0.0, 0.0
		for k := range pk {
			a, b := lo+float64(k)*(hi-lo)/20, lo+float64(k+1)*(hi-lo)/20
			pk[k] = stdNormal.CDF(b) - stdNormal.CDF(a)
			qk[k] = stdNormal.CDF(b-delta) - stdNormal.CDF(a-delta)
			sp += pk[k]
		}
		for k := range qk {
			pk[k] /= sp
			if pk[k] > 0 {
				qk[k] = max(qk[k], 1e-5)
			}
			sq += qk[k]
		}
		want := 0.0
		for k := range pk {
			want += pk[k] * math.Log(pk[k]/(qk[k]/sq))
		}
		vals, undef, err := attack.KLoM(u, r, n, n, 1, attack.KLoMOptions{})
		if err != nil || len(undef) != 0 {
			t.Fatal(err, undef)
		}
		if math.Abs(vals[0]-want) > 0.001+0.002*want {
			t.Errorf("delta %g: KLoM %.5f, hand computation %.5f", delta, vals[0], want)
		}
		// Binning can only lose information: at most the continuous
		// KL delta^2 / 2 (plus what the 1e-5 floor adds in the tails).
		if vals[0] > delta*delta/2+0.01 {
			t.Errorf("delta %g: KLoM %.5f above the continuous KL %.5f", delta, vals[0], delta*delta/2)
		}
	}
}

func TestKLoMBadInput(t *testing.T) {
	m := []float64{1, 2, 3, math.NaN()}
	if _, _, err := attack.KLoM(m, []float64{1, 2, 3, 4}, 2, 2, 2, attack.KLoMOptions{}); err == nil || !strings.Contains(err.Error(), "unlearned model 1, example 1: margin is NaN") {
		t.Errorf("NaN margin: %v", err)
	}
	if _, _, err := attack.KLoM([]float64{1, 2}, []float64{1, 2, 3}, 2, 2, 1, attack.KLoMOptions{}); err == nil {
		t.Error("mismatched sizes accepted")
	}
	// Populations of different sizes are fine for the divergence itself.
	if _, _, err := attack.KLoM([]float64{1, 2}, []float64{1, 2, 3}, 2, 3, 1, attack.KLoMOptions{}); err != nil {
		t.Error(err)
	}
}

func TestMargins(t *testing.T) {
	// z = (2, 1, 0), label 0: 2 - ln(e + 1); label 2: 0 - ln(e^2 + e).
	l := &scoring.Logits{N: 1, E: 2, C: 3, F32: []float32{2, 1, 0, 2, 1, 0}}
	m, err := feature.Margins(l, []int{0, 2})
	if err != nil {
		t.Fatal(err)
	}
	if w := 2 - math.Log(math.E+1); math.Abs(m[0]-w) > 1e-12 {
		t.Errorf("margin %v, want %v", m[0], w)
	}
	if w := -math.Log(math.E*math.E + math.E); math.Abs(m[1]-w) > 1e-12 {
		t.Errorf("margin %v, want %v", m[1], w)
	}
	// The margin is the competition's logit-scaled confidence.
	conf, _ := l.Confidences([]int{0, 2})
	for k := range m {
		if math.Abs(m[k]-conf[k]) > 1e-6 {
			t.Errorf("margin %v, confidence %v", m[k], conf[k])
		}
	}
	for _, c := range []struct {
		l      *scoring.Logits
		labels []int
		want   string
	}{
		{&scoring.Logits{N: 1, E: 1, C: 1, F64: []float64{3}}, []int{0}, "at least 2 classes"},
		{l, nil, "without labels"},
		{l, []int{0}, "1 labels for 2 examples"},
		{l, []int{0, 3}, "outside [0, 3)"},
		{&scoring.Logits{N: 1, E: 1, C: 2, F64: []float64{math.NaN(), 0}}, []int{0}, "logit is NaN"},
	} {
		if _, err := feature.Margins(c.l, c.labels); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error with %q, got %v", c.want, err)
		}
	}
}

func TestPercentile(t *testing.T) {
	// np.percentile([1, 2, 3, 4], 95) = 3.85, of 0..9 = 8.55, median of
	// 0..9 = 4.5.
	for _, c := range []struct {
		v    []float64
		q    float64
		want float64
	}{{[]float64{4, 1, 3, 2}, 95, 3.85}, {[]float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 95, 8.55}, {[]float64{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, 50, 4.5}, {[]float64{7}, 95, 7}} {
		if got := attack.Percentile(c.v, c.q); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Percentile(%v, %g) = %v, want %v", c.v, c.q, got, c.want)
		}
	}
}

func TestToW(t *testing.T) {
	// (1 - |0.8 - 0.7|)(1 - |0.95 - 0.96|)(1 - |0.85 - 0.86|) = 0.9 * 0.99 * 0.99.
	got, err := attack.ToW(attack.Accuracies{Forget: 0.8, Retain: 0.95, Test: 0.85}, attack.Accuracies{Forget: 0.7, Retain: 0.96, Test: 0.86})
	if err != nil || math.Abs(got-0.9*0.99*0.99) > 1e-12 {
		t.Errorf("ToW = %v (%v), want %v", got, err, 0.9*0.99*0.99)
	}
	same := attack.Accuracies{Forget: 0.3, Retain: 0.9, Test: 0.8}
	if got, _ := attack.ToW(same, same); got != 1 {
		t.Errorf("ToW of equal accuracies = %v, want 1", got)
	}
	if _, err := attack.ToW(attack.Accuracies{Forget: 95, Retain: 0.9, Test: 0.9}, same); err == nil || !strings.Contains(err.Error(), "unlearned forget accuracy is 95") {
		t.Errorf("a percentage for a fraction: %v", err)
	}
	if _, err := attack.ToW(same, attack.Accuracies{Forget: math.NaN()}); err == nil {
		t.Error("NaN accuracy accepted")
	}
}

func TestTInterval(t *testing.T) {
	// 1, 2, 3: mean 2, s = 1, t_{0.975, 2} = 4.302652729911275, half-width
	// 4.3027 / sqrt 3.
	m, lo, hi, ok := attack.TInterval([]float64{1, 2, 3}, 0.95)
	half := 4.302652729911275 / math.Sqrt(3)
	if !ok || m != 2 || math.Abs(lo-(2-half)) > 1e-9 || math.Abs(hi-(2+half)) > 1e-9 {
		t.Errorf("TInterval = %v [%v, %v] %v, want 2 [%v, %v]", m, lo, hi, ok, 2-half, 2+half)
	}
	if _, _, _, ok := attack.TInterval([]float64{1}, 0.95); ok {
		t.Error("an interval from one value")
	}
}

// TestBinnedKLMatchesReference checks BinnedKL against values computed with
// NumPy (clip, linspace, digitize) and scipy.stats.entropy as
// shared/docs/methods.md describes the public code, on random samples of
// different sizes, with ties on the edges, values past the clip, float32
// values, constant samples and a sample wholly on the top edge (null:
// the reference's NaN). The values agree bit for bit: the edges are
// np.linspace's arithmetic and the sums NumPy's pairwise order.
// testdata/klom_reference.json holds the inputs and the reference's values
// (NumPy 1.24, SciPy 1.10).
func TestBinnedKLMatchesReference(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "klom_reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Name      string
			P, Q      []float64
			Corrected bool
			KL        *float64
		}
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) < 30 {
		t.Fatalf("%d reference cases", len(ref.Cases))
	}
	for _, c := range ref.Cases {
		got, ok := attack.BinnedKL(c.P, c.Q, attack.KLoMOptions{Corrected: c.Corrected})
		switch {
		case c.KL == nil:
			if ok {
				t.Errorf("%s (corrected %v): KL %v, the reference's is NaN", c.Name, c.Corrected, got)
			}
		case !ok || got != *c.KL:
			t.Errorf("%s (corrected %v): KL %v (ok %v), reference %v", c.Name, c.Corrected, got, ok, *c.KL)
		}
	}
}
