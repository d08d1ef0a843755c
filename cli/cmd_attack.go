package cli

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"unlearnbench/attack"
	"unlearnbench/attack/suite"
	"unlearnbench/evaluate"
	"unlearnbench/internal/usererr"
	"unlearnbench/population"
	"unlearnbench/reports"
)

func init() { subcommands = append(subcommands, newAttackCmd) }

type attackFlags struct {
	in         populationFlags
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
	strict     bool
	klom       attack.KLoMOptions
	interval   intervalFlags
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
	f.interval.register(cmd)
	fl.BoolVar(&f.strict, "strict", false, strictUsage+"; in an attack's epsilons, the attack fails")
	fl.BoolVar(&f.klom.Corrected, "klom-corrected", false, "KLoM counts a margin on the top bin edge in the last bin (the public code counts it in none)")
	fl.BoolVar(&f.klom.UnlearnedFirst, "klom-unlearned-first", false, "KLoM computes KL(unlearned || retrained) instead of the benchmark's KL(retrained || unlearned)")
	addReportFlag(cmd, &f.reportDir)
	return cmd
}

func runAttack(cmd *cobra.Command, f *attackFlags) error {
	set := suite.Settings{
		Folds: f.folds, Seed: f.seed, PerExample: splitList(f.perExample), Pooled: splitList(f.pooled),
		KnnK: f.neighbours, Trees: f.trees, PooledMaxTrain: f.maxTrain, MIASplits: f.miaSplits,
	}
	if f.features != "" {
		set.Features = splitList(f.features)
	}
	if err := checkMethodName(f.method); err != nil {
		return err
	}
	if err := checkWorkers(f.workers); err != nil {
		return err
	}
	// run checks its config's attacks: section with the same Check.
	if err := attackSettingsError(set.Check(0)); err != nil {
		return err
	}
	opt := set.Options()
	opt.Workers, opt.KLoM, opt.Strict = f.workers, f.klom, f.strict
	if err := checkResultOutputs(f.jsonOut, "--report", f.reportDir); err != nil {
		return err
	}
	boot, err := f.interval.options(f.seed)
	if err != nil {
		return err
	}
	f.in.keepLogits = true
	loaded, err := f.in.load()
	if err != nil {
		return err
	}
	if err := attackSettingsError(set.Check(loaded.u.Forget.N)); err != nil {
		return err
	}
	var original *population.Values
	if f.original != "" {
		like := population.Like{E: loaded.u.Forget.E, Of: loaded.u.Forget.Name}
		if original, err = population.ReadValuesLike(f.original, like, forgetMembers...); err != nil {
			return err
		}
		loaded.files["original"] = original.Name
	}
	if opt.Features != nil && !loaded.u.Forget.IsLogits() {
		return usererr.Errorf("--features needs logits [N, E, C] on the forget set with --labels; %s holds confidences", loaded.u.Forget.Name)
	}
	sbar, abar := newLazyBar(cmd.ErrOrStderr(), "scoring"), newLazyBar(cmd.ErrOrStderr(), "attacks")
	ctx, stop := interruptible(cmd)
	defer stop()
	m, err := evaluate.Method(ctx, loaded.u, loaded.r, loaded.labels, evaluate.Options{
		Method: f.method, Attacks: &opt, Original: original, Workers: f.workers, Strict: f.strict, Warnings: loaded.warnings, Bootstrap: boot,
		ScoreProgress: sbar.set, AttackProgress: func(done, total int) { sbar.done(); abar.set(done, total) },
	})
	sbar.done()
	abar.done()
	if err != nil {
		return interruptedBy(cmd, ctx, err, "nothing written")
	}
	f.interval.record(m)
	result := loaded.result("attack", m)
	if err := reports.WriteAttackTable(cmd.OutOrStdout(), &result.Methods[0]); err != nil {
		return err
	}
	return writeResult(cmd, result, f.jsonOut, f.reportDir)
}

// attackSettingsError names a refused attack setting by its flag.
func attackSettingsError(err error) error {
	var se *suite.SettingError
	if errors.As(err, &se) {
		return usererr.Errorf("%s", se.Named("--"+strings.ReplaceAll(se.Key, "_", "-")))
	}
	return err
}
