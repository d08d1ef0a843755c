package result

import (
	"fmt"
)

// Incomplete is a method of a run whose population lacks members that
// failed (schema 1.3). It is not scored: F depends on N (its epsilons are
// estimated from rates down to 1/N), so a score over the members that
// succeeded would sit on another scale than the other methods'; and the
// failed members are not a random draw (a failure may follow from the
// seed, e.g. a diverging run), so the survivors' score could be biased
// towards the method's good draws. A rerun computes only the failed
// members, and the method is scored once its population is whole.
type Incomplete struct {
	Name string `json:"name"`
	// Method is the method the population runs ("reference" populations
	// are named so too).
	Method string `json:"method,omitempty"`
	// N is the population's size, Completed how many members it has.
	N         int             `json:"n"`
	Completed int             `json:"completed"`
	Failures  []MemberFailure `json:"failures"`
}

// MemberFailure is one member that failed.
type MemberFailure struct {
	Member int    `json:"member"`
	Seed   uint64 `json:"seed"`
	// Command is the exec method's command line, when it is one.
	Command string `json:"command,omitempty"`
	// Error says what went wrong, in one line.
	Error string `json:"error"`
	// Stderr is the tail of the member's standard error, lines joined by
	// " | ".
	Stderr string `json:"stderr,omitempty"`
}

// String is the method's mark in tables: "incomplete: 30/32 members".
func (c *Incomplete) String() string {
	return fmt.Sprintf("incomplete: %d/%d members", c.Completed, c.N)
}

// checkIncomplete checks the incomplete methods against themselves and
// the scored ones: a name once in the whole result, fewer members than N,
// one failure per missing member, each a member index below N once.
func (r *Result) checkIncomplete(seen map[string]bool) error {
	for i, c := range r.Incomplete {
		if c.Name == "" {
			return fmt.Errorf("incomplete[%d]: field \"name\" is empty", i)
		}
		if seen[c.Name] {
			return fmt.Errorf("incomplete[%d]: method %q is listed twice", i, c.Name)
		}
		seen[c.Name] = true
		if c.N < 1 || c.Completed < 0 || c.Completed >= c.N {
			return fmt.Errorf("incomplete method %q: fields \"completed\" %d and \"n\" %d; want 0 <= completed < n", c.Name, c.Completed, c.N)
		}
		if len(c.Failures) != c.N-c.Completed {
			return fmt.Errorf("incomplete method %q: %d failures, but %d of n = %d members are missing", c.Name, len(c.Failures), c.N-c.Completed, c.N)
		}
		members := map[int]bool{}
		for k, f := range c.Failures {
			if f.Member < 0 || f.Member >= c.N || members[f.Member] {
				return fmt.Errorf("incomplete method %q: failures[%d]: field \"member\" is %d; want a member below n = %d, once", c.Name, k, f.Member, c.N)
			}
			members[f.Member] = true
		}
	}
	return nil
}
