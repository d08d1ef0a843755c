package unlearners

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
)

// resetFisherMemo forgets the Fisher diagonals computed so far in this
// process, so that a test sees the file cache.
func resetFisherMemo() {
	fisherMemo.Lock()
	defer fisherMemo.Unlock()
	fisherMemo.entries = map[string]*fisherEntry{}
	fisherMemo.order = nil
}

// referenceFisher is the notebook's hessian(): batch size 1, one backward
// pass per class, F += p(y|x)·g² for every class y (true) or the label
// only (empirical), divided by the number of examples, computed through
// the public Trainer on one-example data sets. The zoo's MLP has neither
// batch norm nor dropout, so training mode is the notebook's eval mode.
func referenceFisher(t *testing.T, m *nn.Model, d *nn.Data, empirical bool) map[string][]float64 {
	t.Helper()
	tr, err := nn.NewTrainer(rt, m, nn.OptimizerConfig{Name: "sgd", LR: 1}, nn.LossConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ev, err := nn.NewEvaluator(rt, m, 128)
	if err != nil {
		t.Fatal(err)
	}
	lg, err := ev.Logits(d)
	ev.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := m.Classes
	f := map[string][]float64{}
	for _, p := range m.Params {
		f[p] = make([]float64, len(m.Param(p)))
	}
	size := d.Size()
	for i := 0; i < d.Len(); i++ {
		row := lg[i*c : (i+1)*c]
		mx := slices.Max(row)
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v - mx))
		}
		for y := 0; y < c; y++ {
			p := math.Exp(float64(row[y]-mx)) / z
			if empirical {
				if int64(y) != d.Y[i] {
					continue
				}
				p = 1
			}
			one := &nn.Data{Shape: d.Shape, X: d.X[i*size : (i+1)*size], Y: []int64{int64(y)}}
			if _, err := tr.Compute(one, []int{0}); err != nil {
				t.Fatal(err)
			}
			for _, name := range m.Params {
				acc := f[name]
				for k, g := range tr.Grad(name) {
					acc[k] += p * float64(g) * float64(g)
				}
			}
		}
	}
	for _, v := range f {
		for k := range v {
			v[k] /= float64(d.Len())
		}
	}
	return f
}

// notebookVar is the notebook's get_mean_var for one tensor, written out
// from its text: 1/(F+1e-8) clamped at 1e3 (1e2 for the classifier),
// times alpha, averaged over dimension 1 for rank >= 2, times 10 for the
// classifier and rank-1 tensors; the paper's exponent square-roots the
// clamped value first.
func notebookVar(f []float64, dims []int64, classifierLayer bool, alpha, exponent float64) []float64 {
	v := make([]float64, len(f))
	for i, x := range f {
		c := 1 / (x + 1e-8)
		if c > 1e3 {
			c = 1e3
		}
		if classifierLayer && c > 1e2 {
			c = 1e2
		}
		if exponent == 0.25 {
			c = math.Sqrt(c)
		}
		v[i] = alpha * c
	}
	if len(dims) >= 2 {
		rows, cols := int(dims[0]), int(dims[1])
		inner := len(v) / (rows * cols)
		out := make([]float64, len(v))
		for a := 0; a < rows; a++ {
			for r := 0; r < inner; r++ {
				var s float64
				for b := 0; b < cols; b++ {
					s += v[(a*cols+b)*inner+r]
				}
				for b := 0; b < cols; b++ {
					out[(a*cols+b)*inner+r] = s / float64(cols)
				}
			}
		}
		v = out
	}
	if classifierLayer || len(dims) == 1 {
		for i := range v {
			v[i] *= 10
		}
	}
	return v
}

func relClose(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b)) }

