package reports

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"unlearnbench/attack"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

// grid is a table before it is rendered: the terminal, Markdown and HTML
// renderers all draw the same grids, so the three outputs cannot disagree.
type grid struct {
	header []string
	rows   [][]string
	// best marks the cells holding a column's best value (row, column),
	// which the Markdown and HTML renderers emphasise.
	best map[[2]int]bool
}

func (t *grid) add(cells ...string) { t.rows = append(t.rows, cells) }

// optional formats v, or "-" when the result does not hold it (or holds
// no number: a table never shows NaN).
func optional(v *float64, format func(float64) string) string {
	if v == nil || !finite(*v) {
		return "-"
	}
	return format(*v)
}

func f4(v float64) string { return fmt.Sprintf("%.4f", v) }

// spreadString writes mean ± standard deviation, or "-" when unknown.
func spreadString(s result.Spread, format func(float64) string) string {
	switch s.N {
	case 0:
		return "-"
	case 1:
		return format(s.Mean)
	}
	return format(s.Mean) + " ± " + format(s.Std)
}

func seconds(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + " s"
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64) + " s"
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + " s"
}

// intervalCell writes F's interval with its level, "-" when absent.
func intervalCell(iv *scoring.Interval) string {
	if iv == nil {
		return "-"
	}
	return fmt.Sprintf("[%s, %s] %g%%", f4(iv.Low), f4(iv.High), 100*iv.Level)
}

// IntervalText says what F's interval is and how it was drawn, in one
// sentence for a report; "" when m has none.
func IntervalText(m *result.Method) string {
	iv := m.Score.Interval
	if iv == nil {
		return ""
	}
	size := ""
	if iv.Size > 0 {
		size = fmt.Sprintf(" of %d models each", iv.Size)
	}
	s := fmt.Sprintf("F's %g%% interval: [%s, %s], a bootstrap over models (%d resamples%s of both populations, seed %d); it is F's spread at N = %d and need not hold F itself", 100*iv.Level, f4(iv.Low), f4(iv.High), iv.Resamples, size, iv.Seed, m.N)
	if iv.FinalLow != nil {
		s += fmt.Sprintf("; the final score's: [%s, %s]", f4(*iv.FinalLow), f4(*iv.FinalHigh))
	}
	if len(m.Score.Unseparated) > 0 {
		s += "; not separated at this N from " + strings.Join(m.Score.Unseparated, ", ")
	}
	s += "."
	if iv.TargetWidth != nil {
		_, needed := scoring.NeededNStatement(m.N, iv, *iv.TargetWidth, iv.ScalingExponent())
		s += " " + needed + "."
	}
	return s
}

