package reports

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"

	"unlearnbench/result"
	"unlearnbench/scoring"
)

// The run command's two terminal tables: the methods ranked by final
// score, and a dry run's plan.

// TimeCutoff is the competition's limit: a method taking more than this
// fraction of retraining's time per member was disqualified.
const TimeCutoff = 0.2

// WriteRanking writes a run's methods ranked as every report ranks them
// (result.Ranked: by final score, or by F when some method has none), with
// their utility, accuracies and time per member against retraining's, then
// the reference population's line; reference names the reference's
// method.
func WriteRanking(w io.Writer, r *result.Result, reference string) error {
	if len(r.Methods) == 0 {
		return fmt.Errorf("ranking: the result has no methods")
	}
	refPop := r.Methods[0].Population(scoring.Retrained)
	if refPop == nil {
		return fmt.Errorf("ranking: method %s has no retrained population", r.Methods[0].Name)
	}
	refSecs := plainMean(refPop.Seconds)
	rows := make([]rankRow, 0, len(r.Methods))
	for _, i := range result.Ranked(r.Methods) {
		rows = append(rows, newRankRow(&r.Methods[i]))
	}
	// F's interval gets a column only when some method has one, so that
	// results without intervals rank as they always have.
	var iv *scoring.Interval
	for i := range r.Methods {
		if iv == nil {
			iv = r.Methods[i].Score.Interval
		}
	}
	header := []string{"rank", "method", "F", "RA_U/RA_R", "TA_U/TA_R", "final", "forget acc", "retain acc", "test acc", "s/member", "of retrain"}
	if iv != nil {
		header = slices.Insert(header, 3, "F interval")
	}
	t := newRightTable(w, header...)
	flagged := false
	for i, r := range rows {
		final := "-"
		if r.final != nil {
			final = fmt.Sprintf("%.4f", *r.final)
		}
		frac := r.secs / refSecs
		fs := fmt.Sprintf("%.0f%%", 100*frac)
		if frac > TimeCutoff {
			fs += " !"
			flagged = true
		}
		row := []string{strconv.Itoa(i + 1), r.name, fmt.Sprintf("%.4f", r.f), fmt.Sprintf("%.3f", r.ra), fmt.Sprintf("%.3f", r.ta), final,
			pct(r.forgetAcc), pct(r.retainAcc), pct(r.testAcc), fmtSecs(r.secs), fs}
		if iv != nil {
			cell := "-"
			if r.interval != nil {
				cell = fmt.Sprintf("[%.4f, %.4f]", r.interval.Low, r.interval.High)
			}
			row = slices.Insert(row, 3, cell)
		}
		t.Append(row)
	}
	// Methods with failed members are not scored (result.Incomplete):
	// listed last, marked, so that a long run's table shows every method.
	for _, c := range r.Incomplete {
		row := make([]string, len(header))
		for k := range row {
			row[k] = "-"
		}
		row[1], row[2] = c.Name, c.String()
		t.Append(row)
	}
	t.Render()
	if !result.RankedByFinal(r.Methods) {
		var none []string
		for i := range r.Methods {
			if r.Methods[i].Score.Final == nil {
				none = append(none, r.Methods[i].Name)
			}
		}
		verb := "have"
		if len(none) == 1 {
			verb = "has"
		}
		fmt.Fprintf(w, "ranked by F: %s %s no final score\n", strings.Join(none, ", "), verb)
	}
	if flagged {
		fmt.Fprintf(w, "! more than the competition's cut-off of %.0f%% of retraining's time per member\n", 100*TimeCutoff)
	}
	if iv != nil {
		writeIntervalNote(w, r, iv)
	}
	_, err := fmt.Fprintf(w, "reference: %s, N = %d, %s per member; forget %s, retain %s, test %s accuracy\n", reference, r.Methods[0].N, fmtSecs(refSecs),
		pct(plainMean(refPop.ForgetAcc)), pct(plainMean(refPop.RetainAcc)), pct(plainMean(refPop.TestAcc)))
	return err
}

// rankRow is one method's line of the ranking.
type rankRow struct {
	name                          string
	f, ra, ta                     float64
	final                         *float64
	forgetAcc, retainAcc, testAcc float64
	secs                          float64
	interval                      *scoring.Interval
}

