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

// The reports list an incomplete method too, under the ranked ones, and
// say why it has no score, naming its first failure.
func TestReportsListIncompleteMethods(t *testing.T) {
	r := readFixture(t, "full.json")
	r.Incomplete = []result.Incomplete{{Name: "torch-ft", Method: "exec", N: 32, Completed: 30,
		Failures: []result.MemberFailure{{Member: 4, Seed: 1, Error: "exit status 1"}, {Member: 9, Seed: 2, Error: "exit status 1"}}}}
	var md, html bytes.Buffer
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&html, r); err != nil {
		t.Fatal(err)
	}
	note := "torch-ft is not scored: it has 30 of its 32 members, the others failed (member 4, seed 1: exit status 1; every failure is listed in result.json); a rerun computes only the failed members."
	if !regexp.MustCompile(`(?m)^\| - +\| torch-ft +\| incomplete: 30/32 members +\|`).MatchString(md.String()) || !bytes.Contains(md.Bytes(), []byte(note)) {
		t.Errorf("report.md does not list torch-ft as incomplete with its note:\n%s", md.String()[:min(md.Len(), 3000)])
	}
	if !bytes.Contains(html.Bytes(), []byte("incomplete: 30/32 members")) || !bytes.Contains(html.Bytes(), []byte("torch-ft is not scored")) {
		t.Error("report.html does not list torch-ft as incomplete")
	}
}
