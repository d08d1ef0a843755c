package nplog

import (
	"math"
	"syscall"
	"testing"
)

// cpuNanos is the process's CPU time, which a loaded machine disturbs less
// than wall time.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkLog measures Log against Go's math.Log on the arguments step 1
// of the metric sees: probabilities (plus 1e-45) from near 0 to 1.
func BenchmarkLog(b *testing.B) {
	xs := make([]float64, 4096)
	for i := range xs {
		xs[i] = math.Exp(-float64(i%1000)*0.0271) + 1e-45
	}
	var sink float64
	b.Run("nplog", func(b *testing.B) {
		start := cpuNanos()
		for b.Loop() {
			for _, x := range xs {
				sink += Log(x)
			}
		}
		b.ReportMetric(float64(cpuNanos()-start)/float64(b.N*len(xs)), "cpu-ns/log")
	})
	b.Run("math.Log", func(b *testing.B) {
		start := cpuNanos()
		for b.Loop() {
			for _, x := range xs {
				sink += math.Log(x)
			}
		}
		b.ReportMetric(float64(cpuNanos()-start)/float64(b.N*len(xs)), "cpu-ns/log")
	})
	_ = sink
}
