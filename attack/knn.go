package attack

import (
	"fmt"
	"math/rand/v2"

	"github.com/sjwhitworth/golearn/base"
	"github.com/sjwhitworth/golearn/knn"
)

// KNN is golearn's k-nearest-neighbours classifier (knn.KNNClassifier with
// Euclidean distance and a linear search, which golearn runs in C over its
// dense grids). golearn's kNN returns the majority class only, not the
// neighbours' vote, so its score is 1 for a row it calls positive and 0
// otherwise: its ROC has one point and its rule set one rule. (golearn's
// kd-tree search, which would give the neighbours, allocates a matrix per
// visited node and is about 7 times slower on 410 rows: see
// BenchmarkGolearnKDTree against BenchmarkFitScore/knn.)
type KNN struct {
	// K is the number of neighbours, odd so that two classes cannot tie
	// (golearn breaks ties by map order, which is random).
	K int
}

// NewKNN returns a kNN with k neighbours (0: 5; an even k is raised by 1).
func NewKNN(k int) *KNN {
	if k <= 0 {
		k = 5
	}
	if k%2 == 0 {
		k++
	}
	return &KNN{K: k}
}

// Name is "knn".
func (*KNN) Name() string { return NameKNN }

// Fit stores the training rows in a golearn grid.
func (c *KNN) Fit(x []float64, d int, y []bool, _ *rand.Rand) (Model, error) {
	if err := checkFit(x, d, y); err != nil {
		return nil, err
	}
	quietGolearn()
	m := &knnModel{schema: newGridSchema(d), k: c.K}
	if m.k > len(y) {
		// golearn slices the first k sorted distances and would panic.
		m.k = len(y)
		if m.k%2 == 0 {
			m.k--
		}
		m.warnings = append(m.warnings, fmt.Sprintf("kNN: %d training rows, fewer than k = %d neighbours; used k = %d", len(y), c.K, m.k))
	}
	m.cls = knn.NewKnnClassifier("euclidean", "linear", m.k)
	if err := m.cls.Fit(m.schema.grid(x, d, nil, nil, y)); err != nil {
		return nil, fmt.Errorf("golearn kNN: %w", err)
	}
	return m, nil
}

type knnModel struct {
	schema   *gridSchema
	k        int
	cls      *knn.KNNClassifier
	warnings []string
}

func (m *knnModel) Score(x []float64, d int, dst []float64) error {
	pred, err := m.cls.Predict(m.schema.grid(x, d, nil, nil, nil))
	if err != nil {
		return fmt.Errorf("golearn kNN: %w", err)
	}
	for i := range dst {
		dst[i] = 0
		if base.GetClass(pred, i) == classPos {
			dst[i] = 1
		}
	}
	return nil
}

func (m *knnModel) Positive(s float64) bool { return s > 0.5 }

func (m *knnModel) Warnings() []string { return m.warnings }
