package scoring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"syscall"
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
				start := cpuNanos()
				for b.Loop() {
					if _, err := Score(u, r, Options{Workers: workers}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuNanos()-start)/float64(b.N), "cpu-ns/op")
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

// cpuNanos is the process's user+system CPU time: under a shared machine's
// load wall time says little, CPU time still measures the work.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// confidencesCorrectlyRounded is the confidence path before NumPy's exp
// and log: the finiteness check converting every logit, Go's float64 exp
// rounded to float32, one row after another, and Go's math.Log. Kept here to measure the new path against it in the same
// run.
func confidencesCorrectlyRounded(l *Logits, labels []int) []float64 {
	// CheckFinite as it was then: each value converted to float64.
	buf := make([]float64, l.C)
	for i := 0; i < l.N; i++ {
		for e := 0; e < l.E; e++ {
			for _, v := range l.at(i, e, buf) {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					panic("not finite")
				}
			}
		}
	}
	out := make([]float64, l.N*l.E)
	scratch := make([]float64, l.C)
	for i := 0; i < l.N; i++ {
		for e := 0; e < l.E; e++ {
			off := (i*l.E + e) * l.C
			z := l.F32[off : off+l.C]
			m := z[0]
			for _, v := range z[1:] {
				m = max(m, v)
			}
			p := scratch[:l.C]
			for k, v := range z {
				p[k] = float64(float32(math.Exp(float64(v - m))))
			}
			pc, pw := probabilities(p, labels[e])
			out[i*l.E+e] = math.Log(pc+confFloor) - math.Log(pw+confFloor)
		}
	}
	return out
}

// confidencesGoLog is ProbabilitiesFloat32 row by row with Go's math.Log:
// the path between NumPy's exp and NumPy's log, to measure the log alone.
func confidencesGoLog(l *Logits, labels []int) []float64 {
	if err := l.CheckFinite(); err != nil { // as Confidences does
		panic(err)
	}
	out := make([]float64, l.N*l.E)
	scratch := make([]float64, l.C)
	for row := range out {
		pc, pw := ProbabilitiesFloat32(l.F32[row*l.C:(row+1)*l.C], labels[row%l.E], scratch)
		out[row] = math.Log(pc+confFloor) - math.Log(pw+confFloor)
	}
	return out
}

// BenchmarkConfidencesFloat32 measures step 1 on one population of the
// competition's size, 512 models x 10,000 examples x 10 classes of float32
// logits, with NumPy's exp and log (what score runs) and with the correctly
// rounded exp and Go's log they replaced; cpu-ns/op is the process's CPU
// time per operation.
// score computes this twice (both populations) before Score.
func BenchmarkConfidencesFloat32(b *testing.B) {
	n, e, c := 512, 10000, 10
	if testing.Short() {
		e = 500
	}
	l, _, labels := parityPopulations(1, n, e, c)
	for _, path := range []struct {
		name string
		f    func() []float64
	}{
		{"exp=numpy/log=numpy", func() []float64 { v, _ := l.Confidences(labels); return v }},
		{"exp=numpy/log=go", func() []float64 { return confidencesGoLog(l, labels) }},
		{"exp=correctly-rounded/log=go", func() []float64 { return confidencesCorrectlyRounded(l, labels) }},
	} {
		b.Run(path.name, func(b *testing.B) {
			start := cpuNanos()
			for b.Loop() {
				path.f()
			}
			b.ReportMetric(float64(cpuNanos()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}
