package reports

import (
	"fmt"
	"io"
	"strings"

	"unlearnbench/result"
)

// WriteAttackTable renders a method's attacks for a terminal: a line naming
// the method, one row per attack that ran (the columns of every other
// format's attack table), then the attacks that did not run with what they
// need, then the warnings, each printed once with the attacks that share it.
func WriteAttackTable(w io.Writer, m *result.Method) error {
	fmt.Fprintf(w, "%s: N = %d models per population, E = %d forget examples\n", m.Name, m.N, m.E)
	if s := IntervalText(m); s != "" {
		fmt.Fprintf(w, "F = %s. %s\n", g(m.Score.F), s)
	}
	// The kind column repeats what the name's prefix says; a terminal is
	// narrow, so it goes.
	drop := func(cells []string) []string { return append(cells[:1:1], cells[2:]...) }
	t := grid{header: drop(attackHeader())}
	var skipped []string
	for i := range m.Attacks {
		a := &m.Attacks[i]
		if a.Skipped != "" {
			skipped = append(skipped, fmt.Sprintf("%s: %s", a.Name, a.Skipped))
			continue
		}
		t.add(drop(attackRow(m, a))...)
	}
	renderTable(w, t)
	for _, s := range skipped {
		fmt.Fprintf(w, "not run: %s\n", s)
	}
	// A warning several attacks share is printed once, naming them all.
	var order []string
	who := map[string][]string{}
	for _, a := range m.Attacks {
		for _, warn := range a.Warnings {
			if who[warn] == nil {
				order = append(order, warn)
			}
			who[warn] = append(who[warn], a.Name)
		}
	}
	for _, warn := range order {
		fmt.Fprintf(w, "warning: %s: %s\n", strings.Join(who[warn], ", "), warn)
	}
	return nil
}
