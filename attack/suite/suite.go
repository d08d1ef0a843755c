// Package suite runs every membership-inference attack of package attack on
// an unlearned and a retrained population and packages what each found as a
// result.AttackResult, turning per-example attacks' rules into epsilons and
// a forgetting quality with package scoring, as the competition's rules are;
// beside them it computes KLoM and ToW (metrics.go) on the same populations.
package suite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/stat"

	"unlearnbench/attack"
	"unlearnbench/attack/feature"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

// Population is what one population of N models produced.
type Population struct {
	// Conf holds the logit-scaled confidences on the forget set, N x E.
	Conf []float64
	// Forget, Retain and Test are the logits on each set, nil when not
	// given (confidences only).
	Forget, Retain, Test *scoring.Logits
	// ForgetAcc, RetainAcc and TestAcc are each model's accuracies
	// (fractions), for ToW; nil: computed from the logits and labels of
	// the set where they are given.
	ForgetAcc, RetainAcc, TestAcc []float64
}

// Inputs are the populations to attack.
type Inputs struct {
	// N models per population, E forget examples.
	N, E                 int
	Unlearned, Retrained Population
	// Labels of the forget, retain and test sets (nil when not given).
	Labels, RetainLabels, TestLabels []int
	// In holds the confidences (M x E) of models trained with the forget
	// set (the original models), LiRA's "in" population; nil when not
	// given.
	In []float64
	M  int
	// Score is the competition's score of the same populations, whose
	// epsilons the decision-rules row reports; Run computes it when nil.
	Score *scoring.Result
}

// Options select and tune the attacks; zero values take the defaults.
type Options struct {
	// Folds of the classifiers' stratified cross-validation (default 5).
	Folds int
	// Seed seeds every random choice (folds, forests, MIA splits).
	Seed uint64
	// PerExample and Pooled name the classifiers of the per-example and
	// pooled attacks (default DefaultPerExample and DefaultPooled); "none"
	// alone runs none.
	PerExample, Pooled []string
	// Features the classifiers look at (default feature.Default when
	// logits are given; confidences only otherwise).
	Features []string
	// Classifier tunes kNN and the random forest.
	Classifier attack.ClassifierOptions
	// PooledMaxTrain caps the training rows of each fold of the pooled kNN
	// and random forest (0: 4000; negative: no cap). The linear models
	// always train on every row.
	PooledMaxTrain int
	// MIASplits is the simple MIA's number of shuffle splits (default 10).
	MIASplits int
	// KLoM selects the KLoM variant (the zero value: the EasyDUB public
	// code's binning and direction).
	KLoM attack.KLoMOptions
	// Workers bounds the parallelism (0: GOMAXPROCS).
	Workers int
	// Strict fails on a forget example whose every rule was discarded, as
	// the competition's evaluation does, in the score and in every attack's
	// epsilons; otherwise such an example gets epsilon 0 and a warning
	// (scoring.Options.Strict).
	Strict bool
	// Progress, when set, is called after each attack with the number
	// done and the total.
	Progress func(done, total int)
}

// Kinds of attack results.
const (
	KindDecisionRules = "decision-rules"
	KindPerExample    = "per-example"
	KindPooled        = "pooled"
	KindLiRA          = "lira"
	KindSingleModel   = "single-model"
	KindDivergence    = "divergence"
	// KindKLoM rows hold KLoM per example of one set (forget, retain,
	// test); KindToW rows ToW or ToW-MIA per model pair.
	KindKLoM = result.KindKLoM
	KindToW  = result.KindToW
)

// The classifiers run by default. A tree of the random forest (golearn's
// information-gain splits on its generic data grids) costs about 3 ms on
// 410 rows, and a per-example forest grows trees x folds x E of them;
// golearn's kNN scans and sorts every training row per query, and a
// pooled kNN makes 2 N E queries over up to PooledMaxTrain rows. So the
// forest runs pooled only and kNN per example only, unless named
// (BENCHMARKS.md has the measurements).
var (
	DefaultPerExample = []string{attack.NameLogReg, attack.NameSVM, attack.NameKNN}
	DefaultPooled     = []string{attack.NameLogReg, attack.NameSVM, attack.NameForest}
)

