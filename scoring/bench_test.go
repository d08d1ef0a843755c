package scoring

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchPopulations draws a realistic pair of populations: per example, the
// retrained models' confidences around one centre and the unlearned ones
// around a shifted centre, with spreads like those of real models.
func benchPopulations(n, e int, seed uint64) (*Population, *Population) {
	rng := rand.New(rand.NewPCG(seed, 99))
	centre := make([]float64, e)
	shift := make([]float64, e)
	for j := range centre {
		centre[j] = rng.NormFloat64()*3 + 2
		shift[j] = rng.NormFloat64() * 0.8
	}
	u := pop(n, e, func(_, j int) float64 { return centre[j] + shift[j] + rng.NormFloat64()*1.2 })
	r := pop(n, e, func(_, j int) float64 { return centre[j] + rng.NormFloat64()*1.5 })
	return u, r
}

// BenchmarkScore measures the whole score at the competition's N = 512.
// workers=1 against workers=GOMAXPROCS shows how the work spreads over cores.
func BenchmarkScore(b *testing.B) {
	for _, e := range []int{1000, 10000} {
		u, r := benchPopulations(512, e, 1)
		for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
			if e == 10000 && workers == 1 {
				continue
			}
			b.Run(fmt.Sprintf("N=512/E=%d/workers=%d", e, workers), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Score(u, r, Options{Workers: workers}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkEpsilonTable is the one-off cost of the per-(FP, FN) table.
func BenchmarkEpsilonTable(b *testing.B) {
	for b.Loop() {
		NewEpsilonTable(512, 512, Delta)
	}
}

// BenchmarkBootstrapF measures F's interval at the demo's and the
// competition's N on E = 300 examples: one op is 10 resamples on one
// worker, so a 200-resample interval costs 20 ops of CPU time.
func BenchmarkBootstrapF(b *testing.B) {
	for _, n := range []int{32, 128, 512} {
		u, r := benchPopulations(n, 300, 1)
		b.Run(fmt.Sprintf("N=%d/E=300/resamples=10", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := BootstrapF(u, r, BootstrapOptions{Resamples: 10, Level: 0.95, Seed: 1, Workers: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
