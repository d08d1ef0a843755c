package cli

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/internal/arrays"
	"unlearnbench/result"
)

func TestScoreExampleJSONRoundTrip(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "result.json")
	code, text := runCmd("score",
		"--unlearned", "examples/finetune/unlearned.npz", "--retrained", "examples/finetune/retrained.npz",
		"--labels", "examples/finetune/labels.npy",
		"--unlearned-acc", "examples/finetune/unlearned_acc.csv", "--retrained-acc", "examples/finetune/retrained_acc.csv",
		"--json", out, "--method", "finetune")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, text)
	}
	res, err := result.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Methods[0]
	if m.Name != "finetune" || m.N != 128 || m.E != 100 || len(m.Examples) != 100 || m.Score.Final == nil || m.Utility == nil {
		t.Fatalf("result: %+v", m.Score)
	}
	if !strings.Contains(text, "final score") || !strings.Contains(text, "worst forgotten examples") {
		t.Fatalf("table output:\n%s", text)
	}
	// Same inputs, same bytes: results can be diffed and cached.
	out2 := filepath.Join(dir, "again.json")
	runCmd("score",
		"--unlearned", "examples/finetune/unlearned.npz", "--retrained", "examples/finetune/retrained.npz",
		"--labels", "examples/finetune/labels.npy",
		"--unlearned-acc", "examples/finetune/unlearned_acc.csv", "--retrained-acc", "examples/finetune/retrained_acc.csv",
		"--json", out2, "--method", "finetune", "--workers", "1")
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(out2)
	if !bytes.Equal(a, b) {
		t.Fatal("the same inputs gave different result files")
	}
}

// Example 2 is constant and equal in both populations, so every rule is
// discarded: by default it gets epsilon 0 and a warning, with --strict (the
// competition's behaviour) score and attack stop with exit 2 and write
// nothing.
func TestEveryRuleDiscardedDefaultAndStrict(t *testing.T) {
	dir := t.TempDir()
	constant := func(shift float64) func(i, j int) float64 {
		return func(i, j int) float64 {
			if j == 2 {
				return 1
			}
			return spreadConf(shift)(i, j)
		}
	}
	u := writeConf(t, filepath.Join(dir, "u.npy"), 8, 3, constant(0.5))
	r := writeConf(t, filepath.Join(dir, "r.npy"), 8, 3, constant(0))
	out := filepath.Join(dir, "res.json")
	code, text := runCmd("score", "--unlearned", u, "--retrained", r, "--json", out)
	if code != 0 || !strings.Contains(text, "1 of 3 examples had every rule discarded") {
		t.Fatalf("exit %d:\n%s", code, text)
	}
	res, err := result.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Methods[0]
	if ex := m.Examples[2]; !ex.Undetermined || ex.Epsilon != 0 || ex.Points != 1 {
		t.Fatalf("example 2 = %+v", ex)
	}
	warned := false
	for _, w := range m.Warnings {
		warned = warned || strings.Contains(w, "every rule discarded")
	}
	if !warned {
		t.Fatalf("result warnings %q say nothing of the discarded rules", m.Warnings)
	}
	for _, cmd := range []string{"score", "attack"} {
		strictOut := filepath.Join(dir, cmd+"-strict.json")
		code, text = runCmd(cmd, "--unlearned", u, "--retrained", r, "--strict", "--json", strictOut)
		if code != 2 || !strings.Contains(text, "forget example 2") || !strings.Contains(text, "every decision rule was discarded") {
			t.Fatalf("%s --strict: exit %d:\n%s", cmd, code, text)
		}
		if fileExists(strictOut) {
			t.Fatalf("%s --strict wrote %s", cmd, strictOut)
		}
	}
}

func TestScoreWithoutAccuraciesSaysWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	u := writeConf(t, filepath.Join(dir, "u.npy"), 8, 3, spreadConf(0.5))
	r := writeConf(t, filepath.Join(dir, "r.npy"), 8, 3, spreadConf(0))
	code, text := runCmd("score", "--unlearned", u, "--retrained", r)
	if code != 0 || !strings.Contains(text, "needs accuracies") || !strings.Contains(text, "forgetting quality F") {
		t.Fatalf("exit %d:\n%s", code, text)
	}
}

