package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

func signed(v float64) string {
	s := strconv.FormatFloat(v, 'g', 4, 64)
	if v >= 0 {
		s = "+" + s
	}
	return s
}

func (c *Comparison) grid() grid {
	level := strconv.FormatFloat(100*(1-c.Options.Alpha), 'g', 4, 64) + "%"
	t := grid{header: []string{"method", "metric", "baseline", "current", "change", "vs base", level + " interval", "verdict"}}
	for _, r := range c.Rows {
		rel := "-"
		if r.Baseline != 0 && finite(r.Change/r.Baseline) {
			rel = signed(100*r.Change/r.Baseline) + "%"
		}
		ci := "-"
		if r.HasInterval {
			ci = "[" + signed(r.Low) + ", " + signed(r.High) + "]"
		}
		verdict := string(r.Verdict)
		if r.Regression {
			verdict += " (regression)"
		}
		t.add(r.Method, r.Metric, g(r.Baseline), g(r.Current), signed(r.Change), rel, ci, verdict)
	}
	return t
}

// preamble says what was compared and how the intervals were made.
func (c *Comparison) preamble() string {
	return fmt.Sprintf("baseline %s, current %s: change = current - baseline; intervals from %s.", c.BaselineName, c.CurrentName, c.Resampled)
}

// legend explains the verdicts and lists regressions and warnings.
func (c *Comparison) legend() []string {
	lines := []string{fmt.Sprintf("~: no significant change at alpha = %g (the interval contains 0); n/a: one value per result, nothing to resample.", c.Options.Alpha)}
	regs := c.Regressions()
	if c.RegressionError() == nil {
		lines = append(lines, fmt.Sprintf("No significant regression (score drops tolerated up to --max-drop-score %g).", c.Options.MaxDropScore))
	}
	for _, r := range regs {
		lines = append(lines, "regression: "+r.describe(c.Options))
	}
	if c.Options.RequireAttacks {
		for _, a := range c.LostAttacks {
			lines = append(lines, "regression: "+a+" ran in the baseline but not in the current result (--require-attacks)")
		}
	}
	for _, w := range c.Warnings {
		lines = append(lines, "warning: "+w)
	}
	return lines
}

func (r ComparisonRow) describe(opt CompareOptions) string {
	return fmt.Sprintf("%s: %s fell from %s to %s (change %s, interval [%s, %s]), more than --max-drop-score %g",
		r.Method, r.Metric, g(r.Baseline), g(r.Current), signed(r.Change), signed(r.Low), signed(r.High), opt.MaxDropScore)
}

// RegressionError says in one line what regressed: the gated rows, and
// with RequireAttacks the attacks the current result lost.
func (c *Comparison) RegressionError() error {
	var parts []string
	for _, r := range c.Regressions() {
		parts = append(parts, fmt.Sprintf("%s %s %s", r.Method, r.Metric, signed(r.Change)))
	}
	if c.Options.RequireAttacks && len(c.LostAttacks) > 0 {
		parts = append(parts, "attacks not run (--require-attacks): "+strings.Join(c.LostAttacks, ", "))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("significant regression (beyond --max-drop-score %g): %s", c.Options.MaxDropScore, strings.Join(parts, ", "))
}

// WriteTable renders the comparison as a terminal table with its legend.
func (c *Comparison) WriteTable(w io.Writer) error {
	fmt.Fprintln(w, c.preamble())
	renderTable(w, c.grid())
	for _, l := range c.legend() {
		fmt.Fprintln(w, l)
	}
	return nil
}

// WriteMarkdown renders the comparison as GitHub-flavoured Markdown, for a
// pull request or $GITHUB_STEP_SUMMARY.
func (c *Comparison) WriteMarkdown(w io.Writer) error {
	verdict := "no significant regression"
	if c.RegressionError() != nil {
		verdict = "significant regression"
	}
	fmt.Fprintf(w, "### unlearnbench compare: %s\n\n%s\n\n", verdict, c.preamble())
	mdTable(w, c.grid())
	fmt.Fprintln(w)
	for _, l := range c.legend() {
		fmt.Fprintf(w, "- %s\n", l)
	}
	return nil
}

// AppendMarkdown appends the Markdown comparison to path (GitHub's
// $GITHUB_STEP_SUMMARY; see the result's AppendMarkdown).
func (c *Comparison) AppendMarkdown(path string) error {
	var b strings.Builder
	if err := c.WriteMarkdown(&b); err != nil {
		return err
	}
	return appendFile(path, b.String())
}
