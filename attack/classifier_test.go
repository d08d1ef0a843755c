package attack

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/sjwhitworth/golearn/linear_models"
)

// gaussRows draws n rows of d independent N(shift[j], 1) features.
func gaussRows(rng *rand.Rand, n, d int, shift []float64) []float64 {
	x := make([]float64, n*d)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			x[i*d+j] = rng.NormFloat64()
			if shift != nil {
				x[i*d+j] += shift[j]
			}
		}
	}
	return x
}

// trainSet returns np positive rows shifted by delta on feature 0 and nn
// negative rows, interleaved negative first so that liblinear sees the
// negative label first.
func trainSet(rng *rand.Rand, np, nn, d int, delta float64) ([]float64, []bool) {
	shift := make([]float64, d)
	shift[0] = delta
	pos := gaussRows(rng, np, d, shift)
	neg := gaussRows(rng, nn, d, nil)
	var x []float64
	var y []bool
	for i := 0; i < max(np, nn); i++ {
		if i < nn {
			x, y = append(x, neg[i*d:(i+1)*d]...), append(y, false)
		}
		if i < np {
			x, y = append(x, pos[i*d:(i+1)*d]...), append(y, true)
		}
	}
	return x, y
}

func accuracy(t *testing.T, m Model, x []float64, d int, y []bool) float64 {
	t.Helper()
	s := make([]float64, len(y))
	if err := m.Score(x, d, s); err != nil {
		t.Fatal(err)
	}
	ok := 0
	for i := range y {
		if m.Positive(s[i]) == y[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(y))
}

func TestClassifiersLearnAShift(t *testing.T) {
	// Two Gaussians 2 apart on one of three features: the Bayes accuracy
	// is Phi(1) = 0.841; every classifier must get close on fresh rows.
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := trainSet(rng, 300, 300, 3, 2)
	tx, ty := trainSet(rng, 500, 500, 3, 2)
	for _, name := range ClassifierNames {
		c, err := NewClassifier(name, ClassifierOptions{Neighbours: 25})
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Fit(x, 3, y, rand.New(rand.NewPCG(2, 2)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if acc := accuracy(t, m, tx, 3, ty); acc < 0.78 {
			t.Errorf("%s: held-out accuracy %.3f, want about 0.84", name, acc)
		}
	}
}

func TestClassifierLabelsEitherOrder(t *testing.T) {
	// liblinear orients its weights by the first label it sees; scores
	// must mean "positive" whichever comes first.
	rng := rand.New(rand.NewPCG(3, 3))
	x, y := trainSet(rng, 100, 100, 2, 3)
	flip := func(x []float64, y []bool) ([]float64, []bool) {
		// Move the first positive row to the front.
		for i, v := range y {
			if v {
				x2 := append(append(append([]float64(nil), x[i*2:i*2+2]...), x[:i*2]...), x[i*2+2:]...)
				y2 := append(append([]bool{true}, y[:i]...), y[i+1:]...)
				return x2, y2
			}
		}
		return x, y
	}
	for _, c := range []Classifier{LogisticRegression(), LinearSVM()} {
		for k, data := range [][2]any{{x, y}, func() [2]any { a, b := flip(x, y); return [2]any{a, b} }()} {
			m, err := c.Fit(data[0].([]float64), 2, data[1].([]bool), nil)
			if err != nil {
				t.Fatal(err)
			}
			if acc := accuracy(t, m, x, 2, y); acc < 0.9 {
				t.Errorf("%s, order %d: accuracy %.3f", c.Name(), k, acc)
			}
		}
	}
}

// TestGolearnLinearModelDefects pins down the golearn behaviour liblinear.go
// works around, so that an upgrade that fixes it is noticed.
func TestGolearnLinearModelDefects(t *testing.T) {
	quietGolearn()
	// 1. LogisticRegression.Fit panics under the default cgo pointer check.
	func() {
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(fmtAny(r), "Go pointer") {
				t.Errorf("golearn's Train did not fail the cgo pointer check (recovered %v); liblinear.go's pinning may be unnecessary now", r)
			}
		}()
		prob := linear_models.NewProblem([][]float64{{-1, 1}, {1, 1}, {-2, 1}, {2, 1}}, []float64{0, 1, 0, 1}, 0)
		linear_models.Train(prob, linear_models.NewParameter(linear_models.L2R_LR, 1, 0.01))
	}()

	// 2. Predict reads negative features as 0: a row far on the negative
	// side is predicted like the origin.
	rows := [][]float64{{-3, 1}, {-2, 1}, {-1, 1}, {1, 1}, {2, 1}, {3, 1}}
	prob := linear_models.NewProblem(rows, []float64{0, 0, 0, 1, 1, 1}, 0)
	lay := (*problemLayout)(unsafe.Pointer(prob))
	var pin runtime.Pinner
	pin.Pin(lay.y)
	pin.Pin(lay.x)
	pin.Pin(*(*unsafe.Pointer)(lay.x))
	model := linear_models.Train(prob, linear_models.NewParameter(linear_models.L2R_LR, 1, 0.01))
	pin.Unpin()
	if a, b := linear_models.Predict(model, []float64{-5, 1}), linear_models.Predict(model, []float64{0, 1}); a != b {
		t.Errorf("golearn's Predict distinguishes -5 from 0 (%v, %v); it used to drop negative features", a, b)
	}

	// The weights this package reads from struct model equal those
	// liblinear's own save_model writes (checks modelLayout).
	path := filepath.Join(t.TempDir(), "model.txt")
	if err := linear_models.Export(model, path); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ml := (*modelLayout)(*(*unsafe.Pointer)(unsafe.Pointer(model)))
	w := unsafe.Slice((*float64)(ml.w), ml.nrFeature)
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	var saved []float64
	for i, l := range lines {
		if l == "w" {
			for _, wl := range lines[i+1:] {
				v, err := strconv.ParseFloat(strings.TrimSpace(wl), 64)
				if err != nil {
					t.Fatal(err)
				}
				saved = append(saved, v)
			}
		}
	}
	if !strings.Contains(string(text), "nr_class 2") || !strings.Contains(string(text), "label 0 1") || len(saved) != len(w) || ml.nrClass != 2 {
		t.Fatalf("saved model:\n%s\nread %d classes, %d weights", text, ml.nrClass, len(w))
	}
	for i := range w {
		if math.Abs(w[i]-saved[i]) > 1e-14*max(1, math.Abs(w[i])) {
			t.Errorf("weight %d: read %v, saved %v", i, w[i], saved[i])
		}
	}
	if lab := unsafe.Slice((*int32)(ml.label), 2); lab[0] != 0 || lab[1] != 1 {
		t.Errorf("labels %v", lab)
	}
	freeModel(ml)
}

func fmtAny(v any) string {
	if e, ok := v.(error); ok {
		return e.Error()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func TestClassifierBadInput(t *testing.T) {
	for _, c := range []Classifier{LogisticRegression(), LinearSVM(), NewKNN(3), NewForest(3, 0)} {
		if _, err := c.Fit([]float64{1, 2, 3}, 1, []bool{true, true, true}, rand.New(rand.NewPCG(1, 1))); err == nil || !strings.Contains(err.Error(), "one class") {
			t.Errorf("%s: one class: %v", c.Name(), err)
		}
		if _, err := c.Fit([]float64{1, 2, 3}, 1, []bool{true, false}, nil); err == nil {
			t.Errorf("%s: shape mismatch accepted", c.Name())
		}
	}
}

func TestKNNFewerRowsThanNeighbours(t *testing.T) {
	m, err := NewKNN(7).Fit([]float64{-2, -1, 1, 2}, 1, []bool{false, false, true, true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := m.(warner).Warnings(); len(w) != 1 || !strings.Contains(w[0], "used k = 3") {
		t.Fatalf("warnings %q", w)
	}
	s := make([]float64, 2)
	if err := m.Score([]float64{-3, 3}, 1, s); err != nil || s[0] != 0 || s[1] != 1 {
		t.Fatalf("scores %v, %v", s, err)
	}
}

func TestForestIsSeeded(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	x, y := trainSet(rng, 60, 60, 4, 1)
	score := func(seed uint64) []float64 {
		m, err := NewForest(5, 2).Fit(x, 4, y, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		s := make([]float64, len(y))
		m.Score(x, 4, s)
		return s
	}
	a, b, c := score(1), score(1), score(2)
	same := func(p, q []float64) bool {
		for i := range p {
			if p[i] != q[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) || same(a, c) {
		t.Fatal("the forest is not a function of its seed")
	}
}

func TestForestUsesASingleFeature(t *testing.T) {
	// golearn's ID3 stops one feature early; the padding feature lets a
	// forest on one feature split at all.
	rng := rand.New(rand.NewPCG(6, 6))
	x, y := trainSet(rng, 200, 200, 1, 3)
	m, err := NewForest(10, 0).Fit(x, 1, y, rng)
	if err != nil {
		t.Fatal(err)
	}
	if acc := accuracy(t, m, x, 1, y); acc < 0.85 {
		t.Fatalf("accuracy %.3f on one informative feature", acc)
	}
}
