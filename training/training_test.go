package training

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"unlearnbench/datasets"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
	"unlearnbench/nn/ort/orttest"
)

var rt *ort.Runtime

func TestMain(m *testing.M) { orttest.Main(m, "training", &rt) }

// job is a small real run: the zoo's MLP on 96 Fashion-MNIST training
// images, evaluated on 32 test images, two epochs of three steps.
func job(t *testing.T, ckpt string) Job {
	t.Helper()
	src, err := datasets.LoadFashionMNIST("")
	if err != nil {
		t.Fatal(err)
	}
	idx, evalIdx := make([]int, 96), make([]int, 32)
	for i := range idx {
		idx[i] = i
	}
	for i := range evalIdx {
		evalIdx[i] = i
	}
	m, err := Zoo(nn.ArchMLP, src.Train, idx, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultRecipe()
	cfg.Epochs, cfg.BatchSize, cfg.Seed = 2, 32, 1
	return Job{Model: m, Data: src.Train, Idx: idx, Eval: src.Test, EvalIdx: evalIdx, Config: cfg,
		Checkpoint: ckpt, ModelName: nn.ArchMLP,
		DataSettings: []Setting{{"dataset", "fashion-mnist"}}, RuntimeSettings: []Setting{{"threads", "1"}}}
}

// TestResumeContinuesTheSameRun: a run interrupted after its first epoch
// and resumed from its checkpoint ends with the same weights as one run
// through; a resume with a changed setting is refused naming the setting,
// and RemoveCheckpoint removes the file.
func TestResumeContinuesTheSameRun(t *testing.T) {
	dir := t.TempDir()
	whole := job(t, filepath.Join(dir, "whole.ckpt"))
	r, err := Prepare(whole)
	if err != nil {
		t.Fatal(err)
	}
	epochs, steps := 0, 0
	err = r.Train(rt, Hooks{Progress: func(nn.EpochResult) { epochs++ },
		Epoch: func(int) (func(int), func()) { return func(int) { steps++ }, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if epochs != 2 || steps != 6 {
		t.Fatalf("%d epochs and %d steps reported, want 2 and 6", epochs, steps)
	}

	ckpt := filepath.Join(dir, "cut.ckpt")
	if err := CheckCheckpoint(ckpt, true); err == nil || !usererr.Is(err) {
		t.Errorf("resume without a checkpoint: %v, want a user error", err)
	}
	cut, err := Prepare(job(t, ckpt))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = cut.Train(rt, Hooks{Context: ctx, Progress: func(nn.EpochResult) { cancel() }})
	if ie := (*nn.InterruptedError)(nil); !errors.As(err, &ie) || ie.Epoch != 2 {
		t.Fatalf("interrupted run: %v, want an interruption in epoch 2", err)
	}
	if err := CheckCheckpoint(ckpt, false); err == nil || !usererr.Is(err) {
		t.Errorf("a fresh run over a checkpoint: %v, want a user error", err)
	}

	changed := job(t, ckpt)
	changed.Config.Seed = 2
	rc, err := Prepare(changed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Resume(); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "was written with seed 1, this run has seed 2") {
		t.Errorf("resume with another seed: %v, want a user error naming the seed", err)
	}

	resumed, err := Prepare(job(t, ckpt)) // a fresh model: Resume loads the weights
	if err != nil {
		t.Fatal(err)
	}
	st, err := resumed.Resume()
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.Train(rt, Hooks{Resume: st}); err != nil {
		t.Fatal(err)
	}
	for _, p := range whole.Model.Params {
		if !slices.Equal(whole.Model.Param(p), resumed.job.Model.Param(p)) {
			t.Fatalf("parameter %s differs between the resumed and the whole run", p)
		}
	}
	if err := resumed.RemoveCheckpoint("model.onnx"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ckpt); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("checkpoint after RemoveCheckpoint: %v", err)
	}
}

// TestReadRecipe: no file is train's defaults; a file's training keys
// (augmentation included) override them and train's other keys are
// ignored; an unknown key is a
// user error naming the file.
func TestReadRecipe(t *testing.T) {
	got, err := ReadRecipe("")
	if err != nil || !reflect.DeepEqual(got, DefaultRecipe()) {
		t.Fatalf("no file: %+v, %v; want the defaults", got, err)
	}
	p := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(p, []byte("epochs: 3\nmodel: cnn\nout: x.onnx\noptimizer: {name: adam, lr: 0.001}\naugment_pad: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = ReadRecipe(p)
	want := DefaultRecipe()
	// The other optimizer keys keep their defaults; retrain repeats the
	// augmentation.
	want.Epochs, want.Optimizer.Name, want.Optimizer.LR = 3, "adam", 0.001
	want.Augment.Pad = 4
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("recipe %+v, %v; want %+v", got, err, want)
	}
	if err := os.WriteFile(p, []byte("epoch: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRecipe(p); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "--recipe "+p) || !strings.Contains(err.Error(), "epoch") {
		t.Errorf("unknown key: %v, want a user error naming the file and key", err)
	}
}

// TestCheckRecipeOptimizer: adamw is a recipe's optimiser like sgd and
// adam; an optimiser or option the in-graph update does not offer is
// refused naming the field, before any training.
func TestCheckRecipeOptimizer(t *testing.T) {
	ok := DefaultRecipe()
	ok.Optimizer.Name, ok.Optimizer.WeightDecay = "adamw", 0.01
	if err := CheckRecipe(ok); err != nil {
		t.Errorf("adamw refused: %v", err)
	}
	for _, c := range []struct {
		set   func(*nn.OptimizerConfig)
		field string
	}{
		{func(o *nn.OptimizerConfig) { o.Name = "rmsprop" }, "optimizer.name"},
		{func(o *nn.OptimizerConfig) { o.Name, o.Nesterov = "adam", true }, "optimizer.nesterov"},
		{func(o *nn.OptimizerConfig) { o.Name, o.Nesterov = "adamw", true }, "optimizer.nesterov"},
	} {
		r := DefaultRecipe()
		c.set(&r.Optimizer)
		var fe *FieldError
		if err := CheckRecipe(r); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: %v, want a FieldError on %s", r.Optimizer, err, c.field)
		}
	}
}