func TestScoreAccuraciesFromLogitsInArchives(t *testing.T) {
	// One archive per population with forget, retain and test members and
	// a labels archive with the same names: accuracies are computed.
	dir := t.TempDir()
	n, c := 4, 3
	mk := func(name string, shift float32) string {
		z := arrays.NPZ{}
		for _, part := range []struct {
			member string
			e      int
		}{{"forget", 2}, {"retain", 5}, {"test", 4}} {
			data := make([]float32, n*part.e*c)
			for i := range data {
				data[i] = float32(math.Sin(float64(i)))*2 + shift
			}
			// Model i predicts class 0 on every example.
			for i := 0; i < n*part.e; i++ {
				data[i*c] += 10
			}
			if err := arrays.Add(z, part.member, arrays.Tensor[float32]{Shape: []int{n, part.e, c}, Data: data}); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, name)
		if err := arrays.WriteNPZ(p, z); err != nil {
			t.Fatal(err)
		}
		return p
	}
	u, r := mk("u.npz", 0.3), mk("r.npz", 0)
	lz := arrays.NPZ{}
	arrays.Add(lz, "forget", arrays.Tensor[int64]{Shape: []int{2}, Data: []int64{0, 1}})
	arrays.Add(lz, "retain", arrays.Tensor[int64]{Shape: []int{5}, Data: []int64{0, 0, 0, 1, 2}}) // 3/5 correct
	arrays.Add(lz, "test", arrays.Tensor[int64]{Shape: []int{4}, Data: []int64{0, 1, 1, 1}})      // 1/4 correct
	labels := filepath.Join(dir, "labels.npz")
	if err := arrays.WriteNPZ(labels, lz); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "res.json")
	code, text := runCmd("score", "--unlearned", u, "--retrained", r, "--labels", labels, "--json", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, text)
	}
	res, err := result.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	util := res.Methods[0].Utility
	if util == nil || util.RetainUnlearned != 0.6 || util.TestRetrained != 0.25 || util.RetainRatio != 1 {
		t.Fatalf("utility %+v", util)
	}
}

