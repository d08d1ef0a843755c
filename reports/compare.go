package reports

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gonum.org/v1/gonum/stat"

	"unlearnbench/internal/usererr"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

// CompareOptions tunes Compare.
type CompareOptions struct {
	// Alpha is the significance level: a change is significant when the
	// (1 - Alpha) bootstrap interval of the change excludes 0.
	Alpha float64
	// Tolerances are how much each gated metric (F and each attack's F,
	// the final score, ToW, KLoM) may worsen, significantly, before it is
	// a regression.
	Tolerances Tolerances
	// Resamples is the number of bootstrap resamples.
	Resamples int
	// Seed seeds the bootstrap, so that the same inputs give the same
	// intervals.
	Seed uint64
	// AllowDifferentN compares methods whose populations differ in size,
	// with a warning, instead of refusing.
	AllowDifferentN bool
	// RequireAttacks makes an attack that ran in the baseline but not in
	// the current result a regression instead of a warning: a gate that
	// lost an attack (say, its test logits were not passed) checks less.
	RequireAttacks bool
	// All makes the renderers list every row; by default they list only
	// the rows with a significant change, and count the others.
	All bool
}

// DefaultCompareOptions are benchstat's conventions (alpha 0.05) and the
// tolerances of DefaultTolerances.
var DefaultCompareOptions = CompareOptions{Alpha: 0.05, Resamples: 2000, Seed: 1, Tolerances: DefaultTolerances}

// Verdict is a row's judgement.
type Verdict string

// Verdicts, as benchstat gives them.
const (
	Better   Verdict = "better"
	Worse    Verdict = "worse"
	NoChange Verdict = "~"   // the interval contains 0
	Untested Verdict = "n/a" // nothing to resample: no interval
)

// ComparisonRow is one method's metric in both results.
type ComparisonRow struct {
	Method, Metric    string
	Baseline, Current float64
	// Change is Current - Baseline; Low and High bound its bootstrap
	// interval when HasInterval.
	Change, Low, High float64
	HasInterval       bool
	Verdict           Verdict
	// HigherBetter says which way is better.
	HigherBetter bool
	// Gate names the tolerance of a gated row (GateF, ...; "" for rows
	// that only inform); Allowed is the worsening it tolerates from this
	// baseline, and Regression is set on a gated row that worsened
	// significantly by more.
	Gate       string
	Tolerance  Tolerance
	Allowed    float64
	Regression bool
}

// Worsening is how much the row got worse (negative when it improved).
func (r ComparisonRow) Worsening() float64 {
	if r.HigherBetter {
		return -r.Change
	}
	return r.Change
}

// Changed reports whether the row changed significantly (or regressed).
func (r ComparisonRow) Changed() bool {
	return r.Verdict == Better || r.Verdict == Worse || r.Regression
}

// Comparison is the outcome of Compare.
type Comparison struct {
	BaselineName, CurrentName string
	Options                   CompareOptions
	Rows                      []ComparisonRow
	// Resampled says what the intervals resample, in words.
	Resampled string
	Warnings  []string
	// LostAttacks names, as "method: attack", the attacks that ran in the
	// baseline but not in the current result (each also a warning).
	LostAttacks []string
}

// Regressions are the rows that make compare fail.
func (c *Comparison) Regressions() []ComparisonRow {
	var out []ComparisonRow
	for _, r := range c.Rows {
		if r.Regression {
			out = append(out, r)
		}
	}
	return out
}

// metric is one comparable number of a method: its value on the full data
// and on one bootstrap draw.
type metric struct {
	name         string
	higherBetter bool
	gate         string // a Gate* name, "" for an informative row
	// value computes the metric from a draw; nil indices mean the full data.
	value func(m *result.Method, d *bootDraw) float64
	// resamples says whether draws change the value (otherwise the row has
	// no interval).
	resamples func(base, cur *result.Method) bool
}

// bootDraw is one bootstrap draw for one result's method: the forget examples
// (shared by both results, which pair them) and each population's models.
type bootDraw struct {
	examples []int
	models   map[string][]int
}

func meanOver(v []float64, idx []int) float64 {
	if idx == nil {
		return stat.Mean(v, nil)
	}
	s := 0.0
	for _, i := range idx {
		s += v[i]
	}
	return s / float64(len(idx))
}

