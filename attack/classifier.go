package attack

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Classifier trains a binary model on rows of features. Every classifier of
// this package is trained by golearn (github.com/sjwhitworth/golearn); see
// each constructor for which part of golearn and why.
type Classifier interface {
	// Name identifies the classifier in results, e.g. "logreg".
	Name() string
	// Fit trains on the n = len(y) rows of x (d features each, row-major)
	// labelled y (true = positive); both labels must occur. rng supplies
	// whatever randomness the classifier needs (bootstrap samples); it may
	// be nil for deterministic classifiers.
	Fit(x []float64, d int, y []bool, rng *rand.Rand) (Model, error)
}

// Model is a trained classifier.
type Model interface {
	// Score writes one score per row of x into dst; higher means more
	// likely positive.
	Score(x []float64, d int, dst []float64) error
	// Positive is the model's own decision for a score.
	Positive(score float64) bool
}

// warner is implemented by models that adapted themselves to their data
// (a kNN with fewer training rows than neighbours); the warnings reach the
// attack's result.
type warner interface{ Warnings() []string }

// Classifier names.
const (
	NameLogReg = "logreg"
	NameSVM    = "svm"
	NameKNN    = "knn"
	NameForest = "rf"
)

// ClassifierNames lists the classifiers NewClassifier knows.
var ClassifierNames = []string{NameLogReg, NameSVM, NameKNN, NameForest}

// ClassifierOptions tunes the classifiers NewClassifier builds; zero values
// take the defaults.
type ClassifierOptions struct {
	// Neighbours is kNN's k (default 5, scikit-learn's default; an even k
	// is raised to the next odd number so that two classes cannot tie).
	Neighbours int
	// Trees is the random forest's size (default 20).
	Trees int
	// TreeFeatures is how many features each tree sees (default half of
	// them, rounded up).
	TreeFeatures int
}

// NewClassifier returns the named classifier.
func NewClassifier(name string, opt ClassifierOptions) (Classifier, error) {
	switch name {
	case NameLogReg:
		return LogisticRegression(), nil
	case NameSVM:
		return LinearSVM(), nil
	case NameKNN:
		return NewKNN(opt.Neighbours), nil
	case NameForest:
		return NewForest(opt.Trees, opt.TreeFeatures), nil
	}
	return nil, fmt.Errorf("unknown classifier %q (known: %s)", name, strings.Join(ClassifierNames, ", "))
}

// checkFit validates Fit's arguments.
func checkFit(x []float64, d int, y []bool) error {
	if d < 1 {
		return fmt.Errorf("no features to train on")
	}
	if len(x) != len(y)*d {
		return fmt.Errorf("%d values for %d rows of %d features", len(x), len(y), d)
	}
	if !slices.Contains(y, true) || !slices.Contains(y, false) {
		return fmt.Errorf("the training rows hold one class only (%d rows)", len(y))
	}
	return nil
}

// constantModel scores every row the same; what a fit with no usable
// feature amounts to.
type constantModel struct{}

func (constantModel) Score(x []float64, d int, dst []float64) error {
	for i := range dst {
		dst[i] = 0
	}
	return nil
}

func (constantModel) Positive(float64) bool { return false }
