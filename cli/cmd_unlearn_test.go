package cli

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"unlearnbench/datasets"
	"unlearnbench/nn"
	"unlearnbench/training"
	"unlearnbench/unlearners"
)

// TestUnlearnCommand makes a split of Fashion-MNIST and a small MLP once,
// then runs unlearn on them.
func TestUnlearnCommand(t *testing.T) {
	dir := t.TempDir()
	split := filepath.Join(dir, "split")
	if code, out := runCmd("split", "--forget-random", "300", "--seed", "1", "--out", split); code != 0 {
		t.Fatalf("split: exit %d\n%s", code, out)
	}
	orig := filepath.Join(dir, "original.onnx")
	if code, out := runCmd("train", "--model", "mlp", "--split", split, "--part", "train", "--limit", "600", "--epochs", "1", "--batch-size", "64", "--out", orig); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, out)
	}
	base := []string{"unlearn", "--model", orig, "--split", split, "--limit", "200"}
	run := func(t *testing.T, out string, args ...string) string {
		t.Helper()
		code, text := runCmd(append(append(append([]string{}, base...), args...), "--out", out)...)
		if code != 0 {
			t.Fatalf("unlearn %v: exit %d\n%s", args, code, text)
		}
		return text
	}
	load := func(t *testing.T, path string) *nn.Model {
		t.Helper()
		m, err := nn.Import(path)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	same := func(a, b *nn.Model) bool {
		for _, p := range a.Params {
			x, y := a.Param(p), b.Param(p)
			if len(x) != len(y) {
				return false
			}
			for i := range x {
				if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
					return false
				}
			}
		}
		return true
	}

	t.Run("noop", func(t *testing.T) {
		out := filepath.Join(dir, "noop.onnx")
		text := run(t, out, "--method", "noop")
		if !strings.HasPrefix(text, "noop on "+orig+" (200 retain, 200 forget examples), seed 0\n") || !strings.Contains(text, "wrote "+out) {
			t.Errorf("output:\n%s", text)
		}
		if !same(load(t, orig), load(t, out)) {
			t.Error("noop's model differs from the original")
		}
	})

	t.Run("fisher seeds and cache", func(t *testing.T) {
		cache := filepath.Join(dir, "cache")
		a, b, c := filepath.Join(dir, "f1.onnx"), filepath.Join(dir, "f1b.onnx"), filepath.Join(dir, "f2.onnx")
		params := filepath.Join(dir, "fisher.yaml")
		os.WriteFile(params, []byte("estimator: empirical\nalpha: 1e-7\n"), 0o644)
		text := run(t, a, "--method", "fisher", "--params", params, "--param", "alpha=1e-6", "--seed", "1", "--cache", cache)
		if !strings.Contains(text, "alpha=1e-06 ") || !strings.Contains(text, "estimator=empirical ") {
			t.Errorf("--param does not win over --params, or the file was not read:\n%s", text)
		}
		files, _ := filepath.Glob(filepath.Join(cache, "fisher", "*.npz"))
		if len(files) != 1 {
			t.Fatalf("cache files %v, want one", files)
		}
		run(t, b, "--method", "fisher", "--params", params, "--param", "alpha=1e-6", "--seed", "1", "--cache", cache)
		run(t, c, "--method", "fisher", "--params", params, "--param", "alpha=1e-6", "--seed", "2", "--cache", cache)
		if !same(load(t, a), load(t, b)) {
			t.Error("seed 1 twice gave two models")
		}
		if same(load(t, a), load(t, c)) {
			t.Error("seeds 1 and 2 gave the same model")
		}
		// A damaged cache file (of a Fisher not yet computed in this
		// process, which would keep it in memory): a warning, and the
		// model the Fisher gives.
		m := load(t, orig)
		src, err := datasets.LoadFashionMNIST("")
		if err != nil {
			t.Fatal(err)
		}
		sp, err := datasets.LoadSplit(split)
		if err != nil {
			t.Fatal(err)
		}
		retain, err := loadNN(src.Train, sp.Retain[:200], nil)
		if err != nil {
			t.Fatal(err)
		}
		key, _, _, err := unlearners.FisherKey(m, retain, unlearners.FisherEstimator{Kind: "mc", Samples: 3})
		if err != nil {
			t.Fatal(err)
		}
		damaged := unlearners.FisherFile(cache, key)
		os.WriteFile(damaged, []byte("not a zip"), 0o644)
		d := filepath.Join(dir, "f3.onnx")
		text = run(t, d, "--method", "fisher", "--param", "estimator=mc", "--param", "samples=3", "--cache", cache)
		if !strings.Contains(text, "unlearnbench: warning: Fisher cache "+damaged+": ") || !strings.Contains(text, "recomputing it") {
			t.Errorf("no warning about the damaged cache file:\n%s", text)
		}
		if st, err := os.Stat(damaged); err != nil || st.Size() < 1000 {
			t.Errorf("the damaged cache file was not replaced: %v", err)
		}
	})

	t.Run("retrain with a recipe", func(t *testing.T) {
		recipe := filepath.Join(dir, "recipe.yaml")
		os.WriteFile(recipe, []byte("model: mlp\nepochs: 1\nbatch_size: 64\noptimizer: {name: adam, lr: 0.001}\n"), 0o644)
		out := filepath.Join(dir, "retrain.onnx")
		text := run(t, out, "--method", "retrain", "--recipe", recipe)
		if !strings.Contains(text, "wrote "+out) {
			t.Errorf("output:\n%s", text)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		out := filepath.Join(dir, "interrupted.onnx")
		var buf bytes.Buffer
		code := runContext(ctx, append(append([]string{}, base...), "--method", "finetune", "--out", out), &buf, &buf)
		if code != exitInterrupted || !strings.Contains(buf.String(), out+" not written") {
			t.Errorf("exit %d, want %d:\n%s", code, exitInterrupted, buf.String())
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("an interrupted run wrote its model")
		}
	})

	t.Run("bad input", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yaml")
		os.WriteFile(bad, []byte("learning_rate: 0.1\n"), 0o644)
		badRecipe := filepath.Join(dir, "bad-recipe.yaml")
		os.WriteFile(badRecipe, []byte("epochz: 3\n"), 0o644)
		for _, c := range []struct {
			args []string
			want []string
		}{
			{[]string{"--method", "nosuch"}, []string{`unknown method "nosuch"`}},
			{[]string{"--method", "neggrad+", "--param", "alpha=1.5"}, []string{"method neggrad+", "alpha = 1.5", "[0, 1]"}},
			{[]string{"--method", "finetune", "--param", "lr=-1"}, []string{"method finetune", "lr = -1", "want > 0"}},
			{[]string{"--method", "fisher", "--param", "exponent=1/3"}, []string{"method fisher", "exponent = 1/3", "want 0.5"}},
			{[]string{"--method", "finetune", "--params", bad}, []string{"method finetune", `"learning_rate"`}},
			{[]string{"--method", "finetune", "--param", "epochs"}, []string{`--param "epochs"`, "KEY=VALUE"}},
			{[]string{"--method", "retrain", "--recipe", badRecipe}, []string{"--recipe", "epochz"}},
			{[]string{"--method", "fisher", "--param", "class_forgetting=true"}, []string{"method fisher", "class_forgetting = true"}},
		} {
			out := filepath.Join(dir, "bad.onnx")
			code, text := runCmd(append(append(append([]string{}, base...), c.args...), "--out", out)...)
			text = strings.TrimRight(text, "\n")
			if code != 2 || strings.Contains(text, "\n") {
				t.Errorf("%v: exit %d, want 2 and one line:\n%s", c.args, code, text)
				continue
			}
			for _, s := range c.want {
				if !strings.Contains(text, s) {
					t.Errorf("%v: %q does not say %q", c.args, text, s)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%v: the model was written despite the error", c.args)
			}
		}
		code, text := runCmd("unlearn", "--method", "noop", "--model", orig, "--out", filepath.Join(dir, "x.onnx"))
		if code != 2 || !strings.Contains(text, "--split DIR is required") {
			t.Errorf("unlearn without --split: exit %d\n%s", code, text)
		}
	})
}

