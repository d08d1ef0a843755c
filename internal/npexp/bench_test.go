package npexp

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

// BenchmarkExp measures Exp against Go's float64 exp rounded to float32
// on the arguments step 1 of the metric sees (logit minus the maximum).
func BenchmarkExp(b *testing.B) {
	xs := make([]float32, 4096)
	for i := range xs {
		xs[i] = -float32(i%1000) * 0.0271
	}
	var sink float32
	b.Run("npexp", func(b *testing.B) {
		start := cpuNanos()
		for b.Loop() {
			for _, x := range xs {
				sink += Exp(x)
			}
		}
		b.ReportMetric(float64(cpuNanos()-start)/float64(b.N*len(xs)), "cpu-ns/exp")
	})
	b.Run("ExpSlice", func(b *testing.B) {
		dst := make([]float32, len(xs))
		start := cpuNanos()
		for b.Loop() {
			ExpSlice(dst, xs)
		}
		b.ReportMetric(float64(cpuNanos()-start)/float64(b.N*len(xs)), "cpu-ns/exp")
		sink += dst[0]
	})
	b.Run("float32(math.Exp)", func(b *testing.B) {
		start := cpuNanos()
		for b.Loop() {
			for _, x := range xs {
				sink += float32(math.Exp(float64(x)))
			}
		}
		b.ReportMetric(float64(cpuNanos()-start)/float64(b.N*len(xs)), "cpu-ns/exp")
	})
	_ = sink
}
