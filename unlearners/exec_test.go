package unlearners

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"unlearnbench/datasets"
	"unlearnbench/internal/arrays"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
)

// execFixture is what the exec tests share: a runtime, a few hundred real
// Fashion-MNIST examples split into retain, forget and validation, and a
// small MLP as the original model, which normalises its input itself as
// the originals run trains do.
type execFixture struct {
	rt                         *ort.Runtime
	retain, forget, validation *nn.Data
	original                   *nn.Model
}

var (
	execFixOnce sync.Once
	execFix     *execFixture
	execFixErr  error
	execFixSkip bool // the data are not installed: skip, as the nn tests do
)

func execFixtureFor(t *testing.T) *execFixture {
	t.Helper()
	execFixOnce.Do(func() {
		src, err := datasets.LoadFashionMNIST("")
		if err != nil {
			execFixErr = fmt.Errorf("Fashion-MNIST not installed (make setup installs dataset-fashion-mnist): %w", err)
			execFixSkip = true
			return
		}
		rt, err := ort.Init(ort.Options{IntraOpThreads: 1, InterOpThreads: 1})
		if err != nil {
			execFixErr = err
			return
		}
		idx := make([]int, 500)
		for i := range idx {
			idx[i] = i
		}
		nrm := datasets.ChannelStats(src.Train, idx[:400])
		part := func(lo, hi int) *nn.Data {
			b, err := datasets.NewBatches(src.Train, idx[lo:hi], datasets.BatchOptions{Size: hi - lo})
			if err != nil {
				execFixErr = err
				return nil
			}
			d := &nn.Data{Shape: []int64{int64(src.Train.C), int64(src.Train.H), int64(src.Train.W)}}
			for batch := range b.Epoch(0) {
				d.X = append(d.X, batch.X...)
				d.Y = append(d.Y, batch.Y...)
			}
			return d
		}
		f := &execFixture{rt: rt, retain: part(0, 300), forget: part(300, 400), validation: part(400, 500)}
		if execFixErr != nil {
			return
		}
		f.original = nn.MLP(f.retain.Shape, []int64{32}, 10, 1)
		if execFixErr = f.original.PrependNormalization(nrm.Mean, nrm.Std); execFixErr != nil {
			return
		}
		execFix = f
	})
	if execFixSkip {
		t.Skip(execFixErr)
	}
	if execFixErr != nil {
		t.Fatal(execFixErr)
	}
	return execFix
}

func (f *execFixture) inputs(seed uint64, cache string) *Inputs {
	return &Inputs{Original: f.original, Retain: f.retain, Forget: f.forget, Validation: f.validation,
		Recipe: nn.TrainConfig{Epochs: 3, BatchSize: 50}, Runtime: f.rt, Seed: seed, Cache: cache}
}

// newExec builds the method itself, not New's wrapper around it: the
// tests see its errors as it returns them and can call Close.
func newExec(t *testing.T, params map[string]any) *execMethod {
	t.Helper()
	spec, _ := Lookup("exec")
	p, err := spec.Resolve(params)
	if err != nil {
		t.Fatal(err)
	}
	u, err := spec.Build(p)
	if err != nil {
		t.Fatal(err)
	}
	m := u.(*execMethod)
	t.Cleanup(func() { m.Close() })
	return m
}

