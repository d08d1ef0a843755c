package attack

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

type visitRec struct{ rule, fp, fn int }

func visits(c *CompetitionRules, stopAfter int) []visitRec {
	var out []visitRec
	c.Each(func(rule, fp, fn int) bool {
		out = append(out, visitRec{rule, fp, fn})
		return len(out) != stopAfter
	})
	return out
}

// Each's jumps between values visit exactly the rules, in the same order
// with the same counts, that the walk over every left threshold visits:
// on continuous values, on heavy ties (a bootstrap's resamples repeat
// models), on values lying exactly on thresholds, at sizes on both sides
// of the switch between the two, and when visit stops early.
func TestEachJumpsAsTheWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	draws := map[string]func(n int, shift float64) []float64{
		"normal": func(n int, shift float64) []float64 {
			v := make([]float64, n)
			for i := range v {
				v[i] = shift + rng.NormFloat64()*(0.3+rng.Float64())
			}
			return v
		},
		"resampled": func(n int, shift float64) []float64 {
			base := make([]float64, n)
			for i := range base {
				base[i] = shift + rng.NormFloat64()
			}
			v := make([]float64, n)
			for i := range v {
				v[i] = base[rng.IntN(n)]
			}
			return v
		},
		"on the grid": func(n int, shift float64) []float64 {
			v := make([]float64, n)
			for i := range v {
				v[i] = math.Round(100*(shift+rng.NormFloat64())) / 100
			}
			return v
		},
	}
	for name, draw := range draws {
		for _, n := range []int{3, 8, 32, 64, 200} {
			for trial := 0; trial < 6; trial++ {
				pos, neg := draw(n, rng.Float64()*2), draw(n, 0)
				jump, err := NewCompetitionRules(pos, neg)
				if err != nil {
					t.Fatal(err)
				}
				walk, _ := NewCompetitionRules(pos, neg)
				walk.walkOnly = true
				want := visits(walk, -1)
				if got := visits(jump, -1); !slices.Equal(got, want) {
					t.Fatalf("%s, N = %d, trial %d: jumps visit %d rules, the walk %d; first difference at %d", name, n, trial, len(got), len(want), firstDiff(got, want))
				}
				if len(want) > 10 {
					stop := 1 + rng.IntN(len(want)-1)
					if got := visits(jump, stop); !slices.Equal(got, want[:stop]) {
						t.Fatalf("%s, N = %d: stopping after %d visits: %d visits", name, n, stop, len(got))
					}
				}
			}
		}
	}
}

func firstDiff(a, b []visitRec) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
