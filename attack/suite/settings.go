package suite

import (
	"fmt"
	"slices"
	"strings"

	"unlearnbench/attack"
	"unlearnbench/attack/feature"
	"unlearnbench/internal/yamlcheck"
)

// Settings are the suite's options as a user gives them: a run config's
// attacks: section or attack's flags. Every value is explicit (none means
// "the default" when zero) and PooledMaxTrain 0 means every row. One Check
// serves both commands, so that run refuses what attack refuses, and
// before any model is computed rather than after.
type Settings struct {
	Folds          int
	Seed           uint64
	PerExample     []string
	Pooled         []string
	Features       []string // nil: the default features
	KnnK           int
	Trees          int
	PooledMaxTrain int
	MIASplits      int
}

// The keys a SettingError names a setting by: run's config fields under
// attacks:, attack's flags with "-" for "_".
const (
	KeyFolds          = "folds"
	KeyClassifiers    = "classifiers"
	KeyPooled         = "pooled"
	KeyFeatures       = "features"
	KeyKnnK           = "knn_k"
	KeyTrees          = "trees"
	KeyPooledMaxTrain = "pooled_max_train"
	KeyMIASplits      = "mia_splits"
)

// SettingError is a refused setting. It names the setting by its Key, so
// that each command can name it as its user wrote it (Named).
type SettingError struct {
	Key   string
	Value string
	Want  string
}

func (e *SettingError) Error() string { return e.Named(e.Key) }

// Named is the message with the setting called name ("--knn-k",
// "attacks.knn_k").
func (e *SettingError) Named(name string) string {
	return fmt.Sprintf("%s is %s; %s", name, e.Value, e.Want)
}

// Check refuses a setting the suite cannot run with, for populations of n
// models (0: n not known yet, and the folds are checked against it later).
func (s Settings) Check(n int) error {
	bad := func(key string, v any, want string, args ...any) error {
		return &SettingError{Key: key, Value: fmt.Sprint(v), Want: fmt.Sprintf(want, args...)}
	}
	switch {
	case s.Folds < 2:
		// 0 used to mean the default (5), silently.
		return bad(KeyFolds, s.Folds, "want at least 2")
	case n > 0 && s.Folds > n:
		return bad(KeyFolds, s.Folds, "want at most the number of models per population (%d): every fold needs at least one model of each population", n)
	case s.KnnK < 1:
		return bad(KeyKnnK, s.KnnK, "want at least 1")
	case s.KnnK%2 == 0:
		// kNN would raise it to the next odd number (two classes could
		// tie); a setting is used as given or refused, never changed.
		return bad(KeyKnnK, s.KnnK, "want an odd number, so that two classes cannot tie (e.g. %d)", s.KnnK+1)
	case s.Trees < 1:
		return bad(KeyTrees, s.Trees, "want at least 1")
	case s.PooledMaxTrain < 0:
		return bad(KeyPooledMaxTrain, s.PooledMaxTrain, "want 0 (all rows) or more")
	case s.MIASplits < 1:
		// 0 used to mean the default (10), silently.
		return bad(KeyMIASplits, s.MIASplits, "want at least 1")
	}
	for _, l := range []struct {
		key   string
		names []string
	}{{KeyClassifiers, s.PerExample}, {KeyPooled, s.Pooled}} {
		known := append(slices.Clone(attack.ClassifierNames), "none")
		for _, name := range l.names {
			if slices.Contains(known, name) {
				continue
			}
			hint := ""
			if c := yamlcheck.ClosestName(name, known); c != "" {
				hint = fmt.Sprintf("; did you mean %q?", c)
			}
			return bad(l.key, fmt.Sprintf("%q", name), "want %s%s", strings.Join(known, ", "), hint)
		}
		if slices.Contains(l.names, "none") && len(l.names) > 1 {
			return bad(l.key, fmt.Sprintf("%q", strings.Join(l.names, ",")), "want none alone or classifiers without none")
		}
	}
	if s.Features != nil {
		if err := feature.CheckNames(s.Features); err != nil {
			return bad(KeyFeatures, fmt.Sprintf("%q", strings.Join(s.Features, ",")), "%v", err)
		}
	}
	return nil
}

// Options are the suite's options for s (Workers and KLoM left to the
// caller).
func (s Settings) Options() Options {
	o := Options{Folds: s.Folds, Seed: s.Seed, PerExample: s.PerExample, Pooled: s.Pooled, Features: s.Features,
		Classifier: attack.ClassifierOptions{Neighbours: s.KnnK, Trees: s.Trees}, PooledMaxTrain: s.PooledMaxTrain, MIASplits: s.MIASplits}
	if s.PooledMaxTrain == 0 {
		o.PooledMaxTrain = -1 // every row; 0 is the suite's default cap
	}
	return o
}
