package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/internal/arrays"
	"unlearnbench/nn/ort"
)

// The README's examples run in a temporary directory, out of reach of the
// library search that walks up from the working directory: point the
// environment at this checkout's library when nothing else does.
func init() {
	if os.Getenv(ort.EnvLib) != "" {
		return
	}
	if wd, err := os.Getwd(); err == nil {
		// init runs before TestMain moves to the repository root.
		for _, root := range []string{wd, filepath.Dir(wd)} {
			if p := filepath.Join(root, ort.CPULibRel); fileExists(p) {
				os.Setenv(ort.EnvLib, p)
				break
			}
		}
	}
}

func TestTrainConfigAndLogits(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "train.yaml")
	os.WriteFile(cfg, []byte("model: mlp\nepochs: 3\nbatch_size: 64\nseed: 4\noptimizer: {name: adam, lr: 0.001}\nschedule: {name: constant}\n"), 0o644)
	model := filepath.Join(dir, "m.onnx")
	// --epochs on the command line wins over the file's 3.
	out, code := runCLI(t, "train", "--config", cfg, "--epochs", "1", "--limit", "300", "--out", model)
	if code != 0 {
		t.Fatalf("train: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "for 1 epochs") || !strings.Contains(out, "epoch 1/1: lr 0.001,") {
		t.Errorf("train output:\n%s", out)
	}
	npy := filepath.Join(dir, "logits.npy")
	out, code = runCLI(t, "logits", "--limit", "50", "--part", "train", "--out", npy, model, model)
	if code != 0 {
		t.Fatalf("logits: exit %d\n%s", code, out)
	}
	a, err := arrays.ReadFile(npy)
	if err != nil {
		t.Fatal(err)
	}
	if got := arrays.FormatShape(a.Shape); got != "(2, 50, 10)" {
		t.Errorf("logits shape %s", got)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--config", cfg, "--lr", "x", "--out", model}, "invalid argument"},
		{[]string{"train", "--limit", "10", "--model", "mlp", "--device", "tpu", "--out", model}, "device"},
		{[]string{"train", "--limit", "10", "--model", "mlp", "--optimizer", "rmsprop", "--out", model}, "rmsprop"},
		{[]string{"logits", "--part", "forget", "--out", npy, model}, "--split"},
		{[]string{"logits", "--dataset", "npz", "--data", filepath.Join(dir, "none.npz"), "--out", npy, model}, "none.npz"},
	} {
		out, code := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, output %q; want exit 2 mentioning %q", c.args, code, out, c.want)
		}
	}
}

// TestTrainFineTunesImported fine-tunes an ONNX file (as train wrote it,
// here standing in for a PyTorch export) with --normalize and runs the
// result through logits with the same normalisation.
func TestTrainFineTunesImported(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.onnx")
	if out, code := runCLI(t, "train", "--model", "cnn", "--epochs", "1", "--limit", "256", "--out", base); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, out)
	}
	tuned := filepath.Join(dir, "tuned.onnx")
	out, code := runCLI(t, "train", "--model", base, "--normalize", "0.1/0.9", "--epochs", "1", "--limit", "256", "--lr", "0.01", "--out", tuned)
	if code != 0 {
		t.Fatalf("fine-tune: exit %d\n%s", code, out)
	}
	npy := filepath.Join(dir, "l.npy")
	if out, code := runCLI(t, "logits", "--normalize", "0.1/0.9", "--limit", "64", "--out", npy, base, tuned); code != 0 {
		t.Fatalf("logits: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, "train", "--model", base, "--normalize", "0.1,0.2/0.9,0.9", "--out", tuned); code != 2 || !strings.Contains(out, "channels") {
		t.Errorf("--normalize with 2 channels for 1: exit %d, %s", code, out)
	}
}
