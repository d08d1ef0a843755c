package cli

import (
	"archive/zip"
	"bytes"
	stdjson "encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"unlearnbench/internal/arrays"
	"unlearnbench/result"
)

// Class 1 of issue 14: every float flag and config value is finite and in
// its range, refused with exit 2 naming it before any work; the gate still
// fails (exit 3) on a real regression with every accepted value.
func TestBadNumbers(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	out := []string{model, model + ".ckpt"}
	train := func(args ...string) []string {
		return append([]string{"train", "--model", "mlp", "--limit", "50", "--epochs", "1", "--out", model}, args...)
	}
	config := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const base, regressed = "testdata/results/full.json", "testdata/results/regressed.json"
	compare := func(args ...string) []string { return append([]string{"compare", base, regressed}, args...) }
	logits := filepath.Join(dir, "l.npy")
	for _, c := range []refusal{
		{"gate NaN", compare("--max-drop-score", "NaN"), 2, []string{"--max-drop-score is NaN"}, nil},
		{"gate infinite", compare("--max-drop-score", "+Inf"), 2, []string{"--max-drop-score is +Inf"}, nil},
		{"gate switched off", compare("--max-drop-score", "1"), 2, []string{"--max-drop-score is 1", "[0, 1)"}, nil},
		{"gate negative", compare("--max-drop-score", "-0.01"), 2, []string{"--max-drop-score is -0.01"}, nil},
		{"tolerance NaN", compare("--max-drop-f", "NaN"), 2, []string{"--max-drop-f is NaN"}, nil},
		{"relative tolerance NaN", compare("--max-drop-final", "NaN%"), 2, []string{"--max-drop-final is NaN"}, nil},
		{"tolerance negative", compare("--max-rise-klom", "-5%"), 2, []string{"--max-rise-klom is -5%", ">= 0"}, nil},
		{"tolerance of every drop", compare("--max-drop-tow", "100%"), 2, []string{"--max-drop-tow is 100%", "tolerate every drop"}, nil},
		{"tolerance not a number", compare("--max-drop-f", "ten"), 2, []string{`--max-drop-f is "ten"`, "percentage"}, nil},
		{"alpha NaN", compare("--alpha", "NaN"), 2, []string{"--alpha is NaN", "(0, 1)"}, nil},
		{"alpha 1", compare("--alpha", "1"), 2, []string{"--alpha is 1"}, nil},
		{"alpha below the resamples", compare("--alpha", "1e-9"), 2, []string{"--resamples is 2000", "--alpha 1e-09", "2000000000"}, nil},
		{"resamples beyond a million", compare("--resamples", "1000000000"), 2, []string{"--resamples is 1000000000", "at most 1000000"}, nil},
		{"negative workers", []string{"score", "--unlearned", "examples/finetune/unlearned.npz", "--retrained", "examples/finetune/retrained.npz", "--workers", "-1"}, 2, []string{"--workers is -1"}, nil},
		{"zero folds", []string{"attack", "--unlearned", "examples/finetune/unlearned.npz", "--retrained", "examples/finetune/retrained.npz", "--folds", "0"}, 2, []string{"--folds is 0", "at least 2"}, nil},
		{"zero MIA splits", []string{"attack", "--unlearned", "examples/finetune/unlearned.npz", "--retrained", "examples/finetune/retrained.npz", "--mia-splits", "0"}, 2, []string{"--mia-splits is 0"}, nil},
		{"lr NaN", train("--lr", "NaN"), 2, []string{"--lr is NaN", "> 0"}, out},
		{"lr infinite", train("--lr", "Inf"), 2, []string{"--lr is +Inf"}, out},
		{"weight decay NaN", train("--weight-decay", "NaN"), 2, []string{"--weight-decay is NaN", ">= 0"}, out},
		{"momentum 1", train("--momentum", "1"), 2, []string{"--momentum is 1", "[0, 1)"}, out},
		{"gamma NaN", train("--gamma", "NaN"), 2, []string{"--gamma is NaN"}, out},
		{"label smoothing -Inf", train("--label-smoothing", "-Inf"), 2, []string{"--label-smoothing is -Inf"}, out},
		{"config lr NaN", train("--config", config("lr.yaml", "optimizer:\n  lr: .nan\n")), 2, []string{"lr.yaml", "optimizer.lr is NaN"}, out},
		{"config beta2", train("--config", config("beta.yaml", "optimizer:\n  name: adam\n  beta2: 1.5\n")), 2, []string{"beta.yaml", "optimizer.beta2 is 1.5"}, out},
		{"config nesterov adamw", train("--config", config("nesterov.yaml", "optimizer:\n  name: adamw\n  nesterov: true\n")), 2, []string{"nesterov.yaml", "optimizer.nesterov is true", "sgd's momentum only"}, out},
		{"config class weight", train("--config", config("w.yaml", "loss:\n  class_weights: [1, .inf]\n")), 2, []string{"w.yaml", "loss.class_weights[1] is +Inf"}, out},
		{"flag wins over config", train("--config", config("ok.yaml", "optimizer:\n  lr: 0.1\n"), "--lr", "NaN"), 2, []string{"--lr is NaN"}, out},
		{"normalize NaN", []string{"logits", "--out", logits, "--normalize", "NaN/1", "m.onnx"}, 2, []string{"--normalize", "mean NaN"}, []string{logits}},
		{"normalize std 0", train("--normalize", "0.5/0"), 2, []string{"--normalize", "deviation 0"}, out},
	} {
		t.Run(c.name, c.check)
	}
	// A real regression (F fell by 39%) fails the gate at every accepted
	// extreme of its settings.
	for _, args := range [][]string{
		{"--alpha", "0.999"}, {"--alpha", "0.02", "--resamples", "100"}, {"--alpha", "0.001"},
		{"--max-drop-score", "0"}, {"--max-drop-score", "0.05"},
		{"--max-drop-f", "0"}, {"--max-drop-f", "30%"}, {"--max-drop-tow", "0.5", "--max-rise-klom", "1000%"},
	} {
		if code, text := runCmd(compare(args...)...); code != 3 {
			t.Errorf("compare %v: exit %d, want 3:\n%s", args, code, text)
		}
	}
}