// capValue is the epsilon a peaky or perfectly separated example gets.
const capValue = float64(scoring.EpsilonCap)

// meanBelowCap is the mean of the epsilons under scoring.EpsilonCap among
// idx (all when nil), NaN when every one is capped.
func meanBelowCap(eps []float64, idx []int) float64 {
	s, n := 0.0, 0
	add := func(v float64) {
		if v < scoring.EpsilonCap {
			s += v
			n++
		}
	}
	if idx == nil {
		for _, v := range eps {
			add(v)
		}
	} else {
		for _, i := range idx {
			add(eps[i])
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// countCapped counts the epsilons at scoring.EpsilonCap among idx (all
// when nil).
func countCapped(eps []float64, idx []int) float64 {
	n := 0
	if idx == nil {
		for _, v := range eps {
			if v >= scoring.EpsilonCap {
				n++
			}
		}
	} else {
		for _, i := range idx {
			if eps[i] >= scoring.EpsilonCap {
				n++
			}
		}
	}
	return float64(n)
}

// towGate gates ToW, not ToW-MIA (an attack's view of the same pairs).
func towGate(attack string) string {
	if attack == "tow" {
		return GateToW
	}
	return ""
}

func points(m *result.Method) []float64 {
	p := make([]float64, len(m.Examples))
	for i, e := range m.Examples {
		p[i] = e.Points
	}
	return p
}

func epsilons(m *result.Method) []float64 {
	p := make([]float64, len(m.Examples))
	for i, e := range m.Examples {
		p[i] = e.Epsilon
	}
	return p
}

// accRatio is the mean accuracy of the unlearned models over the retrained
// ones, from per-model values when both populations have them, otherwise
// from the utility summary (then fixed under resampling).
func accRatio(m *result.Method, d *bootDraw, acc result.Accuracy) float64 {
	vals := func(role string) []float64 {
		p := m.Population(role)
		if p == nil {
			return nil
		}
		if acc == result.RetainAccuracy {
			return p.RetainAcc
		}
		return p.TestAcc
	}
	u, r := vals(scoring.Unlearned), vals(scoring.Retrained)
	if len(u) > 0 && len(r) > 0 {
		if d == nil {
			// The full data: the ratio as scored.
			if m.Utility != nil {
				return utilityRatio(m, acc)
			}
			return meanOver(u, nil) / meanOver(r, nil)
		}
		return meanOver(u, d.models[scoring.Unlearned]) / meanOver(r, d.models[scoring.Retrained])
	}
	return utilityRatio(m, acc)
}

func utilityRatio(m *result.Method, acc result.Accuracy) float64 {
	if m.Utility == nil {
		return math.NaN()
	}
	if acc == result.RetainAccuracy {
		return m.Utility.RetainRatio
	}
	return m.Utility.TestRatio
}

func hasPerModelAcc(m *result.Method) bool {
	u, r := m.Population(scoring.Unlearned), m.Population(scoring.Retrained)
	return u != nil && r != nil && len(u.RetainAcc) > 0 && len(r.RetainAcc) > 0 && len(u.TestAcc) > 0 && len(r.TestAcc) > 0
}

func exampleIdx(d *bootDraw) []int {
	if d == nil {
		return nil
	}
	return d.examples
}

func always(_, _ *result.Method) bool { return true }

// methodMetrics lists the metrics both results' method m has.
func methodMetrics(base, cur *result.Method) []metric {
	// Per-example values, computed once for the thousands of draws.
	pick := func(m *result.Method, b, c []float64) []float64 {
		if m == base {
			return b
		}
		return c
	}
	pb, pc := points(base), points(cur)
	eb, ec := epsilons(base), epsilons(cur)
	ms := []metric{
		{name: "forgetting quality F", higherBetter: true, gate: GateF, resamples: always,
			value: func(m *result.Method, d *bootDraw) float64 {
				if d == nil {
					return m.Score.F
				}
				return meanOver(pick(m, pb, pc), d.examples)
			}},
		// The cap (a peaky or perfectly separated example) is no
		// measurement: a mean over capped epsilons moves by 50 for each
		// example that reaches or leaves it. The uncapped ones are
		// averaged, and the capped ones counted.
		{name: "mean epsilon below the cap", resamples: always,
			value: func(m *result.Method, d *bootDraw) float64 { return meanBelowCap(pick(m, eb, ec), exampleIdx(d)) }},
		{name: fmt.Sprintf("examples at the epsilon cap (%g)", capValue), resamples: always,
			value: func(m *result.Method, d *bootDraw) float64 { return countCapped(pick(m, eb, ec), exampleIdx(d)) }},
	}
	if base.Utility != nil && cur.Utility != nil {
		perModel := func(b, c *result.Method) bool { return hasPerModelAcc(b) && hasPerModelAcc(c) }
		ms = append(ms,
			metric{name: "RA_U / RA_R", higherBetter: true, resamples: perModel,
				value: func(m *result.Method, d *bootDraw) float64 { return accRatio(m, d, result.RetainAccuracy) }},
			metric{name: "TA_U / TA_R", higherBetter: true, resamples: perModel,
				value: func(m *result.Method, d *bootDraw) float64 { return accRatio(m, d, result.TestAccuracy) }},
			metric{name: "final score", higherBetter: true, gate: GateFinal, resamples: always,
				value: func(m *result.Method, d *bootDraw) float64 {
					if d == nil && m.Score.Final != nil {
						return *m.Score.Final
					}
					return meanOver(pick(m, pb, pc), exampleIdx(d)) * accRatio(m, d, result.RetainAccuracy) * accRatio(m, d, result.TestAccuracy)
				}},
		)
	}
	if base.SecondsPerModel(scoring.Unlearned).N > 0 && cur.SecondsPerModel(scoring.Unlearned).N > 0 {
		ms = append(ms, metric{name: "seconds per model", resamples: always,
			value: func(m *result.Method, d *bootDraw) float64 {
				var idx []int
				if d != nil {
					idx = d.models[scoring.Unlearned]
				}
				return meanOver(m.Population(scoring.Unlearned).Seconds, idx)
			}})
	}
	for i := range base.Attacks {
		name := base.Attacks[i].Name
		j := slices.IndexFunc(cur.Attacks, func(a result.AttackResult) bool { return a.Name == name })
		if j < 0 {
			continue
		}
		ba, ca := &base.Attacks[i], &cur.Attacks[j]
		find := func(m *result.Method) *result.AttackResult {
			if m == base {
				return ba
			}
			return ca
		}
		if len(ba.Epsilons) > 0 && len(ca.Epsilons) > 0 {
			ms = append(ms, metric{name: "attack " + name + ": F", higherBetter: true, gate: GateAttackF, resamples: always,
				value: func(m *result.Method, d *bootDraw) float64 {
					a := find(m)
					if d == nil {
						f, _ := a.AttackF(m.N)
						return f
					}
					buckets := scoring.Buckets(m.N)
					s := 0.0
					for _, e := range d.examples {
						s += scoring.PointsOf(buckets, a.Epsilons[e])
					}
					return s / float64(len(d.examples))
				}})
		}
		ms = append(ms, populationMetrics(base, cur, ba, ca, find)...)
		single := func(label string, higherBetter bool, get func(a *result.AttackResult) (float64, bool)) {
			if _, ok := get(ba); !ok {
				return
			}
			if _, ok := get(ca); !ok {
				return
			}
			ms = append(ms, metric{name: "attack " + name + ": " + label, higherBetter: higherBetter,
				resamples: func(_, _ *result.Method) bool { return false },
				value:     func(m *result.Method, _ *bootDraw) float64 { v, _ := get(find(m)); return v }})
		}
		ptr := func(get func(a *result.AttackResult) *float64) func(a *result.AttackResult) (float64, bool) {
			return func(a *result.AttackResult) (float64, bool) {
				if v := get(a); v != nil {
					return *v, true
				}
				return 0, false
			}
		}
		single("AUC", false, ptr(func(a *result.AttackResult) *float64 { return a.AUC }))
		single("advantage", false, ptr(func(a *result.AttackResult) *float64 { return a.Advantage }))
		for _, fpr := range StandardFPRs {
			single("TPR @ "+percent(fpr)+" FPR", false, func(a *result.AttackResult) (float64, bool) { return a.TPRAt(fpr) })
		}
	}
	return ms
}

// Compare compares every method the two results share, metric by metric:
// the change from baseline to current with a percentile bootstrap interval
// that resamples the forget examples (the same draw for both results, which
// pairs each example with itself) and, where the results hold per-model
// values, each population's models independently. A row is better or worse
// when the (1 - Alpha) interval excludes 0 in that direction, "~" when it
// does not; gated rows (F, the final score, an attack's F, ToW, the forget
// set's KLoM) that are worse by more than their tolerance are regressions. The epsilons themselves are not
// recomputed: a result keeps its examples' epsilons, not every model's
// confidences, so the intervals say how much the numbers depend on which
// forget examples (and models, for accuracies and times) were drawn.
//
// Two results of different forget sets (E or the forget-set digest differ)
// are refused, since their examples cannot be paired; different population
// sizes are refused unless AllowDifferentN, since N sets the buckets.
func Compare(baseName string, base *result.Result, curName string, cur *result.Result, opt CompareOptions) (*Comparison, error) {
	if !(opt.Alpha > 0 && opt.Alpha < 1) {
		return nil, usererr.Errorf("--alpha is %v; want a level between 0 and 1, e.g. 0.05", opt.Alpha)
	}
	if err := opt.Tolerances.Check(); err != nil {
		return nil, err
	}
	if opt.Resamples < 100 {
		return nil, usererr.Errorf("--resamples is %d; want at least 100 for a %g%% interval", opt.Resamples, 100*(1-opt.Alpha))
	}
	c := &Comparison{BaselineName: baseName, CurrentName: curName, Options: opt}
	if base.Data != nil && cur.Data != nil && base.Data.ForgetDigest != "" && cur.Data.ForgetDigest != "" && base.Data.ForgetDigest != cur.Data.ForgetDigest {
		return nil, usererr.Errorf("%s and %s are results of different forget sets (forget_digest %s vs %s); compare pairs forget examples and cannot compare them",
			baseName, curName, shortDigest(base.Data.ForgetDigest), shortDigest(cur.Data.ForgetDigest))
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0xc0ffee))
	anyModels := false
	shared := 0
	for i := range base.Methods {
		bm := &base.Methods[i]
		j := slices.IndexFunc(cur.Methods, func(m result.Method) bool { return m.Name == bm.Name })
		if j < 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("method %q is in %s only", bm.Name, baseName))
			continue
		}
		cm := &cur.Methods[j]
		if err := c.comparable(bm, cm); err != nil {
			return nil, err
		}
		shared++
		warnings, lost := attackCoverage(bm, cm, baseName, curName)
		c.Warnings = append(c.Warnings, warnings...)
		c.LostAttacks = append(c.LostAttacks, lost...)
		rows, usedModels := compareMethod(bm, cm, opt, rng)
		anyModels = anyModels || usedModels
		c.Rows = append(c.Rows, rows...)
	}
	for _, cm := range cur.Methods {
		if !slices.ContainsFunc(base.Methods, func(m result.Method) bool { return m.Name == cm.Name }) {
			c.Warnings = append(c.Warnings, fmt.Sprintf("method %q is in %s only", cm.Name, curName))
		}
	}
	if shared == 0 {
		return nil, usererr.Errorf("%s and %s have no method in common (baseline: %s; current: %s)", baseName, curName, methodNames(base), methodNames(cur))
	}
	c.Resampled = fmt.Sprintf("%d bootstrap resamples (seed %d) of the forget examples, paired between the results", opt.Resamples, opt.Seed)
	if anyModels {
		c.Resampled += ", and of each population's models for accuracies and times"
	}
	return c, nil
}

