package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"unlearnbench/nn"
)

// tripWriter collects a command's output and calls trip once, when the
// output first contains mark.
type tripWriter struct {
	bytes.Buffer
	mark  string
	trip  func()
	fired bool
}

func (w *tripWriter) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	if !w.fired && strings.Contains(w.String(), w.mark) {
		w.fired = true
		w.trip()
	}
	return n, err
}

// runUntil runs a command whose context is cancelled once its output shows mark.
func runUntil(t *testing.T, mark string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &tripWriter{mark: mark, trip: cancel}
	code := runContext(ctx, args, w, w)
	return w.String(), code
}

var epochLineRE = regexp.MustCompile(`(?m)^epoch \d+/\d+: .*$`)

// TestTrainResume: a run interrupted after its first epoch leaves no model
// and a valid checkpoint, --resume refuses a changed flag and a damaged or
// missing checkpoint, and the resumed run writes the same bytes and epoch
// lines as an uninterrupted one.
func TestTrainResume(t *testing.T) {
	dir := t.TempDir()
	args := []string{"train", "--model", "cnn", "--limit", "300", "--epochs", "3", "--batch-size", "64", "--seed", "1",
		"--augment-pad", "2", "--augment-flip", "--optimizer", "adam", "--lr", "0.002"}
	whole, part := filepath.Join(dir, "whole.onnx"), filepath.Join(dir, "part.onnx")
	ckpt := part + ".ckpt"

	wantOut, code := runCLI(t, append(args, "--out", whole)...)
	if code != 0 {
		t.Fatalf("train: exit %d\n%s", code, wantOut)
	}
	if fileExists(whole + ".ckpt") {
		t.Error("the checkpoint of a finished run was not removed")
	}

	out, code := runUntil(t, "epoch 1/3:", append(args, "--out", part)...)
	if want := "unlearnbench: interrupted during epoch 2 (step 0 of 5); rerun with --resume to continue from epoch 2\n"; code != exitInterrupted || !strings.HasSuffix(out, want) {
		t.Fatalf("interrupted train: exit %d, output\n%s\nwant exit %d ending %q", code, out, exitInterrupted, want)
	}
	if fileExists(part) {
		t.Error("an interrupted run wrote its model")
	}
	if _, err := nn.ReadCheckpoint(ckpt); err != nil {
		t.Fatalf("checkpoint after the interruption: %v", err)
	}

	// A checkpoint whose step does not fit its epochs (hand-edited, or
	// written by another tool) is refused.
	shifted := filepath.Join(dir, "shifted.ckpt")
	{
		c, err := nn.ReadCheckpoint(ckpt)
		if err != nil {
			t.Fatal(err)
		}
		m, err := nn.New(nn.ArchCNN, []int64{1, 28, 28}, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.PrependNormalization([]float64{0.5}, []float64{0.5}); err != nil {
			t.Fatal(err)
		}
		st, err := c.Restore(m)
		if err != nil {
			t.Fatal(err)
		}
		st.Step++
		if err := nn.SaveCheckpoint(shifted, m, st, c.Run); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--seed", "2"}, "--resume: checkpoint " + ckpt + " was written with seed 1, this run has seed 2"},
		{[]string{"--limit", "200"}, "was written with limit 300, this run has limit 200"},
		// Class 7 of issue 14: the thread count changes the numbers, so
		// it is part of the run; so is the device.
		{[]string{"--threads", "1"}, fmt.Sprintf("was written with threads 0 (one per core: %d cores), this run has threads 1", runtime.NumCPU())},
		{[]string{"--checkpoint", shifted}, "--resume: checkpoint " + shifted + " records step 6 after 1 epochs (1 results), which does not fit this run of 3 epochs of 5 steps"},
		{[]string{"--checkpoint", filepath.Join(dir, "none.ckpt")}, "--resume: no checkpoint " + filepath.Join(dir, "none.ckpt")},
	} {
		a := withFlags(append(slices.Clone(args), "--out", part, "--resume"), c.args...)
		if out, code := runCLI(t, a...); code != exitUser || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, output %q; want exit 2 with %q", c.args, code, out, c.want)
		}
	}
	if out, code := runCLI(t, append(args, "--out", part)...); code != exitUser || !strings.Contains(out, "--resume") {
		t.Errorf("a fresh run over an existing checkpoint: exit %d, %q", code, out)
	}

	out, code = runCLI(t, append(args, "--out", part, "--resume", "--keep-checkpoint")...)
	if code != 0 || !strings.Contains(out, "resuming from "+ckpt+" after epoch 1") {
		t.Fatalf("resume: exit %d\n%s", code, out)
	}
	if got, want := epochLineRE.FindAllString(out, -1), epochLineRE.FindAllString(wantOut, -1); strings.Join(got, "\n") != strings.Join(want, "\n") || len(want) != 3 {
		t.Errorf("resumed epoch lines\n%s\nuninterrupted\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	a, _ := os.ReadFile(whole)
	b, _ := os.ReadFile(part)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("resumed model (%d bytes) differs from the uninterrupted one (%d bytes)", len(b), len(a))
	}

	// --keep-checkpoint kept the finished run's checkpoint: damage it.
	good, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(ckpt, good[:len(good)*2/3], 0o644)
	out, code = runCLI(t, append(args, "--out", part, "--resume")...)
	if code != exitUser || !strings.Contains(out, ckpt) || strings.Count(out, "\n") > 2 || strings.Contains(out, "panic") {
		t.Errorf("truncated checkpoint: exit %d, output %q; want exit 2, one line naming %s", code, out, ckpt)
	}
}

// TestTrainSIGINT: a real SIGINT during training stops it with exit 130
// and no model; train's signal handler catches it, so the test survives.
func TestTrainSIGINT(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.onnx")
	// trip returns only once the runtime has taken the signal in, so the
	// command's handler sees it while two epochs of steps remain, however
	// loaded the machine.
	w := &tripWriter{mark: "epoch 1/3:", trip: func() {
		seen := make(chan os.Signal, 1)
		signal.Notify(seen, syscall.SIGINT)
		defer signal.Stop(seen)
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		<-seen
	}}
	code := run([]string{"train", "--model", "mlp", "--limit", "1000", "--epochs", "3", "--batch-size", "32", "--out", out}, w, w)
	if code != exitInterrupted || !regexp.MustCompile(`interrupted during epoch [23] \(step \d+ of 32\)`).MatchString(w.String()) {
		t.Fatalf("exit %d, output\n%s", code, w.String())
	}
	if fileExists(out) || !fileExists(out+".ckpt") {
		t.Errorf("after SIGINT: model written %v, checkpoint kept %v; want no model and a checkpoint", fileExists(out), fileExists(out+".ckpt"))
	}
}
