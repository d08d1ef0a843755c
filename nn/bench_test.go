package nn

import (
	"fmt"
	"testing"

	"unlearnbench/nn/graph"
	"unlearnbench/nn/ort"
)

// benchModels are the zoo at the input sizes the benchmarks use.
var benchModels = []struct {
	arch  string
	shape []int64
}{
	{ArchMLP, []int64{1, 28, 28}},
	{ArchCNN, []int64{1, 28, 28}},
	{ArchResNet18CIFAR, []int64{3, 32, 32}},
	{ArchResNet18, []int64{3, 64, 64}},
}

const benchBatch = 128

func benchIdx(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// BenchmarkForward measures inference throughput at batch 128.
func BenchmarkForward(b *testing.B) {
	for _, bm := range benchModels {
		b.Run(fmt.Sprintf("%s/%v", bm.arch, bm.shape), func(b *testing.B) {
			m, _ := New(bm.arch, bm.shape, 10, 1)
			d := randomData(1, benchBatch, bm.shape, 10)
			ev, err := NewEvaluator(rt, m, benchBatch)
			if err != nil {
				b.Fatal(err)
			}
			defer ev.Close()
			// Warm-up: ONNX Runtime plans and allocates its memory over the
			// first two runs of a session (the second training step of a
			// ResNet-18 takes ~30% longer than the later ones).
			for range 2 {
				if _, err := ev.Logits(d); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				if _, err := ev.Logits(d); err != nil {
					b.Fatal(err)
				}
			}
			s := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(benchBatch/s, "examples/s")
			b.ReportMetric(m.ForwardFLOPs()*benchBatch/s/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkTrainStep measures one training step (forward, backward, SGD
// with momentum) at batch 128; its GFLOP/s counts 3x the forward FLOPs.
func BenchmarkTrainStep(b *testing.B) {
	for _, bm := range benchModels {
		b.Run(fmt.Sprintf("%s/%v", bm.arch, bm.shape), func(b *testing.B) {
			m, _ := New(bm.arch, bm.shape, 10, 1)
			d := randomData(1, benchBatch, bm.shape, 10)
			tr, err := NewTrainer(rt, m, OptimizerConfig{Name: "sgd", LR: 0.01, Momentum: 0.9}, LossConfig{}, 1)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			idx := benchIdx(benchBatch)
			step := func() {
				if _, err := tr.Compute(d, idx); err != nil {
					b.Fatal(err)
				}
				if err := tr.Apply(0.01); err != nil {
					b.Fatal(err)
				}
			}
			step() // warm-up, twice as in BenchmarkForward
			step()
			b.ResetTimer()
			for range b.N {
				step()
			}
			s := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(benchBatch/s, "examples/s")
			b.ReportMetric(3*m.ForwardFLOPs()*benchBatch/s/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMatMul is ONNX Runtime's throughput on a large float32 MatMul, the
// yardstick for the training step's GFLOP/s.
func BenchmarkMatMul(b *testing.B) {
	const n = 2048
	g := graph.New("matmul")
	x := g.AddInput("a", graph.Float, n, n)
	y := g.AddInput("b", graph.Float, n, n)
	g.OpNamed("MatMul", []string{x, y}, []string{"c"})
	g.AddOutput("c")
	model, err := g.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	var own ort.Owner
	defer own.Close()
	s, err := rt.NewSession(&own, model, []string{"a", "b"}, []string{"c"})
	if err != nil {
		b.Fatal(err)
	}
	d := randomData(1, 2, []int64{n, n}, 2)
	a, _ := ort.NewTensor(&own, []int64{n, n}, d.X[:n*n])
	bb, _ := ort.NewTensor(&own, []int64{n, n}, d.X[n*n:])
	c, _ := ort.ZeroTensor[float32](&own, []int64{n, n})
	run := func() {
		if err := s.Run(&own, []ort.Value{a, bb}, []ort.Value{c}); err != nil {
			b.Fatal(err)
		}
	}
	run()
	b.ResetTimer()
	for range b.N {
		run()
	}
	b.ReportMetric(2*n*n*n/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
}

// BenchmarkSquaredGradients compares, on 10,000 examples for the small CNN,
// the batched per-example squared-gradient sums (empirical Fisher), one
// training epoch, and the batch-size-1 loop.
func BenchmarkSquaredGradients(b *testing.B) {
	const n = 10000
	shape := []int64{1, 28, 28}
	d := randomData(2, n, shape, 10)
	b.Run("batched/cnn", func(b *testing.B) {
		m := SmallCNN(shape, 10, 1)
		fc, err := NewFisherComputer(rt, m, benchBatch)
		if err != nil {
			b.Fatal(err)
		}
		defer fc.Close()
		for range b.N {
			if _, err := fc.Compute(d, FisherEmpirical, 1); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(n/(b.Elapsed().Seconds()/float64(b.N)), "examples/s")
	})
	b.Run("epoch/cnn", func(b *testing.B) {
		m := SmallCNN(shape, 10, 1)
		for range b.N {
			if _, err := trainData(rt, m, d, nil, TrainConfig{Epochs: 1, BatchSize: benchBatch, Seed: 1, Optimizer: OptimizerConfig{Name: "sgd", LR: 0.01}}, Options{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(n/(b.Elapsed().Seconds()/float64(b.N)), "examples/s")
	})
	b.Run("batch1-loop/cnn", func(b *testing.B) {
		m := SmallCNN(shape, 10, 1)
		for range b.N {
			if _, err := fisherLoop(rt, m, d, FisherEmpirical, 1, 1); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(n/(b.Elapsed().Seconds()/float64(b.N)), "examples/s")
	})
}

// BenchmarkCheckpoint is what train pays after every epoch and once on
// --resume: saving a CIFAR ResNet-18 with SGD momentum (weights, batch-norm
// statistics, one moment per parameter) and reading it back.
func BenchmarkCheckpoint(b *testing.B) {
	m, err := New(ArchResNet18CIFAR, []int64{3, 32, 32}, 10, 1)
	if err != nil {
		b.Fatal(err)
	}
	st := &TrainState{Epochs: 1, Step: 391, OptStep: 391}
	for _, name := range m.Params {
		st.V = append(st.V, make([]float32, len(m.Param(name))))
	}
	path := b.TempDir() + "/resnet18.ckpt"
	b.Run("save", func(b *testing.B) {
		for b.Loop() {
			if err := SaveCheckpoint(path, m, st, map[string]int{"seed": 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read+restore", func(b *testing.B) {
		for b.Loop() {
			c, err := ReadCheckpoint(path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Restore(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