func methodNames(r *result.Result) string {
	names := make([]string, len(r.Methods))
	for i, m := range r.Methods {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

func shortDigest(d string) string {
	if i := strings.LastIndexByte(d, ':'); i >= 0 && len(d)-i > 13 {
		return d[:i+13]
	}
	return d
}

// comparable refuses method pairs whose examples cannot be paired and, unless
// allowed, populations of different sizes.
func (c *Comparison) comparable(b, m *result.Method) error {
	if b.E != m.E {
		return usererr.Errorf("method %q: %s has E = %d forget examples but %s has E = %d; results of different forget sets cannot be compared",
			b.Name, c.BaselineName, b.E, c.CurrentName, m.E)
	}
	var diffs []string
	if b.N != m.N {
		diffs = append(diffs, fmt.Sprintf("N = %d models per population in %s but %d in %s", b.N, c.BaselineName, m.N, c.CurrentName))
	}
	for _, role := range []string{scoring.Unlearned, scoring.Retrained} {
		bp, cp := b.Population(role), m.Population(role)
		if bp != nil && cp != nil && bp.N != cp.N && bp.N != b.N {
			diffs = append(diffs, fmt.Sprintf("the %s population has %d models in %s but %d in %s", role, bp.N, c.BaselineName, cp.N, c.CurrentName))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	msg := fmt.Sprintf("method %q: %s; N sets the epsilon buckets, so the scores are not comparable", b.Name, strings.Join(diffs, ", "))
	if !c.Options.AllowDifferentN {
		return usererr.Errorf("%s (--allow-different-n compares them anyway)", msg)
	}
	c.Warnings = append(c.Warnings, msg)
	return nil
}

// compareMethod computes every metric's rows for one method.
func compareMethod(b, m *result.Method, opt CompareOptions, rng *rand.Rand) ([]ComparisonRow, bool) {
	metrics := methodMetrics(b, m)
	deltas := make([][]float64, len(metrics))
	usedModels := false
	// A population both results share (the same retrained models, as a
	// cached oracle gives) is drawn once for both, like the examples.
	samePop := map[string]bool{}
	for _, role := range []string{scoring.Unlearned, scoring.Retrained} {
		samePop[role] = samePopulation(b.Population(role), m.Population(role))
	}
	// drawModels draws each population's models into out, reusing its
	// slices from draw to draw.
	drawModels := func(meth *result.Method, out, paired map[string][]int) {
		for _, p := range meth.Populations {
			if len(p.RetainAcc)+len(p.TestAcc)+len(p.Seconds) == 0 {
				continue
			}
			usedModels = true
			if paired != nil && samePop[p.Role] {
				out[p.Role] = paired[p.Role]
				continue
			}
			idx := out[p.Role]
			if len(idx) != p.N {
				idx = make([]int, p.N)
			}
			for i := range idx {
				idx[i] = rng.IntN(p.N)
			}
			out[p.Role] = idx
		}
	}
	db := &bootDraw{examples: make([]int, b.E), models: map[string][]int{}}
	dc := &bootDraw{examples: db.examples, models: map[string][]int{}}
	for k := range deltas {
		deltas[k] = make([]float64, 0, opt.Resamples)
	}
	for range opt.Resamples {
		for i := range db.examples {
			db.examples[i] = rng.IntN(b.E)
		}
		drawModels(b, db.models, nil)
		drawModels(m, dc.models, db.models)
		for k, mt := range metrics {
			deltas[k] = append(deltas[k], mt.value(m, dc)-mt.value(b, db))
		}
	}
	rows := make([]ComparisonRow, len(metrics))
	for k, mt := range metrics {
		row := ComparisonRow{Method: b.Name, Metric: mt.name, Baseline: mt.value(b, nil), Current: mt.value(m, nil),
			HigherBetter: mt.higherBetter, Gate: mt.gate}
		row.Change = row.Current - row.Baseline
		row.Verdict = Untested
		if mt.gate != "" {
			row.Tolerance = opt.Tolerances.Of(mt.gate)
			row.Allowed = row.Tolerance.Allowed(row.Baseline)
		}
		// A draw in which a metric is undefined (every drawn epsilon at
		// the cap, say) says nothing about its change.
		ds := slices.DeleteFunc(deltas[k], func(v float64) bool { return !finite(v) })
		if mt.resamples(b, m) && finite(row.Change) && float64(len(ds)) >= math.Ceil(2/opt.Alpha) {
			slices.Sort(ds)
			row.Low = stat.Quantile(opt.Alpha/2, stat.Empirical, ds, nil)
			row.High = stat.Quantile(1-opt.Alpha/2, stat.Empirical, ds, nil)
			row.HasInterval = true
			row.Verdict = NoChange
			up, down := row.Low > 0, row.High < 0
			switch {
			case (up && mt.higherBetter) || (down && !mt.higherBetter):
				row.Verdict = Better
			case up || down:
				row.Verdict = Worse
			}
			row.Regression = mt.gate != "" && row.Verdict == Worse && row.Worsening() > row.Allowed
		}
		rows[k] = row
	}
	return rows, usedModels
}

// samePopulation reports whether two results describe the very same models
// (equal per-model values).
func samePopulation(a, b *result.Population) bool {
	return a != nil && b != nil && a.N == b.N &&
		slices.Equal(a.Seeds, b.Seeds) && slices.Equal(a.Seconds, b.Seconds) &&
		slices.Equal(a.RetainAcc, b.RetainAcc) && slices.Equal(a.TestAcc, b.TestAcc) && slices.Equal(a.ForgetAcc, b.ForgetAcc)
}

// attackCoverage names the attacks of a method that ran in one result but
// not in the other (absent, or skipped for want of an input), as warnings,
// and returns those lost from baseline to current as "method: attack" too.
func attackCoverage(base, cur *result.Method, baseName, curName string) (warnings, lost []string) {
	ran := func(m *result.Method, name string) (bool, string) {
		i := slices.IndexFunc(m.Attacks, func(a result.AttackResult) bool { return a.Name == name })
		switch {
		case i < 0:
			return false, "absent"
		case m.Attacks[i].Skipped != "":
			return false, "not run: " + m.Attacks[i].Skipped
		}
		return true, ""
	}
	check := func(from, to *result.Method, fromName, toName string) (names []string) {
		for _, a := range from.Attacks {
			if a.Skipped != "" {
				continue
			}
			if ok, why := ran(to, a.Name); !ok {
				warnings = append(warnings, fmt.Sprintf("method %q: attack %s ran in %s but not in %s (%s)", base.Name, a.Name, fromName, toName, why))
				names = append(names, base.Name+": "+a.Name)
			}
		}
		return names
	}
	lost = check(base, cur, baseName, curName)
	check(cur, base, curName, baseName)
	return warnings, lost
}

// populationMetrics are the comparable numbers of a KLoM or ToW row that
// ran in both results: KLoM's mean, lower is better, resampled with the
// forget examples on the forget set; ToW's (and ToW-MIA's) mean, higher
// is better, resampled with the unlearned population's models (each
// value belongs to a pair of models, drawn together) where the results
// hold per-model values. A significant drop of ToW is a regression, as
// one of F is.
func populationMetrics(base, cur *result.Method, ba, ca *result.AttackResult, find func(m *result.Method) *result.AttackResult) []metric {
	if ba.Kind != ca.Kind || ba.Skipped != "" || ca.Skipped != "" || ba.Value == nil || ca.Value == nil {
		return nil
	}
	full := func(m *result.Method) float64 { return *find(m).Value }
	switch ba.Kind {
	case result.KindKLoM:
		paired := klomSet(ba) == "forget" && len(ba.PerExample) == base.E && len(ca.PerExample) == cur.E
		undefined := map[*result.AttackResult]map[int]bool{}
		for _, a := range []*result.AttackResult{ba, ca} {
			undefined[a] = map[int]bool{}
			for _, i := range a.Undefined {
				undefined[a][i] = true
			}
		}
		gate := ""
		if paired {
			gate = GateKLoM // the forget set's KLoM, lower is better
		}
		return []metric{{name: "attack " + ba.Name + ": mean KLoM", gate: gate,
			resamples: func(_, _ *result.Method) bool { return paired },
			value: func(m *result.Method, d *bootDraw) float64 {
				a := find(m)
				if d == nil || !paired {
					return full(m)
				}
				s, n := 0.0, 0
				for _, e := range d.examples {
					if !undefined[a][e] {
						s += a.PerExample[e]
						n++
					}
				}
				if n == 0 {
					return full(m)
				}
				return s / float64(n)
			}}}
	case result.KindToW:
		label := "ToW"
		if ba.Name == "tow-mia" {
			label = "ToW-MIA"
		}
		// Pair i is drawn with the unlearned population's model i, where
		// compare draws that population's models.
		drawn := func(m *result.Method) bool {
			p, a := m.Population(scoring.Unlearned), find(m)
			return p != nil && p.N == len(a.PerModel) && len(p.RetainAcc)+len(p.TestAcc)+len(p.Seconds) > 0
		}
		return []metric{{name: "attack " + ba.Name + ": " + label, higherBetter: true, gate: towGate(ba.Name),
			resamples: func(b, c *result.Method) bool { return drawn(b) && drawn(c) },
			value: func(m *result.Method, d *bootDraw) float64 {
				a := find(m)
				if d == nil || len(d.models[scoring.Unlearned]) != len(a.PerModel) {
					return full(m)
				}
				return meanOver(a.PerModel, d.models[scoring.Unlearned])
			}}}
	}
	return nil
}
