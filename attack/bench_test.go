package attack

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sjwhitworth/golearn/kdtree"
	"github.com/sjwhitworth/golearn/linear_models"
	"github.com/sjwhitworth/golearn/metrics/pairwise"
)

// BenchmarkFitScore is one fold of a per-example attack at N = 256: train
// on 410 rows of 7 features (two overlapping Gaussians), score 102. The
// dual SVM solver is liblinear's default; LinearSVM uses the primal one.
func BenchmarkFitScore(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := trainSet(rng, 205, 205, 7, 0.5)
	tx, _ := trainSet(rng, 51, 51, 7, 0.5)
	scores := make([]float64, 102)
	for _, c := range []Classifier{
		LogisticRegression(), LinearSVM(),
		&Linear{name: "svm-dual", solver: linear_models.L2R_L2LOSS_SVC_DUAL, C: 1, Eps: 0.1},
		NewKNN(5), NewForest(20, 0),
	} {
		b.Run(fmt.Sprintf("%s/rows=410", c.Name()), func(b *testing.B) {
			r := rand.New(rand.NewPCG(2, 2))
			for b.Loop() {
				m, err := c.Fit(x, 7, y, r)
				if err != nil {
					b.Fatal(err)
				}
				if err := m.Score(tx, 7, scores); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGolearnKDTree is golearn's kd-tree search, which would give a
// kNN's neighbours (and so vote fractions), on the same fold: 102 queries
// of 5 neighbours among 410 rows. Compare BenchmarkFitScore/knn.
func BenchmarkGolearnKDTree(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, _ := trainSet(rng, 205, 205, 7, 0.5)
	tx, _ := trainSet(rng, 51, 51, 7, 0.5)
	rows := make([][]float64, 410)
	for i := range rows {
		rows[i] = x[i*7 : (i+1)*7]
	}
	for b.Loop() {
		t := kdtree.New()
		if err := t.Build(rows); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 102; i++ {
			if _, _, err := t.Search(5, pairwise.NewEuclidean(), tx[i*7:(i+1)*7]); err != nil {
				b.Fatal(err)
			}
		}
	}
}
