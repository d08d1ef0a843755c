package suite

import (
	"errors"
	"strings"
	"testing"
)

// Settings.Check is run's and attack's one check of the attack settings:
// each refusal names its setting by key, so each command names it as its
// user wrote it.
func TestSettingsCheck(t *testing.T) {
	ok := Settings{Folds: 5, PerExample: DefaultPerExample, Pooled: DefaultPooled, KnnK: 5, Trees: 20, PooledMaxTrain: 4000, MIASplits: 10}
	if err := ok.Check(32); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	if err := ok.Check(0); err != nil {
		t.Fatalf("the defaults, N unknown: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(*Settings)
		n      int
		key    string
		want   string
	}{
		{"more folds than models", func(s *Settings) {}, 4, KeyFolds, "folds is 5; want at most the number of models per population (4)"},
		{"one fold", func(s *Settings) { s.Folds = 1 }, 0, KeyFolds, "at least 2"},
		{"zero knn_k", func(s *Settings) { s.KnnK = 0 }, 0, KeyKnnK, "at least 1"},
		{"even knn_k", func(s *Settings) { s.KnnK = 4 }, 0, KeyKnnK, "odd number"},
		{"no trees", func(s *Settings) { s.Trees = 0 }, 0, KeyTrees, "at least 1"},
		{"negative cap", func(s *Settings) { s.PooledMaxTrain = -1 }, 0, KeyPooledMaxTrain, "0 (all rows) or more"},
		{"no MIA splits", func(s *Settings) { s.MIASplits = 0 }, 0, KeyMIASplits, "at least 1"},
		{"unknown classifier", func(s *Settings) { s.PerExample = []string{"knm"} }, 0, KeyClassifiers, `did you mean "knn"`},
		{"unknown pooled", func(s *Settings) { s.Pooled = []string{"tree"} }, 0, KeyPooled, `"tree"`},
		{"none with others", func(s *Settings) { s.Pooled = []string{"none", "svm"} }, 0, KeyPooled, "none alone"},
		{"unknown feature", func(s *Settings) { s.Features = []string{"los"} }, 0, KeyFeatures, "unknown feature"},
	} {
		s := ok
		c.change(&s)
		err := s.Check(c.n)
		var se *SettingError
		if !errors.As(err, &se) || se.Key != c.key || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want a SettingError of %s with %q", c.name, err, c.key, c.want)
		}
	}
	// The Options keep every value; 0 rows means every row.
	o := Settings{Folds: 3, KnnK: 7, Trees: 9, MIASplits: 2}.Options()
	if o.Folds != 3 || o.Classifier.Neighbours != 7 || o.Classifier.Trees != 9 || o.MIASplits != 2 || o.PooledMaxTrain != -1 {
		t.Errorf("Options: %+v", o)
	}
}