// failingWriter fails every write, as a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// Class 4 of issue 14: every output path is checked before any work, with
// exit 2 naming it; several outputs are all written or none; a lost
// standard output is an error.
func TestBadOutputs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "a-folder")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	const ex = "examples/finetune/"
	score := func(args ...string) []string {
		return append([]string{"score", "--unlearned", ex + "unlearned.npz", "--retrained", ex + "retrained.npz", "--labels", ex + "labels.npy"}, args...)
	}
	attack := func(args ...string) []string {
		return append([]string{"attack", "--unlearned", ex + "unlearned.npz", "--retrained", ex + "retrained.npz", "--labels", ex + "labels.npy"}, args...)
	}
	json, report := filepath.Join(dir, "r.json"), filepath.Join(dir, "report")
	blocked := filepath.Join(dir, "blocked") // a report folder whose report.md is a folder
	if err := os.MkdirAll(filepath.Join(blocked, "report.md"), 0o755); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "m.onnx")
	unwritable := "/proc/unlearnbench-test.json" // no one, root included, creates files there
	for _, c := range []refusal{
		{"json is a directory", score("--json", folder), 2, []string{"--json", "a-folder: is a directory; want a file"}, nil},
		{"report is a file", score("--json", json, "--report", file), 2, []string{"--report", "a-file: is a file; want a directory"}, []string{json}},
		{"parent is a file", score("--json", filepath.Join(file, "sub", "r.json")), 2, []string{"a-file is a file, not a directory"}, nil},
		{"unwritable json", score("--json", unwritable, "--report", report), 2, []string{"--json " + unwritable, "cannot create files in /proc"}, []string{report}},
		{"json inside the report", score("--report", report, "--json", filepath.Join(report, "report.md")), 2, []string{"report.md: the same path as --json"}, []string{report}},
		{"report file is a directory", score("--json", json, "--report", blocked), 2, []string{"--report", "report.md: is a directory; want a file"}, []string{json, filepath.Join(blocked, "report.html")}},
		{"attack json", attack("--json", folder), 2, []string{"--json", "is a directory"}, nil},
		{"report out", []string{"report", "testdata/results/full.json", "--out", file}, 2, []string{"--out", "is a file; want a directory"}, nil},
		{"logits out", []string{"logits", "--out", folder, "m.onnx"}, 2, []string{"--out", "is a directory; want a file"}, nil},
		{"split out", []string{"split", "--forget-random", "10", "--out", file}, 2, []string{"--out", "is a file; want a directory"}, nil},
		{"train out", []string{"train", "--model", "mlp", "--out", folder}, 2, []string{"--out", "is a directory"}, nil},
		{"train checkpoint", []string{"train", "--model", "mlp", "--out", model, "--checkpoint", "/proc/m.ckpt"}, 2, []string{"--checkpoint /proc/m.ckpt", "cannot create"}, []string{model}},
		{"train out and checkpoint the same", []string{"train", "--model", "mlp", "--out", model, "--checkpoint", model}, 2, []string{"the same path as --out"}, []string{model}},
	} {
		t.Run(c.name, c.check)
	}
	t.Run("summary is a directory", func(t *testing.T) {
		t.Setenv("GITHUB_STEP_SUMMARY", folder)
		refusal{"", []string{"compare", "testdata/results/full.json", "testdata/results/full.json"}, 2, []string{"$GITHUB_STEP_SUMMARY", "is a directory"}, nil}.check(t)
	})
	t.Run("standard output lost", func(t *testing.T) {
		var stderr bytes.Buffer
		if code := run(score(), failingWriter{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "writing to standard output: no space left on device") {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	})
	t.Run("all or none", func(t *testing.T) {
		result, err := result.Read("testdata/results/full.json")
		if err != nil {
			t.Fatal(err)
		}
		// The report is written first; the JSON then fails (its parent
		// is a file, which checkResultOutputs would have refused), and
		// the report's files and the folder created for them go.
		cmd := &cobra.Command{}
		cmd.SetOut(io.Discard)
		err = writeResult(cmd, result, filepath.Join(file, "r.json"), report)
		if err == nil {
			t.Fatal("no error")
		}
		if _, err := os.Lstat(report); !os.IsNotExist(err) {
			t.Fatalf("%s left behind after the JSON failed", report)
		}
		if err := writeResult(cmd, result, json, report); err != nil {
			t.Fatal(err)
		}
		for _, f := range append([]string{json}, reportFiles...) {
			if f != json {
				f = filepath.Join(report, f)
			}
			if _, err := os.Stat(f); err != nil {
				t.Error(err)
			}
		}
	})
}

// Class 2 of issue 14: inputs that disagree with each other are refused, or
// kept with a warning in the result when they fit but are not all used.
func TestInputsThatDisagree(t *testing.T) {
	dir := t.TempDir()
	const ex = "examples/finetune/"
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	logits := func(name string, c int) string {
		p := filepath.Join(dir, name)
		data := make([]float32, 8*3*c)
		for i := range data {
			data[i] = float32(math.Sin(float64(i*7 + c + len(name))))
		}
		if err := arrays.WriteNPY(p, arrays.Tensor[float32]{Shape: []int{8, 3, c}, Data: data}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	labels := filepath.Join(dir, "labels.npy")
	if err := arrays.WriteNPY(labels, arrays.Tensor[int64]{Shape: []int{3}, Data: []int64{0, 1, 2}}); err != nil {
		t.Fatal(err)
	}
	c4, c5 := logits("c4.npy", 4), logits("c5.npy", 5)
	u := writeConf(t, filepath.Join(dir, "u.npy"), 8, 3, spreadConf(0.5))
	r := writeConf(t, filepath.Join(dir, "r.npy"), 8, 3, spreadConf(0))
	json := filepath.Join(dir, "r.json")
	pops := []string{"--unlearned", ex + "unlearned.npz", "--retrained", ex + "retrained.npz", "--labels", ex + "labels.npy", "--json", json}
	accs := []string{"--unlearned-acc", ex + "unlearned_acc.csv", "--retrained-acc", ex + "retrained_acc.csv"}
	cmd := func(name string, args ...[]string) []string {
		out := []string{name}
		for _, a := range args {
			out = append(out, a...)
		}
		return out
	}
	dupCSV := write("dup.csv", "retain,test,Retain_Acc\n"+strings.Repeat("0.9,0.8,0.7\n", 128))
	aliasJSON := write("alias.json", `{"retain": [0.9], "retain_acc": [0.8], "test": [0.7]}`)
	model := filepath.Join(dir, "zoo.onnx")
	if out, code := runCLI(t, "train", "--model", "mlp", "--limit", "64", "--epochs", "1", "--out", model); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, out)
	}
	npy := filepath.Join(dir, "logits.npy")
	for _, c := range []refusal{
		{"same file twice", []string{"score", "--unlearned", ex + "unlearned.npz", "--retrained", ex + "unlearned.npz", "--labels", ex + "labels.npy", "--json", json}, 2, []string{"unlearned.npz:forget and", "hold the same values", "F = 1"}, []string{json}},
		{"same values in two files", []string{"score", "--unlearned", u, "--retrained", writeConf(t, filepath.Join(dir, "u2.npy"), 8, 3, spreadConf(0.5)), "--json", json}, 2, []string{"u.npy and", "u2.npy hold the same values"}, []string{json}},
		{"class counts differ", []string{"score", "--unlearned", c4, "--retrained", c5, "--labels", labels, "--json", json}, 2, []string{"c4.npy has 4 classes but", "c5.npy has 5"}, []string{json}},
		{"class counts differ within a population", []string{"attack", "--unlearned", c4, "--retrained", logits("c4r.npy", 4), "--labels", labels, "--unlearned-retain", c5, "--retain-labels", labels, "--json", json}, 2, []string{"c5.npy has 5 classes but", "c4.npy has 4"}, []string{json}},
		{"class counts differ, attack", []string{"attack", "--unlearned", c4, "--retrained", c5, "--labels", labels, "--json", json}, 2, []string{"c4.npy has 4 classes"}, []string{json}},
		{"labels of another E with confidences", []string{"score", "--unlearned", u, "--retrained", r, "--labels", ex + "labels.npy", "--json", json}, 2, []string{"labels.npy: 100 labels", "E = 3"}, []string{json}},
		{"duplicated CSV column", cmd("score", pops, []string{"--unlearned-acc", dupCSV, "--retrained-acc", ex + "retrained_acc.csv"}), 2, []string{"dup.csv", "columns 1 (\"retain\") and 3 (\"Retain_Acc\")"}, []string{json}},
		{"two JSON keys of one accuracy", cmd("score", pops, []string{"--unlearned-acc", aliasJSON, "--retrained-acc", ex + "retrained_acc.csv"}), 2, []string{"alias.json", `"retain" and "retain_acc"`}, []string{json}},
		{"accuracies twice, score", cmd("score", pops, accs, []string{"--unlearned-retain", ex + "unlearned_retain.npy", "--unlearned-test", ex + "unlearned_test.npy"}), 2, []string{"--unlearned-acc and --unlearned-retain/--unlearned-test"}, []string{json}},
		{"even knn-k", []string{"attack", "--unlearned", u, "--retrained", r, "--knn-k", "4", "--json", json}, 2, []string{"--knn-k is 4", "odd"}, []string{json}},
		{"normalize on a zoo model", []string{"logits", "--limit", "10", "--normalize", "0.5/0.5", "--out", npy, model}, 2, []string{"--normalize", "zoo.onnx normalises its own input"}, []string{npy}},
	} {
		t.Run(c.name, c.check)
	}
	// Inputs that fit but are not all used: the result says so.
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"labels with confidences", []string{"score", "--unlearned", u, "--retrained", r, "--labels", labels}, "labels.npy: both populations hold confidences, so the labels compute nothing"},
		{"accuracies twice, attack", cmd("attack", pops[:6], accs, []string{"--unlearned-retain", ex + "unlearned_retain.npy", "--retain-labels", ex + "retain_labels.npy", "--classifiers", "none", "--pooled", "none"}), "unlearned population: accuracies from examples/finetune/unlearned_acc.csv; its retain and test logits serve the single-model attacks only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if code, text := runCmd(append(c.args, "--json", json)...); code != 0 {
				t.Fatalf("exit %d\n%s", code, text)
			}
			res, err := result.Read(json)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(res.Methods[0].Warnings, "\n"), c.want) {
				t.Errorf("warnings %q lack %q", res.Methods[0].Warnings, c.want)
			}
		})
	}
}

