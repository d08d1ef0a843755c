package graph

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"unlearnbench/internal/usererr"
)

const pytorchConverted = "/usr/share/libonnx-testdata/data/pytorch-converted"

func readTensorPB(t *testing.T, path string) *Tensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tp onnx.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	x, err := FromProto(&tp)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return x
}

// TestImportPyTorchLayers loads every PyTorch single-layer export of
// libonnx-testdata whose operators are supported, runs the re-serialised
// opset-17 graph in ONNX Runtime against the export's recorded output, and
// checks the gradients with respect to the input and every initializer by
// finite differences. Exports with unsupported operators must be reported by
// operator and node.
func TestImportPyTorchLayers(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(pytorchConverted, "test_*"))
	if len(dirs) == 0 {
		t.Skip("libonnx-testdata is not installed (make setup installs it)")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	checked, rejected := 0, 0
	// Exports that must be checked, not rejected: the constant Pad that
	// torch.onnx.export writes for ZeroPad2d and ConstantPad2d (opset 6, its
	// pads an attribute), and for an AvgPool2d with padding.
	mustCheck := map[string]bool{"test_ZeroPad2d": false, "test_ConstantPad2d": false, "test_AvgPool2d": false}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		g, err := Load(filepath.Join(dir, "model.onnx"))
		if err == nil {
			err = g.CheckOps()
		}
		if err != nil {
			if !usererr.Is(err) || !strings.Contains(err.Error(), "node") {
				t.Errorf("%s: error %v, want a user error naming the node", name, err)
			}
			rejected++
			continue
		}
		in := readTensorPB(t, filepath.Join(dir, "test_data_set_0", "input_0.pb"))
		want := readTensorPB(t, filepath.Join(dir, "test_data_set_0", "output_0.pb"))
		feeds := map[string]*Tensor{g.Inputs[0]: in}
		wrt := []string{g.Inputs[0]}
		params, _ := g.Trainable()
		for _, p := range params {
			feeds[p] = g.Inits[p]
			wrt = append(wrt, p)
		}
		g.PromoteToInput(wrt[1:]...)
		s := newSession(t, g, feeds, g.Outputs[:1])
		got := s.run(t)[0]
		if int64(len(got)) != want.Size() {
			t.Errorf("%s: %d outputs, want %d", name, len(got), want.Size())
			continue
		}
		for i, v := range got {
			if w := want.at(i); math.Abs(v-w) > 1e-4+1e-4*math.Abs(w) {
				t.Errorf("%s: output[%d] = %v, PyTorch gave %v", name, i, v, w)
				break
			}
		}
		loaded := g
		checkGradients(t, rng, gradCase{name: name, dt: Float, feeds: feeds, wrt: wrt,
			build: func(g *Graph) string {
				*g = *loaded.Clone()
				return g.Outputs[0]
			}})
		checked++
		if _, ok := mustCheck[name]; ok {
			mustCheck[name] = true
		}
	}
	t.Logf("%d exports checked, %d rejected as unsupported", checked, rejected)
	for name, ok := range mustCheck {
		if !ok {
			t.Errorf("%s was not checked", name)
		}
	}
	if checked < 30 {
		t.Errorf("only %d exports checked", checked)
	}
}

func TestImportErrors(t *testing.T) {
	if _, err := Parse([]byte("this is not protobuf")); err == nil || !usererr.Is(err) {
		t.Errorf("garbage: error %v, want a user error", err)
	}
	dir := filepath.Join(pytorchConverted, "test_ELU")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("libonnx-testdata is not installed")
	}
	g, err := Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	err = g.CheckOps()
	if err == nil || !strings.Contains(err.Error(), "Elu") || !strings.Contains(err.Error(), "node") {
		t.Errorf("ELU: error %v, want one naming Elu and its node", err)
	}
	// The differentiator names an unknown operator and its node too.
	g2 := New("x")
	x := g2.AddInput("x", Float, 2, 3)
	y := g2.Op1("Elu", []string{x})
	_, err = g2.Gradients(y, []string{x}, GradOptions{Seed: g2.ConstF(Float, []int64{2, 3}, 1, 1, 1, 1, 1, 1)})
	if ue, ok := err.(*UnsupportedOpError); !ok || ue.Op != "Elu" || ue.Node == "" {
		t.Errorf("Gradients through Elu: error %v, want an UnsupportedOpError naming the node", err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	g := New("rt")
	x := g.AddInput("x", Float, -1, 3)
	w := g.AddInit("w", randTensor(rng, Float, -1, 1, 4, 3))
	g.OpNamed("Gemm", []string{x, w}, []string{"y"}, AInt("transB", 1))
	g.AddOutput("y")
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	h, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Shape("y"); len(got) != 2 || got[0] != -1 || got[1] != 4 {
		t.Errorf("shape of y after loading = %v", got)
	}
	if h.Inits["w"].F32[5] != g.Inits["w"].F32[5] {
		t.Error("weights changed")
	}
}
