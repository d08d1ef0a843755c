package unlearners

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
	"unlearnbench/python"
)

// The exec method runs an unlearning method written in any language as a
// command line, once per population member. What the program reads and
// writes is described by ExecVars (environment variables and command-line
// placeholders); docs/commands/exec.md shows a PyTorch
// skeleton.

// ExecVar is one input or output of an exec program: an environment
// variable and the {placeholder} of the command line with the same value.
type ExecVar struct {
	Env         string // UNLEARNBENCH_MODEL
	Placeholder string // model, written {model}
	Meaning     string
}

// ExecVars lists what an exec program is given, in the order docs/commands/exec.md's
// table shows them.
var ExecVars = []ExecVar{
	{"UNLEARNBENCH_MODEL", "model", "the original model, ONNX (read only)"},
	{"UNLEARNBENCH_OUT", "out", "where the program writes the unlearned model, ONNX (the same input and classes as the original)"},
	{"UNLEARNBENCH_SEED", "seed", "the member's seed, a decimal integer below 2^64: seed every random choice from it"},
	{"UNLEARNBENCH_RETAIN_X", "retain_x", "the retain set's images, .npy float32 [N, C, H, W], as the model takes them"},
	{"UNLEARNBENCH_RETAIN_Y", "retain_y", "the retain set's labels, .npy int64 [N]"},
	{"UNLEARNBENCH_FORGET_X", "forget_x", "the forget set's images, .npy float32 [N, C, H, W]"},
	{"UNLEARNBENCH_FORGET_Y", "forget_y", "the forget set's labels, .npy int64 [N]"},
	{"UNLEARNBENCH_VALIDATION_X", "validation_x", "the validation set's images, .npy float32 [N, C, H, W] (N may be 0)"},
	{"UNLEARNBENCH_VALIDATION_Y", "validation_y", "the validation set's labels, .npy int64 [N]"},
	{"UNLEARNBENCH_DATA", "data", "the folder of the files above (shared by every member: read only)"},
	{"UNLEARNBENCH_SPLIT", "split", "the split's folder from `unlearnbench split` (retain.npy, forget.npy, validation.npy, test.npy: int64 indices into the data set, and split.json); empty when the split is not on disk"},
	{"UNLEARNBENCH_WORKDIR", "workdir", "a scratch folder of this member's own, removed when it ends"},
	{"UNLEARNBENCH_CLASSES", "classes", "the number of classes"},
	{"UNLEARNBENCH_INPUT_SHAPE", "input_shape", "one example's shape, C,H,W (for example 1,28,28)"},
	{"UNLEARNBENCH_BATCH_SIZE", "batch_size", "the batch size of the original model's training recipe (0 when not known)"},
	{"UNLEARNBENCH_EPOCHS", "epochs", "the epochs of the original model's training recipe (0 when not known)"},
	{"UNLEARNBENCH_DEVICE", "device", "the device unlearnbench runs on: cpu or cuda:N"},
	{"UNLEARNBENCH_THREADS", "threads", "the CPU threads the member may use (the parameter threads; OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS are set to it too unless already set)"},
}

func init() {
	Register(&Spec{
		Name:    "exec",
		Summary: "a method in any language: runs a command once per member, which reads the original model (ONNX) and the data (.npy) that UNLEARNBENCH_* variables name and writes the unlearned model (ONNX) to UNLEARNBENCH_OUT",
		Source:  "ours (docs/commands/exec.md)",
		Params: []Param{
			{Key: "command", Default: "", Meaning: "the program and its arguments, split into words as a shell does (quotes, backslashes) but run without a shell, {placeholders} replaced in each word; for a shell write sh -c '...'", Check: checkCommand},
			{Key: "timeout", Default: 3600.0, Meaning: "seconds a member may run before its process group is killed and the member fails", Check: positiveFloat},
			{Key: "dir", Default: "", Meaning: "the command's working directory; empty: unlearnbench's"},
			{Key: "log_dir", Default: "", Meaning: "a folder where each member's output is kept, as seed-N.stdout and seed-N.stderr; empty: stdout is discarded and stderr only quoted in errors"},
			{Key: "threads", Default: 1, Meaning: "CPU threads per member (UNLEARNBENCH_THREADS, and OMP_NUM_THREADS etc. unless set): members run in parallel, one per core, so more would oversubscribe the cores", Check: intIn(1, 1024)},
			{Key: "stderr_lines", Default: 10, Meaning: "how many of stderr's last lines a failed member's error quotes", Check: intIn(1, 1000)},
			{Key: "worker", Default: false, Meaning: "the program serves many members, one after another, over the worker protocol (one JSON line per member on stdin, one back on stdout): one process per population worker, so its start-up (importing torch) is paid once per process and left out of the members' times; python/unlearnbench implements the protocol"},
			{Key: "python", Default: python.Interpreter, Meaning: "the interpreter that runs a command whose program is python or python3 (Debian's, where python3-torch installs; the python3 first on PATH may be another)"},
		},
		Build: buildExec,
	})
}

// maxTimeout keeps a timeout within time.Duration (about 292 years).
const maxTimeout = 1e9

