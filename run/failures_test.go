package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"unlearnbench/nn"
	"unlearnbench/population"
	"unlearnbench/result"
	"unlearnbench/unlearners"
)

// test-flaky copies the original, except for the seeds in flakySeeds: an
// *unlearners.ExecFailure (what an exec member's failure is) for those
// marked true, a plain error, which stops the run, for those marked false.
var flakySeeds sync.Map // uint64 -> bool

func init() {
	unlearners.Register(&unlearners.Spec{Name: "test-flaky", Summary: "test: the original, copied, failing for chosen seeds",
		Build: func(unlearners.Params) (unlearners.Unlearner, error) { return flakyMethod{}, nil }})
}

type flakyMethod struct{}

func (flakyMethod) Unlearn(_ context.Context, in *unlearners.Inputs) (*nn.Model, error) {
	if asExec, ok := flakySeeds.Load(in.Seed); ok {
		if asExec.(bool) {
			return nil, &unlearners.ExecFailure{Seed: in.Seed, Command: "test-flaky", Reason: "chosen to fail", Stderr: "flaky: giving up"}
		}
		return nil, errors.New("flaky: an error that is not a member's")
	}
	return in.Original.Clone(), nil
}

// A real exec program that fails for two chosen members: the run reports
// each failure, goes on with the other members and methods, scores the
// complete methods, records the incomplete one in the result and marks
// it; the rerun computes only the failed members and scores every method.
func TestRunFailedMembersGoOn(t *testing.T) {
	file := testConfig(t, "")
	dir := filepath.Dir(file)
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	s1, s3 := unlearners.MemberSeed(cfg.Seed, "flaky", 1), unlearners.MemberSeed(cfg.Seed, "flaky", 3)
	// The program fails for seeds s1 and s3 while the flag file exists:
	// removing it mends the program without changing its command, so the
	// rerun's population is the same.
	flag := filepath.Join(dir, "broken")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := fmt.Sprintf(`sh -c 'if test -e %s; then case {seed} in %d|%d) echo member {seed} broke >&2; exit 3;; esac; fi; cp {model} {out}'`, flag, s1, s3)
	text := strings.Replace(readFile(t, file), "  - {name: scratch, method: test-scratch}",
		"  - name: flaky\n    method: exec\n    params: {command: \""+strings.ReplaceAll(cmd, `"`, `\"`)+"\"}", 1)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	o, out, warn := mustExecute(t, file, Options{})
	t.Log(out)
	for _, want := range []string{fmt.Sprintf("failed: population flaky, member 1 (seed %d)", s1), fmt.Sprintf("member %d broke", s3), "the run goes on"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status lines lack %q:\n%s%s", want, out, warn)
		}
	}
	r := o.Result
	if len(r.Methods) != 1 || r.Methods[0].Name != "test-copy" || len(r.Incomplete) != 1 {
		t.Fatalf("want test-copy scored and flaky incomplete; got %s, incomplete %+v", methodsJSON(t, r), r.Incomplete)
	}
	c := r.Incomplete[0]
	if c.Name != "flaky" || c.Method != "exec" || c.N != 4 || c.Completed != 2 || len(c.Failures) != 2 ||
		c.Failures[0].Member != 1 || c.Failures[0].Seed != s1 || c.Failures[1].Member != 3 || c.Failures[1].Seed != s3 ||
		!strings.Contains(c.Failures[0].Command, "sh -c") || !strings.Contains(c.Failures[1].Stderr, fmt.Sprintf("member %d broke", s3)) {
		t.Fatalf("incomplete: %+v", c)
	}
	if len(o.Incomplete) != 1 || c.String() != "incomplete: 2/4 members" || !strings.Contains(strings.Join(r.Warnings, "\n"), "flaky is not scored") {
		t.Fatalf("outcome's incomplete %+v, warnings %q", o.Incomplete, r.Warnings)
	}
	back, err := result.Read(filepath.Join(o.Dir, "result.json"))
	if err != nil || len(back.Incomplete) != 1 || back.Minor != 3 || back.Incomplete[0].Failures[1].Seed != s3 {
		t.Fatalf("result.json: %v, %+v", err, back)
	}
	// The labels beside the result: one per example of each set.
	forget, _, err := population.ReadLabels(filepath.Join(o.Dir, "forget-labels.npy"))
	if err != nil || len(forget) != 40 {
		t.Fatalf("forget labels: %v, %d", err, len(forget))
	}
	for name, n := range map[string]int{"retain-labels.npy": 560, "test-labels.npy": 200} {
		if l, _, err := population.ReadLabels(filepath.Join(o.Dir, name)); err != nil || len(l) != n {
			t.Fatalf("%s: %v, %d labels; want %d", name, err, len(l), n)
		}
	}

	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	o2, out2, _ := mustExecute(t, file, Options{})
	if o2.Timing.Computed != 2 || !strings.Contains(out2, "2 of 4 cached, computing 2") || len(o2.Result.Methods) != 2 || o2.Result.Incomplete != nil || o2.Incomplete != nil {
		t.Fatalf("rerun computed %d, incomplete %+v:\n%s", o2.Timing.Computed, o2.Result.Incomplete, out2)
	}
}