func TestExecParams(t *testing.T) {
	_, p, err := New("exec", map[string]any{"command": "python3 unlearn.py {model} {out}"})
	if err != nil {
		t.Fatal(err)
	}
	want := Params{"command": "python3 unlearn.py {model} {out}", "timeout": 3600.0, "dir": "", "log_dir": "", "stderr_lines": 10, "threads": 1, "worker": false, "python": "/usr/bin/python3"}
	if fmt.Sprint(p) != fmt.Sprint(want) {
		t.Errorf("resolved %v, want %v", p, want)
	}
	for _, c := range []struct {
		given map[string]any
		want  string
	}{
		{map[string]any{}, "method exec: parameter command is required: the program that unlearns, such as python3 unlearn.py {model} {out}"},
		{map[string]any{"command": ""}, "method exec: parameter command = : want a program and its arguments, such as python3 unlearn.py {model} {out}"},
		{map[string]any{"command": "  "}, "method exec: parameter command =   : want a program and its arguments, such as python3 unlearn.py {model} {out}"},
		{map[string]any{"command": "x", "timeout": 0}, "method exec: parameter timeout = 0: want a number of seconds in (0, 1e+09]"},
		{map[string]any{"command": "x", "timeout": -1.5}, "method exec: parameter timeout = -1.5: want a number of seconds in (0, 1e+09]"},
		{map[string]any{"command": "x", "timeout": 1e300}, "method exec: parameter timeout = 1e+300: want a number of seconds in (0, 1e+09]"},
		{map[string]any{"command": "x", "timeout": math.NaN()}, "method exec: parameter timeout = NaN: want a finite number"},
		{map[string]any{"command": "x", "timeout": "10s"}, "method exec: parameter timeout = 10s: want a number, got string"},
		{map[string]any{"command": "x", "stderr_lines": 0}, "method exec: parameter stderr_lines = 0: want [1, 1000]"},
		{map[string]any{"command": "run {modle} {out}"}, "method exec: parameter command = run {modle} {out}: unknown placeholder {modle} (known: {model} {out} {seed} {retain_x} {retain_y} {forget_x} {forget_y} {validation_x} {validation_y} {data} {split} {workdir} {classes} {input_shape} {batch_size} {epochs} {device} {threads})"},
		{map[string]any{"command": "sh -c 'exit 1"}, "method exec: parameter command = sh -c 'exit 1: unterminated ' at character 7"},
	} {
		_, _, err := New("exec", c.given)
		if err == nil {
			t.Errorf("%v: no error", c.given)
			continue
		}
		if err.Error() != c.want || !usererr.Is(err) {
			t.Errorf("%v:\n got %q (user error: %v)\nwant %q", c.given, err, usererr.Is(err), c.want)
		}
	}
}

