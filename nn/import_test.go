package nn

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn/graph"
	"unlearnbench/nn/ort"
)

func logitsOf(t *testing.T, m *Model, d *Data) []float32 {
	t.Helper()
	ev, err := NewEvaluator(rt, m, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	lg, err := ev.Logits(d)
	if err != nil {
		t.Fatal(err)
	}
	return lg
}

func assertClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// foldBatchNorm returns m's graph with every Conv → BatchNormalization pair
// folded into one Conv with a bias, as torch.onnx.export does in eval mode.
func foldBatchNorm(t *testing.T, m *Model) []byte {
	g := m.Graph.Clone()
	prod := map[string]int{}
	for i, n := range g.Nodes {
		prod[n.Output[0]] = i
	}
	var keep []int
	drop := map[int]bool{}
	for i, n := range g.Nodes {
		if n.OpType != "BatchNormalization" {
			continue
		}
		ci, ok := prod[n.Input[0]]
		if !ok || g.Nodes[ci].OpType != "Conv" {
			t.Fatal("BatchNormalization not after a Conv")
		}
		conv := g.Nodes[ci]
		w := g.Inits[conv.Input[1]]
		scale, bias := g.Inits[n.Input[1]].F32, g.Inits[n.Input[2]].F32
		mean, vr := g.Inits[n.Input[3]].F32, g.Inits[n.Input[4]].F32
		eps := graph.FloatAttr(n, "epsilon", 1e-5)
		nw := &graph.Tensor{DType: graph.Float, Dims: w.Dims, F32: make([]float32, len(w.F32))}
		nb := &graph.Tensor{DType: graph.Float, Dims: []int64{w.Dims[0]}, F32: make([]float32, w.Dims[0])}
		per := len(w.F32) / int(w.Dims[0])
		for c := range nb.F32 {
			s := scale[c] / float32(math.Sqrt(float64(vr[c]+eps)))
			for j := 0; j < per; j++ {
				nw.F32[c*per+j] = w.F32[c*per+j] * s
			}
			nb.F32[c] = bias[c] - mean[c]*s
		}
		g.AddInit(conv.Input[1]+".folded", nw)
		g.AddInit(conv.Input[1]+".bias_folded", nb)
		conv.Input = []string{conv.Input[0], conv.Input[1] + ".folded", conv.Input[1] + ".bias_folded"}
		conv.Output = []string{n.Output[0]}
		drop[i] = true
	}
	for i := range g.Nodes {
		if !drop[i] {
			keep = append(keep, i)
		}
	}
	nodes := g.Nodes
	g.Nodes = nil
	for _, i := range keep {
		g.Nodes = append(g.Nodes, nodes[i])
	}
	g.Outputs = []string{m.Output}
	b, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportFineTuneExport imports a ResNet-18 in torchvision's layout (as
// exported, and with batch norm folded), fine-tunes it, exports it and runs
// the export in ONNX Runtime.
func TestImportFineTuneExport(t *testing.T) {
	orig := ResNet18([]int64{3, 16, 16}, 10, false, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "resnet18.onnx")
	if err := orig.Save(path); err != nil {
		t.Fatal(err)
	}
	d := randomData(9, 16, orig.Shape, 10)
	// Let the running statistics differ from their initial values.
	if _, err := trainData(rt, orig, d, nil, TrainConfig{Epochs: 1, BatchSize: 8, Seed: 1, Optimizer: OptimizerConfig{Name: "sgd", LR: 0.01}}, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := orig.Save(path); err != nil {
		t.Fatal(err)
	}
	folded := filepath.Join(dir, "resnet18_folded.onnx")
	if err := os.WriteFile(folded, foldBatchNorm(t, orig), 0o644); err != nil {
		t.Fatal(err)
	}
	want := logitsOf(t, orig, d)
	for _, p := range []string{path, folded} {
		m, err := Import(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.Classes != 10 || len(m.Params) == 0 {
			t.Fatalf("%s: %d classes, %d params", p, m.Classes, len(m.Params))
		}
		assertClose(t, filepath.Base(p)+" logits", logitsOf(t, m, d), want, 1e-3)
		hist, err := trainData(rt, m, d, d, TrainConfig{Epochs: 2, BatchSize: 8, Seed: 2, Optimizer: OptimizerConfig{Name: "sgd", LR: 0.01, Momentum: 0.9}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if hist[1].TrainLoss >= hist[0].TrainLoss*1.5 {
			t.Errorf("%s: fine-tuning loss went from %v to %v", p, hist[0].TrainLoss, hist[1].TrainLoss)
		}
		out := filepath.Join(dir, "tuned.onnx")
		if err := m.Save(out); err != nil {
			t.Fatal(err)
		}
		back, err := Import(out)
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, "exported logits", logitsOf(t, back, d), logitsOf(t, m, d), 1e-5)
	}
}

func TestImportRejects(t *testing.T) {
	conv := "/usr/share/libonnx-testdata/data/pytorch-converted/test_Conv2d/model.onnx"
	if _, err := os.Stat(conv); err != nil {
		t.Skip("libonnx-testdata is not installed")
	}
	_, err := Import(conv)
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "logits") {
		t.Errorf("Conv2d as a classifier: error %v, want one about logits", err)
	}
	_, err = Import("/usr/share/libonnx-testdata/data/pytorch-converted/test_ELU/model.onnx")
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "Elu") {
		t.Errorf("ELU: error %v, want one naming Elu", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(bad, []byte("garbage"), 0o644)
	if _, err := Import(bad); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), bad) {
		t.Errorf("garbage: error %v, want a user error naming the file", err)
	}
	lin, err := Import("/usr/share/libonnx-testdata/data/pytorch-converted/test_Linear/model.onnx")
	if err != nil {
		t.Fatalf("Linear as a classifier: %v", err)
	}
	if len(lin.Params) != 2 {
		t.Errorf("Linear: params %v", lin.Params)
	}
	d := randomData(1, 3, lin.Shape, lin.Classes)
	if err := d.Check(lin); err != nil {
		t.Fatal(err)
	}
	wrong := randomData(1, 3, []int64{lin.Shape[0] + 1}, lin.Classes)
	if err := wrong.Check(lin); err == nil || !usererr.Is(err) {
		t.Errorf("mismatched data: %v", err)
	}
}

// zooMNISTLike builds, with nn/graph, a model laid out like the ONNX model
// zoo's MNIST (mnist-8): a fixed batch of 1 in the input and in the
// flattening Reshape's shape constant, a convolution bias added by an Add of
// an [8,1,1] initializer, and the classifier's weight stored as [8,7,7,10]
// and reshaped into a MatMul. flat is the flattening shape constant.
func zooMNISTLike(t *testing.T, flat []int64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(4, 4))
	randT := func(scale float64, dims ...int64) *graph.Tensor {
		x := &graph.Tensor{DType: graph.Float, Dims: dims, F32: make([]float32, numel(dims))}
		for i := range x.F32 {
			x.F32[i] = float32(rng.NormFloat64() * scale)
		}
		return x
	}
	g := graph.New("mnist_like")
	x := g.AddInput("Input3", graph.Float, 1, 1, 28, 28)
	c := g.Op1("Conv", []string{x, g.AddInit("Parameter5", randT(0.3, 8, 1, 5, 5))}, graph.AInts("kernel_shape", 5, 5), graph.AInts("pads", 2, 2, 2, 2))
	c = g.Op1("Add", []string{c, g.AddInit("Parameter6", randT(0.1, 8, 1, 1))})
	p := g.Op1("MaxPool", []string{g.Op1("Relu", []string{c})}, graph.AInts("kernel_shape", 4, 4), graph.AInts("strides", 4, 4))
	f := g.Op1("Reshape", []string{p, g.AddInit("Pooling_reshape0_shape", &graph.Tensor{DType: graph.Int64, Dims: []int64{int64(len(flat))}, I64: flat})})
	w := g.Op1("Reshape", []string{g.AddInit("Parameter193", randT(0.05, 8, 7, 7, 10)), g.ConstI(392, 10)})
	z := g.Op1("Add", []string{g.Op1("MatMul", []string{f, w}), g.AddInit("Parameter194", randT(0.1, 1, 10))})
	g.OpNamed("Identity", []string{z}, []string{"Plus214_Output_0"})
	g.AddOutput("Plus214_Output_0")
	b, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportZooMNISTLayout: the weight that reaches its MatMul through a
// Reshape is trainable (gradients checked by finite differences, Fisher
// against the batch-1 loop), the fixed batch of the flattening Reshape is
// made dynamic (logits at batch 8 equal the original model's one example at
// a time), and a fixed-batch shape that cannot be rewritten is refused as a
// user error naming the node.
func TestImportZooMNISTLayout(t *testing.T) {
	orig := zooMNISTLike(t, []int64{1, 392})
	m, err := ImportBytes(orig, "mnist_like")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Parameter193", "Parameter194", "Parameter5", "Parameter6"}; !slices.Equal(m.Params, want) {
		t.Fatalf("params %v, want %v", m.Params, want)
	}
	d := randomData(3, 10, m.Shape, 10)
	got := logitsOf(t, m, d)

	// The original graph, batch 1, straight in ONNX Runtime.
	var own ort.Owner
	defer own.Close()
	s, err := rt.NewSession(&own, orig, []string{"Input3"}, []string{"Plus214_Output_0"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < d.Len(); i++ {
		in, _ := ort.NewTensor(&own, []int64{1, 1, 28, 28}, d.X[i*784:(i+1)*784])
		out, _ := ort.ZeroTensor[float32](&own, []int64{1, 10})
		if err := s.Run(&own, []ort.Value{in}, []ort.Value{out}); err != nil {
			t.Fatal(err)
		}
		assertClose(t, fmt.Sprintf("example %d logits", i), got[i*10:(i+1)*10], out.GetData(), 1e-4)
	}

	checkModelGradients(t, m, d, m.Params, 1e-3, 0.05)
	for _, kind := range []FisherKind{FisherEmpirical, FisherTrue} {
		fc, err := NewFisherComputer(rt, m, 4)
		if err != nil {
			t.Fatal(err)
		}
		f, err := fc.Compute(d, kind, 1)
		fc.Close()
		if err != nil {
			t.Fatal(err)
		}
		want, err := fisherLoop(rt, m, d, kind, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m.Params {
			for i := range want[p] {
				if math.Abs(f[p][i]-want[p][i]) > 1e-3*math.Abs(want[p][i])+1e-6 {
					t.Fatalf("%v Fisher of %s[%d] = %v, batch-1 loop %v", kind, p, i, f[p][i], want[p][i])
				}
			}
		}
	}
	if err := m.Reinit("Parameter193", nil, 1); err != nil {
		t.Errorf("Reinit of the reshaped weight: %v", err)
	}

	_, err = ImportBytes(zooMNISTLike(t, []int64{1, -1}), "mnist_like")
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "Reshape node") {
		t.Errorf("shape [1, -1]: error %v, want a user error naming the Reshape node", err)
	}
	_, err = ImportBytes(zooMNISTLike(t, []int64{1, 196}), "mnist_like")
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "Reshape node") {
		t.Errorf("shape [1, 196] (two examples' worth): error %v, want a user error naming the Reshape node", err)
	}
}

// TestImportKeepsTheInputNormalisation: a zoo model with a three-channel
// input normalisation, written to ONNX and imported, lists the
// normalisation's constants as buffers, not parameters, so training leaves
// them as they are; its logits are the written model's, and those of the
// same import with the constants left as plain constants (what run's
// loadOriginal made of them), bit for bit.
func TestImportKeepsTheInputNormalisation(t *testing.T) {
	built, err := New(ArchCNN, []int64{3, 16, 16}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := built.PrependNormalization([]float64{0.5, 0.4, 0.3}, []float64{0.25, 0.2, 0.3}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cnn.onnx")
	if err := built.Save(path); err != nil {
		t.Fatal(err)
	}
	m, err := Import(path)
	if err != nil {
		t.Fatal(err)
	}
	norm := []string{m.Input + ".norm_mean", m.Input + ".norm_inv_std"}
	for _, n := range norm {
		if slices.Contains(m.Params, n) || !slices.Contains(m.Buffers, n) {
			t.Errorf("%s: a parameter (%v) or not a buffer (%v)", n, m.Params, m.Buffers)
		}
	}
	if len(m.Params) != len(built.Params) {
		t.Errorf("%d parameters imported, the zoo's model has %d", len(m.Params), len(built.Params))
	}
	d := randomData(5, 16, m.Shape, 10)
	consts := m.Clone()
	consts.Buffers = slices.DeleteFunc(consts.Buffers, func(b string) bool { return slices.Contains(norm, b) })
	got := logitsOf(t, m, d)
	if !slices.Equal(got, logitsOf(t, built, d)) || !slices.Equal(got, logitsOf(t, consts, d)) {
		t.Error("the imported model's logits differ from the written model's, or with the constants as constants")
	}
	before := m.Clone()
	if _, err := trainData(rt, m, d, nil, TrainConfig{Epochs: 1, BatchSize: 8, Seed: 1, Optimizer: OptimizerConfig{Name: "sgd", LR: 0.1}}, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range norm {
		if !slices.Equal(m.Param(n), before.Param(n)) {
			t.Errorf("training changed %s", n)
		}
	}
	if slices.Equal(m.Param(m.Params[0]), before.Param(m.Params[0])) {
		t.Errorf("training left parameter %s as it was", m.Params[0])
	}
}

// TestImportTorchScalarAndPad imports what torch.onnx.export writes for a
// Python-number division (a rank-0 Constant, once read as an unknown shape
// that made the logits' shape unknown) and an AvgPool2d with padding (a
// constant Pad, once refused as an unsupported operator), and checks its
// logits against PyTorch's and that a training step differentiates through
// both. Fixture: testdata/torch_scalar_pad.py.
func TestImportTorchScalarAndPad(t *testing.T) {
	m, err := Import("testdata/torch_scalar_pad.onnx")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/torch_scalar_pad.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct{ Input, Logits []float32 }
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	d := &Data{Shape: m.Shape, X: fx.Input, Y: []int64{3, 7}}
	assertClose(t, "logits", logitsOf(t, m, d), fx.Logits, 1e-5)
	tr, err := NewTrainer(rt, m, OptimizerConfig{Name: "sgd", LR: 0.1}, LossConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Compute(d, []int{0, 1}); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params {
		g := tr.Grad(p)
		if !slices.ContainsFunc(g, func(v float32) bool { return v != 0 }) {
			t.Errorf("gradient of %s is all zero", p)
		}
	}
	if !tr.GradsFinite() {
		t.Error("gradients are not finite")
	}
}
