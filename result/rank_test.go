package result

import (
	"slices"
	"testing"
)

// Ranked orders by final score when every method has one, by F as soon as
// one lacks it, and keeps the result's order between equal values.
func TestRanked(t *testing.T) {
	ms := []Method{
		{Name: "a", Score: Score{F: 0.10, Final: ptr(0.09)}},
		{Name: "b", Score: Score{F: 0.20, Final: ptr(0.05)}},
		{Name: "c", Score: Score{F: 0.05, Final: ptr(0.09)}}, // ties a's final
		{Name: "d", Score: Score{F: 0.30, Final: ptr(0.20)}},
	}
	if !RankedByFinal(ms) {
		t.Error("every method has a final score, but RankedByFinal is false")
	}
	if got := Ranked(ms); !slices.Equal(got, []int{3, 0, 2, 1}) {
		t.Errorf("by final: %v; want [3 0 2 1] (d, then a before c, its equal, then b)", got)
	}
	ms[3].Score.Final = nil // d has no accuracies: all ranked by F
	if RankedByFinal(ms) {
		t.Error("d has no final score, but RankedByFinal is true")
	}
	if got := Ranked(ms); !slices.Equal(got, []int{3, 1, 0, 2}) {
		t.Errorf("by F: %v; want [3 1 0 2]", got)
	}
	ms[1].Score.F = 0.10 // b ties a on F: a stays first, as in the result
	if got := Ranked(ms); !slices.Equal(got, []int{3, 0, 1, 2}) {
		t.Errorf("by F with a tie: %v; want [3 0 1 2]", got)
	}
	if got := Ranked(nil); len(got) != 0 {
		t.Errorf("no methods: %v", got)
	}
}
