package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"unlearnbench/attack"
	"unlearnbench/attack/suite"
	"unlearnbench/internal/progress"
	"unlearnbench/internal/usererr"
	"unlearnbench/population"
	"unlearnbench/reports"
	"unlearnbench/scoring"
)

func init() { subcommands = append(subcommands, newAttackCmd) }

type attackFlags struct {
	in         scoreFlags
	original   string
	jsonOut    string
	reportDir  string
	method     string
	folds      int
	seed       uint64
	perExample string
	pooled     string
	features   string
	neighbours int
	trees      int
	maxTrain   int
	miaSplits  int
	workers    int
	klom       attack.KLoMOptions
}

func newAttackCmd() *cobra.Command {
	var f attackFlags
	cmd := &cobra.Command{
		Use:   "attack",
		Short: "Run every membership-inference attack on an unlearned and a retrained population",
		Long: `attack runs, side by side, the competition's decision rules, classifiers
trained with golearn (logistic regression, linear SVM, kNN, random forest;
per forget example and pooled over examples, with stratified k-fold
cross-validation), LiRA (offline and online, per-example and fixed variance),
the starting kit's simple MIA and MIA-efficacy on each model, and the KL and
Jensen-Shannon divergences of the mean predictive distributions.

It reads the same inputs as score. Classifiers see the features computed from
logits (confidence, loss, top-1 probability, entropy, modified entropy,
margin, correctness), or the confidence alone when only confidences are
given. The single-model MIAs need the retain and test sets' logits and
labels; online LiRA needs the original models' values on the forget set
(--original). Attacks whose inputs are missing say what they need.

Per-example attacks turn their held-out rates into an epsilon per forget
example and a forgetting quality F exactly as the competition's rules do.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAttack(cmd, &f) },
	}
	f.in.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.original, "original", "", "original models (trained with the forget set) on the forget set, LiRA's \"in\" population: confidences [M, E] or logits [M, E, C]")
	fl.StringVar(&f.jsonOut, "json", "", "write the score and every attack's results to this JSON file")
	fl.StringVar(&f.method, "method", "unlearned", "name of the unlearning method, for tables and the result file")
	fl.IntVar(&f.folds, "folds", 5, "folds of the classifiers' stratified cross-validation")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of every random choice (folds, forests, MIA splits)")
	fl.StringVar(&f.perExample, "classifiers", strings.Join(suite.DefaultPerExample, ","), "classifiers attacking each forget example: "+strings.Join(attack.ClassifierNames, ", ")+" (comma-separated), or none")
	fl.StringVar(&f.pooled, "pooled", strings.Join(suite.DefaultPooled, ","), "classifiers attacking all forget examples at once, as --classifiers")
	fl.StringVar(&f.features, "features", "", "features the classifiers see (comma-separated; default: all but prob when logits are given)")
	fl.IntVar(&f.neighbours, "knn-k", 5, "kNN's number of neighbours")
	fl.IntVar(&f.trees, "trees", 20, "random forest's number of trees")
	fl.IntVar(&f.maxTrain, "pooled-max-train", 4000, "training rows per fold of the pooled kNN and random forest (a seeded sample; 0: all)")
	fl.IntVar(&f.miaSplits, "mia-splits", 10, "stratified shuffle splits of the simple MIA")
	fl.IntVar(&f.workers, "workers", 0, "parallel workers (0: one per core)")
	fl.BoolVar(&f.klom.Corrected, "klom-corrected", false, "KLoM counts a margin on the top bin edge in the last bin (the public code counts it in none)")
	fl.BoolVar(&f.klom.UnlearnedFirst, "klom-unlearned-first", false, "KLoM computes KL(unlearned || retrained) instead of the benchmark's KL(retrained || unlearned)")
	addReportFlag(cmd, &f.reportDir)
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runAttack(cmd *cobra.Command, f *attackFlags) error {
	opt := suite.Options{
		Folds: f.folds, Seed: f.seed, PerExample: splitList(f.perExample), Pooled: splitList(f.pooled),
		Classifier: attack.ClassifierOptions{Neighbours: f.neighbours, Trees: f.trees},
		MIASplits:  f.miaSplits, Workers: f.workers, PooledMaxTrain: f.maxTrain, KLoM: f.klom,
	}
	if f.maxTrain == 0 {
		opt.PooledMaxTrain = -1
	}
	switch {
	case f.neighbours < 1:
		return usererr.Errorf("--knn-k is %d; want at least 1", f.neighbours)
	case f.trees < 1:
		return usererr.Errorf("--trees is %d; want at least 1", f.trees)
	case f.maxTrain < 0:
		return usererr.Errorf("--pooled-max-train is %d; want 0 (all rows) or more", f.maxTrain)
	}
	if f.features != "" {
		opt.Features = splitList(f.features)
	}
	f.in.keepLogits = true
	loaded, err := f.in.load()
	if err != nil {
		return err
	}
	in, err := f.suiteInputs(loaded)
	if err != nil {
		return err
	}
	if opt.Features != nil && in.Unlearned.Forget == nil {
		return usererr.Errorf("--features needs logits [N, E, C] on the forget set with --labels; %s holds confidences", loaded.uVals.Name)
	}

	bar := progress.New(cmd.ErrOrStderr(), "scoring", loaded.u.E)
	score, err := scoring.Score(loaded.u, loaded.r, scoring.Options{Workers: f.workers, Progress: bar.Set})
	bar.Done()
	if err != nil {
		return usererr.Wrap(fmt.Errorf("scoring %s against %s: %w", loaded.uVals.Name, loaded.rVal.Name, err))
	}
	in.Score = score
	var abar *progress.Bar
	opt.Progress = func(done, total int) {
		if abar == nil {
			abar = progress.New(cmd.ErrOrStderr(), "attacks", total)
		}
		abar.Set(done)
	}
	results, err := suite.Run(in, opt)
	abar.Done()
	if err != nil {
		if errors.Is(err, suite.ErrOptions) {
			return usererr.Wrap(err)
		}
		return err
	}
	result := loaded.result("attack", f.method, score)
	result.Methods[0].Attacks = results
	if f.jsonOut != "" {
		if err := result.Write(f.jsonOut); err != nil {
			return err
		}
	}
	if err := reports.WriteAttackTable(cmd.OutOrStdout(), &result.Methods[0]); err != nil {
		return err
	}
	return writeReport(cmd, result, f.reportDir)
}

// suiteInputs gathers what the attacks read: the populations with their
// logits, the retain and test sets' logits and labels, and the original
// models' confidences.
func (f *attackFlags) suiteInputs(loaded *inputs) (*suite.Inputs, error) {
	in := &suite.Inputs{
		N: loaded.u.N, E: loaded.u.E, Labels: loaded.labels,
		Unlearned: suite.Population{Conf: loaded.u.Conf, Forget: loaded.uVals.Logits},
		Retrained: suite.Population{Conf: loaded.r.Conf, Forget: loaded.rVal.Logits},
	}
	if a, b := loaded.uVals, loaded.rVal; a.IsLogits() && b.IsLogits() && a.C != b.C {
		return nil, usererr.Errorf("%s has %d classes but %s has %d", a.Name, a.C, b.Name, b.C)
	}
	sets := []struct {
		pop, part, spec string
		dst             **scoring.Logits
	}{
		{"unlearned", "retain", f.in.unlearnedRetain, &in.Unlearned.Retain},
		{"unlearned", "test", f.in.unlearnedTest, &in.Unlearned.Test},
		{"retrained", "retain", f.in.retrainedRetain, &in.Retrained.Retain},
		{"retrained", "test", f.in.retrainedTest, &in.Retrained.Test},
	}
	labels := map[string][]int{}
	for _, s := range sets {
		if s.spec == "" {
			continue
		}
		v := loaded.heldOut[s.pop+"-"+s.part]
		if v == nil {
			var err error
			if v, err = population.ReadValues(s.spec); err != nil {
				return nil, err
			}
		}
		if !v.IsLogits() {
			return nil, usererr.Errorf("%s holds %s; the single-model attacks need logits [N, %s, C]", v.Name, v.Describe(), s.part)
		}
		if v.N != in.N {
			return nil, usererr.Errorf("%s has N = %d models, but the %s population has N = %d", v.Name, v.N, s.pop, in.N)
		}
		labelSpec := f.in.retainLabels
		if s.part == "test" {
			labelSpec = f.in.testLabels
		}
		if labelSpec == "" {
			return nil, usererr.Errorf("%s logits were given (%s) without --%s-labels", s.part, v.Name, s.part)
		}
		if labels[s.part] == nil {
			l, name, err := population.ReadLabels(labelSpec, s.part, "labels")
			if err != nil {
				return nil, err
			}
			labels[s.part] = l
			loaded.files[s.part+"-labels"] = name
		}
		l := labels[s.part]
		if len(l) != v.E {
			return nil, usererr.Errorf("%s: %d %s labels, but %s has %d examples", labelSpec, len(l), s.part, v.Name, v.E)
		}
		for i, y := range l {
			if y >= v.C {
				return nil, usererr.Errorf("%s: label %d is %d, outside the %d classes of %s", labelSpec, i, y, v.C, v.Name)
			}
		}
		loaded.files[s.pop+"-"+s.part] = v.Name
		*s.dst = v.Logits
	}
	in.RetainLabels, in.TestLabels = labels["retain"], labels["test"]
	if f.original != "" {
		v, err := population.ReadValues(f.original, forgetMembers...)
		if err != nil {
			return nil, err
		}
		if v.E != in.E {
			return nil, usererr.Errorf("%s has E = %d forget examples, but the populations have E = %d", v.Name, v.E, in.E)
		}
		if v.N < 2 {
			return nil, usererr.Errorf("%s: M = %d models; online LiRA needs at least 2", v.Name, v.N)
		}
		if in.In, err = v.Confidences(loaded.labels, loaded.labelsName); err != nil {
			return nil, usererr.Wrap(err)
		}
		in.M = v.N
		loaded.files["original"] = v.Name
	}
	return in, nil
}
