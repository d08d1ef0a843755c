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

func (c *Comparison) level() string {
	return strconv.FormatFloat(100*(1-c.Options.Alpha), 'g', 4, 64) + "%"
}

// shown are the rows the table lists: every one with All, otherwise those
// that changed significantly, so that a change to one method of twelve
// gives a table of that method's changes, not of everything.
func (c *Comparison) shown() []ComparisonRow {
	if c.Options.All {
		return c.Rows
	}
	var out []ComparisonRow
	for _, r := range c.Rows {
		if r.Changed() {
			out = append(out, r)
		}
	}
	return out
}

func (c *Comparison) grid(rows []ComparisonRow) grid {
	t := grid{header: []string{"method", "metric", "baseline", "current", "change", "vs base", c.level() + " interval", "verdict"}}
	for _, r := range rows {
		ci := "-"
		if r.HasInterval {
			ci = "[" + signed(r.Low) + ", " + signed(r.High) + "]"
		}
		verdict := string(r.Verdict)
		switch {
		case r.Regression:
			verdict += " (regression)"
		case r.Verdict == Worse && r.Gate != "":
			verdict += " (tolerated)"
		}
		t.add(r.Method, r.Metric, g(r.Baseline), g(r.Current), signed(r.Change), relative(r), ci, verdict)
	}
	return t
}

// relative is the change as a percentage of the baseline, "-" where that
// is no number.
func relative(r ComparisonRow) string {
	if r.Baseline != 0 && finite(r.Change/r.Baseline) {
		return signed(100*r.Change/r.Baseline) + "%"
	}
	return "-"
}

// methodStates sorts the compared methods into those with a significant
// change (regressed or not), those whose numbers moved within the noise,
// and those whose numbers are all equal, each in the results' order.
func (c *Comparison) methodStates() (regressed, changed, noise, identical []string) {
	var order []string
	type state struct{ regressed, changed, moved bool }
	states := map[string]*state{}
	for _, r := range c.Rows {
		s := states[r.Method]
		if s == nil {
			s = &state{}
			states[r.Method] = s
			order = append(order, r.Method)
		}
		s.regressed = s.regressed || r.Regression
		s.changed = s.changed || r.Changed()
		s.moved = s.moved || (r.Change != 0 && finite(r.Change)) || finite(r.Baseline) != finite(r.Current)
	}
	for _, m := range order {
		switch s := states[m]; {
		case s.regressed:
			regressed = append(regressed, m)
		case s.changed:
			changed = append(changed, m)
		case s.moved:
			noise = append(noise, m)
		default:
			identical = append(identical, m)
		}
	}
	return regressed, changed, noise, identical
}