// TestUnlearnDefaultRecipeIsTrains: without --recipe, retrain repeats
// what train runs without flags.
func TestUnlearnDefaultRecipeIsTrains(t *testing.T) {
	r := training.DefaultRecipe()
	fl := newTrainCmd().Flags()
	for name, v := range map[string]any{
		"epochs": r.Epochs, "batch-size": r.BatchSize, "optimizer": r.Optimizer.Name, "lr": r.Optimizer.LR,
		"momentum": r.Optimizer.Momentum, "nesterov": r.Optimizer.Nesterov, "weight-decay": r.Optimizer.WeightDecay,
		"schedule": r.Schedule.Name, "step-epochs": r.Schedule.StepEpochs, "gamma": r.Schedule.Gamma,
		"warmup-steps": r.Schedule.WarmupSteps, "label-smoothing": r.Loss.LabelSmoothing,
	} {
		f := fl.Lookup(name)
		if f == nil {
			t.Errorf("train has no flag --%s", name)
			continue
		}
		if got := fmtFlag(v); got != f.DefValue {
			t.Errorf("recipe %s = %s, train's default is %s", name, got, f.DefValue)
		}
	}
}

func fmtFlag(v any) string {
	if x, ok := v.(float64); ok {
		return strconv.FormatFloat(x, 'g', -1, 64) // as pflag writes a default
	}
	return fmt.Sprint(v)
}
