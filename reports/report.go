package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"

	"unlearnbench/internal/atomicfile"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

// The files WriteDir writes.
const (
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
	MethodsCSV   = "methods.csv"
	ExamplesCSV  = "examples.csv"
	AttacksCSV   = "attacks.csv"
)

// ReportWorst is how many of the worst forgotten examples the Markdown and
// HTML reports list per method.
const ReportWorst = 10

// WriteDir renders r into dir (created if needed): report.md, report.html
// and the CSV files, each written atomically. It returns the paths written.
func WriteDir(r *result.Result, dir string) ([]string, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("rendering a report into %s: %w", dir, err)
	}
	files := []struct {
		name  string
		write func(io.Writer, *result.Result) error
	}{
		{MarkdownFile, WriteMarkdown},
		{HTMLFile, WriteHTML},
		{MethodsCSV, WriteMethodsCSV},
		{ExamplesCSV, WriteExamplesCSV},
		{AttacksCSV, WriteAttacksCSV},
	}
	var written []string
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := atomicfile.Write(path, func(w io.Writer) error { return f.write(w, r) }); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// AppendMarkdown appends r's Markdown report to path, as GitHub Actions
// wants its $GITHUB_STEP_SUMMARY file: the runner owns that file and reads
// what every step appended, so it is appended to in one write rather than
// replaced (the one output not written through atomicfile).
func AppendMarkdown(path string, r *result.Result) error {
	var b strings.Builder
	if err := WriteMarkdown(&b, r); err != nil {
		return err
	}
	return appendFile(path, b.String())
}

// StepSummaryEnv names the variable in which GitHub Actions gives each step
// the file of its job summary.
const StepSummaryEnv = "GITHUB_STEP_SUMMARY"

// AppendStepSummary appends r's Markdown report to $GITHUB_STEP_SUMMARY
// when GitHub Actions sets it, and does nothing otherwise: the one call
// every command that writes a result's report (score --report, report,
// run) makes after writing it, so that all of them show in a job's
// summary.
func AppendStepSummary(r *result.Result) error {
	path := os.Getenv(StepSummaryEnv)
	if path == "" {
		return nil
	}
	return AppendMarkdown(path, r)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("appending to %s: %w", path, err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("appending to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("appending to %s: %w", path, err)
	}
	return nil
}

// headline says in one sentence what the result holds.
func headline(r *result.Result) string {
	methods := "1 method"
	if len(r.Methods) != 1 {
		methods = fmt.Sprintf("%d methods", len(r.Methods))
	}
	s := fmt.Sprintf("Written by `unlearnbench %s`: %s", r.Command, methods)
	n, e := r.Methods[0].N, r.Methods[0].E
	same := true
	for _, m := range r.Methods {
		same = same && m.N == n && m.E == e
	}
	if same {
		s += fmt.Sprintf(", N = %d models per population, E = %d forget examples", n, e)
	}
	if r.Seconds != nil {
		s += ", run time " + seconds(*r.Seconds)
		// A rerun served from the cache takes a second or two; said alone,
		// that would read as what the benchmark cost. The models' own
		// times, recorded when each was computed, say that.
		if n, sum := modelSeconds(r); n > 0 {
			s += fmt.Sprintf(" (the %d models' own wall times, recorded when each was computed, add up to %s)", n, seconds(sum))
		}
	}
	return s + "."
}

// modelSeconds counts the models with a recorded wall time and adds their
// times up: every method's unlearned population, and the retrained
// reference once (a run shares one reference between its methods, so the
// first method's stands for all).
func modelSeconds(r *result.Result) (n int, sum float64) {
	ref := false
	for i := range r.Methods {
		for _, p := range r.Methods[i].Populations {
			if p.Role == "retrained" {
				if ref {
					continue
				}
				ref = len(p.Seconds) > 0
			}
			for _, v := range p.Seconds {
				n++
				sum += v
			}
		}
	}
	return n, sum
}

// absentPlots says, per plot the HTML report could not draw, why.
func absentPlots(r *result.Result) (distributions, roc, accuracy, time []string) {
	for i := range r.Methods {
		m := &r.Methods[i]
		if len(m.Distributions) == 0 {
			distributions = append(distributions, m.Name+": no confidence distributions in this result, so no example's populations can be drawn")
		}
		switch {
		case len(m.Attacks) == 0:
			roc = append(roc, m.Name+": no attack results in this result (the attack command adds them), so no ROC curve")
		case !hasROC(m):
			roc = append(roc, m.Name+": no attack in this result has a ROC curve")
		}
	}
	if len(accuracyGroups(r)) == 0 {
		accuracy = append(accuracy, "no accuracies in this result (score takes them with --unlearned-acc/--retrained-acc or retain/test logits), so no accuracy plot")
	}
	if len(timeMethods(r)) == 0 {
		time = append(time, "no wall times in this result (score does not time the unlearning; the run that produced the populations records them), so no score-against-time plot")
	}
	return distributions, roc, accuracy, time
}

// mdEscape keeps a cell from breaking a Markdown table.
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// mdTable renders a grid as a GitHub-flavoured Markdown table, using
// tablewriter's Markdown layout (borders on the sides only, "|" joints).
func mdTable(w io.Writer, t grid) {
	tw := tablewriter.NewWriter(w)
	header := make([]string, len(t.header))
	for i, h := range t.header {
		header[i] = mdEscape(h)
	}
	tw.SetHeader(header)
	tw.SetAutoFormatHeaders(false)
	tw.SetAutoWrapText(false)
	tw.SetAlignment(tablewriter.ALIGN_LEFT)
	tw.SetHeaderAlignment(tablewriter.ALIGN_LEFT)
	tw.SetBorders(tablewriter.Border{Left: true, Top: false, Right: true, Bottom: false})
	tw.SetCenterSeparator("|")
	for r, row := range t.rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = mdEscape(c)
			if t.best[[2]int{r, i}] {
				cells[i] = "**" + cells[i] + "**"
			}
		}
		tw.Append(cells)
	}
	tw.Render()
}

