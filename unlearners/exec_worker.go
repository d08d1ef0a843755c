package unlearners

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/population"
	"unlearnbench/python"
)

// Worker mode (exec's worker: true): one process per population worker
// serves many members over the protocol of exec_protocol.go, so that a
// program whose start-up is expensive (importing torch takes seconds, CUDA
// initialisation more) pays it once per process, not once per member.

// ExecFailure is an exec member that failed: its seed, the command, what
// went wrong and the last lines of its stderr. A run collects these to
// report failed members and go on with the others.
type ExecFailure struct {
	Seed    uint64
	Command string
	Reason  string
	Stderr  string // the tail, " | "-joined; "" when it wrote none
	err     error
	msg     string // the whole message, when the per-member path wrote it
}

// execFailed is the per-member path's failure: err is its one-line
// message, which starts with prefix and quotes tail.
func (m *execMethod) execFailed(seed uint64, prefix string, err error, tail string) error {
	msg := err.Error()
	return usererr.Wrap(&ExecFailure{Seed: seed, Command: m.line, Reason: strings.TrimPrefix(msg, prefix+": "),
		Stderr: trimTail(tail), err: err, msg: msg})
}

func (e *ExecFailure) Error() string {
	if e.msg != "" {
		return e.msg
	}
	s := fmt.Sprintf("member seed %d: command %q: %s", e.Seed, e.Command, e.Reason)
	if e.Stderr != "" {
		s += "; stderr: " + e.Stderr
	}
	return s
}

func (e *ExecFailure) Unwrap() error { return e.err }

// workerPool holds an exec method's worker processes: idle ones wait for
// the next member; a member takes one or starts one, so there are as many
// as members run at once.
type workerPool struct {
	mu       sync.Mutex
	idle     []*workerProc
	live     map[*workerProc]bool
	startups []time.Duration
	n        int
	// gen counts Close calls: a process started before the last one is
	// stopped when its member ends instead of waiting for another, and
	// the method, like the per-member one, serves again after Close.
	gen int
}

// workerProc is one running worker process.
type workerProc struct {
	id         int
	gen        int
	cmd        *exec.Cmd
	cancel     context.CancelFunc
	stdin      *os.File
	lines      chan string // its stdout, a line at a time; closed at EOF
	exited     chan struct{}
	waitErr    error
	stderrPath string
	tempStderr bool
}

// overheadKey carries, in a member's context, where a method adds time
// that is not the member's own work (a worker's start-up): Compute leaves
// it out of the member's seconds.
type overheadKey struct{}

func withOverhead(ctx context.Context, d *time.Duration) context.Context {
	return context.WithValue(ctx, overheadKey{}, d)
}

func addOverhead(ctx context.Context, d time.Duration) {
	if p, ok := ctx.Value(overheadKey{}).(*time.Duration); ok {
		*p += d
	}
}

// WorkerStartups returns how many worker processes method u (as New
// returns it) started and their start-up times, from the process start to
// its ready line; none for a method that is not an exec worker.
func WorkerStartups(u Unlearner) []time.Duration {
	if c, ok := u.(*checked); ok {
		u = c.u
	}
	m, ok := u.(*execMethod)
	if !ok || m.pool == nil {
		return nil
	}
	m.pool.mu.Lock()
	defer m.pool.mu.Unlock()
	return slices.Clone(m.pool.startups)
}

// workerMember runs one member on a worker process and returns the model
// it wrote. argv and env start a new process when no idle one is left.
func (m *execMethod) workerMember(ctx context.Context, in *Inputs, argv, env []string, vals map[string]string, stdoutPath, stderrPath string) (*nn.Model, error) {
	fail := func(reason string, err error, procStderr string) error {
		tail := stderrTail(stderrPath, m.tailLines)
		if tail == "" && procStderr != "" {
			tail = stderrTail(procStderr, m.tailLines)
		}
		f := &ExecFailure{Seed: in.Seed, Command: m.line, Reason: reason, Stderr: trimTail(tail), err: err}
		return usererr.Wrap(f)
	}
	p := m.pool.get()
	var err error
	if p == nil {
		start := time.Now()
		p, err = m.startWorker(ctx, argv, env)
		addOverhead(ctx, time.Since(start))
		if err != nil {
			procStderr := ""
			if p != nil {
				// Its stderr says why (a missing torch, a traceback).
				procStderr = p.stderrPath
				defer p.remove()
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("member seed %d: %w", in.Seed, ctx.Err())
			}
			return nil, fail(err.Error(), err, procStderr)
		}
		m.pool.started(p, time.Since(start))
	}
	req := workerRequest{Member: fmt.Sprintf("%d-%d", p.id, in.Seed), Seed: in.Seed, Env: map[string]string{},
		Stdout: stdoutPath, Stderr: stderrPath}
	for _, v := range ExecVars {
		req.Env[v.Env] = vals[v.Placeholder]
	}
	err = p.serve(ctx, req, m.timeout)
	var mf *memberFailed
	if err == nil || errors.As(err, &mf) {
		m.pool.put(p)
	} else {
		// Its state is unknown: kill it (the next member starts another),
		// and quote its stderr before the file goes.
		m.pool.drop(p)
		defer p.remove()
	}
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("member seed %d: %w", in.Seed, ctx.Err())
	case err != nil:
		return nil, fail(fmt.Sprintf("worker process %d: %v", p.id, err), err, p.stderrPath)
	}
	return m.readOutput(in, vals["out"], func(reason string) error { return fail(reason, nil, "") })
}

