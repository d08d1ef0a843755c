package unlearners

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
)

// TestExecNonFiniteModel: a program that writes a model with a NaN weight,
// or one whose logits overflow to infinity, fails its member with a user
// error naming member, seed and command, per member and in worker mode,
// and nothing of that member reaches the population's directory.
func TestExecNonFiniteModel(t *testing.T) {
	f := execFixtureFor(t)
	dir := t.TempDir()
	nanModel := f.original.Clone()
	nanModel.Param(nanModel.Params[0])[3] = float32(math.NaN())
	// Finite weights, infinite logits: the last layer's 3e38 times a
	// positive activation overflows float32.
	hugeModel := f.original.Clone()
	for _, name := range nanModel.Params[len(nanModel.Params)-2:] {
		w := hugeModel.Param(name)
		for i := range w {
			w[i] = 3e38
		}
	}
	paths := map[string]string{"nan weight": filepath.Join(dir, "nan.onnx"), "infinite logits": filepath.Join(dir, "huge.onnx")}
	for name, m := range map[string]*nn.Model{"nan weight": nanModel, "infinite logits": hugeModel} {
		if err := m.Save(paths[name]); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		model  string
		worker bool
		want   string
	}{
		{"nan weight", false, "the model it wrote has weight " + nanModel.Params[0] + "[3] = NaN (NaN or infinite weights)"},
		{"nan weight", true, "the model it wrote has weight " + nanModel.Params[0] + "[3] = NaN (NaN or infinite weights)"},
		{"infinite logits", false, "its model's logits on the forget set are not finite"},
		{"infinite logits", true, "its model's logits on the forget set are not finite"},
	} {
		t.Run(fmt.Sprintf("%s/worker=%v", c.model, c.worker), func(t *testing.T) {
			line := "cp " + paths[c.model] + " {out}"
			if c.worker {
				line = fmt.Sprintf("python3 testdata/fake_worker.py shape %s %s", filepath.Join(t.TempDir(), "marker"), paths[c.model])
			}
			u, params, err := New("exec", map[string]any{"command": line, "worker": c.worker})
			if err != nil {
				t.Fatal(err)
			}
			defer u.(interface{ Close() error }).Close()
			s := &Shared{Inputs: *f.inputs(0, ""), Test: f.validation, RunSeed: 5, Device: "cpu"}
			if err := s.Digests(); err != nil {
				t.Fatal(err)
			}
			p := &PopulationSpec{Name: "x", Method: "exec", Params: params, Unlearner: u}
			root := t.TempDir()
			d := openPop(t, root, p, s)
			err = Compute(context.Background(), d, p, s, []int{0}, ComputeOptions{Workers: 1})
			seed := MemberSeed(5, "x", 0)
			t.Log(err)
			var ef *ExecFailure
			if err == nil || !usererr.Is(err) || !errors.As(err, &ef) || ef.Seed != seed {
				t.Fatalf("want a user error holding the ExecFailure of seed %d, got %v", seed, err)
			}
			for _, want := range []string{"member 0", fmt.Sprintf("seed %d", seed), fmt.Sprintf("command %q", line), c.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if _, err := os.Stat(d.MemberPath(0)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the failed member was written (%v)", err)
			}
			if have, _, err := d.Check(context.Background(), 1); err != nil || len(have) != 0 {
				t.Errorf("the directory holds members %v (%v)", have, err)
			}
		})
	}
}