func (o *Options) defaults() {
	if o.Folds == 0 {
		o.Folds = 5
	}
	if o.PerExample == nil {
		o.PerExample = DefaultPerExample
	}
	if o.Pooled == nil {
		o.Pooled = DefaultPooled
	}
	if o.PooledMaxTrain == 0 {
		o.PooledMaxTrain = 4000
	}
	if o.MIASplits == 0 {
		o.MIASplits = 10
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
}

// ErrOptions marks a bad option (the caller's input), as opposed to a
// failure of an attack.
var ErrOptions = errors.New("bad attack options")

func (o *Options) check(in *Inputs) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrOptions, fmt.Sprintf(format, args...))
	}
	if o.Folds < 2 {
		return bad("%d folds; cross-validation needs at least 2", o.Folds)
	}
	if o.Folds > in.N {
		return bad("%d folds but N = %d models per population: every fold needs at least one model of each population", o.Folds, in.N)
	}
	for _, list := range [][]string{o.PerExample, o.Pooled} {
		for _, name := range list {
			if name != "none" && !slices.Contains(attack.ClassifierNames, name) {
				return bad("unknown classifier %q (known: %s, or none)", name, strings.Join(attack.ClassifierNames, ", "))
			}
		}
	}
	if o.Features != nil {
		if err := feature.CheckNames(o.Features); err != nil {
			return bad("%v", err)
		}
	}
	if o.MIASplits < 1 {
		return bad("%d MIA splits; want at least 1", o.MIASplits)
	}
	return nil
}

// runner holds one Run's state.
type runner struct {
	ctx    context.Context
	in     *Inputs
	opt    Options
	u, r   *attack.FeatureSet
	logits bool // forget logits for both populations
	// mia holds the simple MIA's per-model accuracies of each population
	// once it ran, for ToW-MIA.
	mia map[string][]float64
	// miaSkipped says why the simple MIA did not run on a population.
	miaSkipped string
}

// Run runs the attacks and returns one result per attack, in a fixed order:
// the competition's decision rules, the per-example classifiers, the pooled
// classifiers, LiRA's variants, the single-model MIAs (on the unlearned
// population, then the retrained one for reference), the divergences, KLoM
// on the forget, retain and test sets, and ToW and ToW-MIA.
// An attack that cannot run on the inputs is listed with Skipped saying
// what it needs. The error is an ErrOptions for bad options, the failure
// of the competition's score, or ctx's error once ctx is done: it is
// checked between attacks and, in the per-example attacks, between
// examples.
func Run(ctx context.Context, in *Inputs, opt Options) ([]result.AttackResult, error) {
	opt.defaults()
	if err := opt.check(in); err != nil {
		return nil, err
	}
	if in.N < 3 || in.E < 1 || len(in.Unlearned.Conf) != in.N*in.E || len(in.Retrained.Conf) != in.N*in.E {
		return nil, fmt.Errorf("attacks need N >= 3 models per population and E >= 1 examples with N x E confidences each; have N = %d, E = %d, %d and %d values", in.N, in.E, len(in.Unlearned.Conf), len(in.Retrained.Conf))
	}
	ru := &runner{ctx: ctx, in: in, opt: opt, mia: map[string][]float64{}}
	if err := ru.features(); err != nil {
		return nil, err
	}
	if in.Score == nil {
		s, err := scoring.Score(
			&scoring.Population{N: in.N, E: in.E, Conf: in.Unlearned.Conf},
			&scoring.Population{N: in.N, E: in.E, Conf: in.Retrained.Conf},
			scoring.Options{Workers: opt.Workers, Strict: opt.Strict, Context: ctx})
		if err != nil {
			return nil, err
		}
		in.Score = s
	}
	one := func(f func() result.AttackResult) func() []result.AttackResult {
		return func() []result.AttackResult { return []result.AttackResult{f()} }
	}
	var plan []func() []result.AttackResult
	plan = append(plan, one(ru.decisionRules))
	for _, name := range opt.PerExample {
		if name != "none" {
			plan = append(plan, one(func() result.AttackResult { return ru.perExample(name) }))
		}
	}
	for _, name := range opt.Pooled {
		if name != "none" {
			plan = append(plan, one(func() result.AttackResult { return ru.pooled(name) }))
		}
	}
	for _, l := range []attack.LiRA{
		{}, {FixedVariance: true}, {TwoSided: true}, {TwoSided: true, FixedVariance: true},
		{Online: true}, {Online: true, FixedVariance: true},
	} {
		plan = append(plan, one(func() result.AttackResult { return ru.lira(l) }))
	}
	for _, pop := range []string{scoring.Unlearned, scoring.Retrained} {
		plan = append(plan, one(func() result.AttackResult { return ru.simpleMIA(pop) }))
	}
	for _, pop := range []string{scoring.Unlearned, scoring.Retrained} {
		plan = append(plan, one(func() result.AttackResult { return ru.miaEfficacy(pop) }))
	}
	plan = append(plan, ru.divergences, ru.kloms, ru.tows)

	var out []result.AttackResult
	for k, step := range plan {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r := step()
		// An attack stopped by ctx failed for that reason alone: no
		// result, not a failed attack.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out = append(out, r...)
		if opt.Progress != nil {
			opt.Progress(k+1, len(plan))
		}
	}
	return out, nil
}