// trimTail strips stderrTail's "; stderr: " lead.
func trimTail(s string) string {
	const lead = "; stderr: "
	if len(s) >= len(lead) && s[:len(lead)] == lead {
		return s[len(lead):]
	}
	return s
}

// readOutput imports the model a member wrote to out and checks it
// against the original, as the per-member path does.
func (m *execMethod) readOutput(in *Inputs, out string, fail func(reason string) error) (*nn.Model, error) {
	if _, err := os.Stat(out); err != nil {
		return nil, fail(fmt.Sprintf("answered ok but wrote no model to UNLEARNBENCH_OUT (%s): %v", out, err))
	}
	got, err := nn.Import(out)
	if err != nil {
		return nil, fail(fmt.Sprintf("the model it wrote does not import: %v", err))
	}
	if !slices.Equal(got.Shape, in.Original.Shape) {
		return nil, fail(fmt.Sprintf("the model it wrote takes input %v, the original %v (per example, without the batch axis)", got.Shape, in.Original.Shape))
	}
	if got.Classes != in.Original.Classes {
		return nil, fail(fmt.Sprintf("the model it wrote has %d classes, the original %d", got.Classes, in.Original.Classes))
	}
	if err := finiteWeights(got); err != nil {
		return nil, fail("the model it wrote " + err.Error())
	}
	return got, nil
}

// startWorker starts a worker process and waits for its ready line.
func (m *execMethod) startWorker(ctx context.Context, argv, env []string) (*workerProc, error) {
	m.pool.mu.Lock()
	m.pool.n++
	p := &workerProc{id: m.pool.n, gen: m.pool.gen, lines: make(chan string, 16), exited: make(chan struct{})}
	m.pool.mu.Unlock()

	var err error
	if m.logDir != "" {
		if err := os.MkdirAll(m.logDir, 0o755); err != nil {
			return nil, fmt.Errorf("log_dir: %w", err)
		}
		p.stderrPath = filepath.Join(m.logDir, fmt.Sprintf("worker-%d.stderr", p.id))
	} else {
		f, err := os.CreateTemp("", ownedPattern("unlearnbench-worker-")+"*.stderr")
		if err != nil {
			return nil, err
		}
		f.Close()
		p.stderrPath, p.tempStderr = f.Name(), true
	}
	stderr, err := os.Create(p.stderrPath)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		p.remove()
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		p.remove()
		return nil, err
	}
	procCtx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(procCtx, argv[0], argv[1:]...)
	cmd.Env = append(slices.Clone(env), workerEnv+"=1")
	cmd.Dir = m.dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, stderr
	ownProcessGroup(cmd)
	cmd.WaitDelay = time.Second
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		cancel()
		inW.Close()
		outR.Close()
		p.remove()
		return nil, err
	}
	p.cmd, p.cancel, p.stdin = cmd, cancel, inW
	go func() {
		defer close(p.lines)
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	line, err := p.readLine(ctx, m.timeout)
	if err == nil {
		err = parseReady(line)
	}
	if err != nil {
		p.kill()
		return p, fmt.Errorf("worker process %d did not start: %w", p.id, err)
	}
	return p, nil
}

// readLine returns the process's next line on stdout, or why there is
// none: it exited, timeout passed, or ctx is done.
func (p *workerProc) readLine(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line, ok := <-p.lines:
		if ok {
			return line, nil
		}
		select {
		case <-p.exited:
		case <-time.After(2 * time.Second):
		}
		select {
		case <-p.exited:
			if p.waitErr != nil {
				return "", fmt.Errorf("it exited (%v)", p.waitErr)
			}
			return "", errors.New("it exited (status 0)")
		default:
			return "", errors.New("it closed stdout")
		}
	case <-t.C:
		return "", fmt.Errorf("no answer within the timeout of %v; its process group killed", timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// serve sends one member and waits for its answer.
func (p *workerProc) serve(ctx context.Context, req workerRequest, timeout time.Duration) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		// It is gone: say how it ended.
		select {
		case <-p.exited:
			return fmt.Errorf("it had exited (%v)", p.waitErr)
		case <-time.After(2 * time.Second):
			return fmt.Errorf("writing the request: %w", err)
		}
	}
	line, err := p.readLine(ctx, timeout)
	if err != nil {
		return err
	}
	return parseReply(line, req.Member)
}