func positiveFloat(v any) error {
	if x := v.(float64); !(x > 0) || x > maxTimeout {
		return fmt.Errorf("want a number of seconds in (0, %g]", float64(maxTimeout))
	}
	return nil
}

func intIn(lo, hi int) func(any) error {
	return func(v any) error {
		if x := v.(int); x < lo || x > hi {
			return fmt.Errorf("want [%d, %d]", lo, hi)
		}
		return nil
	}
}

// execMethod is a configured exec method. One value serves a whole
// population: it writes the data once and runs one process per member.
type execMethod struct {
	line        string
	argv        []string
	timeout     time.Duration
	dir, logDir string
	tailLines   int
	threads     int

	// Worker mode and Python (exec_worker.go).
	worker bool
	python string
	pool   *workerPool
	pyOnce sync.Once
	pyDir  string
	pyErr  error

	mu       sync.Mutex
	prepared map[execKey]*execData
	temps    []string // data folders made without a cache, removed by Close
}

func buildExec(p Params) (Unlearner, error) {
	line := p.String("command")
	if strings.TrimSpace(line) == "" {
		return nil, usererr.Errorf("method exec: parameter command is required: the program that unlearns, such as python3 unlearn.py {model} {out}")
	}
	argv, err := parseCommand(line)
	if err != nil {
		return nil, usererr.Errorf("method exec: parameter command = %q: %v", line, err)
	}
	// Resolve checks given values, not defaults: check again here so a
	// Params built by hand cannot carry a bad timeout either.
	if err := positiveFloat(p.Float("timeout")); err != nil {
		return nil, usererr.Errorf("method exec: parameter timeout = %v: %v", p.Float("timeout"), err)
	}
	if p.Bool("worker") {
		if err := checkWorkerCommand(argv); err != nil {
			return nil, usererr.Errorf("method exec: parameter command = %q: %v", line, err)
		}
	}
	// A missing working directory made the program's start fail with a
	// message naming the program, not the dir: refused here, naming it.
	if dir := p.String("dir"); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, usererr.Errorf("method exec: parameter dir = %q: no such directory", dir)
		}
	}
	return &execMethod{
		worker:    p.Bool("worker"),
		python:    p.String("python"),
		pool:      newWorkerPool(),
		line:      line,
		argv:      argv,
		timeout:   time.Duration(p.Float("timeout") * float64(time.Second)),
		dir:       p.String("dir"),
		logDir:    p.String("log_dir"),
		tailLines: p.Int("stderr_lines"),
		threads:   p.Int("threads"),
		prepared:  map[execKey]*execData{},
	}, nil
}

// Close removes the data folders written without a cache directory.
// Folders under a cache stay for later runs.
func (m *execMethod) Close() error {
	m.pool.close()
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, d := range m.temps {
		errs = append(errs, os.RemoveAll(d))
	}
	m.temps = nil
	m.prepared = map[execKey]*execData{}
	return errors.Join(errs...)
}

