package reports

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"

	"unlearnbench/attack"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

// NeedAccuracies is what a score without accuracies says in place of the
// final score.
const NeedAccuracies = "needs accuracies (--unlearned-acc/--retrained-acc, or retain/test logits)"

// finalOrWhy is a method's final score, or what it needs when it has none.
func finalOrWhy(m *result.Method) string {
	if m.Score.Final == nil {
		return "needs accuracies"
	}
	return g(*m.Score.Final)
}

// renderTable draws a grid as a terminal table.
func renderTable(w io.Writer, t grid) {
	tw := newTable(w, t.header...)
	tw.AppendBulk(t.rows)
	tw.Render()
}

// WriteSummary renders a result's methods as terminal tables: one row per
// method, then one per population, then the attacks, then the warnings.
func WriteSummary(w io.Writer, r *result.Result) error {
	renderTable(w, terminalSummaryGrid(r))
	if hasPopulationDetail(r) {
		fmt.Fprintln(w)
		renderTable(w, terminalPopulationGrid(r))
	}
	if at := attacksGrid(r); len(at.rows) > 0 {
		fmt.Fprintln(w)
		renderTable(w, at)
	}
	for _, line := range warningLines(r) {
		fmt.Fprintf(w, "warning: %s\n", line)
	}
	return nil
}

// terminalSummaryGrid has one row per method, in the result's order (the
// terminal table of score, attack and report; run ranks its own): sizes,
// F, final score, utility ratios and time per unlearned model; F's
// interval and the neighbours it does not separate when some method has
// them (results of schema 1.2).
func terminalSummaryGrid(r *result.Result) grid {
	withInterval, withUnseparated := false, false
	for i := range r.Methods {
		withInterval = withInterval || r.Methods[i].Score.Interval != nil
		withUnseparated = withUnseparated || len(r.Methods[i].Score.Unseparated) > 0
	}
	header := []string{"method", "N", "E", "F"}
	if withInterval {
		header = append(header, "F interval")
	}
	header = append(header, "final score", "RA_U / RA_R", "TA_U / TA_R", "time per model", "warnings")
	if withUnseparated {
		header = append(header, "not separated from")
	}
	t := grid{header: header}
	for i := range r.Methods {
		m := &r.Methods[i]
		ra, ta := "-", "-"
		if u := m.Utility; u != nil {
			ra, ta = g(u.RetainRatio), g(u.TestRatio)
		}
		row := []string{m.Name, strconv.Itoa(m.N), strconv.Itoa(m.E), g(m.Score.F)}
		if withInterval {
			row = append(row, intervalCell(m.Score.Interval))
		}
		row = append(row, optional(m.Score.Final, g), ra, ta,
			spreadString(m.SecondsPerModel(scoring.Unlearned), seconds), strconv.Itoa(len(m.Warnings)))
		if withUnseparated {
			row = append(row, orDash(strings.Join(m.Score.Unseparated, ", ")))
		}
		t.add(row...)
	}
	return t
}

// terminalPopulationGrid has one row per population of every method: size, seeds,
// time and accuracies with their spread.
func terminalPopulationGrid(r *result.Result) grid {
	t := grid{header: []string{"method", "population", "N", "seeds", "time per model", "retain acc", "test acc", "forget acc"}}
	for i := range r.Methods {
		m := &r.Methods[i]
		for _, role := range []string{scoring.Unlearned, scoring.Retrained} {
			p := m.Population(role)
			n, seeds := strconv.Itoa(m.N), "-"
			if p != nil {
				n = strconv.Itoa(p.N)
				seeds = seedRange(p.Seeds)
			}
			acc := make([]string, len(result.Accuracies))
			for k, a := range result.Accuracies {
				acc[k] = spreadString(m.AccuracySpread(role, a), f4)
			}
			t.add(append([]string{m.Name, role, n, seeds, spreadString(m.SecondsPerModel(role), seconds)}, acc...)...)
		}
	}
	return t
}