// features computes the classifiers' features of both populations.
func (ru *runner) features() error {
	in := ru.in
	ru.logits = in.Unlearned.Forget != nil && in.Retrained.Forget != nil && in.Labels != nil
	if !ru.logits {
		ru.u = feature.FromConfidences(in.Unlearned.Conf, in.N, in.E)
		ru.r = feature.FromConfidences(in.Retrained.Conf, in.N, in.E)
		return nil
	}
	names := ru.opt.Features
	if names == nil {
		names = feature.Default
	}
	var err error
	if ru.u, err = feature.Compute(in.Unlearned.Forget, in.Labels, names); err != nil {
		return fmt.Errorf("unlearned population's features: %w", err)
	}
	if ru.r, err = feature.Compute(in.Retrained.Forget, in.Labels, names); err != nil {
		return fmt.Errorf("retrained population's features: %w", err)
	}
	return nil
}

// classifierFeatures are the features the classifiers use, with a note when
// only confidences were given.
func (ru *runner) featureNote() []string {
	if ru.logits {
		return nil
	}
	return []string{"confidences only: the classifiers see conf alone; logits [N, E, C] with labels add " + strings.Join(feature.Default[1:], ", ")}
}

func ptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func meanStd(v []float64) (float64, float64) {
	if len(v) == 1 {
		return v[0], math.NaN()
	}
	return stat.MeanStdDev(v, nil)
}

// epsilons turns per-example rule sets into epsilons through the
// competition's epsilon table, and F through its points. An example whose
// every rule was discarded (each had FPR or FNR 0: the original would fail
// on it) gets epsilon 0, and a warning says how many did; with Strict it
// fails the attack's run instead.
func (ru *runner) epsilons(res *result.AttackResult, outcomes []*attack.Outcome) error {
	n := ru.in.N
	table := scoring.NewEpsilonTable(n, n, scoring.Delta)
	res.Epsilons = make([]float64, len(outcomes))
	var undetermined []int
	separated := 0
	for e, o := range outcomes {
		eps, err := scoring.ExampleEpsilon(o.Rules, table)
		switch {
		case errors.Is(err, scoring.ErrAllDiscarded) && !ru.opt.Strict:
			undetermined = append(undetermined, e)
			continue
		case err != nil:
			return fmt.Errorf("forget example %d: %w", e, err)
		}
		res.Epsilons[e] = float64(eps.Value)
		if eps.Separated {
			separated++
		}
	}
	f, _, _ := scoring.ForgettingQuality(res.Epsilons, n)
	res.F = ptr(f)
	if len(undetermined) > 0 {
		res.Warnings = append(res.Warnings, scoring.UndeterminedWarning(undetermined, len(outcomes)))
	}
	if separated > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d of %d examples were separated perfectly (epsilon %d)", separated, len(outcomes), scoring.EpsilonCap))
	}
	return nil
}

func listInts(v []int, k int) string {
	s := make([]string, 0, k)
	for _, x := range v[:min(k, len(v))] {
		s = append(s, fmt.Sprint(x))
	}
	if len(v) > k {
		s = append(s, "...")
	}
	return strings.Join(s, ", ")
}

