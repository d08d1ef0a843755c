package unlearners

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/population"
	"unlearnbench/python"
	"unlearnbench/scoring"
)

// needTorch skips when Debian's interpreter has no torch (make setup
// installs python3-torch).
func needTorch(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(python.Interpreter, "-c", "import torch, numpy").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import torch (make setup installs python3-torch): %v: %s", python.Interpreter, err, out)
	}
}

// TestExecWorkerProtocolFailures: each way a worker can break the
// protocol fails that member only, with one line naming its seed, the
// command and the error; the next member is served (by a new process
// where the old one had to be killed) and is correct.
func TestExecWorkerProtocolFailures(t *testing.T) {
	f := execFixtureFor(t)
	dir := t.TempDir()
	small := filepath.Join(dir, "small.onnx")
	if err := nn.MLP([]int64{1, 14, 14}, []int64{8}, 10, 1).Save(small); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode, want string
		starts     int // processes started for the two members
	}{
		{"garbage", `worker process 1: protocol error: want {"member": "1-3", "ok": ...} on stdout, got "\"not an answer\""; stderr: misbehaving: garbage`, 2},
		{"other-member", `worker process 1: protocol error: answered for member "someone-else", was given "1-3"; stderr: misbehaving: other-member`, 2},
		{"exit", `worker process 1: it exited (exit status 4); stderr: misbehaving: exit`, 2},
		{"hang", `worker process 1: no answer within the timeout of 1.5s; its process group killed; stderr: misbehaving: hang`, 2},
		{"shape", `the model it wrote takes input [1 14 14], the original [1 28 28] (per example, without the batch axis)`, 1},
		{"fail", `worker process 1: the worker reports: ValueError: lr must be positive; stderr: misbehaving: fail`, 1},
	} {
		t.Run(c.mode, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "marker")
			line := fmt.Sprintf("python3 testdata/fake_worker.py %s %s %s", c.mode, marker, small)
			m := newExec(t, map[string]any{"command": line, "worker": true, "timeout": 1.5})
			_, err := m.Unlearn(context.Background(), f.inputs(3, ""))
			if err == nil {
				t.Fatal("the misbehaving member succeeded")
			}
			want := fmt.Sprintf("member seed 3: command %q: %s", line, c.want)
			if err.Error() != want {
				t.Errorf("error\n got %q\nwant %q", err, want)
			}
			var ef *ExecFailure
			if !errors.As(err, &ef) || ef.Seed != 3 || ef.Command != line || !usererr.Is(err) {
				t.Errorf("want a user error holding an ExecFailure for seed 3, got %#v", err)
			}
			got, err := m.Unlearn(context.Background(), f.inputs(4, ""))
			if err != nil {
				t.Fatalf("the next member: %v", err)
			}
			if !sameWeights(got, f.original) {
				t.Error("the next member's model is not the copy the worker wrote")
			}
			if n := len(WorkerStartups(m)); n != c.starts {
				t.Errorf("%d worker processes started, want %d", n, c.starts)
			}
		})
	}
}