// Class 8 of issue 14: a mistyped command or config field is one line with
// the closest valid name, the file and the line.
func TestOneLineErrors(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	config := func(name, body string) []string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{"train", "--config", p, "--out", model}
	}
	out := []string{model, model + ".ckpt"}
	for _, c := range []refusal{
		{"command", []string{"scroe", "--unlearned", "x"}, 2, []string{`unknown command "scroe"`, `did you mean "score"?`}, nil},
		{"command swap", []string{"atatck"}, 2, []string{`did you mean "attack"?`}, nil},
		{"command far off", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`, "the commands are attack, compare"}, nil},
		{"field", config("a.yaml", "optimizer:\n  lr: 0.1\n  momentun: 0.9\n"), 2, []string{"a.yaml: line 3", `unknown field "optimizer.momentun"`, `did you mean "optimizer.momentum"?`}, out},
		{"section", config("b.yaml", "epochs: 2\noptimiser:\n  lr: 0.1\n"), 2, []string{"b.yaml: line 2", `"optimiser"`, `did you mean "optimizer"?`}, out},
		{"far-off field", config("c.yaml", "zzzzqqq: 1\n"), 2, []string{"c.yaml: line 1", `unknown field "zzzzqqq"`, "known: augment_flip"}, out},
		{"wrong kind", config("d.yaml", "optimizer:\n  lr: fast\n"), 2, []string{"d.yaml: line 2", `optimizer.lr: want a number, got "fast"`}, out},
		{"fraction for an integer", config("e.yaml", "epochs: 1.5\n"), 2, []string{"e.yaml: line 1", `epochs: want an integer, got "1.5"`}, out},
		{"list item", config("f.yaml", "loss:\n  class_weights: [1, x]\n"), 2, []string{"f.yaml: line 2", "loss.class_weights[1]: want a number"}, out},
		{"syntax", config("g.yaml", "epochs: [1\n"), 2, []string{"g.yaml: line 1", "did not find expected"}, out},
		{"not a mapping", config("h.yaml", "- 1\n"), 2, []string{"h.yaml: line 1", "want a mapping"}, out},
	} {
		t.Run(c.name, c.check)
	}
}

// Class 3 of issue 14: a result file that contradicts itself is refused by
// report and compare with exit 2 naming the field, and nothing is written.
func TestInconsistentResults(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/results/full.json")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(name string, change func(m map[string]any)) string {
		var doc map[string]any
		if err := stdjson.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		change(doc["methods"].([]any)[0].(map[string]any))
		b, err := stdjson.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	obj := func(m map[string]any, path ...any) map[string]any {
		var v any = m
		for _, k := range path {
			switch k := k.(type) {
			case string:
				v = v.(map[string]any)[k]
			case int:
				v = v.([]any)[k]
			}
		}
		return v.(map[string]any)
	}
	for _, c := range []struct {
		name   string
		change func(m map[string]any)
		want   []string
	}{
		{"final", func(m map[string]any) { obj(m, "score")["final"] = 0.5 }, []string{`"score.final" is 0.5`, "F × RA_U/RA_R × TA_U/TA_R"}},
		{"bucket", func(m map[string]any) { obj(m, "examples", 0)["bucket"] = 3 }, []string{`examples[0]: field "bucket" is 3`, "falls in bucket 2"}},
		{"points", func(m map[string]any) {
			obj(m, "examples", 0)["points"] = 0.125
			obj(m, "score")["f"] = obj(m, "score")["f"].(float64) - 0.125/float64(len(m["examples"].([]any)))
		}, []string{`examples[0]: field "points" is 0.125`, "earns 0.25"}},
		{"bucket count", func(m map[string]any) {
			obj(m, "score", "buckets", 2)["count"] = 16
			obj(m, "score", "buckets", 3)["count"] = 15
		}, []string{`score.buckets[2]: field "count" is 16`, "17 examples"}},
		{"population size", func(m map[string]any) {
			p := obj(m, "populations", 0)
			p["n"] = 63
			for _, k := range []string{"seeds", "seconds", "retain_acc", "test_acc", "forget_acc"} {
				delete(p, k)
			}
		}, []string{`populations[0]: field "n" is 63`}},
		{"missing epsilon", func(m map[string]any) { delete(obj(m, "examples", 5), "epsilon") }, []string{`examples[5]: field "epsilon" is missing`}},
		{"AUC above 1", func(m map[string]any) { obj(m, "attacks", 0)["auc"] = 1.2 }, []string{`attack "lira/offline/fixed-var": field "auc" is 1.2`}},
		{"rate above 1", func(m map[string]any) { obj(m, "examples", 0)["fpr"] = 1.5 }, []string{`examples[0]: field "fpr" is 1.5`}},
		{"ratio", func(m map[string]any) { obj(m, "utility")["retain_ratio"] = 2 }, []string{`"utility.retain_ratio" is 2`}},
		{"accuracies against utility", func(m map[string]any) { obj(m, "utility")["retain_unlearned"] = 0.5 }, []string{"utility"}},
		{"attack F", func(m map[string]any) { obj(m, "attacks", 1)["f"] = 0.9 }, []string{`attack "logreg/per-example": field "f" is 0.9`, "its epsilons give"}},
	} {
		file := edit(strings.ReplaceAll(c.name, " ", "-"), c.change)
		out := filepath.Join(dir, "report-"+strings.ReplaceAll(c.name, " ", "-"))
		t.Run("report "+c.name, refusal{"", []string{"report", file, "--out", out}, 2, append([]string{filepath.Base(file)}, c.want...), []string{out}}.check)
		t.Run("compare "+c.name, refusal{"", []string{"compare", "testdata/results/full.json", file}, 2, c.want, nil}.check)
	}
}

// Class 5 of issue 14: an empty method name is refused up front; values
// whose spread would overflow float64 are refused where they are read.
func TestEmptyAndOverflowingValues(t *testing.T) {
	dir := t.TempDir()
	json := filepath.Join(dir, "r.json")
	conf := func(name string, scale float64) string {
		return writeConf(t, filepath.Join(dir, name), 8, 3, func(i, j int) float64 { return scale * spreadConf(0)(i, j) })
	}
	u, r := conf("u.npy", 1), conf("r.npy", 0.5)
	bigU := filepath.Join(dir, "big.npy")
	data := make([]float64, 24)
	for i := range data {
		data[i] = math.Sin(float64(i)) * 1e308
	}
	if err := arrays.WriteNPY(bigU, arrays.Tensor[float64]{Shape: []int{8, 3}, Data: data}); err != nil {
		t.Fatal(err)
	}
	bigLogits := filepath.Join(dir, "logits.npy")
	if err := arrays.WriteNPY(bigLogits, arrays.Tensor[float64]{Shape: []int{8, 3, 1}, Data: data}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []refusal{
		{"empty method", []string{"score", "--unlearned", u, "--retrained", r, "--method", "", "--json", json}, 2, []string{"--method is empty"}, []string{json}},
		{"blank method, attack", []string{"attack", "--unlearned", u, "--retrained", r, "--method", "  ", "--json", json}, 2, []string{"--method is empty"}, []string{json}},
		{"overflowing confidences", []string{"score", "--unlearned", bigU, "--retrained", r, "--json", json}, 2, []string{"big.npy: model 0, example 1", "beyond ±1e+150"}, []string{json}},
		{"overflowing confidences, attack", []string{"attack", "--unlearned", u, "--retrained", bigU, "--json", json}, 2, []string{"big.npy", "beyond ±1e+150"}, []string{json}},
	} {
		t.Run(c.name, c.check)
	}
}

// Class 6 of issue 14: an archive member whose header declares more data
// than memory holds, or than the other inputs can use, is refused from its
// header before it is inflated.
func TestDeclaredSizes(t *testing.T) {
	dir := t.TempDir()
	// bomb writes an .npz whose member forget.npy is only the header of a
	// float32 array of shape dims, its zip entry declaring the full size.
	bomb := func(name, dims string, n uint64) string {
		dict := "{'descr': '<f4', 'fortran_order': False, 'shape': " + dims + ", }"
		h := dict + strings.Repeat(" ", (64-(11+len(dict))%64)%64) + "\n"
		hdr := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
		hdr = append(hdr, h...)
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, err := zw.CreateRaw(&zip.FileHeader{Name: "forget.npy", Method: zip.Store, CompressedSize64: uint64(len(hdr)), UncompressedSize64: uint64(len(hdr)) + 4*n})
		if err == nil {
			_, err = w.Write(hdr)
		}
		if err == nil {
			err = zw.Close()
		}
		p := filepath.Join(dir, name)
		if err == nil {
			err = os.WriteFile(p, b.Bytes(), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	u := writeConf(t, filepath.Join(dir, "u.npy"), 8, 3, spreadConf(0.5))
	json := filepath.Join(dir, "r.json")
	const ex = "examples/finetune/"
	for _, c := range []refusal{
		{"more than memory", []string{"score", "--unlearned", u, "--retrained", bomb("huge.npz", "(65536, 67108864)", 1<<42), "--json", json}, 2, []string{"huge.npz:forget", "declares 17592186044416 bytes", "refused before reading it"}, []string{json}},
		{"more models than the other population", []string{"score", "--unlearned", u, "--retrained", bomb("models.npz", "(1000000, 3)", 3000000), "--json", json}, 2, []string{"models.npz:forget: shape (1000000, 3) declares N = 1000000 models", "u.npy has N = 8"}, []string{json}},
		{"more examples than the forget set", []string{"score", "--unlearned", u, "--retrained", bomb("examples.npz", "(8, 1000000)", 8000000), "--json", json}, 2, []string{"declares E = 1000000 examples", "u.npy has E = 3"}, []string{json}},
		{"retain logits of more models", []string{"score", "--unlearned", ex + "unlearned.npz", "--retrained", ex + "retrained.npz", "--labels", ex + "labels.npy",
			"--unlearned-retain", bomb("retain.npz", "(100000, 100, 10)", 100000000), "--unlearned-test", ex + "unlearned_test.npy", "--retrained-acc", ex + "retrained_acc.csv",
			"--retain-labels", ex + "retain_labels.npy", "--test-labels", ex + "test_labels.npy", "--json", json}, 2, []string{"retain.npz:forget", "declares N = 100000 models", "has N = 128"}, []string{json}},
	} {
		t.Run(c.name, c.check)
	}
}

// Class 8, siblings: a flag value of the wrong kind and "help NAME" for a
// mistyped NAME are one line saying what is wanted.
func TestOneLineFlagErrors(t *testing.T) {
	for _, c := range []refusal{
		{"integer", []string{"score", "--workers", "x"}, 2, []string{`--workers "x": want an integer`}, nil},
		{"number", []string{"compare", "a.json", "b.json", "--alpha", "y"}, 2, []string{`--alpha "y": want a number`}, nil},
		{"unsigned", []string{"attack", "--seed", "-1"}, 2, []string{`--seed "-1": want an integer >= 0`}, nil},
		{"boolean", []string{"train", "--augment-flip=maybe"}, 2, []string{`--augment-flip "maybe": want true or false`}, nil},
		{"help topic", []string{"help", "scroe"}, 2, []string{`unknown command "scroe"`, `did you mean "score"?`}, nil},
	} {
		t.Run(c.name, c.check)
	}
}