// summarisePerExample fills the mean over examples of each example's ROC
// summaries, and the warnings the examples' outcomes carried, counted.
func (ru *runner) summarisePerExample(res *result.AttackResult, outcomes []*attack.Outcome) error {
	nEx := len(outcomes)
	aucs := make([]float64, nEx)
	var adv, bacc float64
	tpr := make([]float64, len(attack.FPRTargets))
	counts := map[string]int{}
	for e, o := range outcomes {
		m, err := o.Metrics()
		if err != nil {
			return fmt.Errorf("forget example %d: %w", e, err)
		}
		aucs[e] = m.AUC
		adv += m.Advantage
		if o.Decision != nil {
			bacc += o.Decision.Decision().BalancedAccuracy
		} else {
			bacc += m.BestBalancedAccuracy
		}
		for k, v := range m.TPRAt {
			tpr[k] += v
		}
		for _, w := range o.Warnings {
			counts[w]++
		}
	}
	mean, std := meanStd(aucs)
	res.AUC, res.AUCStd = ptr(mean), ptr(std)
	res.Advantage = ptr(adv / float64(nEx))
	res.BalancedAccuracy = ptr(bacc / float64(nEx))
	for k, target := range attack.FPRTargets {
		res.TPRAtFPR = append(res.TPRAtFPR, result.TPRPoint{FPR: target, TPR: tpr[k] / float64(nEx)})
	}
	if minFPR := 1 / float64(ru.in.N); attack.FPRTargets[0] < minFPR {
		res.Warnings = append(res.Warnings, fmt.Sprintf("N = %d negatives per example resolve FPR only to %.4f: TPR at a smaller FPR is the TPR at zero false positives", ru.in.N, minFPR))
	}
	msgs := make([]string, 0, len(counts))
	for w := range counts {
		msgs = append(msgs, w)
	}
	sort.Strings(msgs)
	for _, w := range msgs {
		res.Warnings = append(res.Warnings, fmt.Sprintf("in %d of %d examples: %s", counts[w], nEx, w))
	}
	return nil
}

// summariseAll fills the ROC summaries of one set of scores.
func summariseAll(res *result.AttackResult, pos, neg []float64, decision *attack.Counts) error {
	m, err := attack.ScoreMetrics(pos, neg)
	if err != nil {
		return err
	}
	res.AUC, res.Advantage = ptr(m.AUC), ptr(m.Advantage)
	res.BalancedAccuracy = ptr(m.BestBalancedAccuracy)
	if decision != nil {
		res.BalancedAccuracy = ptr(decision.Decision().BalancedAccuracy)
	}
	for k, target := range attack.FPRTargets {
		res.TPRAtFPR = append(res.TPRAtFPR, result.TPRPoint{FPR: target, TPR: m.TPRAt[k]})
	}
	for _, p := range attack.ThinROC(m.ROC, 150) {
		res.ROC = append(res.ROC, result.ROCPoint{FPR: p.FPR, TPR: p.TPR})
	}
	if m.MinFPR > attack.FPRTargets[0] {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d negative scores resolve FPR only to %.2g: TPR at a smaller FPR is the TPR at zero false positives", len(neg), m.MinFPR))
	}
	return nil
}

func failed(res result.AttackResult, err error) result.AttackResult {
	return result.AttackResult{Name: res.Name, Kind: res.Kind, Features: res.Features, Population: res.Population, Skipped: "failed: " + err.Error()}
}

func (ru *runner) decisionRules() result.AttackResult {
	res := result.AttackResult{Name: attack.NameDecisionRules, Kind: KindDecisionRules, Features: []string{feature.Conf}}
	u := feature.FromConfidences(ru.in.Unlearned.Conf, ru.in.N, ru.in.E)
	r := feature.FromConfidences(ru.in.Retrained.Conf, ru.in.N, ru.in.E)
	outcomes, err := attack.PerExample(u, r, func(int) attack.Attack { return attack.DecisionRules{} }, ru.opt.Workers, nil)
	if err != nil {
		return failed(res, err)
	}
	// The ROC of each example calls the population with the larger
	// median positive, as the rules do.
	for _, o := range outcomes {
		if attack.Median(o.NegScores) > attack.Median(o.PosScores) {
			o.PosScores, o.NegScores = o.NegScores, o.PosScores
		}
	}
	if err := ru.summarisePerExample(&res, outcomes); err != nil {
		return failed(res, err)
	}
	for _, ex := range ru.in.Score.Examples {
		res.Epsilons = append(res.Epsilons, ex.Epsilon)
	}
	res.F = ptr(ru.in.Score.F)
	return res
}

