package nn

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
)

// cnnWithDropout is SmallCNN with dropout on its logits, so that a run has
// batch-norm buffers, dropout masks and (with Adam) two moments to carry
// across a resume.
func cnnWithDropout(seed uint64) *Model {
	m := SmallCNN([]int64{1, 8, 8}, 3, seed)
	m.Output = m.Graph.Op1("Dropout", []string{m.Output})
	return m
}

func resumeConfig() TrainConfig {
	return TrainConfig{Epochs: 3, BatchSize: 8, Seed: 5,
		Optimizer: OptimizerConfig{Name: "adam", LR: 1e-2, WeightDecay: 1e-4}, Schedule: Schedule{Name: "cosine", WarmupSteps: 3}}
}

func savedBytes(t *testing.T, m *Model) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.onnx")
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResumeIsByteIdentical: a run interrupted in its second epoch and
// resumed from the first epoch's checkpoint into a fresh model ends with
// the same ONNX bytes and epoch results as an uninterrupted run.
func TestResumeIsByteIdentical(t *testing.T) {
	d := randomData(3, 44, []int64{1, 8, 8}, 3) // 6 batches, the last of 4
	eval := randomData(4, 20, d.Shape, 3)
	cfg := resumeConfig()

	whole := cnnWithDropout(1)
	src, err := DataBatches(whole, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Train(rt, whole, src, eval, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}

	ckpt := filepath.Join(t.TempDir(), "m.ckpt")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := cnnWithDropout(1)
	cut := src
	cut.Epoch = func(ep int, yield func(x []float32, y []int64) bool) {
		n := 0
		src.Epoch(ep, func(x []float32, y []int64) bool {
			if ep == 1 && n == 2 {
				cancel()
			}
			n++
			return yield(x, y)
		})
	}
	_, err = Train(rt, first, cut, eval, cfg, Options{Context: ctx,
		Checkpoint: func(st *TrainState) error { return SaveCheckpoint(ckpt, first, st, map[string]int{"seed": 5}) }})
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.Epoch != 2 || ie.Step != 2 || ie.Steps != 6 || !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want an interruption in epoch 2 after step 2 of 6", err)
	}

	c, err := ReadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Run) != `{"seed":5}` {
		t.Errorf("run description %s", c.Run)
	}
	resumed := cnnWithDropout(99) // other initial weights: Restore must replace them all
	st, err := c.Restore(resumed)
	if err != nil {
		t.Fatal(err)
	}
	if st.Epochs != 1 || st.Step != 6 || st.OptStep != 6 || len(st.V) != len(resumed.Params) || len(st.S) != len(resumed.Params) {
		t.Fatalf("state after epoch 1: %d epochs, step %d, t %d, %d/%d moments", st.Epochs, st.Step, st.OptStep, len(st.V), len(st.S))
	}
	fresh, err := DataBatches(resumed, d, cfg) // no RNG state from the earlier runs
	if err != nil {
		t.Fatal(err)
	}
	got, err := Train(rt, resumed, fresh, eval, cfg, Options{Resume: st})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resumed epochs %+v\nuninterrupted %+v", got, want)
	}
	if !bytes.Equal(savedBytes(t, resumed), savedBytes(t, whole)) {
		t.Error("the resumed model's ONNX file differs from the uninterrupted one's")
	}
}

// TestDropoutMasksFollowTheStep: the same batch gives the same loss at the
// same step and another one at the next step (no update in between: only the masks
// changed).
func TestDropoutMasksFollowTheStep(t *testing.T) {
	m := cnnWithDropout(1)
	d := randomData(3, 8, m.Shape, 3)
	tr, err := NewTrainer(rt, m, OptimizerConfig{Name: "sgd", LR: 1}, LossConfig{}, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
	a, _ := tr.Compute(d, idx)
	b, _ := tr.Compute(d, idx)
	tr.Step++
	c, _ := tr.Compute(d, idx)
	if a.Loss != b.Loss || a.Loss == c.Loss {
		t.Errorf("losses %v, %v at step 0 and %v at step 1: want equal, then different", a.Loss, b.Loss, c.Loss)
	}
}

// TestCheckpointDamaged: a truncated or corrupted checkpoint is a user error
// naming the file, and a checkpoint of another model is refused by Restore.
func TestCheckpointDamaged(t *testing.T) {
	dir := t.TempDir()
	m := cnnWithDropout(1)
	p := filepath.Join(dir, "m.ckpt")
	st := &TrainState{Epochs: 1, Step: 3, OptStep: 3, History: []EpochResult{{Epoch: 1}}}
	if err := SaveCheckpoint(p, m, st, nil); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(p)
	if _, err := ReadCheckpoint(p); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(good)/2] ^= 0x55
	for name, b := range map[string][]byte{"truncated": good[:len(good)/2], "flipped": flipped, "empty": nil} {
		bad := filepath.Join(dir, name+".ckpt")
		os.WriteFile(bad, b, 0o644)
		_, err := ReadCheckpoint(bad)
		if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want a one-line user error naming %s", name, err, bad)
		}
	}
	c, err := ReadCheckpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Restore(MLP([]int64{1, 8, 8}, []int64{4}, 3, 1)); err == nil || !usererr.Is(err) {
		t.Errorf("restoring into another architecture: %v", err)
	}
}