func newRankRow(m *result.Method) rankRow {
	r := rankRow{name: m.Name, f: m.Score.F, final: m.Score.Final, ra: math.NaN(), ta: math.NaN(), interval: m.Score.Interval}
	if u := m.Population(scoring.Unlearned); u != nil {
		r.forgetAcc, r.retainAcc, r.testAcc, r.secs = plainMean(u.ForgetAcc), plainMean(u.RetainAcc), plainMean(u.TestAcc), plainMean(u.Seconds)
	}
	if m.Utility != nil {
		r.ra, r.ta = m.Utility.RetainRatio, m.Utility.TestRatio
	}
	return r
}

// writeIntervalNote says under the ranking how F's intervals were drawn
// (iv is one of them: a run draws them all alike) and which neighbours in
// the ranking they do not separate (result.MarkUnseparated).
func writeIntervalNote(w io.Writer, r *result.Result, iv *scoring.Interval) {
	fmt.Fprintf(w, "F interval: %g%% bootstrap interval over models (%d resamples, seed %d), F's spread at N = %d", 100*iv.Level, iv.Resamples, iv.Seed, r.Methods[0].N)
	var pairs []string
	for _, i := range result.Ranked(r.Methods) {
		m := &r.Methods[i]
		for _, other := range m.Score.Unseparated {
			if p := other + " and " + m.Name; !slices.Contains(pairs, p) {
				pairs = append(pairs, m.Name+" and "+other)
			}
		}
	}
	if len(pairs) > 0 {
		fmt.Fprintf(w, "; not separated at this N: %s", strings.Join(pairs, "; "))
	}
	fmt.Fprintln(w)
}

// WritePlan writes what a dry run found: per population what is cached,
// what would be computed and an estimate of the time, then the total.
func WritePlan(w io.Writer, p *result.Plan) error {
	t := newRightTable(w, "population", "method", "cached", "to compute", "estimate")
	if o := p.Original; o != nil {
		t.Append([]string{o.Name, o.Method, "no", strconv.Itoa(o.Missing), fmtSecs(o.Seconds)})
	}
	for _, r := range p.Populations {
		cached := fmt.Sprintf("%d/%d", r.Cached, r.N)
		if p.Original != nil {
			cached = strconv.Itoa(r.Cached)
		}
		bound := "~"
		if r.Bound {
			bound = "<= "
		}
		t.Append([]string{r.Name, r.Method, cached, strconv.Itoa(r.Missing), bound + fmtSecs(r.Seconds)})
	}
	t.Render()
	for _, r := range p.Populations {
		if r.Guess != "" {
			fmt.Fprintf(w, "estimate of %s guessed: %s\n", r.Name, r.Guess)
		}
	}
	if _, err := fmt.Fprintf(w, "estimate: %s of members with %d workers (methods without cached members are bounded by retraining's cost)\n", fmtSecs(p.Seconds), p.Workers); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "estimate: %s of scoring and attacks of %d methods (%s); %s in all\n", fmtSecs(p.ScoreSeconds), p.ScoreMethods, p.ScoreHow, fmtSecs(p.Seconds+p.ScoreSeconds))
	if nd := p.Needed; nd != nil && err == nil {
		_, err = fmt.Fprintf(w, "N needed for F's interval %g wide: %s\n", nd.Target, nd.Why)
	}
	return err
}

// newRightTable is newTable with numbers right-aligned: every column but
// the first two (the row's names).
func newRightTable(w io.Writer, header ...string) *tablewriter.Table {
	t := newTable(w, header...)
	t.SetAlignment(tablewriter.ALIGN_RIGHT)
	align := make([]int, len(header))
	for i := range align {
		align[i] = tablewriter.ALIGN_RIGHT
	}
	align[0], align[1] = tablewriter.ALIGN_LEFT, tablewriter.ALIGN_LEFT
	t.SetColumnAlignment(align)
	return t
}

// plainMean is the mean summed left to right (NaN for none), as the run
// table has always printed it; stat.Mean's unrolled sum may differ in the
// last bit, and a printed digit with it.
func plainMean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

// fmtSecs writes seconds with as many digits as mean something: 2.35 s,
// 42 s, 17 min.
func fmtSecs(s float64) string {
	switch {
	case s < 10:
		return fmt.Sprintf("%.2f s", s)
	case s < 600:
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%.0f min", s/60)
}
