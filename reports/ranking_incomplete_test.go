package reports

import (
	"bytes"
	"regexp"
	"testing"

	"unlearnbench/result"
)

// An incomplete method (members failed) is listed under the ranked ones,
// marked, with dashes for what it has not; a guessed estimate in the plan
// gets a line saying so.
func TestRankingIncompleteAndGuessedPlan(t *testing.T) {
	r := readFixture(t, "full.json")
	r.Incomplete = []result.Incomplete{{Name: "torch-ft", Method: "exec", N: 32, Completed: 30,
		Failures: []result.MemberFailure{{Member: 4, Seed: 1, Error: "exit status 1"}, {Member: 9, Seed: 2, Error: "exit status 1"}}}}
	var b bytes.Buffer
	if err := WriteRanking(&b, r, "retrain"); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`(?m)^\| 1 +\| finetune +\|`, `(?m)^\| 2 +\| noop +\|`, `(?m)^\| - +\| torch-ft +\| incomplete: 30/32 members \|( +- \|)+$`} {
		if !regexp.MustCompile(re).MatchString(b.String()) {
			t.Errorf("ranking lacks %s:\n%s", re, b.String())
		}
	}
	b.Reset()
	p := &result.Plan{Workers: 2, Seconds: 160, Populations: []result.PlanRow{{Name: "torch-ft", Method: "exec", N: 32, Missing: 32, Seconds: 160,
		Guess: "10.00 s per member, the last measured member of the same method and parameters (population torch-ft-old, ...)"}}}
	if err := WritePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\| torch-ft +\| exec +\| +0/32 \| +32 \| +~160 s \|\n(.*\n)+estimate of torch-ft guessed: 10.00 s per member, the last measured member`).MatchString(b.String()) {
		t.Errorf("plan:\n%s", b.String())
	}
}