func TestExecSplitWords(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
		err  string
	}{
		{"python3  unlearn.py\t{model} {out}", []string{"python3", "unlearn.py", "{model}", "{out}"}, ""},
		{`sh -c 'cp "$A" {out}; echo a\ b'`, []string{"sh", "-c", `cp "$A" {out}; echo a\ b`}, ""},
		{`a "b \"c\" \$d \x" e\ f ''`, []string{"a", `b "c" $d \x`, "e f", ""}, ""},
		{`x"y"'z'`, []string{"xyz"}, ""},
		{"", nil, ""},
		{`a "b`, nil, `unterminated " at character 3`},
		{`a \`, nil, `a lone \ ends the command line`},
	} {
		got, err := splitWords(c.line)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%q: error %v, want %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: got %q, %v; want %q", c.line, got, err, c.want)
		}
	}
}

// TestExecFinetune runs the example program of examples/exec-finetune as
// a method: it fine-tunes the original on the retain set, deterministically
// from the member's seed, reading the data that the first member wrote
// once into the cache.
func TestExecFinetune(t *testing.T) {
	f := execFixtureFor(t)
	bin := filepath.Join(t.TempDir(), "exec-finetune")
	build := exec.Command("go", "build", "-o", bin, "unlearnbench/examples/exec-finetune")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the example: %v\n%s", err, out)
	}
	cache := t.TempDir()
	m := newExec(t, map[string]any{"command": bin + " -epochs 1 -lr 0.05 -batch {batch_size}", "timeout": 120})
	origDigest, err := f.original.Digest()
	if err != nil {
		t.Fatal(err)
	}
	digest := func(seed uint64, u *execMethod) string {
		t.Helper()
		got, err := u.Unlearn(context.Background(), f.inputs(seed, cache))
		if err != nil {
			t.Fatal(err)
		}
		d, err := got.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if seed == 1 {
			ev, err := nn.NewEvaluator(f.rt, got, 100)
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Close()
			after, err := ev.Evaluate(f.retain)
			if err != nil {
				t.Fatal(err)
			}
			ev0, err := nn.NewEvaluator(f.rt, f.original, 100)
			if err != nil {
				t.Fatal(err)
			}
			defer ev0.Close()
			before, err := ev0.Evaluate(f.retain)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("retain accuracy %.3f before, %.3f after", before.Accuracy, after.Accuracy)
			if after.Accuracy < before.Accuracy+0.2 {
				t.Errorf("retain accuracy %.3f after fine-tuning, %.3f before: want at least 0.2 more", after.Accuracy, before.Accuracy)
			}
		}
		return d
	}
	d1 := digest(1, m)
	dataDir := onlyDataDir(t, cache)
	first, err := os.Stat(filepath.Join(dataDir, "retain_x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if d := digest(1, m); d != d1 {
		t.Errorf("seed 1 twice: models %s and %s differ", d1[:12], d[:12])
	}
	// A new exec value, as a rerun of the population makes, finds the
	// data folder by its digest and writes nothing.
	if d := digest(2, newExec(t, map[string]any{"command": m.line})); d == d1 {
		t.Errorf("seeds 1 and 2 gave the same model")
	}
	if onlyDataDir(t, cache) != dataDir {
		t.Fatal("data folder changed")
	}
	again, err := os.Stat(filepath.Join(dataDir, "retain_x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(first, again) {
		t.Errorf("retain_x.npy was rewritten by a later member")
	}
	if d1 == origDigest {
		t.Errorf("the unlearned model is the original")
	}
	if d, _ := f.original.Digest(); d != origDigest {
		t.Errorf("the original model was modified")
	}
}

// onlyDataDir returns the one data folder under cache, failing if there
// are others or leftovers of an interrupted write.
func onlyDataDir(t *testing.T, cache string) string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(cache, "exec"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("cache holds %v, want one data folder", names)
	}
	return filepath.Join(cache, "exec", entries[0].Name())
}

// TestExecVariables checks that every environment variable and its
// placeholder have the same, documented value, and that the files they
// name are what the inputs hold.
func TestExecVariables(t *testing.T) {
	f := execFixtureFor(t)
	dump := t.TempDir()
	var echo []string
	for _, v := range ExecVars {
		echo = append(echo, fmt.Sprintf(`echo "%s=${%s}" >> %s/env; echo "%s={%s}" >> %s/placeholders`, v.Env, v.Env, dump, v.Env, v.Placeholder, dump))
	}
	echo = append(echo, `echo "$OMP_NUM_THREADS $MKL_NUM_THREADS" > `+dump+`/threads`)
	// A thread count the user set is kept; the others are set.
	t.Setenv("OMP_NUM_THREADS", "")
	os.Unsetenv("OMP_NUM_THREADS")
	t.Setenv("MKL_NUM_THREADS", "5")
	script := strings.Join(echo, "; ") + `; cp "$UNLEARNBENCH_MODEL" "$UNLEARNBENCH_OUT"; test -d "$UNLEARNBENCH_WORKDIR"`
	m := newExec(t, map[string]any{"command": "sh -c '" + script + "'", "threads": 2})
	in := f.inputs(7, "")
	in.SplitDir = t.TempDir()
	got, err := m.Unlearn(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustDigest(t, got), mustDigest(t, f.original); a != b {
		t.Errorf("the copied original has digest %s, the original %s", a[:12], b[:12])
	}
	envB, err := os.ReadFile(filepath.Join(dump, "env"))
	if err != nil {
		t.Fatal(err)
	}
	phB, err := os.ReadFile(filepath.Join(dump, "placeholders"))
	if err != nil {
		t.Fatal(err)
	}
	if string(envB) != string(phB) {
		t.Errorf("environment:\n%s\nplaceholders:\n%s", envB, phB)
	}
	if b, err := os.ReadFile(filepath.Join(dump, "threads")); err != nil || string(b) != "2 5\n" {
		t.Errorf("OMP_NUM_THREADS and MKL_NUM_THREADS: %q, %v; want 2 (from threads) and 5 (the user's)", b, err)
	}
	vals := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(envB)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		vals[k] = v
	}
	for k, want := range map[string]string{
		"UNLEARNBENCH_SEED": "7", "UNLEARNBENCH_CLASSES": "10", "UNLEARNBENCH_INPUT_SHAPE": "1,28,28",
		"UNLEARNBENCH_BATCH_SIZE": "50", "UNLEARNBENCH_EPOCHS": "3", "UNLEARNBENCH_DEVICE": "cpu",
		"UNLEARNBENCH_SPLIT": in.SplitDir, "UNLEARNBENCH_THREADS": "2",
	} {
		if vals[k] != want {
			t.Errorf("%s = %q, want %q", k, vals[k], want)
		}
	}
	if _, err := os.Stat(vals["UNLEARNBENCH_WORKDIR"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the member's work folder %s is still there (%v)", vals["UNLEARNBENCH_WORKDIR"], err)
	}
	for _, s := range []struct {
		name string
		d    *nn.Data
	}{{"RETAIN", f.retain}, {"FORGET", f.forget}, {"VALIDATION", f.validation}} {
		x := readNPY(t, vals["UNLEARNBENCH_"+s.name+"_X"])
		y := readNPY(t, vals["UNLEARNBENCH_"+s.name+"_Y"])
		xs, err := x.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		ys, err := y.Ints()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(x.Shape, []int{s.d.Len(), 1, 28, 28}) || x.Kind() != "float32" || y.Kind() != "int64" || !slices.Equal(xs, s.d.X) || !slices.Equal(ys, s.d.Y) {
			t.Errorf("%s: x %s %s, y %s %s: not the set's images and labels", s.name, x.Kind(), x.ShapeString(), y.Kind(), y.ShapeString())
		}
	}
	data := vals["UNLEARNBENCH_DATA"]
	// Read only (the mode, since root, which CI may be, writes anyway).
	if st, err := os.Stat(vals["UNLEARNBENCH_RETAIN_X"]); err != nil {
		t.Error(err)
	} else if st.Mode().Perm() != 0o444 {
		t.Errorf("the shared data files have mode %v, want read only", st.Mode())
	}
	if filepath.Dir(vals["UNLEARNBENCH_MODEL"]) != data {
		t.Errorf("model %s is not in the data folder %s", vals["UNLEARNBENCH_MODEL"], data)
	}
	// Without a cache the data folder is temporary: Close removes it.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data folder %s left after Close (%v)", data, err)
	}
}

func mustDigest(t *testing.T, m *nn.Model) string {
	t.Helper()
	d, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestExecConcurrentMembers runs members of two exec values at once on an
// empty cache: each writes the data folder, one rename wins, and every
// member reads complete files.
func TestExecConcurrentMembers(t *testing.T) {
	f := execFixtureFor(t)
	cache := t.TempDir()
	cmd := map[string]any{"command": `sh -c 'cmp -s {model} {data}/model.onnx && test -s {retain_x} && cp {model} {out}'`}
	a, b := newExec(t, cmd), newExec(t, cmd)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		u := a
		if i%2 == 1 {
			u = b
		}
		wg.Go(func() {
			_, errs[i] = u.Unlearn(context.Background(), f.inputs(uint64(i), cache))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	onlyDataDir(t, cache)
}

// TestExecFailures: each way a program can fail fails its member with a
// one-line error naming the member's seed and the command.
func TestExecFailures(t *testing.T) {
	f := execFixtureFor(t)
	dir := t.TempDir()
	save := func(name string, m *nn.Model) string {
		p := filepath.Join(dir, name)
		if err := m.Save(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small := save("small.onnx", nn.MLP([]int64{1, 14, 14}, []int64{8}, 10, 1))
	five := save("five.onnx", nn.MLP([]int64{1, 28, 28}, []int64{8}, 5, 1))
	for _, c := range []struct {
		name    string
		params  map[string]any
		want    string // the whole error, or its start when prefix
		prefix  bool
		contain string
	}{
		{name: "exit", params: map[string]any{"command": `sh -c 'echo starting >&2; echo "no such file: weights.pt" >&2; exit 3'`},
			want: `member seed 3: command "sh -c 'echo starting >&2; echo \"no such file: weights.pt\" >&2; exit 3'": exit status 3; stderr: starting | no such file: weights.pt`},
		{name: "last lines", params: map[string]any{"command": `sh -c 'for i in 1 2 3 4; do echo line$i >&2; done; exit 1'`, "stderr_lines": 2},
			want: `member seed 3: command "sh -c 'for i in 1 2 3 4; do echo line$i >&2; done; exit 1'": exit status 1; stderr: line3 | line4`},
		{name: "timeout", params: map[string]any{"command": `sh -c 'echo working >&2; sleep 30'`, "timeout": 2.0},
			want: `member seed 3: command "sh -c 'echo working >&2; sleep 30'": timed out after 2s, its process group killed; stderr: working: context deadline exceeded`},
		{name: "no model", params: map[string]any{"command": "true"},
			want: `member seed 3: command "true": exited 0 but wrote no model to UNLEARNBENCH_OUT (`, prefix: true},
		{name: "not onnx", params: map[string]any{"command": `sh -c 'echo not a model > {out}'`},
			want: `member seed 3: command "sh -c 'echo not a model > {out}'": the model it wrote does not import: ONNX model `, prefix: true},
		{name: "input shape", params: map[string]any{"command": "cp " + small + " {out}"},
			want: `member seed 3: command "cp ` + small + ` {out}": the model it wrote takes input [1 14 14], the original [1 28 28] (per example, without the batch axis)`},
		{name: "classes", params: map[string]any{"command": "sh -c 'echo using 5 classes >&2; cp " + five + " {out}'"},
			want: `member seed 3: command "sh -c 'echo using 5 classes >&2; cp ` + five + ` {out}'": the model it wrote has 5 classes, the original 10; stderr: using 5 classes`},
		{name: "no program", params: map[string]any{"command": "no-such-unlearner-program {model}"},
			want: `member seed 3: command "no-such-unlearner-program {model}": exec: "no-such-unlearner-program": executable file not found in $PATH`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := newExec(t, c.params).Unlearn(context.Background(), f.inputs(3, ""))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error of more than one line: %q", msg)
			}
			if ok := msg == c.want || c.prefix && strings.HasPrefix(msg, c.want); !ok {
				t.Errorf("error\n got %q\nwant %q", msg, c.want)
			}
			if !usererr.Is(err) {
				t.Errorf("not a user error: %v", err)
			}
		})
	}
}

// TestExecKillsProcessGroup: a timeout and a cancelled context kill the
// program's children too, not only the program.
func TestExecKillsProcessGroup(t *testing.T) {
	f := execFixtureFor(t)
	for _, c := range []struct {
		name    string
		timeout float64
		cancel  bool
	}{{"timeout", 0.5, false}, {"cancel", 60, true}} {
		t.Run(c.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			m := newExec(t, map[string]any{"command": `sh -c 'sleep 60 & echo $! > ` + pidFile + `; wait'`, "timeout": c.timeout})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.cancel {
				go func() {
					waitForFile(pidFile)
					cancel()
				}()
			}
			_, err := m.Unlearn(ctx, f.inputs(4, ""))
			if c.cancel && !errors.Is(err, context.Canceled) || !c.cancel && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error %v", err)
			}
			if c.cancel && usererr.Is(err) {
				t.Errorf("a cancellation reported as the user's error: %v", err)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			if !processGone(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("the program's child %d survived", pid)
			}
		})
	}
}

func waitForFile(p string) {
	for range 500 {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processGone waits up to 5 s for pid to be dead or a zombie.
func processGone(pid int) bool {
	for range 500 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		// The state follows the command name in parentheses.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestExecLogDir: with log_dir a member's stdout and stderr are kept;
// dir is the command's working directory.
func TestExecLogDir(t *testing.T) {
	f := execFixtureFor(t)
	logs := filepath.Join(t.TempDir(), "logs")
	wd := t.TempDir()
	m := newExec(t, map[string]any{"command": `sh -c 'echo to stdout; echo to stderr >&2; pwd > here; cp {model} {out}'`, "log_dir": logs, "dir": wd})
	if _, err := m.Unlearn(context.Background(), f.inputs(5, "")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(wd, "here")); err != nil || strings.TrimSpace(string(b)) != wd {
		t.Errorf("working directory %q, %v; want %s", b, err, wd)
	}
	for file, want := range map[string]string{"seed-5.stdout": "to stdout\n", "seed-5.stderr": "to stderr\n"} {
		b, err := os.ReadFile(filepath.Join(logs, file))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", file, b, err, want)
		}
	}
}

// TestExecREADME: the manual's table (docs/commands/exec.md) documents every
// variable as ExecVars does.
func TestExecREADME(t *testing.T) {
	b, err := os.ReadFile("../docs/commands/exec.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ExecVars {
		if row := fmt.Sprintf("\n| `%s` | `{%s}` | %s |\n", v.Env, v.Placeholder, v.Meaning); !strings.Contains(string(b), row) {
			t.Errorf("docs/commands/exec.md has no row %s", strings.TrimSpace(row))
		}
	}
}

func readNPY(t *testing.T, p string) *arrays.Array {
	t.Helper()
	a, err := arrays.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestExecRelativeCache: a cache named relative to unlearnbench's
// directory still gives the program paths it can open from its own.
func TestExecRelativeCache(t *testing.T) {
	f := execFixtureFor(t)
	t.Chdir(t.TempDir())
	m := newExec(t, map[string]any{"command": `sh -c 'cmp {model} "$UNLEARNBENCH_DATA/model.onnx" && cp {model} {out}'`, "dir": t.TempDir()})
	if _, err := m.Unlearn(context.Background(), f.inputs(6, "cache")); err != nil {
		t.Fatal(err)
	}
	onlyDataDir(t, "cache")
}

// TestExecREADMEPython: the Python skeletons of docs/commands/exec.md are
// valid Python (their libraries are not installed here, so they are parsed,
// not run).
func TestExecREADMEPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	b, err := os.ReadFile("../docs/commands/exec.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(b)
	blocks := 0
	for _, part := range strings.Split(section, "```python\n")[1:] {
		code, _, _ := strings.Cut(part, "```")
		cmd := exec.Command(py, "-c", "import ast, sys; ast.parse(sys.stdin.read())")
		cmd.Stdin = strings.NewReader(code)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("python block %d: %v\n%s", blocks+1, err, out)
		}
		blocks++
	}
	if blocks < 2 {
		t.Errorf("%d python blocks in the exec methods section, want the skeleton and the plain-weights variant", blocks)
	}
}

