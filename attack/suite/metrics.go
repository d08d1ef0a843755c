package suite

import (
	"fmt"
	"strings"

	"gonum.org/v1/gonum/stat"

	"unlearnbench/attack"
	"unlearnbench/attack/feature"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

// The population metrics of the newer benchmarks: KLoM (EasyDUB) per
// example of each set, ToW and ToW-MIA (RUM) per pair of models.

// Sets KLoM and ToW look at.
const (
	SetForget = "forget"
	SetRetain = "retain"
	SetTest   = "test"
)

// ToWLevel is the confidence level of ToW's t-based interval.
const ToWLevel = 0.95

// kloms computes KLoM on the forget set (from the logits, or from the
// confidences, which are the same margins) and on the retain and test sets
// where both populations' logits and the labels are given.
func (ru *runner) kloms() []result.AttackResult {
	in := ru.in
	var out []result.AttackResult
	for _, set := range []string{SetForget, SetRetain, SetTest} {
		res := result.AttackResult{Name: "klom/" + set, Kind: KindKLoM, Features: []string{feature.Margin},
			ValueName: "binned-margin " + ru.opt.KLoM.Direction() + " mean"}
		var u, r []float64
		var e int
		var err error
		switch set {
		case SetForget:
			e = in.E
			if ru.logits {
				u, err = feature.Margins(in.Unlearned.Forget, in.Labels)
				if err == nil {
					r, err = feature.Margins(in.Retrained.Forget, in.Labels)
				}
			} else {
				// ln p_y - ln sum_{k != y} p_k is z_y - logsumexp_{k != y} z_k:
				// the confidences are the margins, up to rounding and the
				// competition's 1e-45 floor (|margin| below about 103, past
				// KLoM's clip at 100).
				u, r = in.Unlearned.Conf, in.Retrained.Conf
				res.Warnings = append(res.Warnings, "margins from the competition's confidences (equal up to rounding and their 1e-45 floor); logits [N, E, C] with --labels give them exactly")
			}
		case SetRetain, SetTest:
			lu, lr, labels := in.Unlearned.Retain, in.Retrained.Retain, in.RetainLabels
			if set == SetTest {
				lu, lr, labels = in.Unlearned.Test, in.Retrained.Test, in.TestLabels
			}
			if lu == nil || lr == nil || labels == nil {
				res.Skipped = fmt.Sprintf("needs both populations' logits on the %s set and its labels (--unlearned-%s, --retrained-%s, --%s-labels, or %s members in the .npz files)", set, set, set, set, set)
				out = append(out, res)
				continue
			}
			if lu.E != lr.E || lu.C != lr.C {
				res = failed(res, fmt.Errorf("the %s set has %d examples of %d classes in the unlearned population's logits but %d of %d in the retrained one's", set, lu.E, lu.C, lr.E, lr.C))
				out = append(out, res)
				continue
			}
			e = lu.E
			u, err = feature.Margins(lu, labels)
			if err == nil {
				r, err = feature.Margins(lr, labels)
			}
		}
		if err != nil {
			out = append(out, failed(res, fmt.Errorf("%s set: %w", set, err)))
			continue
		}
		out = append(out, ru.klom(res, u, r, len(u)/max(e, 1), len(r)/max(e, 1), e))
	}
	return out
}

// klom fills one set's KLoM row from the two populations' margins.
func (ru *runner) klom(res result.AttackResult, u, r []float64, nu, nr, e int) result.AttackResult {
	vals, undefined, err := attack.KLoM(u, r, nu, nr, e, ru.opt.KLoM)
	if err != nil {
		return failed(res, err)
	}
	res.PerExample = vals
	res.Undefined = undefined
	defined := make([]float64, 0, len(vals))
	skip := map[int]bool{}
	for _, j := range undefined {
		skip[j] = true
	}
	for j, v := range vals {
		if !skip[j] {
			defined = append(defined, v)
		}
	}
	if len(undefined) > 0 {
		first := scoring.Retrained
		if ru.opt.KLoM.UnlearnedFirst {
			first = scoring.Unlearned
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d of %d examples have KLoM undefined (every %s margin equals the largest margin, the top bin edge the public code counts in no bin, where it returns NaN); they are left out of the summaries; first: %s",
			len(undefined), e, first, listInts(undefined, 5)))
	}
	if len(defined) == 0 {
		return result.AttackResult{Name: res.Name, Kind: res.Kind, Features: res.Features, Warnings: res.Warnings,
			Skipped: "KLoM is undefined on every example (see the warning); the corrected variant counts the top edge"}
	}
	res.Value = ptr(stat.Mean(defined, nil))
	res.Median = ptr(attack.Median(defined))
	res.P95 = ptr(attack.Percentile(defined, 95))
	if ru.opt.KLoM.Corrected {
		res.Warnings = append(res.Warnings, "corrected binning (a margin on the top edge counts in the last bin): not the public code's values")
	}
	return res
}