// headline says first what regressed, by how much, against which
// tolerance: what a reviewer reads before anything else.
func (c *Comparison) headline() []string {
	regressed, changed, noise, identical := c.methodStates()
	n := len(regressed) + len(changed) + len(noise) + len(identical)
	var lines []string
	if c.RegressionError() == nil {
		lines = append(lines, fmt.Sprintf("No significant regression: %s against %s, %s compared.", c.CurrentName, c.BaselineName, plural(n, "method")))
	} else {
		lines = append(lines, fmt.Sprintf("REGRESSION: %s against %s, %d of %s compared regressed.", c.CurrentName, c.BaselineName, len(regressed), plural(n, "method")))
		for _, r := range c.Regressions() {
			lines = append(lines, "regression: "+r.describe(c.level()))
		}
		if c.Options.RequireAttacks {
			for _, a := range c.LostAttacks {
				lines = append(lines, "regression: "+a+" ran in the baseline but not in the current result (--require-attacks)")
			}
		}
	}
	if len(changed) > 0 {
		lines = append(lines, "Changed significantly, within the tolerances: "+strings.Join(changed, ", ")+".")
	}
	if len(noise) > 0 {
		lines = append(lines, "No significant change: "+strings.Join(noise, ", ")+".")
	}
	if len(identical) > 0 {
		lines = append(lines, "Every number equal: "+strings.Join(identical, ", ")+".")
	}
	return lines
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// hidden says how many rows the table left out, and how to see them.
func (c *Comparison) hidden() string {
	if c.Options.All {
		return ""
	}
	noChange, untested := 0, 0
	for _, r := range c.Rows {
		switch {
		case r.Changed():
		case r.HasInterval:
			noChange++
		default:
			untested++
		}
	}
	var parts []string
	if noChange > 0 {
		parts = append(parts, plural(noChange, "row")+" with no significant change")
	}
	if untested > 0 {
		parts = append(parts, plural(untested, "row")+" without an interval")
	}
	if len(parts) == 0 {
		return ""
	}
	return "Not listed: " + strings.Join(parts, " and ") + " (--all lists every row)."
}

// notes say how the table was made: the intervals, the verdicts and the
// tolerances, then the warnings.
func (c *Comparison) notes() []string {
	t := c.Options.Tolerances
	lines := []string{
		fmt.Sprintf("change = current - baseline; %s intervals from %s.", c.level(), c.Resampled),
		fmt.Sprintf("~: no significant change at alpha = %g (the interval contains 0); n/a: one value per result, nothing to resample.", c.Options.Alpha),
		fmt.Sprintf("A significant worsening beyond its tolerance is a regression: F may drop by %s, each attack's F by %s, the final score by %s, ToW by %s, the forget set's KLoM rise by %s (%s, %s, %s, %s, %s; a percentage is of the baseline).",
			t.F, t.AttackF, t.Final, t.ToW, t.KLoM, ToleranceFlags[GateF], ToleranceFlags[GateAttackF], ToleranceFlags[GateFinal], ToleranceFlags[GateToW], ToleranceFlags[GateKLoM]),
		fmt.Sprintf("Epsilons at the cap (%g: a peaky or perfectly separated example) are counted, not averaged.", capValue),
	}
	for _, w := range c.Warnings {
		lines = append(lines, "warning: "+w)
	}
	return lines
}

func (r ComparisonRow) describe(level string) string {
	verb := "fell"
	if !r.HigherBetter {
		verb = "rose"
	}
	return fmt.Sprintf("%s: %s %s from %s to %s (%s, %s; %s interval [%s, %s]), beyond the tolerance of %s",
		r.Method, r.Metric, verb, g(r.Baseline), g(r.Current), signed(r.Change), relative(r), level, signed(r.Low), signed(r.High), r.Tolerance.Describe(r.Baseline))
}

// RegressionError says in one line what regressed: the gated rows, and
// with RequireAttacks the attacks the current result lost.
func (c *Comparison) RegressionError() error {
	var parts []string
	for _, r := range c.Regressions() {
		parts = append(parts, fmt.Sprintf("%s %s %s (tolerance %s)", r.Method, r.Metric, signed(r.Change), g4(r.Allowed)))
	}
	if c.Options.RequireAttacks && len(c.LostAttacks) > 0 {
		parts = append(parts, "attacks not run (--require-attacks): "+strings.Join(c.LostAttacks, ", "))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("significant regression: %s", strings.Join(parts, ", "))
}

// WriteTable renders the comparison for a terminal: the headline, the
// table of changed rows (every row with All), then the notes.
func (c *Comparison) WriteTable(w io.Writer) error {
	for _, l := range c.headline() {
		fmt.Fprintln(w, l)
	}
	if rows := c.shown(); len(rows) > 0 {
		renderTable(w, c.grid(rows))
	}
	if h := c.hidden(); h != "" {
		fmt.Fprintln(w, h)
	}
	for _, l := range c.notes() {
		fmt.Fprintln(w, l)
	}
	return nil
}

// WriteMarkdown renders the comparison as GitHub-flavoured Markdown, for a
// pull request or $GITHUB_STEP_SUMMARY, in the order of WriteTable.
func (c *Comparison) WriteMarkdown(w io.Writer) error {
	verdict := "no significant regression"
	if c.RegressionError() != nil {
		verdict = "significant regression"
	}
	fmt.Fprintf(w, "### unlearnbench compare: %s\n\n", verdict)
	for _, l := range c.headline() {
		// The verdict words in bold, so that a reviewer's eye finds them.
		for _, word := range []string{"REGRESSION:", "regression:", "No significant regression:"} {
			if rest, ok := strings.CutPrefix(l, word); ok {
				l = "**" + strings.TrimSuffix(word, ":") + "**:" + rest
				break
			}
		}
		fmt.Fprintf(w, "- %s\n", l)
	}
	if rows := c.shown(); len(rows) > 0 {
		fmt.Fprintln(w)
		mdTable(w, c.grid(rows))
	}
	if h := c.hidden(); h != "" {
		fmt.Fprintf(w, "\n%s\n", h)
	}
	fmt.Fprintln(w)
	for _, l := range c.notes() {
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