// hasPopulationDetail reports whether any method has accuracies, seeds or
// times to show per population.
func hasPopulationDetail(r *result.Result) bool {
	for i := range r.Methods {
		if r.Methods[i].Utility != nil || len(r.Methods[i].Populations) > 0 {
			return true
		}
	}
	return false
}

func newTable(w io.Writer, header ...string) *tablewriter.Table {
	t := tablewriter.NewWriter(w)
	t.SetHeader(header)
	t.SetAutoFormatHeaders(false)
	t.SetAutoWrapText(false)
	t.SetAlignment(tablewriter.ALIGN_LEFT)
	t.SetHeaderAlignment(tablewriter.ALIGN_LEFT)
	return t
}

// FormatPoints writes a bucket's points as the power of two it is: "1",
// "1/2", ..., "1/8192"; 0 for none.
func FormatPoints(p float64) string {
	switch {
	case p == 0:
		return "0"
	case p == 1:
		return "1"
	}
	inv := 1 / p
	if inv == math.Trunc(inv) && inv < 1<<53 {
		return "1/" + strconv.FormatFloat(inv, 'f', 0, 64)
	}
	return strconv.FormatFloat(p, 'g', 6, 64)
}

func g(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// WriteScore renders one method's score as terminal tables: the summary,
// the bucket counts, and the worst forgotten examples (highest epsilon
// first, at most worst of them), then its warnings.
func WriteScore(w io.Writer, m *result.Method, worst int) error {
	fmt.Fprintf(w, "%s: N = %d models per population, E = %d forget examples\n", m.Name, m.N, m.E)
	sum := newTable(w, "metric", "value")
	sum.Append([]string{"forgetting quality F", g(m.Score.F)})
	if iv := m.Score.Interval; iv != nil {
		sum.Append([]string{fmt.Sprintf("F's %g%% interval", 100*iv.Level), fmt.Sprintf("[%s, %s] (bootstrap over models, %d resamples, seed %d)", f4(iv.Low), f4(iv.High), iv.Resamples, iv.Seed)})
	}
	if u := m.Utility; u != nil {
		sum.Append([]string{"RA_U / RA_R", fmt.Sprintf("%s = %.4f / %.4f", g(u.RetainRatio), u.RetainUnlearned, u.RetainRetrained)})
		sum.Append([]string{"TA_U / TA_R", fmt.Sprintf("%s = %.4f / %.4f", g(u.TestRatio), u.TestUnlearned, u.TestRetrained)})
	}
	if m.Score.Final != nil {
		sum.Append([]string{"final score", g(*m.Score.Final)})
		if iv := m.Score.Interval; iv != nil && iv.FinalLow != nil {
			sum.Append([]string{fmt.Sprintf("final score's %g%% interval", 100*iv.Level), fmt.Sprintf("[%s, %s]", f4(*iv.FinalLow), f4(*iv.FinalHigh))})
		}
	} else {
		sum.Append([]string{"final score", NeedAccuracies})
	}
	sum.Render()

	fmt.Fprintln(w, "\nepsilon buckets")
	renderTable(w, bucketsGrid(m))

	if worst > 0 {
		k := min(worst, len(m.Examples))
		fmt.Fprintf(w, "\nworst forgotten examples (%d of %d, highest epsilon first)\n", k, len(m.Examples))
		renderTable(w, worstGrid(m, k))
	}
	if len(m.Attacks) > 0 {
		fmt.Fprintln(w, "\nattacks")
		renderTable(w, attacksGrid(&result.Result{Methods: []result.Method{*m}}))
	}
	for _, warn := range m.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	return nil
}

func describeRule(r *attack.Rule) string {
	switch r.Family {
	case attack.FamilyDoubleThreshold:
		return fmt.Sprintf("%.4f <= c <= %.4f", r.Lower, *r.Upper)
	case attack.FamilySingleThreshold:
		return fmt.Sprintf("c >= %.4f", r.Lower)
	default:
		return r.Family
	}
}
