package nn

import (
	"flag"
	"syscall"
	"testing"
	"time"

	"unlearnbench/datasets"
	"unlearnbench/nn/ort"
)

var (
	fisherBenchN       = flag.Int("fisher.n", 10000, "BenchmarkFisherSpeed: Fashion-MNIST examples for the small CNN")
	fisherBenchLoop    = flag.Int("fisher.loop", 200, "BenchmarkFisherSpeed: examples the batch-1 loop runs on (its time is scaled to the whole set)")
	fisherBenchThreads = flag.Int("fisher.threads", 0, "BenchmarkFisherSpeed: ONNX Runtime intra-op threads (0: its default, one per core)")
)

// fisherRounds interleaves BenchmarkFisherSpeed's measurements: each round
// runs a fifth of every computation in turn, so that a change in the
// machine's load (it is shared) weighs on all four alike.
const fisherRounds = 5

// cpuTime is the process's user and system time (all threads).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fisherSpeed times, in one run on the same data: one fine-tuning epoch
// (SGD with momentum, batch 128, after two warm-up steps), the MC Fisher
// with one sample, the true Fisher (each after a warm-up on two batches,
// which also compiles its graph) and the true Fisher of the batch-size-1
// loop (the notebook's way) on the first loopN examples, scaled to the
// whole set (its session is compiled inside the timed call: negligible
// next to loopN·C backward passes). The four are interleaved in
// fisherRounds rounds. It reports wall seconds, the ratios the issue sets
// targets for, and the same ratios in process CPU time.
func fisherSpeed(b *testing.B, m *Model, d *Data, loopN int) {
	rt := rt
	if *fisherBenchThreads > 0 {
		// One thread: on a shared machine, a second intra-op thread waits
		// for its descheduled peer at every operator, and the graphs with
		// the most nodes (the true Fisher's) suffer most.
		var err error
		if rt, err = ort.Init(ort.Options{IntraOpThreads: *fisherBenchThreads}); err != nil {
			b.Fatal(err)
		}
		defer rt.Close()
	}
	n := d.Len()
	tr, err := NewTrainer(rt, m.Clone(), OptimizerConfig{Name: "sgd", LR: 0.01, Momentum: 0.9}, LossConfig{}, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	fc, err := NewFisherComputer(rt, m, benchBatch)
	if err != nil {
		b.Fatal(err)
	}
	defer fc.Close()
	warm := d.Subset(benchIdx(min(n, 2*benchBatch)))
	for _, kind := range []FisherKind{FisherMC, FisherTrue} {
		if _, err := fc.Compute(warm, kind, 1); err != nil {
			b.Fatal(err)
		}
	}
	for range 2 {
		if _, err := tr.Compute(d, benchIdx(benchBatch)); err != nil {
			b.Fatal(err)
		}
		if err := tr.Apply(0.01); err != nil {
			b.Fatal(err)
		}
	}
	loopN = min(n, loopN)
	// Round r covers whole batches of the data and a fifth of the loop's.
	var parts, loopParts []*Data
	var partIdx [][]int
	batches := (n + benchBatch - 1) / benchBatch
	for r := range fisherRounds {
		lo, hi := min(n, r*batches/fisherRounds*benchBatch), min(n, (r+1)*batches/fisherRounds*benchBatch)
		partIdx = append(partIdx, seqIdx(lo, hi-lo))
		parts = append(parts, d.Subset(seqIdx(lo, hi-lo)))
		llo, lhi := r*loopN/fisherRounds, (r+1)*loopN/fisherRounds
		loopParts = append(loopParts, d.Subset(seqIdx(llo, lhi-llo)))
	}
	var wall, cpu [4]time.Duration
	timed := func(k int, f func() error) {
		w0, c0 := time.Now(), cpuTime()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		wall[k] += time.Since(w0)
		cpu[k] += cpuTime() - c0
	}
	b.ResetTimer()
	for range b.N {
		for r := range fisherRounds {
			timed(0, func() error {
				idx := partIdx[r]
				for s := 0; s < len(idx); s += benchBatch {
					if _, err := tr.Compute(d, idx[s:min(len(idx), s+benchBatch)]); err != nil {
						return err
					}
					if err := tr.Apply(0.01); err != nil {
						return err
					}
				}
				return nil
			})
			timed(1, func() error { _, err := fc.Compute(parts[r], FisherMC, uint64(r)); return err })
			timed(2, func() error { _, err := fc.Compute(parts[r], FisherTrue, 1); return err })
			timed(3, func() error { _, err := fisherLoop(rt, m, loopParts[r], FisherTrue, 1, 1); return err })
		}
	}
	scale := float64(n) / float64(loopN)
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.ReportMetric(per(wall[0]), "epoch-s")
	b.ReportMetric(per(wall[1]), "mc-s")
	b.ReportMetric(per(wall[2]), "true-s")
	b.ReportMetric(per(wall[3])*scale, "loop-true-s")
	b.ReportMetric(per(wall[1])/per(wall[0]), "mc/epoch")
	b.ReportMetric(per(wall[2])/per(wall[0]), "true/epoch")
	b.ReportMetric(per(wall[3])*scale/per(wall[2]), "loop/true")
	b.ReportMetric(per(cpu[1])/per(cpu[0]), "cpu-mc/epoch")
	b.ReportMetric(per(cpu[2])/per(cpu[0]), "cpu-true/epoch")
	b.ReportMetric(per(cpu[3])*scale/per(cpu[2]), "cpu-loop/true")
}

// BenchmarkFisherSpeed is issue 11's item 5: the Fisher estimators against
// one fine-tuning epoch and the batch-1 loop, for the small CNN on
// Fashion-MNIST and ResNet-18 (torchvision stem) at 32x32 on 512 random
// examples. Run with -benchtime=1x: one run holds all four measurements.
func BenchmarkFisherSpeed(b *testing.B) {
	b.Run("cnn/fashion-mnist", func(b *testing.B) {
		src, err := datasets.LoadFashionMNIST("")
		if err != nil {
			b.Skipf("Fashion-MNIST not installed: %v", err)
		}
		idx := benchIdx(min(*fisherBenchN, src.Train.N))
		nrm := datasets.ChannelStats(src.Train, idx)
		all := fashionData(b, src.Train, nrm)
		d := all.Subset(idx)
		fisherSpeed(b, SmallCNN(d.Shape, 10, 1), d, *fisherBenchLoop)
	})
	b.Run("resnet18/32x32", func(b *testing.B) {
		shape := []int64{3, 32, 32}
		d := randomData(2, 512, shape, 10)
		fisherSpeed(b, ResNet18(shape, 10, false, 1), d, 16)
	})
}