func (ru *runner) classifier(name string) (attack.Classifier, error) {
	return attack.NewClassifier(name, ru.opt.Classifier)
}

func (ru *runner) perExample(name string) result.AttackResult {
	res := result.AttackResult{Name: name + "/per-example", Kind: KindPerExample, Features: ru.u.Names, Warnings: ru.featureNote()}
	c, err := ru.classifier(name)
	if err != nil {
		return failed(res, err)
	}
	outcomes, err := attack.PerExample(ru.u, ru.r, func(e int) attack.Attack {
		if err := ru.ctx.Err(); err != nil {
			return stopped{err}
		}
		return &attack.CrossValidated{Classifier: c, Folds: ru.opt.Folds, Seed: ru.opt.Seed, Stream: uint64(e), Features: ru.u.Names}
	}, ru.opt.Workers, nil)
	if err != nil {
		return failed(res, err)
	}
	if err := ru.summarisePerExample(&res, outcomes); err != nil {
		return failed(res, err)
	}
	if err := ru.epsilons(&res, outcomes); err != nil {
		return failed(res, err)
	}
	return res
}

func (ru *runner) pooled(name string) result.AttackResult {
	res := result.AttackResult{Name: name + "/pooled", Kind: KindPooled, Features: ru.u.Names, Warnings: ru.featureNote()}
	c, err := ru.classifier(name)
	if err != nil {
		return failed(res, err)
	}
	p := &attack.Pooled{Classifier: c, Folds: ru.opt.Folds, Seed: ru.opt.Seed, Workers: ru.opt.Workers, Features: ru.u.Names}
	if (name == attack.NameKNN || name == attack.NameForest) && ru.opt.PooledMaxTrain > 0 {
		p.MaxTrainRows = ru.opt.PooledMaxTrain
	}
	po, err := p.Run(ru.u, ru.r)
	if err != nil {
		return failed(res, err)
	}
	if err := summariseAll(&res, po.All.PosScores, po.All.NegScores, po.All.Decision); err != nil {
		return failed(res, err)
	}
	res.Warnings = append(res.Warnings, po.Warnings...)
	if err := ru.epsilons(&res, po.Examples); err != nil {
		return failed(res, err)
	}
	return res
}

func (ru *runner) lira(l attack.LiRA) result.AttackResult {
	res := result.AttackResult{Name: l.Name(), Kind: KindLiRA, Features: []string{feature.Conf}}
	if l.Online && ru.in.In == nil {
		res.Skipped = "needs the original models (trained with the forget set) on the forget set: --original, confidences [M, E] or logits [M, E, C]"
		return res
	}
	pos, neg, err := l.Scores(ru.in.Unlearned.Conf, ru.in.Retrained.Conf, ru.in.N, ru.in.E, ru.in.In, ru.in.M)
	if err != nil {
		return failed(res, err)
	}
	if err := summariseAll(&res, pos, neg, nil); err != nil {
		return failed(res, err)
	}
	outcomes, err := attack.SplitByExample(l.Name(), pos, neg, ru.in.N, ru.in.N, ru.in.E, nil, nil)
	if err != nil {
		return failed(res, err)
	}
	if err := ru.epsilons(&res, outcomes); err != nil {
		return failed(res, err)
	}
	if ru.in.N < 64 && !l.FixedVariance {
		res.Warnings = append(res.Warnings, fmt.Sprintf("N = %d shadow models: Carlini et al. recommend the fixed-variance variant below about 64", ru.in.N))
	}
	return res
}

func (ru *runner) population(name string) *Population {
	if name == scoring.Unlearned {
		return &ru.in.Unlearned
	}
	return &ru.in.Retrained
}

