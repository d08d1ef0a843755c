package reports

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"unlearnbench/result"
	"unlearnbench/scoring"
)

// The summary ranks the methods as the run command's terminal table does,
// both by result.Ranked (by final score, or by F where a method has no
// final score), so that a report and a terminal agree on the order.

// capped counts a method's forget examples at the epsilon cap.
func capped(m *result.Method) int {
	n := 0
	for _, e := range m.Examples {
		if e.Epsilon >= capValue {
			n++
		}
	}
	return n
}

// retrainSeconds is the mean time of a retrained model in r (the first
// method's reference that has one), 0 when unknown.
func retrainSeconds(r *result.Result) float64 {
	for i := range r.Methods {
		if s := r.Methods[i].SecondsPerModel(scoring.Retrained); s.N > 0 && s.Mean > 0 {
			return s.Mean
		}
	}
	return 0
}

// summaryGrid has one row per method, best first: rank, F, final score,
// utility ratios, time per unlearned model (and as a fraction of
// retraining's, marked "!" past the competition's cut-off), the examples
// at the epsilon cap and the warnings. N and E get columns only when the
// methods differ in them (the headline gives them otherwise); F's interval
// and the neighbours it does not separate only when some method has them
// (results of schema 1.2). Each column's best value is marked.
func summaryGrid(r *result.Result) grid {
	sameNE, withInterval, withUnseparated := true, false, false
	for i := range r.Methods {
		sameNE = sameNE && r.Methods[i].N == r.Methods[0].N && r.Methods[i].E == r.Methods[0].E
		withInterval = withInterval || r.Methods[i].Score.Interval != nil
		withUnseparated = withUnseparated || len(r.Methods[i].Score.Unseparated) > 0
	}
	retrain := retrainSeconds(r)
	header := []string{"rank", "method"}
	if !sameNE {
		header = append(header, "N", "E")
	}
	header = append(header, "F")
	if withInterval {
		header = append(header, "F interval")
	}
	header = append(header, "final score", "RA_U / RA_R", "TA_U / TA_R", "time per model")
	if retrain > 0 {
		header = append(header, "of retraining")
	}
	header = append(header, "at cap", "warnings")
	if withUnseparated {
		header = append(header, "not separated from")
	}
	t := grid{header: header, best: map[[2]int]bool{}}
	col := func(name string) int { return slices.Index(header, name) }
	// Each marked column: its value per row and whether higher is better.
	type column struct {
		name   string
		higher bool
		vals   []float64
	}
	cols := []*column{{name: "F", higher: true}, {name: "final score", higher: true}, {name: "RA_U / RA_R", higher: true},
		{name: "TA_U / TA_R", higher: true}, {name: "time per model"}, {name: "at cap"}}
	for rank, i := range result.Ranked(r.Methods) {
		m := &r.Methods[i]
		row := []string{strconv.Itoa(rank + 1), m.Name}
		if !sameNE {
			row = append(row, strconv.Itoa(m.N), strconv.Itoa(m.E))
		}
		ra, ta := "-", "-"
		raV, taV := nan, nan
		if u := m.Utility; u != nil {
			ra, ta = g(u.RetainRatio), g(u.TestRatio)
			raV, taV = u.RetainRatio, u.TestRatio
		}
		final := nan
		if m.Score.Final != nil {
			final = *m.Score.Final
		}
		secs := m.SecondsPerModel(scoring.Unlearned)
		secV := nan
		if secs.N > 0 {
			secV = secs.Mean
		}
		row = append(row, g(m.Score.F))
		if withInterval {
			row = append(row, intervalCell(m.Score.Interval))
		}
		row = append(row, optional(m.Score.Final, g), ra, ta, spreadString(secs, seconds))
		if retrain > 0 {
			frac := "-"
			if secs.N > 0 {
				frac = fmt.Sprintf("%.0f%%", 100*secs.Mean/retrain)
				if secs.Mean > TimeCutoff*retrain {
					frac += " !"
				}
			}
			row = append(row, frac)
		}
		nc := capped(m)
		row = append(row, strconv.Itoa(nc), strconv.Itoa(len(m.Warnings)))
		if withUnseparated {
			row = append(row, orDash(strings.Join(m.Score.Unseparated, ", ")))
		}
		for k, v := range []float64{m.Score.F, final, raV, taV, secV, float64(nc)} {
			cols[k].vals = append(cols[k].vals, v)
		}
		t.add(row...)
	}
	// Methods with failed members are not scored (result.Incomplete):
	// listed after the ranked ones, as the run's table lists them, so that
	// the report names every method the run was asked for.
	scored := len(t.rows)
	for _, c := range r.Incomplete {
		row := make([]string, len(header))
		for k := range row {
			row[k] = "-"
		}
		row[1], row[col("F")] = c.Name, c.String()
		t.add(row...)
	}
	if scored > 1 {
		for _, c := range cols {
			best := nan
			for _, v := range c.vals {
				if finite(v) && (!finite(best) || (c.higher && v > best) || (!c.higher && v < best)) {
					best = v
				}
			}
			if !finite(best) || !slices.ContainsFunc(c.vals, func(v float64) bool { return finite(v) && v != best }) {
				continue // nothing to tell apart
			}
			for row, v := range c.vals {
				if v == best {
					t.best[[2]int{row, col(c.name)}] = true
				}
			}
		}
	}
	return t
}

