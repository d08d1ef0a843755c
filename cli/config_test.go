package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTemp writes body to dir/name and returns its path.
func writeTemp(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// smallRun is `run` of testdata/run-small.yaml with its cache and runs in
// dir, with the attack suite (a small one) switched on, and args after.
func smallRun(dir string, args ...string) []string {
	return smallRunAt(filepath.Join(dir, "cache"), filepath.Join(dir, "runs"), args...)
}

// smallRunAt is smallRun with the cache and runs given.
func smallRunAt(cache, runs string, args ...string) []string {
	return append([]string{"run", "-c", "testdata/run-small.yaml", "--set", "cache=" + cache, "--set", "runs=" + runs,
		"--set", "attacks={enabled: true, classifiers: [logreg], pooled: [logreg], folds: 2, mia_splits: 2}"}, args...)
}

// Class 5 of issue 21: every setting and every output location is checked
// before any work (no cache is created, no member computed), in a dry run
// and in every shard too, with one validation of the attack settings
// shared by run and attack.
func TestChecksBeforeTheWork(t *testing.T) {
	dir := t.TempDir()
	file := writeTemp(t, dir, "a-file", "")
	cache := filepath.Join(dir, "cache")
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"n below the folds", smallRun(dir, "--set", "n=4", "--set", "attacks.folds=5"), []string{"attacks.folds is 5", "models per population (4)"}},
		{"unknown classifier", smallRun(dir, "--set", "attacks.classifiers=[logreg, knm]"), []string{`attacks.classifiers is "knm"`, `did you mean "knn"`}},
		{"one fold", smallRun(dir, "--set", "attacks.folds=1"), []string{"attacks.folds is 1", "at least 2"}},
		{"even knn_k", smallRun(dir, "--set", "attacks.knn_k=4"), []string{"attacks.knn_k is 4", "odd"}},
		{"no trees", smallRun(dir, "--set", "attacks.trees=0"), []string{"attacks.trees is 0"}},
		{"unknown feature", smallRun(dir, "--set", "attacks.features=[los]"), []string{"attacks.features is", "unknown feature"}},
		{"runs under a file", smallRunAt(cache, filepath.Join(file, "runs")), []string{"run directory", file + " is a file"}},
		{"cache under a file", smallRunAt(filepath.Join(file, "cache"), filepath.Join(dir, "runs")), []string{"cache", file + " is a file"}},
		{"recipe value", smallRun(dir, "--set", "recipe.optimizer.lr=-1"), []string{"recipe.optimizer.lr is -1", "> 0"}},
		{"recipe epochs", smallRun(dir, "--set", "recipe.epochs=0"), []string{"recipe.epochs is 0"}},
	} {
		for _, mode := range [][]string{nil, {"--dry-run"}, {"--shard", "1/2"}} {
			name := c.name + " " + strings.Join(mode, " ")
			t.Run(name, func(t *testing.T) {
				refusal{name, append(c.args, mode...), 2, c.want, []string{cache}}.check(t)
			})
		}
	}
	// The same settings, as attack's flags, are refused with the same
	// words, naming the flags.
	const ex = "examples/finetune/"
	attack := []string{"attack", "--unlearned", ex + "unlearned.npz", "--retrained", ex + "retrained.npz", "--labels", ex + "labels.npy"}
	refusal{"attack knn-k", append(attack, "--knn-k", "4"), 2, []string{"--knn-k is 4", "odd"}, nil}.check(t)
	refusal{"attack trees", append(attack, "--trees", "0"), 2, []string{"--trees is 0"}, nil}.check(t)
	// unlearn refuses an --out it cannot write before reading anything.
	refusal{"unlearn out under a file", []string{"unlearn", "--method", "finetune", "--model", "no-such.onnx", "--split", "no-such-split", "--out", filepath.Join(file, "u.onnx")},
		2, []string{"--out", file + " is a file"}, nil}.check(t)
}