// TestExecPathWithSpaces: a placeholder stays within its word, so a path
// with spaces reaches the program as one argument, alone or within a
// longer word.
func TestExecPathWithSpaces(t *testing.T) {
	f := execFixtureFor(t)
	cache := filepath.Join(t.TempDir(), "my cache")
	for _, line := range []string{
		`sh -c 'test $# = 1 && test "$1" = "$UNLEARNBENCH_MODEL" && cp "$1" "$UNLEARNBENCH_OUT"' sh {model}`,
		`sh -c 'test $# = 1 && test "$1" = "--model=$UNLEARNBENCH_MODEL" && cp "$UNLEARNBENCH_MODEL" {out}' sh --model={model}`,
	} {
		m := newExec(t, map[string]any{"command": line})
		if _, err := m.Unlearn(context.Background(), f.inputs(8, cache)); err != nil {
			t.Error(err)
		}
	}
}

// TestExecStaleTemps: the temporary folder a killed writer left in the
// cache is removed by the next writer once it is old; a young one, which
// another process may be writing, is left alone.
func TestExecStaleTemps(t *testing.T) {
	f := execFixtureFor(t)
	cache := t.TempDir()
	root := filepath.Join(cache, "exec")
	stale, young := filepath.Join(root, ".tmp-0123abcd-1"), filepath.Join(root, ".tmp-0123abcd-2")
	for _, d := range []string{stale, young} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "retain_x.npy"), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	m := newExec(t, map[string]any{"command": "cp {model} {out}"})
	if _, err := m.Unlearn(context.Background(), f.inputs(9, cache)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale folder is still there (%v)", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("the young folder was removed: %v", err)
	}
}

// TestExecThroughNew: the method as New returns it, behind the checks
// every method shares, names itself once in front of the member's error.
func TestExecThroughNew(t *testing.T) {
	f := execFixtureFor(t)
	u, _, err := New("exec", map[string]any{"command": "sh -c 'echo no GPU >&2; exit 4'"})
	if err != nil {
		t.Fatal(err)
	}
	// A cache: the wrapper has no Close to remove a temporary data folder.
	_, err = u.Unlearn(context.Background(), f.inputs(11, t.TempDir()))
	want := `method exec: member seed 11: command "sh -c 'echo no GPU >&2; exit 4'": exit status 4; stderr: no GPU`
	if err == nil || err.Error() != want || !usererr.Is(err) {
		t.Errorf("error %v, want the user error %q", err, want)
	}
}