// seedRange writes seeds compactly: "1..128" for a run of consecutive ones.
func seedRange(s []uint64) string {
	switch {
	case len(s) == 0:
		return "-"
	case len(s) == 1:
		return strconv.FormatUint(s[0], 10)
	}
	consecutive := true
	for i := 1; i < len(s); i++ {
		if s[i] != s[i-1]+1 {
			consecutive = false
			break
		}
	}
	if consecutive {
		return fmt.Sprintf("%d..%d", s[0], s[len(s)-1])
	}
	if len(s) <= 4 {
		parts := make([]string, len(s))
		for i, v := range s {
			parts[i] = strconv.FormatUint(v, 10)
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%d, %d, ..., %d (%d seeds)", s[0], s[1], s[len(s)-1], len(s))
}

// epsilonText writes an epsilon with four decimals, or the cap as the
// limit it is: "50.0000" read like a measurement.
func epsilonText(v float64) string {
	if v >= capValue {
		return fmt.Sprintf("≥ %g (cap)", capValue)
	}
	return fmt.Sprintf("%.4f", v)
}

// shortSeeds writes seeds as seedRange does, but seeds drawn from the
// whole uint64 range, which run to 20 digits, by their first digits: they
// tell the seeds apart in a table that must fit a page (result.json has
// them all).
func shortSeeds(s []uint64) string {
	if len(s) <= 4 || slices.ContainsFunc(s, func(v uint64) bool { return v < 1e8 }) {
		return seedRange(s)
	}
	return fmt.Sprintf("%s, %s, ... (%d seeds)", shortSeed(s[0]), shortSeed(s[1]), len(s))
}

func shortSeed(v uint64) string {
	s := strconv.FormatUint(v, 10)
	if len(s) > 8 {
		return s[:6] + "…"
	}
	return s
}

// dataGrid lists the data split, or nothing when the result has none.
func dataGrid(r *result.Result) grid {
	t := grid{header: []string{"field", "value"}}
	d := r.Data
	if d == nil {
		return t
	}
	if d.Dataset != "" {
		t.add("dataset", d.Dataset)
	}
	if d.Classes > 0 {
		t.add("classes", strconv.Itoa(d.Classes))
	}
	for _, s := range []struct {
		name string
		n    int
	}{{"train", d.Train}, {"retain", d.Retain}, {"forget", d.Forget}, {"validation", d.Validation}, {"test", d.Test}} {
		if s.n > 0 {
			t.add(s.name+" examples", strconv.Itoa(s.n))
		}
	}
	if d.ForgetSelection != "" {
		t.add("forget set", d.ForgetSelection)
	}
	if d.ForgetDigest != "" {
		t.add("forget set digest", d.ForgetDigest)
	}
	return t
}

// inputsGrid lists the input files in name order.
func inputsGrid(r *result.Result) grid {
	t := grid{header: []string{"input", "file"}}
	keys := make([]string, 0, len(r.Inputs))
	for k := range r.Inputs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.add(k, r.Inputs[k])
	}
	return t
}

func bucketsGrid(m *result.Method) grid {
	t := grid{header: []string{"bucket", "epsilon", "points", "examples"}}
	for k, b := range m.Score.Buckets {
		t.add(strconv.Itoa(k), fmt.Sprintf("[%s, %s)", g(b.Lo), g(b.Hi)), FormatPoints(b.Points), strconv.Itoa(b.Count))
	}
	t.add("none", fmt.Sprintf(">= %s", g(m.Score.MaxEpsilon)), "0", strconv.Itoa(m.Score.NoBucket))
	return t
}

// worstGrid lists the k worst forgotten examples, highest epsilon first.
func worstGrid(m *result.Method, k int) grid {
	t := grid{header: []string{"example", "epsilon", "points", "rule", "positive", "FPR", "FNR", "median U", "median R"}}
	ex := result.WorstExamples(m.Examples)
	for _, e := range ex[:min(k, len(ex))] {
		eps := epsilonText(e.Epsilon)
		rule, pos, fpr, fnr := "-", "-", "-", "-"
		switch {
		case e.Peaky:
			rule = "peaky: spread ratio < 0.01"
		case e.Rule != nil:
			rule = describeRule(e.Rule)
			pos = e.Rule.PositiveIs
			if e.FPR != nil && e.FNR != nil {
				fpr, fnr = fmt.Sprintf("%.4f", *e.FPR), fmt.Sprintf("%.4f", *e.FNR)
			}
		}
		switch {
		case e.Separated && e.Epsilon >= capValue:
			eps = fmt.Sprintf("≥ %g (cap, separated)", capValue)
		case e.Separated:
			eps += " (separated)"
		}
		t.add(strconv.Itoa(e.Index), eps, FormatPoints(e.Points), rule, pos, fpr, fnr,
			fmt.Sprintf("%.4f", e.MedianUnlearned), fmt.Sprintf("%.4f", e.MedianRetrained))
	}
	return t
}

// StandardFPRs are the false-positive rates at which reports give every
// attack's true-positive rate.
var StandardFPRs = attack.FPRTargets

func percent(v float64) string {
	return strconv.FormatFloat(100*v, 'g', 3, 64) + "%"
}

// attacksGrid has one row per attack of every method, whatever fields the
// attack filled; an attack that did not run says why in the value column.
func attacksGrid(r *result.Result) grid {
	t := grid{header: append([]string{"method"}, attackHeader()...)}
	for i := range r.Methods {
		m := &r.Methods[i]
		for j := range m.Attacks {
			t.add(append([]string{m.Name}, attackRow(m, &m.Attacks[j])...)...)
		}
	}
	return t
}

// attackHeader names the columns of attackRow.
func attackHeader() []string {
	h := []string{"attack", "kind", "AUC", "advantage", "balanced acc"}
	for _, fpr := range StandardFPRs {
		h = append(h, "TPR @ "+percent(fpr)+" FPR")
	}
	return append(h, "F", "value")
}

// attackRow is one attack's cells under attackHeader, the same in every
// format so that a terminal, Markdown, HTML and CSV agree.
func attackRow(m *result.Method, a *result.AttackResult) []string {
	row := []string{a.Name, orDash(a.Kind), optional(a.AUC, f4), optional(a.Advantage, f4), optional(a.BalancedAccuracy, f4)}
	for _, fpr := range StandardFPRs {
		if tpr, ok := a.TPRAt(fpr); ok {
			row = append(row, f4(tpr))
		} else {
			row = append(row, "-")
		}
	}
	if f, ok := a.AttackF(m.N); ok {
		row = append(row, g(f))
	} else {
		row = append(row, "-")
	}
	if a.Skipped != "" {
		return append(row, "not run: "+a.Skipped)
	}
	return append(row, attackValue(a))
}

func attackValue(a *result.AttackResult) string {
	if a.Value == nil || !finite(*a.Value) {
		return "-"
	}
	s := f4(*a.Value)
	if a.Spread != nil && finite(*a.Spread) {
		s += " ± " + f4(*a.Spread)
	}
	if a.CILow != nil && a.CIHigh != nil && finite(*a.CILow) && finite(*a.CIHigh) {
		s += " [" + f4(*a.CILow) + ", " + f4(*a.CIHigh) + "]"
	}
	if a.Median != nil && finite(*a.Median) {
		s += ", median " + f4(*a.Median)
	}
	if a.P95 != nil && finite(*a.P95) {
		s += ", p95 " + f4(*a.P95)
	}
	if a.ValueName != "" {
		s = a.ValueName + " " + s
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// warningLines gathers the result's warnings, each prefixed with where it
// comes from.
func warningLines(r *result.Result) []string {
	var out []string
	out = append(out, r.Warnings...)
	for _, m := range r.Methods {
		for _, w := range m.Warnings {
			out = append(out, m.Name+": "+w)
		}
		for _, a := range m.Attacks {
			for _, w := range a.Warnings {
				out = append(out, m.Name+", attack "+a.Name+": "+w)
			}
		}
	}
	return out
}

// finite reports whether v is a usable number.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