// Class 7 of issue 21: contradictions are errors, never a silent choice,
// and errors name what the user wrote.
func TestContradictions(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	model := filepath.Join(dir, "m.onnx")
	orig := writeTemp(t, dir, "orig.yaml", "name: o\nmodel: cnn\noriginal: "+model+"\nmethods: [{method: noop}]\n")
	twoDocs := writeTemp(t, dir, "two.yaml", "name: two\nn: 4\n---\nn: 8\n")
	trainTwoDocs := writeTemp(t, dir, "train-two.yaml", "epochs: 1\n---\nepochs: 3\n")
	trainNorm := writeTemp(t, dir, "train-norm.yaml", "normalize: half\n")
	recipe := writeTemp(t, dir, "recipe.yaml", "optimizer: {lr: -0.5}\n")
	ctrl := writeTemp(t, dir, "ctrl.yaml", "name: c\nmethods: [{name: \"fine\\x1btune\", method: finetune}]\n")
	execDir := writeTemp(t, dir, "exec.yaml", "name: e\nmethods: [{method: exec, params: {command: \"cp {model} {out}\", dir: "+filepath.Join(dir, "no-such-dir")+"}}]\n")
	train := []string{"train", "--model", "mlp", "--limit", "50", "--epochs", "1", "--out", model}
	const ex = "examples/finetune/"
	for _, c := range []refusal{
		{"original with model", []string{"run", "-c", orig, "--dry-run"}, 2, []string{"orig.yaml", "original: " + model + " and model: cnn both given"}, nil},
		{"two YAML documents in a run config", []string{"run", "-c", twoDocs, "--dry-run"}, 2, []string{"two.yaml", "line 4", "a second YAML document"}, nil},
		{"two YAML documents in a train config", []string{"train", "-c", trainTwoDocs, "--out", model}, 2, []string{"train-two.yaml", "a second YAML document"}, []string{model}},
		{"a flag twice", append(train, "--lr", "0.1", "--lr", "0.01"), 2, []string{"--lr given twice", `"0.1", then "0.01"`}, []string{model}},
		{"run -c twice", []string{"run", "-c", orig, "-c", twoDocs}, 2, []string{"--config given twice"}, nil},
		// One value spelled twice is no contradiction, and train's
		// re-application of its flags over its config is none either: the
		// error is the config's, further on.
		{"one value spelled twice", []string{"train", "-c", trainNorm, "--lr", "1e-1", "--lr", "0.10", "--out", model}, 2, []string{"config " + trainNorm + ": normalize"}, []string{model}},
		{"--set twice", smallRun(dir, "--set", "n=5", "--set", "n=6", "--dry-run"), 2, []string{"--set n given twice", `"n=5", then "n=6"`}, []string{cache}},
		{"--param twice", []string{"unlearn", "--method", "finetune", "--model", model, "--split", dir, "--out", filepath.Join(dir, "u.onnx"), "--param", "lr=0.1", "--param", "lr=0.2"},
			2, []string{"--param lr given twice"}, nil},
		{"train config normalize", []string{"train", "-c", trainNorm, "--out", model}, 2, []string{"config " + trainNorm + ": normalize"}, []string{model}},
		{"recipe value", []string{"unlearn", "--method", "finetune", "--model", model, "--split", dir, "--out", filepath.Join(dir, "u.onnx"), "--recipe", recipe},
			2, []string{"--recipe " + recipe, "optimizer.lr is -0.5"}, nil},
		{"control character in a run's method name", []string{"run", "-c", ctrl, "--dry-run"}, 2, []string{"methods[0]", "want a printable name"}, nil},
		{"control character in --method", []string{"attack", "--unlearned", ex + "unlearned.npz", "--retrained", ex + "retrained.npz", "--method", "a\nb"}, 2, []string{"--method", "control character"}, nil},
		{"missing exec dir", []string{"run", "-c", execDir, "--dry-run"}, 2, []string{"parameter dir", "no-such-dir", "no such directory"}, nil},
	} {
		t.Run(c.name, c.check)
	}
	// A zoo model imported as the original normalises its own input: a
	// config's normalize: for it is refused, naming the config field.
	if code, text := runCmd(train...); code != 0 {
		t.Fatalf("training a zoo model: exit %d\n%s", code, text)
	}
	norm := writeTemp(t, dir, "norm.yaml", "name: n\ncache: "+cache+"\nruns: "+filepath.Join(dir, "runs")+
		"\ndata: {train_examples: 100, test_examples: 50, image_size: 28x28, channels: 1}\nn: 3\noriginal: "+model+"\nnormalize: 0.5/0.5\nmethods: [{method: noop}]\nattacks: {enabled: false}\n")
	// (The data's status line comes first: the original is imported once
	// the data is read.)
	code, text := runCmd("run", "-c", norm)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if last := lines[len(lines)-1]; code != 2 || !strings.Contains(last, "config "+norm+": normalize:") || !strings.Contains(last, "normalises its own input") {
		t.Errorf("normalize for a zoo original: exit %d\n%s", code, text)
	}
	if _, err := os.Stat(filepath.Join(cache, "populations")); err == nil {
		t.Error("normalize for a zoo original: populations were computed")
	}
	if !strings.Contains(runOut(t, "train", "--help"), "-c, --config") {
		t.Error("train --help does not show -c, --config")
	}
}

