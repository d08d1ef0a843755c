package python_test

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"unlearnbench/internal/arrays"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
	"unlearnbench/python"
)

var (
	rtOnce sync.Once
	rt     *ort.Runtime
	rtErr  error
)

func runtime(t *testing.T) *ort.Runtime {
	t.Helper()
	rtOnce.Do(func() { rt, rtErr = ort.Init(ort.Options{IntraOpThreads: 1, InterOpThreads: 1}) })
	if rtErr != nil {
		t.Fatal(rtErr)
	}
	return rt
}

// torchPython returns the interpreter with torch and the PYTHONPATH that
// finds the package, or skips when the interpreter has no torch (make
// setup installs python3-torch).
func torchPython(t *testing.T) (string, []string) {
	t.Helper()
	if out, err := exec.Command(python.Interpreter, "-c", "import torch, numpy").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import torch (make setup installs python3-torch): %v: %s", python.Interpreter, err, out)
	}
	dir, err := python.Install(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return python.Interpreter, append(os.Environ(), "PYTHONPATH="+dir, "OMP_NUM_THREADS=1")
}

func runPy(t *testing.T, py string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(py, append([]string{"testdata/loader_check.py"}, args...)...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("loader_check.py %s: %v\n%s", args[0], err, out)
	}
}

// randomData is n seeded uniform images of shape.
func randomData(shape []int64, n int, seed uint64) *nn.Data {
	d := &nn.Data{Shape: shape, Y: make([]int64, n)}
	size := 1
	for _, s := range shape {
		size *= int(s)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	d.X = make([]float32, n*size)
	for i := range d.X {
		d.X[i] = float32(r.Float64())
	}
	return d
}

func writeX(t *testing.T, path string, d *nn.Data) {
	t.Helper()
	shape := []int{d.Len()}
	for _, s := range d.Shape {
		shape = append(shape, int(s))
	}
	if err := arrays.WriteNPY(path, arrays.Tensor[float32]{Shape: shape, Data: d.X}); err != nil {
		t.Fatal(err)
	}
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	a, err := arrays.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := a.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ortLogits(t *testing.T, m *nn.Model, d *nn.Data) []float32 {
	t.Helper()
	ev, err := nn.NewEvaluator(runtime(t), m, 64)
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

// closeTo compares logits within float32 noise: summation orders differ
// between torch and ONNX Runtime, so the bound is relative to the
// logits' scale.
func closeTo(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d logits, want %d", what, len(got), len(want))
	}
	scale, worst := 1.0, 0.0
	for i := range want {
		scale = max(scale, math.Abs(float64(want[i])))
		worst = max(worst, math.Abs(float64(got[i]-want[i])))
	}
	if worst > 1e-4*scale || math.IsNaN(worst) {
		t.Errorf("%s: torch and ONNX Runtime differ by %g (logits up to %g)", what, worst, scale)
	}
}

// zooModel is arch with non-trivial batch-norm statistics and, for
// norm, the input normalisation run prepends.
func zooModel(t *testing.T, arch string, shape []int64, norm bool) *nn.Model {
	t.Helper()
	m, err := nn.New(arch, shape, 10, 7)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, b := range m.Buffers {
		v := m.Param(b)
		for i := range v {
			if strings.HasSuffix(b, "running_var") {
				v[i] = float32(0.5 + r.Float64())
			} else {
				v[i] = float32(r.Float64() - 0.5)
			}
		}
	}
	if norm {
		mean, std := make([]float64, shape[0]), make([]float64, shape[0])
		for c := range mean {
			mean[c], std[c] = 0.3+0.1*float64(c), 0.25
		}
		if err := m.PrependNormalization(mean, std); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestLoaderMatchesORT: every zoo model, loaded into torch by the
// package, computes ONNX Runtime's logits.
func TestLoaderMatchesORT(t *testing.T) {
	py, env := torchPython(t)
	for _, tc := range []struct {
		arch  string
		shape []int64
		norm  bool
	}{
		{nn.ArchMLP, []int64{1, 28, 28}, true},
		{nn.ArchCNN, []int64{1, 28, 28}, true},
		{nn.ArchResNet18, []int64{3, 32, 32}, false},
		{nn.ArchResNet18CIFAR, []int64{3, 16, 16}, true},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			dir := t.TempDir()
			m := zooModel(t, tc.arch, tc.shape, tc.norm)
			if err := m.Save(filepath.Join(dir, "m.onnx")); err != nil {
				t.Fatal(err)
			}
			x := randomData(tc.shape, 4, 3)
			writeX(t, filepath.Join(dir, "x.npy"), x)
			runPy(t, py, env, "logits", filepath.Join(dir, "m.onnx"), filepath.Join(dir, "x.npy"), filepath.Join(dir, "logits.npy"))
			closeTo(t, tc.arch, readF32(t, filepath.Join(dir, "logits.npy")), ortLogits(t, m, x))
		})
	}
}

// TestWriteBack: a model trained in torch and saved by the package is the
// original's graph with new weights: nn.Import reads it with the same
// parameters and buffers, and ONNX Runtime computes torch's logits.
func TestWriteBack(t *testing.T) {
	py, env := torchPython(t)
	for _, tc := range []struct {
		arch  string
		shape []int64
	}{{nn.ArchMLP, []int64{1, 28, 28}}, {nn.ArchCNN, []int64{1, 12, 12}}} {
		t.Run(tc.arch, func(t *testing.T) {
			dir := t.TempDir()
			m := zooModel(t, tc.arch, tc.shape, true)
			orig := filepath.Join(dir, "m.onnx")
			if err := m.Save(orig); err != nil {
				t.Fatal(err)
			}
			before, err := nn.Import(orig)
			if err != nil {
				t.Fatal(err)
			}
			x := randomData(tc.shape, 6, 4)
			writeX(t, filepath.Join(dir, "x.npy"), x)
			out := filepath.Join(dir, "new.onnx")
			runPy(t, py, env, "train", orig, filepath.Join(dir, "x.npy"), filepath.Join(dir, "logits.npy"), out)
			got, err := nn.Import(out)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Params, before.Params) || !slices.Equal(got.Buffers, before.Buffers) {
				t.Errorf("written back: params %v buffers %v; the original's %v %v", got.Params, got.Buffers, before.Params, before.Buffers)
			}
			changed := 0
			for _, p := range before.Params {
				if !slices.Equal(got.Param(p), before.Param(p)) {
					changed++
				}
			}
			if changed == 0 {
				t.Error("no parameter changed: training did not reach the written model")
			}
			closeTo(t, tc.arch+" written back", readF32(t, filepath.Join(dir, "logits.npy")), ortLogits(t, got, x))
		})
	}
}

// TestExportPlainModule: a torch module of the user's own (Conv, BN,
// pools, Linear) saved by the package through torch.onnx.export imports
// in Go and computes torch's logits.
func TestExportPlainModule(t *testing.T) {
	py, env := torchPython(t)
	dir := t.TempDir()
	shape := []int64{3, 8, 8}
	x := randomData(shape, 5, 9)
	writeX(t, filepath.Join(dir, "x.npy"), x)
	out := filepath.Join(dir, "net.onnx")
	runPy(t, py, env, "export", filepath.Join(dir, "x.npy"), filepath.Join(dir, "logits.npy"), out)
	m, err := nn.Import(out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Shape, shape) || m.Classes != 5 {
		t.Fatalf("imported shape %v classes %d, want %v 5", m.Shape, m.Classes, shape)
	}
	closeTo(t, "exported", readF32(t, filepath.Join(dir, "logits.npy")), ortLogits(t, m, x))
}

// TestUnsupportedOperator: a model with an operator the package does not
// run is refused naming the node and the operator.
func TestUnsupportedOperator(t *testing.T) {
	py, env := torchPython(t)
	dir := t.TempDir()
	m := zooModel(t, nn.ArchMLP, []int64{1, 4, 4}, false)
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Relu" {
			n.OpType = "Sigmoid"
			break
		}
	}
	if err := m.Save(filepath.Join(dir, "m.onnx")); err != nil {
		t.Fatal(err)
	}
	writeX(t, filepath.Join(dir, "x.npy"), randomData(m.Shape, 1, 1))
	cmd := exec.Command(py, "testdata/loader_check.py", "logits", filepath.Join(dir, "m.onnx"), filepath.Join(dir, "x.npy"), filepath.Join(dir, "l.npy"))
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("a Sigmoid node loaded")
	}
	last := strings.TrimSpace(string(out))
	last = last[strings.LastIndex(last, "\n")+1:]
	if !strings.Contains(last, "operator Sigmoid is not supported") || !strings.Contains(last, "node ") {
		t.Errorf("want one line naming the node and Sigmoid, got %q", last)
	}
}

// TestExportWrappedModel: the loaded model inside a module of one's own
// (a new head) is traced by torch.onnx.export through the package's
// interpreter; nn.Import reads the result and ONNX Runtime computes
// torch's logits.
func TestExportWrappedModel(t *testing.T) {
	py, env := torchPython(t)
	dir := t.TempDir()
	shape := []int64{1, 12, 12}
	m := zooModel(t, nn.ArchCNN, shape, true)
	if err := m.Save(filepath.Join(dir, "m.onnx")); err != nil {
		t.Fatal(err)
	}
	x := randomData(shape, 4, 2)
	writeX(t, filepath.Join(dir, "x.npy"), x)
	out := filepath.Join(dir, "wrapped.onnx")
	runPy(t, py, env, "wrap", filepath.Join(dir, "m.onnx"), filepath.Join(dir, "x.npy"), filepath.Join(dir, "logits.npy"), out)
	got, err := nn.Import(out)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "wrapped", readF32(t, filepath.Join(dir, "logits.npy")), ortLogits(t, got, x))
}