// forgetValues returns a population's forget-set values of one feature
// (loss or prob), N x E: computed from the logits, or from the
// confidences, of which both are functions (p_y = 1 / (1 + e^-conf) up to
// the 1e-45 floor of the confidence).
func (ru *runner) forgetValues(p *Population, name string) ([]float64, bool, error) {
	if p.Forget != nil && ru.in.Labels != nil {
		fs, err := feature.Compute(p.Forget, ru.in.Labels, []string{name})
		if err != nil {
			return nil, false, err
		}
		return fs.X, false, nil
	}
	out := make([]float64, len(p.Conf))
	for k, c := range p.Conf {
		switch name {
		case feature.Loss: // ln(1 + e^-c), stably
			if c > 0 {
				out[k] = math.Log1p(math.Exp(-c))
			} else {
				out[k] = -c + math.Log1p(math.Exp(c))
			}
		case feature.Prob:
			out[k] = 1 / (1 + math.Exp(-c))
		}
	}
	return out, true, nil
}

// perModel runs fn on every model in parallel.
func (ru *runner) perModel(n int, fn func(i int) (float64, []string, error)) ([]float64, []string, error) {
	vals := make([]float64, n)
	warns := make([][]string, n)
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(ru.opt.Workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				vals[i], warns[i], errs[i] = fn(i)
			}
		}()
	}
	wg.Wait()
	counts := map[string]int{}
	for i, err := range errs {
		if err != nil {
			return nil, nil, fmt.Errorf("model %d: %w", i, err)
		}
		for _, w := range warns[i] {
			counts[w]++
		}
	}
	var msgs []string
	for w, c := range counts {
		msgs = append(msgs, fmt.Sprintf("in %d of %d models: %s", c, n, w))
	}
	sort.Strings(msgs)
	return vals, msgs, nil
}

// singleModel starts the result of a single-model attack on population
// pop; the retrained population's is the reference row.
func singleModel(name, pop, feat, valueName string) result.AttackResult {
	if pop == scoring.Retrained {
		name += "/retrained"
	}
	return result.AttackResult{Name: name, Kind: KindSingleModel, Features: []string{feat}, Population: pop, ValueName: valueName}
}

func (ru *runner) simpleMIA(pop string) result.AttackResult {
	res := ru.simpleMIAOn(pop)
	if res.Skipped != "" && ru.miaSkipped == "" {
		ru.miaSkipped = res.Name + ": " + res.Skipped
	}
	return res
}

func (ru *runner) simpleMIAOn(pop string) result.AttackResult {
	res := singleModel("simple-mia", pop, feature.Loss, "mean accuracy")
	p := ru.population(pop)
	if p.Test == nil || ru.in.TestLabels == nil {
		res.Skipped = fmt.Sprintf("needs the test set's logits and labels (--%s-test and --test-labels, or test members in the .npz files)", pop)
		return res
	}
	forget, derived, err := ru.forgetValues(p, feature.Loss)
	if err != nil {
		return failed(res, err)
	}
	test, err := feature.Compute(p.Test, ru.in.TestLabels, []string{feature.Loss})
	if err != nil {
		return failed(res, fmt.Errorf("test set: %w", err))
	}
	if err := ru.sameModels(pop, "test", p.Test); err != nil {
		return failed(res, err)
	}
	nEx, nTest := ru.in.E, p.Test.E
	vals, warns, err := ru.perModel(ru.in.N, func(i int) (float64, []string, error) {
		acc, o, err := attack.SimpleMIA{Splits: ru.opt.MIASplits, Seed: ru.opt.Seed, Stream: uint64(i)}.Run(forget[i*nEx:(i+1)*nEx], test.X[i*nTest:(i+1)*nTest])
		if err != nil {
			return 0, nil, err
		}
		return acc, o.Warnings, nil
	})
	if err != nil {
		return failed(res, err)
	}
	ru.perModelResult(&res, vals, warns, derived)
	ru.mia[pop] = vals
	return res
}

// sameModels refuses a set's logits of another number of models than the
// population's: the single-model attacks pair each model's forget values
// with its own held-out ones.
func (ru *runner) sameModels(pop, set string, l *scoring.Logits) error {
	if l.N != ru.in.N {
		return fmt.Errorf("the %s population's %s-set logits hold %d models, not N = %d", pop, set, l.N, ru.in.N)
	}
	return nil
}