// runOut is a command's combined output.
func runOut(t *testing.T, args ...string) string {
	t.Helper()
	_, text := runCmd(args...)
	return text
}

// Issue 20 item 4: --set paths and values are checked as the file's keys
// are, --name names the run directory, and a run directory holding the
// run of another config is refused (compared by digest: a copy of the
// same config is the same run).
func TestRunSetAndName(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	for _, c := range []refusal{
		{"unknown path", smallRun(dir, "--set", "recipe.epoch=3"), 2, []string{"--set recipe.epoch=3", `unknown field "recipe.epoch"`, `did you mean "recipe.epochs"`}, []string{cache}},
		{"unknown top-level key", smallRun(dir, "--set", "seeds=3"), 2, []string{`unknown field "seeds"`, `did you mean "seed"`}, []string{cache}},
		{"wrong type", smallRun(dir, "--set", "n=many"), 2, []string{"--set n=many", "n: want an integer", `"many"`}, []string{cache}},
		{"fraction for an integer", smallRun(dir, "--set", "recipe.epochs=1.5"), 2, []string{"recipe.epochs: want an integer"}, []string{cache}},
		{"no such method", smallRun(dir, "--set", "methods[5].params.epochs=2"), 2, []string{"methods[5]", "lists 2"}, []string{cache}},
		{"a list without an index", smallRun(dir, "--set", "methods.name=x"), 2, []string{"methods is a list", "methods[0].name"}, []string{cache}},
		{"no value", smallRun(dir, "--set", "n"), 2, []string{`--set "n"`, "KEY.PATH=VALUE"}, []string{cache}},
		{"a bad name", smallRun(dir, "--name", "a/b"), 2, []string{`--name "a/b"`, "plain directory name"}, []string{cache}},
	} {
		t.Run(c.name, c.check)
	}
	// A run directory written by another config (here another seed).
	small, err := os.ReadFile("testdata/run-small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "runs", "small")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTemp(t, runDir, "config.yaml", string(small)+"seed: 7\n")
	refusal{"another config's run directory", smallRun(dir, "--dry-run"), 2,
		[]string{"runs/small holds the run of another config", "--name small-2", "--replace"}, []string{cache}}.check(t)
	// Another --name or --replace lets the run go on (a dry run here).
	for _, extra := range [][]string{{"--name", "small-2"}, {"--replace"}} {
		if code, text := runCmd(smallRun(dir, append([]string{"--dry-run"}, extra...)...)...); code != 0 {
			t.Errorf("%v: exit %d\n%s", extra, code, text)
		}
	}
	// The same config, copied elsewhere (as the Slurm scoring job copies
	// it), is the same run, whatever its path, cache and runs.
	writeTemp(t, runDir, "config.yaml", string(small))
	copied := writeTemp(t, dir, "copy.yaml", string(small))
	if code, text := runCmd("run", "-c", copied, "--set", "cache="+cache, "--set", "runs="+filepath.Join(dir, "runs"), "--dry-run"); code != 0 {
		t.Fatalf("a copy of the run directory's config: exit %d\n%s", code, text)
	}
}