func TestScoreBadInput(t *testing.T) {
	dir := t.TempDir()
	w := func(name string, n, e int, f func(i, j int) float64) string {
		return writeConf(t, filepath.Join(dir, name), n, e, f)
	}
	good := w("good.npy", 8, 3, spreadConf(0))
	goodU := w("goodu.npy", 8, 3, spreadConf(0.5))
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	rank1 := filepath.Join(dir, "rank1.npy")
	arrays.WriteNPY(rank1, arrays.Tensor[float32]{Shape: []int{8}, Data: make([]float32, 8)})
	ints := filepath.Join(dir, "ints.npy")
	arrays.WriteNPY(ints, arrays.Tensor[int64]{Shape: []int{8, 3}, Data: make([]int64, 24)})
	logits := filepath.Join(dir, "logits.npy")
	arrays.WriteNPY(logits, arrays.Tensor[float32]{Shape: []int{8, 3, 4}, Data: make([]float32, 96)})
	labels := func(name string, vals ...int64) string {
		p := filepath.Join(dir, name)
		arrays.WriteNPY(p, arrays.Tensor[int64]{Shape: []int{len(vals)}, Data: vals})
		return p
	}
	raw, _ := os.ReadFile(good)
	truncated := file("truncated.npy", string(raw[:len(raw)-5]))
	constant := w("const.npy", 8, 3, func(i, j int) float64 {
		if j == 2 {
			return 1
		}
		return spreadConf(0)(i, j)
	})
	constantU := w("constu.npy", 8, 3, func(i, j int) float64 {
		if j == 2 {
			return 1
		}
		return spreadConf(0.5)(i, j)
	})
	nan := w("nan.npy", 8, 3, func(i, j int) float64 {
		if i == 5 && j == 1 {
			return math.NaN()
		}
		return 0
	})
	accCSV := func(name string, rows int, retain, test string) string {
		var b strings.Builder
		b.WriteString("model,retain,test\n")
		for i := 0; i < rows; i++ {
			b.WriteString("0," + retain + "," + test + "\n")
		}
		return file(name, b.String())
	}
	okAcc := accCSV("ok.csv", 8, "0.9", "0.8")

	cases := []struct {
		name string
		args []string
		want []string // substrings of the one-line error
	}{
		{"missing file", []string{"--unlearned", filepath.Join(dir, "nope.npy"), "--retrained", good}, []string{"nope.npy", "no such file"}},
		{"wrong rank", []string{"--unlearned", rank1, "--retrained", good}, []string{"rank1.npy", "shape (8,)", "rank 1"}},
		{"N differs", []string{"--unlearned", w("n9.npy", 9, 3, spreadConf(1)), "--retrained", good}, []string{"n9.npy", "N = 9", "N = 8"}},
		{"E differs", []string{"--unlearned", w("e4.npy", 8, 4, spreadConf(1)), "--retrained", good}, []string{"e4.npy", "E = 4", "E = 3"}},
		{"N < 3", []string{"--unlearned", w("n2u.npy", 2, 3, spreadConf(1)), "--retrained", w("n2r.npy", 2, 3, spreadConf(0))}, []string{"N = 2", "at least 3"}},
		{"every rule discarded, strict", []string{"--unlearned", constantU, "--retrained", constant, "--strict"}, []string{"forget example 2", "every decision rule was discarded"}},
		{"NaN", []string{"--unlearned", nan, "--retrained", good}, []string{"nan.npy", "model 5, example 1", "NaN"}},
		{"integer confidences", []string{"--unlearned", ints, "--retrained", good}, []string{"ints.npy", "int64", "float32, float64"}},
		{"logits without labels", []string{"--unlearned", logits, "--retrained", logits}, []string{"logits.npy", "--labels"}},
		{"label out of range", []string{"--unlearned", logits, "--retrained", logits, "--labels", labels("big.npy", 0, 1, 4)}, []string{"big.npy", "label 2 is 4", "4 classes"}},
		{"label count", []string{"--unlearned", logits, "--retrained", logits, "--labels", labels("two.npy", 0, 1)}, []string{"two.npy", "2 labels", "3 examples"}},
		{"negative label", []string{"--unlearned", logits, "--retrained", logits, "--labels", labels("neg.npy", 0, -1, 1)}, []string{"neg.npy", "label 1 is -1"}},
		{"truncated npy", []string{"--unlearned", truncated, "--retrained", good}, []string{"truncated.npy", "offset", "truncated"}},
		{"corrupt npz", []string{"--unlearned", file("bad.npz", "PK\x03\x04garbage"), "--retrained", good}, []string{"bad.npz", "not a valid .npz"}},
		{"accuracy above 1", []string{"--unlearned", goodU, "--retrained", good, "--unlearned-acc", accCSV("pct.csv", 8, "95.1", "0.8"), "--retrained-acc", okAcc}, []string{"pct.csv", "line 2", `field "retain"`, "outside [0, 1]"}},
		{"retrained accuracy 0", []string{"--unlearned", goodU, "--retrained", good, "--unlearned-acc", okAcc, "--retrained-acc", accCSV("zero.csv", 8, "0.9", "0")}, []string{"mean test accuracy is 0"}},
		{"accuracy rows", []string{"--unlearned", goodU, "--retrained", good, "--unlearned-acc", accCSV("rows.csv", 7, "0.9", "0.8"), "--retrained-acc", okAcc}, []string{"rows.csv", "7 models", "N = 8"}},
		{"accuracy one side", []string{"--unlearned", goodU, "--retrained", good, "--unlearned-acc", okAcc}, []string{"one population only", "retrained"}},
		{"accuracy json", []string{"--unlearned", goodU, "--retrained", good, "--unlearned-acc", file("acc.json", `{"retain": [0.9], "test": [0.8, 0.7]}`), "--retrained-acc", okAcc}, []string{"acc.json", "1 retain accuracies but 2 test"}},
		{"unknown flag", []string{"--unlearnt", good}, []string{"unknown flag"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantUserError(t, dir, c.name, append([]string{"score"}, c.args...), c.want)
		})
	}
}
