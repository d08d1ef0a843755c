package nn

import (
	"flag"
	"testing"
	"time"

	"unlearnbench/datasets"
)

var (
	fisherBenchN    = flag.Int("fisher.n", 10000, "BenchmarkFisherSpeed: Fashion-MNIST examples for the small CNN")
	fisherBenchLoop = flag.Int("fisher.loop", 200, "BenchmarkFisherSpeed: examples the batch-1 loop runs on (its time is scaled to the whole set)")
)

// fisherSpeed times, in one run on the same data: one fine-tuning epoch
// (SGD with momentum, batch 128, after two warm-up steps), the MC Fisher
// with one sample, the true Fisher (each after a warm-up on two batches,
// which also compiles its graph) and the true Fisher of the batch-size-1
// loop (the notebook's way) on the first loopN examples, scaled to the
// whole set (its session is compiled inside the timed call: negligible
// next to loopN·C backward passes). It reports seconds and the ratios the
// issue sets targets for.
func fisherSpeed(b *testing.B, m *Model, d *Data, loopN int) {
	n := d.Len()
	c := float64(m.Classes)
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
		tr.Apply(0.01)
	}
	loopData := d.Subset(benchIdx(min(n, loopN)))
	var epoch, mc, tru, loop time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		for s := 0; s < n; s += benchBatch {
			if _, err := tr.Compute(d, seqIdx(s, min(n, s+benchBatch)-s)); err != nil {
				b.Fatal(err)
			}
			tr.Apply(0.01)
		}
		t1 := time.Now()
		if _, err := fc.Compute(d, FisherMC, 1); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := fc.Compute(d, FisherTrue, 1); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if _, err := fisherLoop(rt, m, loopData, FisherTrue, 1, 1); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		epoch += t1.Sub(t0)
		mc += t2.Sub(t1)
		tru += t3.Sub(t2)
		loop += t4.Sub(t3)
	}
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	loopS := per(loop) * float64(n) / float64(loopData.Len())
	b.ReportMetric(per(epoch), "epoch-s")
	b.ReportMetric(per(mc), "mc-s")
	b.ReportMetric(per(tru), "true-s")
	b.ReportMetric(loopS, "loop-true-s")
	b.ReportMetric(per(mc)/per(epoch), "mc/epoch")
	b.ReportMetric(per(tru)/per(epoch), "true/epoch")
	b.ReportMetric(c, "C")
	b.ReportMetric(loopS/per(tru), "loop/true")
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