// summaryNotes explain the summary's ranking, marks and cap.
func summaryNotes(r *result.Result) []string {
	by := "F"
	if result.RankedByFinal(r.Methods) {
		by = "the final score"
	}
	var notes []string
	if len(r.Methods) > 1 {
		notes = append(notes, fmt.Sprintf("Ranked by %s, highest first; each column's best value is marked.", by))
	}
	if retrainSeconds(r) > 0 {
		notes = append(notes, fmt.Sprintf("\"of retraining\" is the time per unlearned model over the time per retrained one; \"!\" marks a method past the competition's cut-off of %.0f%%.", 100*TimeCutoff))
	}
	total, methods := 0, 0
	for i := range r.Methods {
		if n := capped(&r.Methods[i]); n > 0 {
			total += n
			methods++
		}
	}
	if total > 0 {
		notes = append(notes, fmt.Sprintf("\"at cap\": %s of %s reached the epsilon cap of %g, the value the score gives an example whose populations a rule separates perfectly or whose spreads differ a hundredfold (peaky). It is a limit, not a measured epsilon: such an example earns no points, and the tables write its epsilon as \"≥ %g (cap)\".",
			plural(total, "forget example"), plural(methods, "method"), capValue, capValue))
	}
	for _, c := range r.Incomplete {
		note := fmt.Sprintf("%s is not scored: it has %d of its %d members, the others failed", c.Name, c.Completed, c.N)
		if len(c.Failures) > 0 {
			f := c.Failures[0]
			note += fmt.Sprintf(" (member %d, seed %d: %s", f.Member, f.Seed, f.Error)
			if len(c.Failures) > 1 {
				note += "; every failure is listed in result.json"
			}
			note += ")"
		}
		// F depends on N and failures need not be random, so its
		// survivors are not scored in its place.
		notes = append(notes, note+"; a rerun computes only the failed members.")
	}
	return notes
}

var nan = math.NaN()

// populationGrid has one row per population, in the summary's order: size,
// time and accuracies with their spread, then the seeds. A retrained
// population that every method shares (one reference, as run makes) is one
// row, not one per method.
func populationGrid(r *result.Result) grid {
	t := grid{header: []string{"method", "population", "N", "time per model", "retain acc", "test acc", "forget acc", "seeds"}}
	order := result.Ranked(r.Methods)
	shared := len(r.Methods) > 1
	first := r.Methods[0].Population(scoring.Retrained)
	for i := range r.Methods {
		shared = shared && samePopulation(first, r.Methods[i].Population(scoring.Retrained))
	}
	add := func(m *result.Method, role, label string) {
		p := m.Population(role)
		n, seeds := strconv.Itoa(m.N), "-"
		if p != nil {
			n = strconv.Itoa(p.N)
			seeds = shortSeeds(p.Seeds)
		}
		row := []string{label, role, n, spreadString(m.SecondsPerModel(role), seconds)}
		for _, a := range result.Accuracies {
			row = append(row, spreadString(m.AccuracySpread(role, a), f4))
		}
		t.add(append(row, seeds)...)
	}
	if shared {
		add(&r.Methods[0], scoring.Retrained, "every method")
	}
	for _, i := range order {
		m := &r.Methods[i]
		add(m, scoring.Unlearned, m.Name)
		if !shared {
			add(m, scoring.Retrained, m.Name)
		}
	}
	return t
}