// TestFisherMatchesTheNotebook: the per-tensor noise variances computed
// from the batched, cached Fisher equal the notebook's formula applied to
// the batch-size-1 reference Fisher, for both exponents; the noise drawn
// has those variances.
func TestFisherMatchesTheNotebook(t *testing.T) {
	w := getWorld(t)
	sub := w.retain.Subset(seq(120))
	ref := referenceFisher(t, w.original, sub, false)
	in := &Inputs{Original: w.original, Retain: sub, Runtime: rt, Seed: 3}
	fs, err := Fisher(in, w.original, sub, FisherEstimator{Kind: "true"}, 32)
	if err != nil {
		t.Fatal(err)
	}
	cls := map[string]bool{"out.weight": true, "out.bias": true}
	for _, name := range w.original.Params {
		got := fs.Mean(name)
		for k := range got {
			if !relClose(got[k], ref[name][k], 1e-3) && math.Abs(got[k]-ref[name][k]) > 1e-12 {
				t.Fatalf("Fisher of %s[%d]: batched %v, batch-size-1 reference %v", name, k, got[k], ref[name][k])
			}
		}
	}
	for _, exponent := range []float64{0.5, 0.25} {
		alpha := 1e-6
		vars, means := FisherNoise(w.original, fs, alpha, exponent, nil)
		for _, name := range w.original.Params {
			dims := w.original.Graph.Inits[name].Dims
			want := notebookVar(ref[name], dims, cls[name], alpha, exponent)
			var gs, ws float64
			for k := range want {
				gs += vars[name][k]
				ws += want[k]
				if !relClose(vars[name][k], want[k], 1e-3) {
					t.Fatalf("exponent %v: variance of %s[%d] = %v, the notebook's formula gives %v", exponent, name, k, vars[name][k], want[k])
				}
			}
			if !slices.Equal(means[name], w.original.Param(name)) {
				t.Fatalf("mean of %s is not the original weights", name)
			}
			t.Logf("exponent %v: %s mean variance %.4g (notebook %.4g)", exponent, name, gs/float64(len(want)), ws/float64(len(want)))
		}
		// The drawn noise has those variances: (w' - w)²/var averages 1.
		m := unlearn(t, "fisher", map[string]any{"exponent": exponent, "batch_size": 32}, in)
		var s float64
		name := "fc1.weight"
		a, b := m.Param(name), w.original.Param(name)
		for k := range a {
			d := float64(a[k]) - float64(b[k])
			s += d * d / vars[name][k]
		}
		if r := s / float64(len(a)); math.Abs(r-1) > 0.02 {
			t.Errorf("exponent %v: noise of %s has %.4f times its variance, want 1", exponent, name, r)
		}
	}
	// The exponents give different noise: 1/2 scales as 1/F, 1/4 as 1/sqrt(F).
	v2, _ := FisherNoise(w.original, fs, 1e-6, 0.5, nil)
	v4, _ := FisherNoise(w.original, fs, 1e-6, 0.25, nil)
	if slices.Equal(v2["fc1.weight"], v4["fc1.weight"]) {
		t.Error("exponents 0.5 and 0.25 gave the same variances")
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestFisherEstimators: the empirical estimator equals the batch-size-1
// reference at the true labels; MC with more samples per example comes
// closer to the true Fisher.
func TestFisherEstimators(t *testing.T) {
	w := getWorld(t)
	sub := w.retain.Subset(seq(100))
	in := &Inputs{Original: w.original, Retain: sub, Runtime: rt}
	emp, err := Fisher(in, w.original, sub, FisherEstimator{Kind: "empirical"}, 50)
	if err != nil {
		t.Fatal(err)
	}
	ref := referenceFisher(t, w.original, sub, true)
	for _, name := range w.original.Params {
		for k, v := range emp.Mean(name) {
			if !relClose(v, ref[name][k], 1e-3) && math.Abs(v-ref[name][k]) > 1e-12 {
				t.Fatalf("empirical Fisher of %s[%d]: %v, reference %v", name, k, v, ref[name][k])
			}
		}
	}
	truth, err := Fisher(in, w.original, sub, FisherEstimator{Kind: "true"}, 50)
	if err != nil {
		t.Fatal(err)
	}
	relErr := func(k int) float64 {
		mc, err := Fisher(in, w.original, sub, FisherEstimator{Kind: "mc", Samples: k}, 50)
		if err != nil {
			t.Fatal(err)
		}
		var num, den float64
		for _, name := range w.original.Params {
			tv := truth.Mean(name)
			for i, v := range mc.Mean(name) {
				num += math.Abs(v - tv[i])
				den += tv[i]
			}
		}
		return num / den
	}
	e1, e16 := relErr(1), relErr(16)
	t.Logf("MC relative L1 error: %.3f with 1 sample, %.3f with 16", e1, e16)
	if !(e16 < e1/2) || e16 > 0.25 {
		t.Errorf("MC relative error %.3f with 16 samples, %.3f with 1: want it to shrink toward the true Fisher", e16, e1)
	}
}

// TestFisherClassForgetting: the forgotten class's classifier row and
// bias get mean 0 and variance 1e-4 (×10 as the classifier's, step 6).
func TestFisherClassForgetting(t *testing.T) {
	w := getWorld(t)
	in := &Inputs{Original: w.original, Retain: w.classRetain, Forget: w.classForget, Runtime: rt, Seed: 4}
	m := unlearn(t, "fisher", map[string]any{"class_forgetting": true}, in)
	fs, err := Fisher(in, w.original, w.classRetain, FisherEstimator{Kind: "true"}, 64)
	if err != nil {
		t.Fatal(err)
	}
	vars, means := FisherNoise(w.original, fs, 1e-6, 0.5, []int{0})
	wt, bias := m.Param("out.weight"), m.Param("out.bias")
	hidden := len(wt) / 10
	var s float64
	for j := 0; j < hidden; j++ {
		if means["out.weight"][j] != 0 || vars["out.weight"][j] != 1e-3 {
			t.Fatalf("row 0, column %d: mean %v variance %v, want 0 and 1e-4*10", j, means["out.weight"][j], vars["out.weight"][j])
		}
		s += float64(wt[j]) * float64(wt[j])
	}
	if means["out.bias"][0] != 0 || vars["out.bias"][0] != 1e-3 {
		t.Fatalf("bias 0: mean %v variance %v", means["out.bias"][0], vars["out.bias"][0])
	}
	if means["out.weight"][hidden] != w.original.Param("out.weight")[hidden] {
		t.Fatal("row 1 lost the original weights as its mean")
	}
	if v := s / float64(hidden); v < 0.5e-3 || v > 1.6e-3 {
		t.Errorf("row 0 of the unlearned classifier: mean square %.3g, want about 1e-3", v)
	}
	if math.Abs(float64(bias[0])) > 0.15 {
		t.Errorf("bias 0 = %v, drawn from N(0, 1e-3)", bias[0])
	}
	// Every class in the forget set, or a class split between the sets.
	u, _, _ := New("fisher", map[string]any{"class_forgetting": true})
	for _, c := range []struct {
		retain, forget *nn.Data
		want           string
	}{
		{w.classRetain, w.retain, "retain example"},
		{w.classForget, w.classRetain.Subset(seq(w.classRetain.Len())), "class forgetting needs"},
	} {
		all := &nn.Data{Shape: c.forget.Shape, X: append(slices.Clone(c.forget.X), w.classForget.X...), Y: append(slices.Clone(c.forget.Y), w.classForget.Y...)}
		_, err := u.Unlearn(t.Context(), &Inputs{Original: w.original, Retain: c.retain, Forget: all, Runtime: rt})
		if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "method fisher: parameter class_forgetting = true") {
			t.Errorf("class forgetting with a bad forget set: %v", err)
		}
	}
}

// TestFisherCacheFile: the Fisher is written to the cache directory and
// read back; a truncated file, or another model's, is recomputed with a
// warning, never used.
func TestFisherCacheFile(t *testing.T) {
	w := getWorld(t)
	dir := t.TempDir()
	sub := w.retain.Subset(seq(80))
	var warnings []string
	in := &Inputs{Original: w.original, Retain: sub, Runtime: rt, Cache: dir, Warn: func(s string) { warnings = append(warnings, s) }}
	e := FisherEstimator{Kind: "empirical"}
	resetFisherMemo()
	first, err := Fisher(in, w.original, sub, e, 40)
	if err != nil {
		t.Fatal(err)
	}
	key, _, _, _ := FisherKey(w.original, sub, e)
	path := FisherFile(dir, key)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no cache file: %v", err)
	}
	// Read back (not recomputed): poison the file's values through a
	// valid file of doubled sums and see them come back.
	doubled := &FisherSums{N: first.N, Sum: map[string][]float64{}}
	for k, v := range first.Sum {
		doubled.Sum[k] = make([]float64, len(v))
		for i := range v {
			doubled.Sum[k][i] = 2 * v[i]
		}
	}
	md, _ := w.original.Digest()
	meta := fisherMeta{Format: fisherFormat, Digest: key, Model: md, Data: sub.Digest(), Estimator: e.String(), N: sub.Len(), Params: w.original.Params}
	if err := writeFisher(path, doubled, meta); err != nil {
		t.Fatal(err)
	}
	resetFisherMemo()
	got, err := Fisher(in, w.original, sub, e, 40)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sum["fc1.bias"][0] != doubled.Sum["fc1.bias"][0] || len(warnings) != 0 {
		t.Fatalf("the cache file was not read (warnings %q)", warnings)
	}
	// Truncated: recomputed, with a warning, and the file replaced.
	b, _ := os.ReadFile(path)
	os.WriteFile(path, b[:len(b)/2], 0o644)
	resetFisherMemo()
	got, err = Fisher(in, w.original, sub, e, 40)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], path) || !strings.Contains(warnings[0], "recomputing") {
		t.Fatalf("truncated cache file: warnings %q", warnings)
	}
	if got.Sum["fc1.bias"][0] != first.Sum["fc1.bias"][0] {
		t.Fatal("the truncated file's values were used")
	}
	if st2, err := os.Stat(path); err != nil || st2.Size() != st.Size() {
		t.Fatalf("the cache file was not rewritten whole: %v", err)
	}
	// Another model's file under this key: its digest says so.
	other := w.original.Clone()
	other.Param("out.bias")[0] += 1
	okey, _, _, _ := FisherKey(other, sub, e)
	if okey == key {
		t.Fatal("two models share a Fisher key")
	}
	resetFisherMemo()
	oin := *in
	oin.Original = other
	if _, err := Fisher(&oin, other, sub, e, 40); err != nil {
		t.Fatal(err)
	}
	ob, _ := os.ReadFile(FisherFile(dir, okey))
	os.WriteFile(path, ob, 0o644)
	resetFisherMemo()
	warnings = nil
	got, err = Fisher(in, w.original, sub, e, 40)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "another model") {
		t.Fatalf("foreign cache file: warnings %q", warnings)
	}
	if got.Sum["fc1.bias"][0] != first.Sum["fc1.bias"][0] {
		t.Fatal("the foreign file's values were used")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "fisher", ".*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
	// A cache that cannot be written (its folder lies under a file, which
	// stops root too): the Fisher is computed and used, with a warning
	// (issue 21 class 6: an optional cache is no failure).
	blocked := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := *in
	bin.Cache = blocked
	warnings = nil
	resetFisherMemo()
	got, err = Fisher(&bin, w.original, sub, e, 40)
	if err != nil {
		t.Fatalf("an unwritable Fisher cache failed the method: %v", err)
	}
	if w := strings.Join(warnings, "\n"); !strings.Contains(w, "not cached") || !strings.Contains(w, blocked) {
		t.Fatalf("unwritable cache: warnings %q", warnings)
	}
	if got.Sum["fc1.bias"][0] != first.Sum["fc1.bias"][0] {
		t.Fatal("the Fisher computed without a cache differs")
	}
}

// TestFisherSharedByConcurrentMembers: members of a population running at
// once compute their original's Fisher once, and each draws its own noise.
func TestFisherSharedByConcurrentMembers(t *testing.T) {
	w := getWorld(t)
	sub := w.retain.Subset(seq(60))
	resetFisherMemo()
	before := fisherComputed.Load()
	u, _, err := New("fisher", map[string]any{"estimator": "mc", "samples": 2})
	if err != nil {
		t.Fatal(err)
	}
	models := make([]*nn.Model, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range models {
		wg.Add(1)
		go func() {
			defer wg.Done()
			models[i], errs[i] = u.Unlearn(t.Context(), &Inputs{Original: w.original, Retain: sub, Runtime: rt, Seed: uint64(i)})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := fisherComputed.Load() - before; n != 1 {
		t.Errorf("4 concurrent members computed the Fisher %d times, want 1", n)
	}
	if sameWeights(models[0], models[1]) {
		t.Error("two members drew the same noise")
	}
}
