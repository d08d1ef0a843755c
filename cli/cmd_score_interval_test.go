package cli

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"unlearnbench/result"
)

// F's interval options are refused in one line, exit 2, before any input
// is read and with no result left behind.
func TestScoreIntervalRefusals(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.json")
	const ex = "examples/finetune/"
	score := func(args ...string) []string {
		return append([]string{"score", "--unlearned", ex + "unlearned.npz", "--retrained", ex + "retrained.npz", "--labels", ex + "labels.npy", "--json", out}, args...)
	}
	for _, c := range []refusal{
		{"target width 0", score("--target-width", "0"), 2, []string{"--target-width is 0", "positive"}, []string{out}},
		{"target width negative", score("--target-width", "-0.01"), 2, []string{"--target-width is -0.01"}, []string{out}},
		{"target width NaN", score("--target-width", "NaN"), 2, []string{"--target-width is NaN"}, []string{out}},
		{"target width infinite", score("--target-width", "Inf"), 2, []string{"--target-width is +Inf"}, []string{out}},
		{"before reading inputs", []string{"score", "--unlearned", "no-such.npz", "--retrained", "no-such.npz", "--target-width", "NaN"}, 2, []string{"--target-width is NaN"}, nil},
		{"one resample", score("--resamples", "1"), 2, []string{"--resamples is 1"}, []string{out}},
		{"negative resamples", score("--resamples", "-5"), 2, []string{"--resamples is -5"}, []string{out}},
		{"level 1", score("--resamples", "10", "--level", "1"), 2, []string{"--level is 1"}, []string{out}},
		{"level NaN", score("--resamples", "10", "--level", "NaN"), 2, []string{"--level is NaN"}, []string{out}},
		{"level without resamples", score("--level", "0.9"), 2, []string{"--level 0.9 without --resamples"}, []string{out}},
		{"attack target width", []string{"attack", "--unlearned", ex + "unlearned.npz", "--retrained", ex + "retrained.npz", "--target-width", "-1"}, 2, []string{"--target-width is -1"}, nil},
	} {
		t.Run(c.name, c.check)
	}
}

// score --resamples puts F's interval in the table and the result file;
// --target-width states the N it needs with its assumption.
func TestScoreInterval(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	const ex = "examples/finetune/"
	code, text := runCmd("score", "--unlearned", ex+"unlearned.npz", "--retrained", ex+"retrained.npz", "--labels", ex+"labels.npy",
		"--unlearned-acc", ex+"unlearned_acc.csv", "--retrained-acc", ex+"retrained_acc.csv", "--worst", "0",
		"--resamples", "20", "--level", "0.9", "--seed", "4", "--target-width", "0.001", "--json", out)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, text)
	}
	for _, want := range []string{"F's 90% interval", "(bootstrap over models, 20 resamples, seed 4)", "final score's 90% interval", "N needed: F's 90% interval is", "wide at N = 128"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	r, err := result.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	iv := r.Methods[0].Score.Interval
	if r.Minor != result.SchemaMinor || iv == nil || iv.Resamples != 20 || iv.Level != 0.9 || iv.Seed != 4 || iv.FinalLow == nil || !(iv.Low < iv.High) {
		t.Fatalf("result's interval %+v (minor %d)", iv, r.Minor)
	}
	// --target-width measured how the width narrows, and the statement
	// rests on that measurement, not on 1/sqrt(N).
	if iv.Exponent == nil || !slices.Equal(iv.ExponentSizes, []int{32, 64, 128}) {
		t.Fatalf("exponent %v at sizes %v", iv.Exponent, iv.ExponentSizes)
	}
	if !strings.Contains(text, "as measured on these populations by bootstraps of [32 64 128] models") && !strings.Contains(text, "more models do not narrow it") {
		t.Errorf("the N needed does not say what it rests on:\n%s", text)
	}
	t.Logf("exponent %.3f", *iv.Exponent)
}
