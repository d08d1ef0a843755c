package reports

import (
	"bytes"
	"strings"
	"testing"

	"unlearnbench/result"
	"unlearnbench/scoring"
)

// With F's intervals the ranking gains a column after F and a line saying
// how they were drawn and which neighbours they do not separate; a method
// without one shows "-". Without any interval the table is the golden
// one (TestGoldenRanking).
func TestRankingWithIntervals(t *testing.T) {
	r := readFixture(t, "full.json")
	lo, hi := 0.05, 0.3
	r.Methods[0].Score.Interval = &scoring.Interval{Low: 0.1, High: 0.2, Level: 0.95, Resamples: 200, Mean: 0.15, Std: 0.02, FinalLow: &lo, FinalHigh: &hi}
	r.Methods[1].Score.Interval = &scoring.Interval{Low: 0.04, High: 0.09, Level: 0.95, Resamples: 200, Mean: 0.06, Std: 0.01, FinalLow: &lo, FinalHigh: &hi}
	result.MarkUnseparated(r.Methods)
	var b bytes.Buffer
	if err := WriteRanking(&b, r, "retrain"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"| rank | method   | F      | F interval       | RA_U/RA_R |",
		"| finetune | 0.1621 | [0.1000, 0.2000] |",
		"| noop     | 0.0699 | [0.0400, 0.0900] |",
		"F interval: 95% bootstrap interval over models (200 resamples, seed 0), F's spread at N = 32; not separated at this N: finetune and noop\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ranking lacks %q", want)
		}
	}
	// A method without an interval among methods with one.
	r.Methods[1].Score.Interval = nil
	result.MarkUnseparated(r.Methods)
	b.Reset()
	if err := WriteRanking(&b, r, "retrain"); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "| noop     | 0.0699 |                - |") || strings.Contains(out, "not separated") {
		t.Errorf("a method without an interval:\n%s", out)
	}
}

// A dry run's plan with a target width states the N it needs, or why it
// cannot, under the estimate.
func TestPlanStatesNeededN(t *testing.T) {
	p := &result.Plan{Workers: 2, Populations: []result.PlanRow{{Name: "reference", Method: "retrain", Cached: 4, N: 4}},
		Needed: &result.PlanNeeded{Target: 0.05, Why: "cannot say: no earlier result in runs/t/result.json to extrapolate from; run once first"}}
	var b bytes.Buffer
	if err := WritePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	if want := "N needed for F's interval 0.05 wide: cannot say: no earlier result"; !strings.Contains(b.String(), want) {
		t.Errorf("plan lacks %q:\n%s", want, b.String())
	}
}
