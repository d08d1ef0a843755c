package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/arrays"
	"unlearnbench/reports"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

func exampleAttackArgs(extra ...string) []string {
	f := "examples/finetune/"
	// A flag given twice with two values is refused: extra's --pooled
	// replaces the default one.
	pooled := []string{"--pooled", "logreg"}
	if slices.Contains(extra, "--pooled") {
		pooled = nil
	}
	return append(append([]string{"attack",
		"--unlearned", f + "unlearned.npz", "--retrained", f + "retrained.npz", "--labels", f + "labels.npy",
		"--unlearned-retain", f + "unlearned_retain.npy", "--unlearned-test", f + "unlearned_test.npy",
		"--retrained-retain", f + "retrained_retain.npy", "--retrained-test", f + "retrained_test.npy",
		"--retain-labels", f + "retain_labels.npy", "--test-labels", f + "test_labels.npy",
		"--method", "finetune"}, pooled...), extra...)
}

func TestAttackExampleJSON(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "attack.json")
	code, text := runCmd(exampleAttackArgs("--json", out, "--report", filepath.Join(dir, "report"))...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, text)
	}
	res, err := result.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Methods[0]
	if res.Command != "attack" || m.Name != "finetune" || m.N != 128 || m.E != 100 || len(m.Examples) != 100 {
		t.Fatalf("result %s %s N=%d E=%d", res.Command, m.Name, m.N, m.E)
	}
	var names []string
	for _, a := range m.Attacks {
		names = append(names, a.Name)
		if a.Skipped != "" && !strings.HasPrefix(a.Name, "lira/online") {
			t.Errorf("%s skipped: %s", a.Name, a.Skipped)
		}
	}
	for _, want := range []string{"decision-rules", "logreg/per-example", "knn/per-example", "logreg/pooled", "lira/offline/fixed-var", "simple-mia", "mia-efficacy/retrained", "kl", "js",
		"klom/forget", "klom/retain", "klom/test", "tow", "tow-mia"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s among %v", want, names)
		}
	}
	dr := m.Attacks[0]
	if dr.Name != "decision-rules" || *dr.F != m.Score.F {
		t.Errorf("decision rules F %v, score F %v", dr.F, m.Score.F)
	}
	// Per-example classifier epsilons go through the score's points.
	lr := m.Attacks[1]
	if f, _, _ := scoring.ForgettingQuality(lr.Epsilons, m.N); lr.Name != "logreg/per-example" || f != *lr.F {
		t.Errorf("%s: F %v, its epsilons' points %v", lr.Name, *lr.F, f)
	}
	for _, s := range []string{"| decision-rules ", "| simple-mia/retrained ", "not run: lira/online/per-example-var: needs",
		"| klom/forget ", "| klom/test ", "| tow-mia "} {
		if !strings.Contains(text, s) {
			t.Errorf("output lacks %q:\n%s", s, text)
		}
	}
	// --report renders the attacks into every format, the one not run
	// saying why.
	for _, f := range []string{reports.MarkdownFile, reports.HTMLFile, reports.AttacksCSV} {
		b, err := os.ReadFile(filepath.Join(dir, "report", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"lira/offline/fixed-var", "simple-mia/retrained", "needs the original models", "klom/retain", "tow-mia"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %q", f, want)
			}
		}
	}
	// The same inputs give the same bytes, whatever the parallelism.
	out2 := filepath.Join(dir, "again.json")
	if code, text := runCmd(exampleAttackArgs("--json", out2, "--workers", "1")...); code != 0 {
		t.Fatalf("exit %d: %s", code, text)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(out2)
	if !bytes.Equal(a, b) {
		t.Fatal("the same inputs gave different result files")
	}
}

func TestAttackKLoMFlags(t *testing.T) {
	// The KLoM variants reach the rows: the other direction names itself,
	// the corrected binning warns that it is not the public code's.
	code, text := runCmd(exampleAttackArgs("--classifiers", "none", "--pooled", "none", "--klom-corrected", "--klom-unlearned-first")...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, text)
	}
	for _, s := range []string{"| klom/forget ", "binned-margin KL(U || R) mean", "warning: klom/forget, klom/retain, klom/test: corrected binning"} {
		if !strings.Contains(text, s) {
			t.Errorf("output lacks %q:\n%s", s, text)
		}
	}
}

func TestAttackConfidencesOnly(t *testing.T) {
	dir := t.TempDir()
	u := writeConf(t, filepath.Join(dir, "u.npy"), 10, 4, spreadConf(0.5))
	r := writeConf(t, filepath.Join(dir, "r.npy"), 10, 4, spreadConf(0))
	code, text := runCmd("attack", "--unlearned", u, "--retrained", r, "--pooled", "logreg,svm")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, text)
	}
	for _, s := range []string{
		"| logreg/per-example ", "| lira/offline/per-example-var ",
		"not run: simple-mia: needs the test set's logits and labels",
		"not run: mia-efficacy: needs the retain and test sets' logits",
		"not run: kl: needs logits",
		"confidences only: the classifiers see conf alone",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("output lacks %q:\n%s", s, text)
		}
	}
}

func TestAttackBadInput(t *testing.T) {
	dir := t.TempDir()
	u := writeConf(t, filepath.Join(dir, "u.npy"), 8, 3, spreadConf(0.5))
	r := writeConf(t, filepath.Join(dir, "r.npy"), 8, 3, spreadConf(0))
	e4 := writeConf(t, filepath.Join(dir, "e4.npy"), 8, 4, spreadConf(1))
	logits := filepath.Join(dir, "retain.npy")
	if err := arrays.WriteNPY(logits, arrays.Tensor[float32]{Shape: []int{8, 5, 3}, Data: make([]float32, 120)}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"more folds than models", []string{"--folds", "9"}, []string{"--folds is 9", "models per population (8)"}},
		{"one fold", []string{"--folds", "1"}, []string{"--folds is 1", "at least 2"}},
		{"unknown classifier", []string{"--classifiers", "logreg,tree"}, []string{`--classifiers is "tree"`, "logreg, svm"}},
		{"knn-k even", []string{"--knn-k", "4"}, []string{"--knn-k is 4", "odd"}},
		{"zero trees", []string{"--trees", "0"}, []string{"--trees is 0"}},
		{"none with others", []string{"--pooled", "none,svm"}, []string{"--pooled is", "none alone"}},
		{"features without logits", []string{"--features", "loss"}, []string{"--features needs logits", "u.npy"}},
		{"retain logits without labels", []string{"--unlearned-retain", logits, "--unlearned-test", logits, "--unlearned-acc", ""}, []string{"retain logits were given", "--retain-labels"}},
		{"original of another E", []string{"--original", e4}, []string{"e4.npy", "E = 4", "E = 3"}},
		{"knn-k 0", []string{"--knn-k", "0"}, []string{"--knn-k is 0"}},
		{"negative cap", []string{"--pooled-max-train", "-1"}, []string{"--pooled-max-train is -1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantUserError(t, dir, c.name, append([]string{"attack", "--unlearned", u, "--retrained", r}, c.args...), c.want)
		})
	}
}