// Unlearn runs the command for the member of in.Seed and returns the model
// it wrote.
func (m *execMethod) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	// New's wrapper puts "method exec: " in front.
	prefix := fmt.Sprintf("member seed %d: command %q", in.Seed, m.line)
	if in.Original == nil {
		return nil, fmt.Errorf("%s: no original model", prefix)
	}
	removeDeadTemps()
	data, err := m.data(in)
	if err != nil {
		return nil, fmt.Errorf("%s: writing its inputs: %w", prefix, err)
	}
	work, err := os.MkdirTemp("", ownedPattern("unlearnbench-exec-member-"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	defer os.RemoveAll(work)
	// The program may run in another directory (dir): give it absolute
	// paths.
	for _, p := range []*string{&data, &work} {
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, fmt.Errorf("%s: %w", prefix, err)
		}
	}
	out := filepath.Join(work, "unlearned.onnx")

	vals := execValues(in, data, work, out)
	vals["threads"] = strconv.Itoa(m.threads)
	argv := make([]string, len(m.argv))
	for i, w := range m.argv {
		argv[i] = placeholderRE.ReplaceAllStringFunc(w, func(s string) string { return vals[s[1:len(s)-1]] })
	}
	argv[0] = m.program(argv[0])
	env := os.Environ()
	for _, v := range ExecVars {
		env = append(env, v.Env+"="+vals[v.Placeholder])
	}
	// The numerical libraries of Python and C programs otherwise start a
	// thread per core in every member, and parallel members fight for
	// the cores.
	for _, name := range []string{"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"} {
		if os.Getenv(name) == "" {
			env = append(env, name+"="+vals["threads"])
		}
	}
	// A program built on unlearnbench's nn package loads the same ONNX
	// Runtime library as this process unless told otherwise.
	if os.Getenv(ort.EnvLib) == "" && in.Runtime != nil {
		env = append(env, ort.EnvLib+"="+in.Runtime.Library())
	}

	if env, err = m.pythonEnv(in, env); err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}

	stderrPath := filepath.Join(work, "stderr")
	stdoutPath := os.DevNull
	if m.logDir != "" {
		if err := os.MkdirAll(m.logDir, 0o755); err != nil {
			return nil, usererr.Wrap(fmt.Errorf("%s: log_dir: %w", prefix, err))
		}
		base := filepath.Join(m.logDir, fmt.Sprintf("seed-%d", in.Seed))
		stderrPath, stdoutPath = base+".stderr", base+".stdout"
	}
	stderr, err := os.Create(stderrPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	defer stderr.Close()
	stdout, err := os.OpenFile(stdoutPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	defer stdout.Close()

	if m.worker {
		return m.workerMember(ctx, in, argv, env, vals, stdoutPath, stderrPath)
	}

	runCtx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = m.dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	ownProcessGroup(cmd)
	// Files, not pipes, take the output, so Wait returns when the program
	// exits even if a child it left behind holds them open.
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	endGroup(cmd)
	tail := func() string { return stderrTail(stderrPath, m.tailLines) }
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s: %w", prefix, ctx.Err())
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		return nil, m.execFailed(in.Seed, prefix, fmt.Errorf("%s: timed out after %v, its process group killed%s: %w", prefix, m.timeout, tail(), runCtx.Err()), tail())
	case runErr != nil:
		return nil, m.execFailed(in.Seed, prefix, fmt.Errorf("%s: %w%s", prefix, runErr, tail()), tail())
	}
	if _, err := os.Stat(out); err != nil {
		return nil, m.execFailed(in.Seed, prefix, fmt.Errorf("%s: exited 0 but wrote no model to UNLEARNBENCH_OUT (%s)%s: %w", prefix, out, tail(), err), tail())
	}
	got, err := nn.Import(out)
	if err != nil {
		return nil, m.execFailed(in.Seed, prefix, fmt.Errorf("%s: the model it wrote does not import: %w%s", prefix, err, tail()), tail())
	}
	if !slices.Equal(got.Shape, in.Original.Shape) {
		return nil, m.execFailed(in.Seed, prefix, fmt.Errorf("%s: the model it wrote takes input %v, the original %v (per example, without the batch axis)%s", prefix, got.Shape, in.Original.Shape, tail()), tail())
	}
	if got.Classes != in.Original.Classes {
		return nil, m.execFailed(in.Seed, prefix, fmt.Errorf("%s: the model it wrote has %d classes, the original %d%s", prefix, got.Classes, in.Original.Classes, tail()), tail())
	}
	if err := finiteWeights(got); err != nil {
		return nil, m.execFailed(in.Seed, prefix, fmt.Errorf("%s: the model it wrote %v%s", prefix, err, tail()), tail())
	}
	return got, nil
}

// finiteWeights refuses a model with a NaN or infinite weight: its
// logits would be NaN, and a member written with them would fail every
// later scoring of the cache instead of this member now.
func finiteWeights(m *nn.Model) error {
	names := slices.Sorted(maps.Keys(m.Graph.Inits))
	for _, name := range names {
		t := m.Graph.Inits[name]
		for i, v := range t.F32 {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("has weight %s[%d] = %v (NaN or infinite weights)", name, i, v)
			}
		}
	}
	return nil
}

// memberFailure is exec's failure of the member of seed for a reason
// found after Unlearn returned (its logits are not finite), an
// ExecFailure naming seed and command like the others.
func (m *execMethod) memberFailure(seed uint64, reason string) error {
	return usererr.Wrap(&ExecFailure{Seed: seed, Command: m.line, Reason: reason})
}

// execValues are the values of ExecVars for one member.
func execValues(in *Inputs, data, work, out string) map[string]string {
	v := map[string]string{}
	for k, f := range execDataFiles {
		v[k] = filepath.Join(data, f)
	}
	shape := make([]string, len(in.Original.Shape))
	for i, s := range in.Original.Shape {
		shape[i] = strconv.FormatInt(s, 10)
	}
	dev := "cpu"
	if in.Runtime != nil {
		dev = in.Runtime.Device().String()
	}
	split := ""
	if in.SplitDir != "" {
		if abs, err := filepath.Abs(in.SplitDir); err == nil {
			split = abs
		}
	}
	v["out"] = out
	v["seed"] = strconv.FormatUint(in.Seed, 10)
	v["data"] = data
	v["split"] = split
	v["workdir"] = work
	v["classes"] = strconv.Itoa(in.Original.Classes)
	v["input_shape"] = strings.Join(shape, ",")
	v["batch_size"] = strconv.Itoa(in.Recipe.BatchSize)
	v["epochs"] = strconv.Itoa(in.Recipe.Epochs)
	v["device"] = dev
	return v
}

// stderrTail returns "; stderr: " and the last n non-blank lines of the
// file at path joined by " | " (one line, at most about 2000 bytes), or ""
// when it has none.
func stderrTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		if _, err := f.Seek(st.Size()-window, io.SeekStart); err != nil {
			return ""
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.Map(func(r rune) rune {
			if r < ' ' && r != '\t' {
				return -1
			}
			return r
		}, l)
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	lines = lines[max(0, len(lines)-n):]
	s := strings.Join(lines, " | ")
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	if s == "" {
		return ""
	}
	return "; stderr: " + s
}
