package reports

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

func compareFixtures(t *testing.T, base, cur string, opt CompareOptions) *Comparison {
	t.Helper()
	c, err := Compare(base, readFixture(t, base), cur, readFixture(t, cur), opt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func row(t *testing.T, c *Comparison, method, metric string) ComparisonRow {
	t.Helper()
	for _, r := range c.Rows {
		if r.Method == method && r.Metric == metric {
			return r
		}
	}
	t.Fatalf("no row %s / %s", method, metric)
	return ComparisonRow{}
}

func TestCompareFindsInjectedRegression(t *testing.T) {
	c := compareFixtures(t, "full.json", "regressed.json", DefaultCompareOptions)
	f := row(t, c, "finetune", "forgetting quality F")
	if f.Verdict != Worse || !f.Regression || !(f.High < 0) || !(f.Low <= f.Change && f.Change <= f.High) {
		t.Fatalf("finetune F: %+v", f)
	}
	if r := row(t, c, "noop", "final score"); r.Verdict != NoChange || r.Regression {
		t.Fatalf("unchanged noop: %+v", r)
	}
	if r := row(t, c, "finetune", "attack lira/offline/fixed-var: AUC"); r.Verdict != Untested || r.HasInterval {
		t.Fatalf("single-value row: %+v", r)
	}
	if c.RegressionError() == nil {
		t.Fatal("no regression error")
	}
	// The other way round it is an improvement, and no regression.
	back := compareFixtures(t, "regressed.json", "full.json", DefaultCompareOptions)
	if r := row(t, back, "finetune", "forgetting quality F"); r.Verdict != Better || r.Regression {
		t.Fatalf("improvement: %+v", r)
	}
	if back.RegressionError() != nil {
		t.Fatal(back.RegressionError())
	}
	// A tolerance larger than the drop lets it pass.
	opt := DefaultCompareOptions
	// The regressed models remember more, so the forget set's KLoM rose
	// too: gated with its own tolerance.
	if r := row(t, c, "finetune", "attack klom/forget: mean KLoM"); !r.Regression || r.HigherBetter {
		t.Fatalf("KLoM rise: %+v", r)
	}
	opt.Tolerances.F, opt.Tolerances.Final, opt.Tolerances.KLoM = Abs(0.1), Abs(0.1), Rel(10)
	// Each attack's F keeps its own tolerance: loosening F's leaves the
	// attacks' gate as it was.
	loose := compareFixtures(t, "full.json", "regressed.json", opt)
	if r := row(t, loose, "finetune", "attack logreg/per-example: F"); !r.Regression {
		t.Fatalf("attack F under its own default tolerance, F's loosened: %+v", r)
	}
	if r := row(t, loose, "finetune", "forgetting quality F"); r.Regression {
		t.Fatalf("F under a tolerance of 0.1: %+v", r)
	}
	opt.Tolerances.AttackF = Abs(0.1)
	if tolerant := compareFixtures(t, "full.json", "regressed.json", opt); tolerant.RegressionError() != nil {
		t.Fatalf("drop of %v under a tolerance of 0.1: %v", f.Change, tolerant.RegressionError())
	}
	// A relative tolerance is a fraction of the baseline: F dropped by 39%
	// of its baseline, so 40% tolerates the drop and 30% does not.
	opt.Tolerances.F, opt.Tolerances.Final = Rel(0.40), Rel(0.40)
	tolerant := compareFixtures(t, "full.json", "regressed.json", opt)
	if r := row(t, tolerant, "finetune", "forgetting quality F"); r.Regression || r.Allowed != 0.4*r.Baseline {
		t.Fatalf("F under 40%%: %+v", r)
	}
	opt.Tolerances.F = Rel(0.30)
	if r := row(t, compareFixtures(t, "full.json", "regressed.json", opt), "finetune", "forgetting quality F"); !r.Regression {
		t.Fatalf("F's 39%% drop under 30%%: %+v", r)
	}
}

func TestCompareSameResultHasNoChange(t *testing.T) {
	c := compareFixtures(t, "full.json", "full.json", DefaultCompareOptions)
	for _, r := range c.Rows {
		if r.Change != 0 || (r.HasInterval && (r.Low != 0 || r.High != 0)) || r.Verdict == Better || r.Verdict == Worse {
			t.Errorf("%s %s: %+v", r.Method, r.Metric, r)
		}
	}
}

func TestCompareIsReproducible(t *testing.T) {
	out := func(seed uint64) string {
		opt := DefaultCompareOptions
		opt.Seed = seed
		var b bytes.Buffer
		if err := compareFixtures(t, "full.json", "regressed.json", opt).WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if a, b := out(1), out(1); a != b {
		t.Fatal("the same seed gave different output")
	}
	if out(1) == out(2) {
		t.Fatal("different seeds gave the same intervals")
	}
}

func TestCompareRefusesIncomparableResults(t *testing.T) {
	base := readFixture(t, "full.json")
	cases := []struct {
		name   string
		modify func(r *result.Result)
		opt    func(o *CompareOptions)
		want   string
	}{
		{"different forget digest", func(r *result.Result) { r.Data.ForgetDigest = "labels-sha256:00112233445566778899" }, nil,
			"different forget sets (forget_digest"},
		{"different E", func(r *result.Result) {
			m := &r.Methods[0]
			m.Examples = m.Examples[:39]
			m.E = 39
		}, nil, `method "finetune": base.json has E = 40 forget examples but cur.json has E = 39`},
		{"different N", func(r *result.Result) { r.Methods[0].N = 64 }, nil, "N = 32 models per population in base.json but 64 in cur.json"},
		{"no method in common", func(r *result.Result) { r.Methods[0].Name, r.Methods[1].Name = "a", "b" }, nil, "no method in common"},
		{"bad alpha", func(*result.Result) {}, func(o *CompareOptions) { o.Alpha = 1.5 }, "--alpha is 1.5"},
		{"negative tolerance", func(*result.Result) {}, func(o *CompareOptions) { o.Tolerances.F = Abs(-1) }, "--max-drop-f is -1"},
		{"NaN tolerance", func(*result.Result) {}, func(o *CompareOptions) { o.Tolerances.KLoM = Rel(math.NaN()) }, "--max-rise-klom is NaN"},
		{"tolerance of every drop", func(*result.Result) {}, func(o *CompareOptions) { o.Tolerances.ToW = Rel(1) }, "--max-drop-tow is 100%"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur := readFixture(t, "full.json")
			c.modify(cur)
			opt := DefaultCompareOptions
			if c.opt != nil {
				c.opt(&opt)
			}
			_, err := Compare("base.json", base, "cur.json", cur, opt)
			if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v; want a one-line user error containing %q", err, c.want)
			}
		})
	}
	// Different N is compared, with a warning, when allowed.
	cur := readFixture(t, "full.json")
	cur.Methods[0].N = 64
	opt := DefaultCompareOptions
	opt.AllowDifferentN = true
	c, err := Compare("base.json", base, "cur.json", cur, opt)
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "not comparable") {
		t.Fatalf("err = %v, warnings %q", err, c.Warnings)
	}
}