func (ru *runner) perModelResult(res *result.AttackResult, vals []float64, warns []string, derived bool) {
	res.PerModel = vals
	m, s := meanStd(vals)
	res.Value, res.Spread = ptr(m), ptr(s)
	res.Warnings = append(res.Warnings, warns...)
	if derived {
		res.Warnings = append(res.Warnings, "forget-set "+res.Features[0]+" derived from the confidences (p_y = 1 / (1 + e^-conf))")
	}
}

func (ru *runner) miaEfficacy(pop string) result.AttackResult {
	res := singleModel("mia-efficacy", pop, feature.Prob, "forget called non-member")
	p := ru.population(pop)
	if p.Retain == nil || p.Test == nil || ru.in.RetainLabels == nil || ru.in.TestLabels == nil {
		res.Skipped = fmt.Sprintf("needs the retain and test sets' logits and labels (--%s-retain, --%s-test, --retain-labels, --test-labels, or retain and test members in the .npz files)", pop, pop)
		return res
	}
	forget, derived, err := ru.forgetValues(p, feature.Prob)
	if err != nil {
		return failed(res, err)
	}
	retain, err := feature.Compute(p.Retain, ru.in.RetainLabels, []string{feature.Prob})
	if err != nil {
		return failed(res, fmt.Errorf("retain set: %w", err))
	}
	test, err := feature.Compute(p.Test, ru.in.TestLabels, []string{feature.Prob})
	if err != nil {
		return failed(res, fmt.Errorf("test set: %w", err))
	}
	for _, set := range []struct {
		name string
		l    *scoring.Logits
	}{{"retain", p.Retain}, {"test", p.Test}} {
		if err := ru.sameModels(pop, set.name, set.l); err != nil {
			return failed(res, err)
		}
	}
	nEx, nRet, nTest := ru.in.E, p.Retain.E, p.Test.E
	vals, warns, err := ru.perModel(ru.in.N, func(i int) (float64, []string, error) {
		return attack.MIAEfficacy{Classifier: attack.LinearSVM(), Seed: ru.opt.Seed, Stream: uint64(i)}.Run(
			retain.X[i*nRet:(i+1)*nRet], test.X[i*nTest:(i+1)*nTest], forget[i*nEx:(i+1)*nEx])
	})
	if err != nil {
		return failed(res, err)
	}
	ru.perModelResult(&res, vals, warns, derived)
	return res
}

const (
	nameKL = "kl"
	nameJS = "js"
)

func (ru *runner) divergences() []result.AttackResult {
	kl := result.AttackResult{Name: nameKL, Kind: KindDivergence, ValueName: "mean KL(U || R), nats"}
	js := result.AttackResult{Name: nameJS, Kind: KindDivergence, ValueName: "mean JS, nats"}
	if !ru.logits {
		kl.Skipped = "needs logits [N, E, C] on the forget set with --labels"
		js.Skipped = kl.Skipped
		return []result.AttackResult{kl, js}
	}
	klv, jsv, err := ru.divergenceValues()
	if err != nil {
		return []result.AttackResult{failed(kl, err), failed(js, err)}
	}
	for _, d := range []struct {
		res  *result.AttackResult
		vals []float64
	}{{&kl, klv}, {&js, jsv}} {
		d.res.PerExample = d.vals
		m, s := meanStd(d.vals)
		d.res.Value, d.res.Spread = ptr(m), ptr(s)
	}
	return []result.AttackResult{kl, js}
}

func (ru *runner) divergenceValues() (kl, js []float64, err error) {
	pu, err := feature.MeanPredictive(ru.in.Unlearned.Forget)
	if err != nil {
		return nil, nil, err
	}
	pr, err := feature.MeanPredictive(ru.in.Retrained.Forget)
	if err != nil {
		return nil, nil, err
	}
	return attack.Divergences(pu, pr, ru.in.E, ru.in.Unlearned.Forget.C)
}

// stopped is the attack of an example reached after the run's context
// was done: it fails at once with the context's error, which stops
// attack.PerExample's workers.
type stopped struct{ err error }

func (stopped) Name() string                                                { return "stopped" }
func (s stopped) Run(attack.Sample, attack.Sample) (*attack.Outcome, error) { return nil, s.err }
