package result

import (
	"cmp"
	"slices"
)

// The one ranking of methods. The run command's terminal table, the
// reports' summary (and every list the reports keep in the summary's
// order) and MarkUnseparated's neighbours all take their order from
// Ranked, so that a terminal, a report and a result file's "unseparated"
// never disagree on which method is ahead of which.

// RankedByFinal reports whether Ranked orders methods by final score: only
// when every method has one. A method without accuracies has no final
// score, and putting it last would rank it below methods it may beat on
// F, the one number all of them have.
func RankedByFinal(methods []Method) bool {
	for i := range methods {
		if methods[i].Score.Final == nil {
			return false
		}
	}
	return true
}

// Ranked returns the indices of methods in the order a ranking shows them,
// best first: by final score when every method has one (RankedByFinal),
// otherwise by F; ties keep the methods' order.
func Ranked(methods []Method) []int {
	byFinal := RankedByFinal(methods)
	order := make([]int, len(methods))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(rankValue(&methods[b], byFinal), rankValue(&methods[a], byFinal))
	})
	return order
}

func rankValue(m *Method, byFinal bool) float64 {
	if byFinal {
		return *m.Score.Final
	}
	return m.Score.F
}
