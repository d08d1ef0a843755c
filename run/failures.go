package run

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"unlearnbench/internal/arrays"
	"unlearnbench/result"
	"unlearnbench/unlearners"
)

// Run-level behaviour for long runs: a member that fails does not end the
// run. An exec member's failure (*unlearners.ExecFailure: the program
// exited badly, broke the protocol, timed out or wrote a bad model) is
// reported as it happens and the run goes on with the other members and
// methods; nothing of the failed member is cached, so a rerun computes
// only what is missing. A method with failed members is not scored
// (result.Incomplete says why) and recorded in the result's incomplete
// list; when the reference has failed members, no method is scored. Any
// other failure (a full disk, an internal error) still stops the run: it
// would fail every member alike.

// IncompleteError is a run that could score no method because members
// failed (of the reference, or of every method): nothing is written to the
// run directory; every member that succeeded is cached.
type IncompleteError struct {
	Incomplete []result.Incomplete
}

func (e *IncompleteError) Error() string {
	var parts []string
	for _, c := range e.Incomplete {
		parts = append(parts, fmt.Sprintf("%s %s", c.Name, c.String()))
	}
	return fmt.Sprintf("no method could be scored: %s; every member that succeeded is cached: rerun to compute the failed ones", strings.Join(parts, ", "))
}

// Startup is the start-up of a worker-mode method's processes, which the
// members' seconds leave out (unlearners.WorkerStartups).
type Startup struct {
	Name string
	// Seconds are each process's start-up, from its start to its ready
	// line.
	Seconds []float64
}

// keepGoing is the population's unlearners.ComputeOptions.KeepGoing: an
// exec member's failure is reported and recorded in p.failed, and the
// other members go on; any other failure stops the run.
func (e *execution) keepGoing(p *pop) func(*unlearners.MemberError) bool {
	return func(me *unlearners.MemberError) bool {
		var ef *unlearners.ExecFailure
		if !errors.As(me.Err, &ef) {
			return false
		}
		// The per-member path's reason ends with the stderr tail, which
		// is a field of its own here.
		reason := strings.TrimSuffix(ef.Reason, "; stderr: "+ef.Stderr)
		f := result.MemberFailure{Member: me.Index, Seed: me.Seed, Command: ef.Command, Error: reason, Stderr: ef.Stderr}
		e.mu.Lock()
		defer e.mu.Unlock()
		p.failed = append(p.failed, f)
		e.printf("failed: population %s, member %d (seed %d), command %q: %s", p.Name, f.Member, f.Seed, f.Command, f.Error)
		if f.Stderr != "" {
			e.printf("; stderr: %s", f.Stderr)
		}
		e.printf("; the run goes on without it\n")
		return true
	}
}

// endPopulation is called once p's members are computed: it closes p's
// method (an idle PyTorch worker holds ~270 MB; the run may go on for
// hours with other methods) after keeping its workers' start-up times.
func (e *execution) endPopulation(p *pop) {
	if d := unlearners.WorkerStartups(p.spec.Unlearner); len(d) > 0 {
		s := Startup{Name: p.Name}
		for _, x := range d {
			s.Seconds = append(s.Seconds, x.Seconds())
		}
		e.out.Startups = append(e.out.Startups, s)
	}
	if c, ok := p.spec.Unlearner.(io.Closer); ok {
		c.Close()
	}
}

// incomplete lists the populations with failed members, each failure in
// member order, into the outcome.
func (e *execution) incomplete() []result.Incomplete {
	var list []result.Incomplete
	for _, p := range e.pops {
		if len(p.failed) == 0 {
			continue
		}
		fs := slices.Clone(p.failed)
		slices.SortFunc(fs, func(a, b result.MemberFailure) int { return a.Member - b.Member })
		// A shard counts only the members it knows of: those cached
		// and those it computed.
		done := len(p.have) + len(p.missing) - len(fs)
		list = append(list, result.Incomplete{Name: p.Name, Method: p.Method, N: e.cfg.N, Completed: done, Failures: fs})
	}
	return list
}

// unscored reports whether p cannot be scored: its population, or the
// reference's, lacks failed members (see result.Incomplete for why a
// partial population is not scored).
func (e *execution) unscored(p *pop) bool {
	return len(p.failed) > 0 || len(e.pops[0].failed) > 0
}

// completeScoring adds the incomplete methods to res (with a warning each,
// which the reports show); with no method scored it returns an
// *IncompleteError instead.
func (e *execution) completeScoring(res *result.Result) error {
	list := e.incomplete()
	if len(list) == 0 {
		return nil
	}
	if len(res.Methods) == 0 {
		return &IncompleteError{Incomplete: list}
	}
	res.Incomplete = list
	for _, c := range list {
		f := c.Failures[0]
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s is not scored, %s: member %d (seed %d) failed: %s (%d failures in all; a rerun computes only them)",
			c.Name, c.String(), f.Member, f.Seed, f.Error, len(c.Failures)))
	}
	return nil
}

// labelFiles are the run directory's label files, beside result.json, so
// that score and attack can re-score the run's populations from the cache.
var labelFiles = []string{"forget-labels.npy", "retain-labels.npy", "test-labels.npy"}

// writeLabels writes the forget, retain and test labels into dir.
func (e *execution) writeLabels(dir string) error {
	l := e.sets.labels
	for k, labels := range [][]int{l.Forget, l.Retain, l.Test} {
		data := make([]int64, len(labels))
		for i, y := range labels {
			data[i] = int64(y)
		}
		// WriteNPY's errors name the file.
		if err := arrays.WriteNPY(filepath.Join(dir, labelFiles[k]), arrays.Tensor[int64]{Shape: []int{len(data)}, Data: data}); err != nil {
			return err
		}
	}
	return nil
}