// A reference with failed members leaves nothing to score: an
// *IncompleteError, no result written, the other members cached. A failure
// that is not an exec member's stops the run with its error.
func TestRunReferenceFailsAndOtherErrorsStop(t *testing.T) {
	file := testConfig(t, "")
	setLine(t, file, "reference", "reference: {method: test-flaky}\n")
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	seed := unlearners.MemberSeed(cfg.Seed, "reference", 0)
	flakySeeds.Store(seed, true)
	defer flakySeeds.Delete(seed)
	_, out, _, err := execute(t, file, Options{})
	var ie *IncompleteError
	if !errors.As(err, &ie) || len(ie.Incomplete) != 1 || ie.Incomplete[0].Name != "reference" || !strings.Contains(err.Error(), "reference incomplete: 3/4 members") {
		t.Fatalf("a failed reference member: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(file), "runs", "t", "result.json")); err == nil {
		t.Fatal("a result was written with nothing scored")
	}
	flakySeeds.Store(seed, false)
	_, out, _, err = execute(t, file, Options{})
	var me *unlearners.MemberError
	if !errors.As(err, &me) || me.Index != 0 || errors.As(err, &ie) || !strings.Contains(err.Error(), "not a member's") {
		t.Fatalf("a failure that is not an exec member's: %v\n%s", err, out)
	}
}

// A worker-mode exec method whose worker reports a failed member: the
// other members go on on the same process, the method is incomplete with
// the worker's error, and its processes' start-up is in the outcome.
func TestRunWorkerFailureAndStartups(t *testing.T) {
	file := testConfig(t, "")
	marker := filepath.Join(filepath.Dir(file), "marker")
	text := strings.Replace(readFile(t, file), "  - {name: scratch, method: test-scratch}",
		"  - {name: torch, method: exec, params: {command: \"python3 unlearners/testdata/fake_worker.py fail "+marker+"\", worker: true}}", 1)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	o, out, warn := mustExecute(t, file, Options{})
	if len(o.Incomplete) != 1 || o.Incomplete[0].Name != "torch" || o.Incomplete[0].Completed != 3 ||
		!strings.Contains(o.Incomplete[0].Failures[0].Error, "the worker reports: ValueError: lr must be positive") ||
		o.Incomplete[0].Failures[0].Stderr != "misbehaving: fail" {
		t.Fatalf("incomplete %+v\n%s%s", o.Incomplete, out, warn)
	}
	if len(o.Startups) != 1 || o.Startups[0].Name != "torch" || len(o.Startups[0].Seconds) == 0 || !(o.Startups[0].Seconds[0] > 0) {
		t.Fatalf("startups %+v", o.Startups)
	}
}

// Each method is closed once its population is computed, before the next
// population starts: test-closer records its Close, test-after-closer
// fails its members unless test-closer was closed.
var closerClosed sync.Map // "closed" -> true once test-closer is closed

type closerMethod struct{ flakyMethod }

func (closerMethod) Close() error { closerClosed.Store("closed", true); return nil }

type afterCloserMethod struct{ flakyMethod }

func (afterCloserMethod) Unlearn(ctx context.Context, in *unlearners.Inputs) (*nn.Model, error) {
	if _, ok := closerClosed.Load("closed"); !ok {
		return nil, errors.New("test-closer's population is done but the method was not closed")
	}
	return in.Original.Clone(), nil
}

func init() {
	unlearners.Register(&unlearners.Spec{Name: "test-closer", Summary: "test: the original, copied; records its Close",
		Build: func(unlearners.Params) (unlearners.Unlearner, error) { return closerMethod{}, nil }})
	unlearners.Register(&unlearners.Spec{Name: "test-after-closer", Summary: "test: the original, copied, once test-closer is closed",
		Build: func(unlearners.Params) (unlearners.Unlearner, error) { return afterCloserMethod{}, nil }})
}

func TestRunClosesEachMethodWhenItsPopulationIsDone(t *testing.T) {
	file := testConfig(t, "")
	text := strings.Replace(readFile(t, file), "  - method: test-copy\n  - {name: scratch, method: test-scratch}",
		"  - method: test-closer\n  - method: test-after-closer", 1)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	closerClosed.Delete("closed")
	o, out, warn := mustExecute(t, file, Options{})
	if len(o.Result.Methods) != 2 {
		t.Fatalf("methods %s\n%s%s", methodsJSON(t, o.Result), out, warn)
	}
}