// WriteMarkdown renders r as a GitHub-flavoured Markdown report: the same
// tables as the HTML report, without its plots.
func WriteMarkdown(w io.Writer, r *result.Result) error {
	fmt.Fprintf(w, "# unlearnbench report\n\n%s\n\n## Summary\n\n", headline(r))
	mdTable(w, summaryGrid(r))
	fmt.Fprintln(w)
	for _, n := range summaryNotes(r) {
		fmt.Fprintln(w, n)
	}
	if hasPopulationDetail(r) {
		fmt.Fprintln(w)
		mdTable(w, populationGrid(r))
	}
	if d, in := dataGrid(r), inputsGrid(r); len(d.rows)+len(in.rows) > 0 || len(r.Config) > 0 {
		fmt.Fprintf(w, "\n## Run\n")
		if len(d.rows) > 0 {
			fmt.Fprintln(w)
			mdTable(w, d)
		}
		if len(in.rows) > 0 {
			fmt.Fprintln(w)
			mdTable(w, in)
		}
		if len(r.Config) > 0 {
			fmt.Fprintf(w, "\n<details><summary>configuration</summary>\n\n```json\n%s\n```\n\n</details>\n", configText(r))
		}
	}
	fmt.Fprintf(w, "\n## Epsilons\n\nForget examples per epsilon bucket (its points in the header), every method, ranked as in the summary; past the last bucket an example earns none, and so does one at the cap of %g, a limit rather than a measured epsilon.\n\n", capValue)
	if t := bucketsTable(r); len(t.rows) > 0 {
		mdTable(w, t)
	}
	for _, i := range result.Ranked(r.Methods) {
		m := &r.Methods[i]
		if len(bucketsTable(r).rows) == 0 {
			fmt.Fprintf(w, "\n%s, forget examples per epsilon bucket:\n\n", m.Name)
			mdTable(w, bucketsGrid(m))
		}
		k := min(ReportWorst, m.E)
		fmt.Fprintf(w, "\n### %s\n\nF = %s, final score %s.", m.Name, g(m.Score.F), finalOrWhy(m))
		if iv := IntervalText(m); iv != "" {
			fmt.Fprintf(w, "\n\n%s\n\n", mdEscape(iv))
		} else {
			fmt.Fprint(w, " ")
		}
		fmt.Fprintf(w, "Worst forgotten examples (%d of %d, highest epsilon first):\n\n", k, m.E)
		mdTable(w, worstGrid(m, k))
	}
	fmt.Fprintf(w, "\n## Attacks\n\n")
	if at := attacksGrid(r); len(at.rows) > 0 {
		mdTable(w, at)
	} else {
		fmt.Fprintln(w, "No attack results in this result.")
	}
	fmt.Fprintf(w, "\n## KLoM and ToW\n\n")
	if hasMetrics(r) {
		fmt.Fprintln(w, metricsIntro)
		for _, t := range []grid{klomGrid(r), towGrid(r)} {
			if len(t.rows) > 0 {
				fmt.Fprintln(w)
				mdTable(w, t)
			}
		}
		for i := range r.Methods {
			m := &r.Methods[i]
			if t := klomWorstGrid(m, ReportWorst); len(t.rows) > 0 {
				fmt.Fprintf(w, "\n%s: highest KLoM per set (up to %d each):\n\n", m.Name, ReportWorst)
				mdTable(w, t)
			}
		}
	} else {
		fmt.Fprintln(w, "No KLoM or ToW in this result (the attack command computes them).")
	}
	dist, roc, acc, tm := absentPlots(r)
	fmt.Fprintf(w, "\n## Plots\n\n%s has the plots.", "`"+HTMLFile+"`")
	if absent := concat(dist, roc, acc, tm); len(absent) > 0 {
		fmt.Fprintf(w, " Left out:\n\n")
		for _, a := range absent {
			fmt.Fprintf(w, "- %s\n", a)
		}
	} else {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n## Warnings\n\n")
	groups := groupWarnings(r)
	if len(groups) == 0 {
		fmt.Fprintln(w, "None.")
	}
	for _, grp := range groups {
		where := ""
		if len(grp.Sources) > 0 {
			where = " (" + grp.SourcesText() + ")"
		}
		if grp.Count == 1 {
			fmt.Fprintf(w, "- %s\n", grp.Items[0])
			continue
		}
		fmt.Fprintf(w, "- **%d ×** %s%s\n", grp.Count, grp.Example, where)
	}
	if len(groups) > 0 {
		fmt.Fprintln(w, "\nWarnings of one kind differ only in their numbers; methods.csv and attacks.csv list every one.")
	}
	return nil
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// configText is the run's configuration, indented.
func configText(r *result.Result) string {
	var b strings.Builder
	if err := indentJSON(&b, r.Config); err != nil {
		return string(r.Config)
	}
	return strings.TrimRight(b.String(), "\n")
}

// csvFloat writes a number exactly, or "" when absent.
func csvFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func csvOptional(v *float64) string {
	if v == nil {
		return ""
	}
	return csvFloat(*v)
}

func writeCSV(w io.Writer, header []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	return cw.Error()
}

// WriteMethodsCSV writes one row per method: sizes, score, accuracies (mean
// and standard deviation over models) and time per model, numbers exact.
func WriteMethodsCSV(w io.Writer, r *result.Result) error {
	header := []string{"method", "n", "e", "f", "f_low", "f_high", "f_level", "final", "retain_ratio", "test_ratio"}
	for _, role := range []string{scoring.Unlearned, scoring.Retrained} {
		for _, a := range result.Accuracies {
			header = append(header, fmt.Sprintf("%s_%s_acc", role, a), fmt.Sprintf("%s_%s_acc_sd", role, a))
		}
	}
	header = append(header, "seconds_per_model", "seconds_per_model_sd", "no_bucket", "warnings")
	var rows [][]string
	for i := range r.Methods {
		m := &r.Methods[i]
		ra, ta := "", ""
		if u := m.Utility; u != nil {
			ra, ta = csvFloat(u.RetainRatio), csvFloat(u.TestRatio)
		}
		lo, hi, level := "", "", ""
		if iv := m.Score.Interval; iv != nil {
			lo, hi, level = csvFloat(iv.Low), csvFloat(iv.High), csvFloat(iv.Level)
		}
		row := []string{m.Name, strconv.Itoa(m.N), strconv.Itoa(m.E), csvFloat(m.Score.F), lo, hi, level, csvOptional(m.Score.Final), ra, ta}
		spread := func(s result.Spread) []string {
			if s.N == 0 {
				return []string{"", ""}
			}
			return []string{csvFloat(s.Mean), csvFloat(s.Std)}
		}
		for _, role := range []string{scoring.Unlearned, scoring.Retrained} {
			for _, a := range result.Accuracies {
				row = append(row, spread(m.AccuracySpread(role, a))...)
			}
		}
		row = append(row, spread(m.SecondsPerModel(scoring.Unlearned))...)
		row = append(row, strconv.Itoa(m.Score.NoBucket), strings.Join(m.Warnings, "; "))
		rows = append(rows, row)
	}
	return writeCSV(w, header, rows)
}

// WriteExamplesCSV writes one row per method and forget example: epsilon,
// bucket, points, the winning rule, the populations' medians and spreads,
// and the example's KLoM where the result has it.
func WriteExamplesCSV(w io.Writer, r *result.Result) error {
	header := []string{"method", "example", "epsilon", "bucket", "points", "positive", "peaky", "separated",
		"rule_family", "rule_lower", "rule_upper", "rule_positive_is", "fpr", "fnr",
		"median_unlearned", "median_retrained", "spread_unlearned", "spread_retrained", "klom"}
	var rows [][]string
	for i := range r.Methods {
		m := &r.Methods[i]
		klom := forgetKLoM(m)
		for _, e := range m.Examples {
			fam, lo, hi, posIs, fpr, fnr := "", "", "", "", "", ""
			if e.Rule != nil {
				fam, lo, posIs = e.Rule.Family, csvFloat(e.Rule.Lower), e.Rule.PositiveIs
				hi = csvOptional(e.Rule.Upper)
			}
			if e.FPR != nil {
				fpr = strconv.FormatFloat(float64(*e.FPR), 'g', -1, 32)
			}
			if e.FNR != nil {
				fnr = strconv.FormatFloat(float64(*e.FNR), 'g', -1, 32)
			}
			rows = append(rows, []string{m.Name, strconv.Itoa(e.Index), csvFloat(e.Epsilon), strconv.Itoa(e.Bucket), csvFloat(e.Points),
				e.Positive, strconv.FormatBool(e.Peaky), strconv.FormatBool(e.Separated), fam, lo, hi, posIs, fpr, fnr,
				csvFloat(e.MedianUnlearned), csvFloat(e.MedianRetrained), csvFloat(e.SpreadUnlearned), csvFloat(e.SpreadRetrained), klom(e.Index)})
		}
	}
	return writeCSV(w, header, rows)
}

// WriteAttacksCSV writes one row per method and attack with every summary
// the attack has (TPR at the standard FPRs read as in the tables); an
// attack that did not run has empty numbers and says why under skipped.
func WriteAttacksCSV(w io.Writer, r *result.Result) error {
	header := []string{"method", "attack", "kind", "features", "auc", "advantage", "balanced_accuracy"}
	for _, fpr := range StandardFPRs {
		header = append(header, "tpr_at_fpr_"+csvFloat(fpr))
	}
	header = append(header, "f", "value_name", "value", "spread", "median", "p95", "ci_low", "ci_high", "undefined", "population", "skipped", "warnings")
	var rows [][]string
	for i := range r.Methods {
		m := &r.Methods[i]
		for j := range m.Attacks {
			a := &m.Attacks[j]
			row := []string{m.Name, a.Name, a.Kind, strings.Join(a.Features, " "), csvOptional(a.AUC), csvOptional(a.Advantage), csvOptional(a.BalancedAccuracy)}
			for _, fpr := range StandardFPRs {
				if tpr, ok := a.TPRAt(fpr); ok {
					row = append(row, csvFloat(tpr))
				} else {
					row = append(row, "")
				}
			}
			f := ""
			if v, ok := a.AttackF(m.N); ok {
				f = csvFloat(v)
			}
			undefined := ""
			if len(a.Undefined) > 0 {
				undefined = strconv.Itoa(len(a.Undefined))
			}
			row = append(row, f, a.ValueName, csvOptional(a.Value), csvOptional(a.Spread), csvOptional(a.Median), csvOptional(a.P95),
				csvOptional(a.CILow), csvOptional(a.CIHigh), undefined, a.Population, a.Skipped, strings.Join(a.Warnings, "; "))
			rows = append(rows, row)
		}
	}
	return writeCSV(w, header, rows)
}

// indentJSON writes raw JSON indented by two spaces.
func indentJSON(w io.Writer, raw json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return err
	}
	_, err := b.WriteTo(w)
	return err
}