// TestExecWorkerCommandRefusesMemberPlaceholders: a worker's command line
// is given once for many members.
func TestExecWorkerCommandRefusesMemberPlaceholders(t *testing.T) {
	_, _, err := New("exec", map[string]any{"command": "python3 w.py --seed {seed}", "worker": true})
	want := `method exec: parameter command = "python3 w.py --seed {seed}": with worker: true the command starts once for many members, so it cannot use {seed} (each member's seed comes in its request: UNLEARNBENCH_SEED)`
	if err == nil || err.Error() != want || !usererr.Is(err) {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// TestExecWorkerNoTorch: an interpreter without torch fails the member
// with one line naming the interpreter.
func TestExecWorkerNoTorch(t *testing.T) {
	f := execFixtureFor(t)
	// -S leaves out site-packages, where Debian's torch and NumPy live.
	wrapper := filepath.Join(t.TempDir(), "python-without-site")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+python.Interpreter+" -S \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := newExec(t, map[string]any{"command": "python3 ../examples/pytorch/finetune.py", "worker": true, "python": wrapper})
	_, err := m.Unlearn(context.Background(), f.inputs(1, ""))
	if err == nil {
		t.Fatal("ran without torch")
	}
	msg := err.Error()
	want := "; stderr: unlearnbench: the interpreter " + python.Interpreter + " cannot import "
	if !strings.Contains(msg, want) || strings.Count(msg, " | ") > 0 || strings.Contains(msg, "\n") {
		t.Errorf("want one stderr line naming the interpreter (%q), got %q", want, msg)
	}
}

// pytorchPopulation computes n members of a population with Compute.
func computePopulation(t *testing.T, s *Shared, name, method string, params map[string]any, n, workers int) ([]*population.Member, Unlearner) {
	t.Helper()
	u, p, err := New(method, params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, ok := u.(*checked); ok {
			if m, ok := c.u.(*execMethod); ok {
				m.Close()
			}
		}
	})
	ps := &PopulationSpec{Name: name, Method: method, Params: p, Unlearner: u}
	d := openPop(t, t.TempDir(), ps, s)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if err := Compute(context.Background(), d, ps, s, idx, ComputeOptions{Workers: workers}); err != nil {
		t.Fatal(err)
	}
	ms, err := d.Members(n)
	if err != nil {
		t.Fatal(err)
	}
	return ms, u
}

func worldShared(t *testing.T) *Shared {
	w := getWorld(t)
	in := w.inputs(0)
	s := &Shared{Inputs: *in, Test: w.test, RunSeed: 3, Device: "cpu"}
	if err := s.Digests(); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExecWorkerPyTorchPopulation: the PyTorch finetune example in worker
// mode computes a population end to end, two processes serving four
// members, and a member computed by a worker that served others before it
// is the member a fresh process computes alone.
func TestExecWorkerPyTorchPopulation(t *testing.T) {
	needTorch(t)
	s := worldShared(t)
	cmd := "python3 ../examples/pytorch/finetune.py --epochs 1"
	ms, u := computePopulation(t, s, "pt", "exec", map[string]any{"command": cmd, "worker": true}, 4, 2)
	if n := len(WorkerStartups(u)); n != 2 {
		t.Errorf("%d worker processes for 2 population workers", n)
	}
	for _, m := range ms {
		if m.ForgetAcc < 0.5 || m.RetainAcc < 0.5 || m.TestAcc < 0.4 {
			t.Errorf("member %d: accuracies forget %.3f retain %.3f test %.3f: training broke the model", m.Index, m.ForgetAcc, m.RetainAcc, m.TestAcc)
		}
	}
	// The last member again, alone, per-member exec.
	last := ms[len(ms)-1]
	in := s.Inputs
	in.Seed = last.Seed
	alone := unlearn(t, "exec", map[string]any{"command": cmd}, &in)
	ev, err := nn.NewEvaluator(rt, alone, 512)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	lg, err := ev.Logits(s.Test)
	if err != nil {
		t.Fatal(err)
	}
	for i := range lg {
		if math.Float32bits(lg[i]) != math.Float32bits(last.Test[i]) {
			t.Fatalf("member %d (seed %d): the worker's model differs from a fresh process's at test logit %d: %g vs %g", last.Index, last.Seed, i, last.Test[i], lg[i])
		}
	}
}

// scoringPop turns members into scoring's forget-set confidences.
func scoringPop(ms []*population.Member, forget *nn.Data) *scoring.Population {
	p := &scoring.Population{N: len(ms), E: forget.Len()}
	for _, m := range ms {
		scratch := make([]float64, m.C)
		for e := 0; e < p.E; e++ {
			p.Conf = append(p.Conf, scoring.ConfidenceFloat32(m.Forget[e*m.C:(e+1)*m.C], int(forget.Y[e]), scratch))
		}
		p.RetainAcc = append(p.RetainAcc, m.RetainAcc)
		p.TestAcc = append(p.TestAcc, m.TestAcc)
	}
	return p
}

// welch is the two-sample t statistic of a and b (Welch's).
func welch(a, b []float64) float64 {
	mv := func(x []float64) (m, v float64) {
		for _, y := range x {
			m += y
		}
		m /= float64(len(x))
		for _, y := range x {
			v += (y - m) * (y - m)
		}
		return m, v / float64(len(x)-1)
	}
	ma, va := mv(a)
	mb, vb := mv(b)
	se := math.Sqrt(va/float64(len(a)) + vb/float64(len(b)))
	if se == 0 {
		if ma == mb {
			return 0
		}
		return math.Inf(1)
	}
	return (ma - mb) / se
}

// TestPyTorchFinetuneParity: the PyTorch finetune example and the built-in
// finetune at the same settings give populations that cannot be told
// apart: mean forget, retain and test accuracies within |t| < 3 (Welch),
// and F between them at least F between two draws of the built-in with
// different seeds, minus 0.1.
func TestPyTorchFinetuneParity(t *testing.T) {
	needTorch(t)
	s := worldShared(t)
	const n = 8
	goA, _ := computePopulation(t, s, "go-a", "finetune", map[string]any{"epochs": 1}, n, 2)
	goB, _ := computePopulation(t, s, "go-b", "finetune", map[string]any{"epochs": 1}, n, 2)
	pt, _ := computePopulation(t, s, "pt", "exec", map[string]any{"command": "python3 ../examples/pytorch/finetune.py --epochs 1", "worker": true}, n, 2)
	accs := func(ms []*population.Member, f func(*population.Member) float64) []float64 {
		var out []float64
		for _, m := range ms {
			out = append(out, f(m))
		}
		return out
	}
	for _, a := range []struct {
		name string
		f    func(*population.Member) float64
	}{{"forget", func(m *population.Member) float64 { return m.ForgetAcc }},
		{"retain", func(m *population.Member) float64 { return m.RetainAcc }},
		{"test", func(m *population.Member) float64 { return m.TestAcc }}} {
		tv := welch(accs(pt, a.f), accs(goA, a.f))
		t.Logf("%s accuracy: PyTorch %.4f, Go %.4f, t = %.2f", a.name, mean(accs(pt, a.f)), mean(accs(goA, a.f)), tv)
		if math.Abs(tv) >= 3 {
			t.Errorf("%s accuracy: PyTorch %.4f vs Go %.4f, t = %.2f", a.name, mean(accs(pt, a.f)), mean(accs(goA, a.f)), tv)
		}
	}
	w := getWorld(t)
	fOf := func(u, r []*population.Member) float64 {
		res, err := scoring.Score(scoringPop(u, w.forget), scoringPop(r, w.forget), scoring.Options{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		return res.F
	}
	fGo, fPT := fOf(goB, goA), fOf(pt, goA)
	t.Logf("F(Go draw B vs A) = %.4f, F(PyTorch vs Go A) = %.4f", fGo, fPT)
	if fPT < fGo-0.1 {
		t.Errorf("F between PyTorch and Go finetune %.4f, between two Go draws %.4f: more than 0.1 apart", fPT, fGo)
	}
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// TestExecFailureTyped: a per-member exec failure is an ExecFailure too,
// with the member's seed, the command, the reason and stderr's tail, and
// its message is the one-line error the per-member path always wrote.
func TestExecFailureTyped(t *testing.T) {
	f := execFixtureFor(t)
	line := `sh -c 'echo oops >&2; exit 3'`
	_, err := newExec(t, map[string]any{"command": line}).Unlearn(context.Background(), f.inputs(5, ""))
	var ef *ExecFailure
	if !errors.As(err, &ef) {
		t.Fatalf("want an ExecFailure, got %v", err)
	}
	want := `member seed 5: command "sh -c 'echo oops >&2; exit 3'": exit status 3; stderr: oops`
	if ef.Seed != 5 || ef.Command != line || ef.Reason != "exit status 3; stderr: oops" || ef.Stderr != "oops" || err.Error() != want || !usererr.Is(err) {
		t.Errorf("got %+v, message %q", ef, err)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("the cause (exit status 3) is not kept: %v", err)
	}
}

// TestExecWorkerClose: Close stops the idle workers, and the method serves
// again afterwards with a new one; concurrent members get one each.
func TestExecWorkerClose(t *testing.T) {
	f := execFixtureFor(t)
	line := "python3 testdata/fake_worker.py well-behaved " + filepath.Join(t.TempDir(), "marker")
	m := newExec(t, map[string]any{"command": line, "worker": true})
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			_, err := m.Unlearn(context.Background(), f.inputs(uint64(i), ""))
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	started := len(WorkerStartups(m))
	if started < 1 || started > 4 {
		t.Fatalf("%d workers for 4 members", started)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Unlearn(context.Background(), f.inputs(9, "")); err != nil {
		t.Fatalf("after Close: %v", err)
	}
	if n := len(WorkerStartups(m)); n != started+1 {
		t.Errorf("%d workers started in all, want the %d of before Close and one after", n, started)
	}
}

// TestExecWorkerPackageLoop: the Python package's worker loop keeps the
// program's prints off the protocol channel (they reach the member's
// stdout file), reports an exception as that member's failure with the
// traceback in its stderr, and serves the next member in the same process.
func TestExecWorkerPackageLoop(t *testing.T) {
	needTorch(t)
	f := execFixtureFor(t)
	logs := t.TempDir()
	m := newExec(t, map[string]any{"command": "python3 testdata/pkg_worker.py", "worker": true, "log_dir": logs})
	_, err := m.Unlearn(context.Background(), f.inputs(3, ""))
	want := `member seed 3: command "python3 testdata/pkg_worker.py": worker process 1: the worker reports: ValueError: seed 3 is refused; stderr: `
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "ValueError: seed 3 is refused") {
		t.Errorf("got %v\nwant %s...", err, want)
	}
	got, err := m.Unlearn(context.Background(), f.inputs(4, ""))
	if err != nil {
		t.Fatal(err)
	}
	if !sameWeights(got, f.original) {
		t.Error("the model written back is not the original's weights")
	}
	if n := len(WorkerStartups(m)); n != 1 {
		t.Errorf("%d processes for two members, want 1", n)
	}
	for name, want := range map[string]string{"seed-4.stdout": "hello from seed 4\n", "seed-3.stdout": "hello from seed 3\n"} {
		b, err := os.ReadFile(filepath.Join(logs, name))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q (%v), want %q", name, b, err, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(logs, "seed-3.stderr")); !strings.Contains(string(b), "Traceback") {
		t.Errorf("seed-3.stderr holds no traceback: %q", b)
	}
}