// kill ends the process's group and waits for it; its stderr file stays
// for the caller to quote and remove.
func (p *workerProc) kill() {
	p.stdin.Close()
	p.cancel()
	<-p.exited
	endGroup(p.cmd)
}

// stop closes the process's stdin, so a well-behaved worker exits, and
// kills it if it has not within a few seconds.
func (p *workerProc) stop() {
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
	}
	p.cancel()
	<-p.exited
	endGroup(p.cmd)
	p.remove()
}

func (p *workerProc) remove() {
	if p.tempStderr {
		os.Remove(p.stderrPath)
	}
}

func newWorkerPool() *workerPool { return &workerPool{live: map[*workerProc]bool{}} }

// get returns an idle process, or nil when the caller must start one.
func (w *workerPool) get() *workerProc {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.idle); n > 0 {
		p := w.idle[n-1]
		w.idle = w.idle[:n-1]
		return p
	}
	return nil
}

func (w *workerPool) started(p *workerProc, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.live[p] = true
	w.startups = append(w.startups, d)
}

func (w *workerPool) put(p *workerProc) {
	w.mu.Lock()
	if p.gen == w.gen {
		w.idle = append(w.idle, p)
		w.mu.Unlock()
		return
	}
	delete(w.live, p)
	w.mu.Unlock()
	p.stop()
}

func (w *workerPool) drop(p *workerProc) {
	w.mu.Lock()
	delete(w.live, p)
	w.mu.Unlock()
	p.kill()
}

// close stops every process; members in flight end with their own.
func (w *workerPool) close() {
	w.mu.Lock()
	w.gen++
	idle := w.idle
	w.idle = nil
	for _, p := range idle {
		delete(w.live, p)
	}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range idle {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

// Python (exec's python parameter): a command whose program is python or
// python3 runs the interpreter named there, and every command finds the
// unlearnbench Python package on PYTHONPATH, installed from the binary.

// program returns the program to run for argv0. Where the default
// interpreter does not exist (a system without Debian's layout), python3
// is looked up on PATH as before; an interpreter the user named is used
// as named, and its absence is the member's error.
func (m *execMethod) program(argv0 string) string {
	if (argv0 != "python" && argv0 != "python3") || m.python == "" {
		return argv0
	}
	if m.python == python.Interpreter {
		if _, err := os.Stat(m.python); err != nil {
			return argv0
		}
	}
	return m.python
}

// pythonPath installs the Python package once (under the cache, else in
// a temporary folder Close removes) and returns the PYTHONPATH entry.
func (m *execMethod) pythonPath(in *Inputs) (string, error) {
	m.pyOnce.Do(func() {
		root := ""
		if in.Cache != "" {
			root = population.Cache{Root: in.Cache}.Python()
		} else {
			root, m.pyErr = os.MkdirTemp("", ownedPattern("unlearnbench-python-"))
			if m.pyErr != nil {
				return
			}
			m.mu.Lock()
			m.temps = append(m.temps, root)
			m.mu.Unlock()
		}
		m.pyDir, m.pyErr = python.Install(root)
	})
	return m.pyDir, m.pyErr
}

// pythonEnv adds the package's folder in front of PYTHONPATH.
func (m *execMethod) pythonEnv(in *Inputs, env []string) ([]string, error) {
	dir, err := m.pythonPath(in)
	if err != nil {
		return nil, err
	}
	if old := os.Getenv("PYTHONPATH"); old != "" {
		dir += string(os.PathListSeparator) + old
	}
	return append(env, "PYTHONPATH="+dir), nil
}

// memberPlaceholders are the placeholders whose values differ between
// members: a worker's command line, given once per process, cannot use
// them (each member's come in its request).
var memberPlaceholders = []string{"seed", "out", "workdir"}

func checkWorkerCommand(argv []string) error {
	for _, w := range argv {
		for _, mm := range placeholderRE.FindAllStringSubmatch(w, -1) {
			if slices.Contains(memberPlaceholders, mm[1]) {
				return fmt.Errorf("with worker: true the command starts once for many members, so it cannot use %s (each member's %s comes in its request: UNLEARNBENCH_%s)", mm[0], mm[1], upper(mm[1]))
			}
		}
	}
	return nil
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