func TestCompareWarnsAboutMissingMethods(t *testing.T) {
	base := readFixture(t, "full.json")
	cur := readFixture(t, "full.json")
	cur.Methods = cur.Methods[:1]
	c, err := Compare("base.json", base, "cur.json", cur, DefaultCompareOptions)
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], `method "noop" is in base.json only`) {
		t.Fatalf("err = %v, warnings %q", err, c.Warnings)
	}
}

func BenchmarkCompare(b *testing.B) {
	base, err := result.Read("testdata/full.json")
	if err != nil {
		b.Fatal(err)
	}
	cur, err := result.Read("testdata/regressed.json")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Compare("a", base, "b", cur, DefaultCompareOptions); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteHTML(b *testing.B) {
	r, err := result.Read("testdata/full.json")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var buf bytes.Buffer
		if err := WriteHTML(&buf, r); err != nil {
			b.Fatal(err)
		}
	}
}

// A gate must say when an attack that ran in the baseline did not run in
// the current result, instead of silently comparing less.
func TestCompareWarnsOfLostAttacks(t *testing.T) {
	base := readFixture(t, "full.json")
	cur := readFixture(t, "full.json")
	m := &cur.Methods[0]
	lost := m.Attacks[0].Name
	m.Attacks[0] = result.AttackResult{Name: lost, Kind: m.Attacks[0].Kind, Skipped: "needs the test set's logits"}
	c, err := Compare("base.json", base, "cur.json", cur, DefaultCompareOptions)
	if err != nil {
		t.Fatal(err)
	}
	want := "attack " + lost + " ran in base.json but not in cur.json (not run: needs the test set's logits)"
	found := false
	for _, w := range c.Warnings {
		found = found || strings.Contains(w, want)
	}
	if !found {
		t.Fatalf("warnings %q lack %q", c.Warnings, want)
	}
	for _, r := range c.Rows {
		if strings.HasPrefix(r.Metric, "attack "+lost+":") && r.Method == m.Name {
			t.Fatalf("row for the attack that did not run: %+v", r)
		}
	}
	// A warning by default; with RequireAttacks a failure naming the attack.
	if c.RegressionError() != nil {
		t.Fatalf("lost attack without RequireAttacks: %v", c.RegressionError())
	}
	strict := DefaultCompareOptions
	strict.RequireAttacks = true
	cs, err := Compare("base.json", base, "cur.json", cur, strict)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.RegressionError(); err == nil || !strings.Contains(err.Error(), m.Name+": "+lost) {
		t.Fatalf("RequireAttacks: error %v, want one naming %s: %s", err, m.Name, lost)
	}
	var md bytes.Buffer
	if err := cs.WriteMarkdown(&md); err != nil || !strings.Contains(md.String(), "significant regression") {
		t.Fatalf("Markdown verdict with a lost attack under RequireAttacks:\n%s", md.String())
	}
	// Gaining an attack is no failure.
	if cs, _ := Compare("cur.json", cur, "base.json", base, strict); cs.RegressionError() != nil {
		t.Fatalf("gained attack under RequireAttacks: %v", cs.RegressionError())
	}
	// Both ways round, and nothing when both ran.
	if c, _ := Compare("cur.json", cur, "base.json", base, DefaultCompareOptions); !slicesContainsSubstring(c.Warnings, "ran in base.json but not in cur.json") {
		t.Fatalf("reverse: %q", c.Warnings)
	}
	if c, _ := Compare("a", base, "b", base, DefaultCompareOptions); slicesContainsSubstring(c.Warnings, "but not in") {
		t.Fatalf("same result: %q", c.Warnings)
	}
}

func slicesContainsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// A change to one method lists that method's significant changes only,
// names the unchanged ones once, and --all lists every row.
func TestCompareListsOnlyChangedRows(t *testing.T) {
	c := compareFixtures(t, "full.json", "regressed.json", DefaultCompareOptions)
	var b bytes.Buffer
	if err := c.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "REGRESSION:") || !strings.HasPrefix(lines[1], "regression: finetune: forgetting quality F fell") ||
		!strings.Contains(lines[1], "beyond the tolerance of 10% of the baseline") {
		t.Fatalf("headline:\n%s", out)
	}
	if strings.Contains(out, "| noop") || !strings.Contains(out, "Every number equal: noop.") || !strings.Contains(out, "--all lists every row") {
		t.Fatalf("unchanged method listed row by row, or not named:\n%s", out)
	}
	for _, r := range c.shown() {
		if !r.Changed() {
			t.Errorf("row without a significant change shown: %+v", r)
		}
	}
	all := DefaultCompareOptions
	all.All = true
	ca := compareFixtures(t, "full.json", "regressed.json", all)
	b.Reset()
	if err := ca.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(b.String(), "\n| "); got != len(ca.Rows)+1 {
		t.Errorf("--all: %d table lines, want %d rows and a header", got, len(ca.Rows))
	}
	if strings.Contains(b.String(), "Not listed") {
		t.Error("--all still hides rows")
	}
}

// An example reaching the cap of 50 moves the count of capped examples,
// not the mean epsilon by 50/E.
func TestCompareKeepsTheCapOutOfTheMean(t *testing.T) {
	base := readFixture(t, "minimal.json")
	cur := readFixture(t, "minimal.json")
	m := &cur.Methods[0]
	k := slices.IndexFunc(m.Examples, func(e scoring.Example) bool { return e.Epsilon < capValue })
	m.Examples[k].Epsilon = capValue
	before := meanBelowCap(epsilons(&base.Methods[0]), nil)
	c, err := Compare("base.json", base, "cur.json", cur, DefaultCompareOptions)
	if err != nil {
		t.Fatal(err)
	}
	capped := row(t, c, m.Name, "examples at the epsilon cap (50)")
	if capped.Change != 1 {
		t.Errorf("capped examples: %+v", capped)
	}
	mean := row(t, c, m.Name, "mean epsilon below the cap")
	if mean.Baseline != before || mean.Current >= capValue || math.Abs(mean.Change) > 1 {
		t.Errorf("mean below the cap moved by the capped example: %+v", mean)
	}
}