// accuracies returns a population's per-model accuracies on one set: the
// given ones, or computed from the set's logits and labels; nil with what
// is missing when neither is there.
func (ru *runner) accuracies(pop, set string) ([]float64, string, error) {
	p := ru.population(pop)
	var given []float64
	var l *scoring.Logits
	var labels []int
	switch set {
	case SetForget:
		given, l, labels = p.ForgetAcc, p.Forget, ru.in.Labels
	case SetRetain:
		given, l, labels = p.RetainAcc, p.Retain, ru.in.RetainLabels
	case SetTest:
		given, l, labels = p.TestAcc, p.Test, ru.in.TestLabels
	}
	if given != nil {
		if len(given) != ru.in.N {
			return nil, "", fmt.Errorf("%d %s %s-set accuracies for N = %d models; ToW pairs the populations' models one to one", len(given), pop, set, ru.in.N)
		}
		return given, "", nil
	}
	if l == nil || labels == nil {
		return nil, pop + " " + set, nil
	}
	if l.N != ru.in.N {
		return nil, "", fmt.Errorf("the %s population's %s-set logits hold %d models, not N = %d", pop, set, l.N, ru.in.N)
	}
	acc, err := l.Accuracies(labels)
	if err != nil {
		return nil, "", fmt.Errorf("%s population, %s set: %w", pop, set, err)
	}
	return acc, "", nil
}

// tows computes ToW and ToW-MIA, pairing unlearned model i with retrained
// model i as RUM pairs the runs of one seed.
func (ru *runner) tows() []result.AttackResult {
	tow := result.AttackResult{Name: "tow", Kind: KindToW, ValueName: "mean over model pairs [95% t CI]"}
	towMIA := result.AttackResult{Name: "tow-mia", Kind: KindToW, Features: []string{feature.Loss}, ValueName: "mean over model pairs [95% t CI]"}
	acc := map[string][]float64{}
	var missing []string
	for _, pop := range []string{scoring.Unlearned, scoring.Retrained} {
		for _, set := range []string{SetForget, SetRetain, SetTest} {
			a, need, err := ru.accuracies(pop, set)
			if err != nil {
				return []result.AttackResult{failed(tow, err), failed(towMIA, err)}
			}
			if need != "" {
				missing = append(missing, need)
			}
			acc[pop+"/"+set] = a
		}
	}
	retainTest := func(m []string) []string {
		var out []string
		for _, s := range m {
			if !strings.HasSuffix(s, " "+SetForget) {
				out = append(out, s)
			}
		}
		return out
	}
	needs := func(missing []string) string {
		return "needs both populations' accuracies on the forget, retain and test sets (from each set's logits and labels); missing: " + strings.Join(missing, ", ")
	}
	n := ru.in.N
	pairs := func(forgetU, forgetR []float64) ([]float64, error) {
		vals := make([]float64, n)
		for i := range vals {
			v, err := attack.ToW(
				attack.Accuracies{Forget: forgetU[i], Retain: acc["unlearned/retain"][i], Test: acc["unlearned/test"][i]},
				attack.Accuracies{Forget: forgetR[i], Retain: acc["retrained/retain"][i], Test: acc["retrained/test"][i]})
			if err != nil {
				return nil, fmt.Errorf("model pair %d: %w", i, err)
			}
			vals[i] = v
		}
		return vals, nil
	}
	if len(missing) > 0 {
		tow.Skipped = needs(missing)
	} else if vals, err := pairs(acc["unlearned/forget"], acc["retrained/forget"]); err != nil {
		tow = failed(tow, err)
	} else {
		towResult(&tow, vals)
	}
	miaU, miaR := ru.mia[scoring.Unlearned], ru.mia[scoring.Retrained]
	switch rest := retainTest(missing); {
	case miaU == nil || miaR == nil:
		towMIA.Skipped = "needs the simple MIA's accuracies on both populations, and it did not run (" + ru.miaSkipped + ")"
	case len(rest) > 0:
		towMIA.Skipped = needs(rest)
	default:
		if vals, err := pairs(miaU, miaR); err != nil {
			towMIA = failed(towMIA, err)
		} else {
			towResult(&towMIA, vals)
		}
	}
	return []result.AttackResult{tow, towMIA}
}

func towResult(res *result.AttackResult, vals []float64) {
	res.PerModel = vals
	mean, lo, hi, ok := attack.TInterval(vals, ToWLevel)
	res.Value = ptr(mean)
	// The interval is RUM's mean ± t s / sqrt n as it is, not clipped to
	// [0, 1]: near ToW = 1 its upper end can pass 1.
	if ok {
		res.CILow, res.CIHigh = ptr(lo), ptr(hi)
	}
}
