package reports

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"

	"unlearnbench/result"
)

// The run command's ranking of a full result: ranked by final score, the
// time column against the reference's, the cut-off note, the reference
// line.
func TestGoldenRanking(t *testing.T) {
	r := readFixture(t, "full.json")
	rank := func(w io.Writer, r *result.Result) error { return WriteRanking(w, r, "retrain") }
	got := render(t, r, rank)
	// Above the competition's cut-off, a method's time is flagged.
	u := r.Methods[0].Population("unlearned")
	for i := range u.Seconds {
		u.Seconds[i] *= 3
	}
	checkGolden(t, "full.ranking", append(got, render(t, r, rank)...))
	// A result without a retrained population cannot be ranked against
	// retraining's time: an error, not a table of NaN.
	var b bytes.Buffer
	if err := WriteRanking(&b, readFixture(t, "minimal.json"), "retrain"); err == nil || !strings.Contains(err.Error(), "retrained population") {
		t.Errorf("ranking without a retrained population: %v, wrote %q", err, b.String())
	}
}

// A dry run's plan, before the original is trained (every population to
// compute, bounded by retraining's cost) and after (cached counts and
// measured times).
func TestGoldenPlan(t *testing.T) {
	before := &result.Plan{Original: &result.PlanRow{Name: "original", Method: "mlp", N: 1, Missing: 1, Seconds: 12.5}, Workers: 2, Seconds: 812.5,
		Populations: []result.PlanRow{{Name: "reference", Method: "retrain", N: 32, Missing: 32, Seconds: 400, Bound: true},
			{Name: "noop", Method: "noop", N: 32, Missing: 32, Seconds: 400, Bound: true}},
		ScoreMethods: 1, ScoreSeconds: 2.8, ScoreHow: "0.292 ms per model x forget example, assumed"}
	after := &result.Plan{Workers: 4, Seconds: 3.25,
		Populations: []result.PlanRow{{Name: "reference", Method: "retrain", Cached: 4, N: 6, Missing: 2, Seconds: 3.25},
			{Name: "finetune", Method: "finetune", Cached: 6, N: 6, Seconds: 0}},
		ScoreMethods: 1, ScoreSeconds: 0.5, ScoreHow: "0.5 ms per model x forget example, measured"}
	var b bytes.Buffer
	for _, p := range []*result.Plan{before, after} {
		if err := WritePlan(&b, p); err != nil {
			t.Fatal(err)
		}
	}
	checkGolden(t, "plan.table", b.Bytes())
}

// A method without a final score (a result without its accuracies) is
// ranked by F with the others, as the reports' summary ranks it, not put
// last; a line under the table says why the ranking is by F.
func TestRankingWithoutFinal(t *testing.T) {
	r := readFixture(t, "full.json")
	if r.Methods[0].Name != "finetune" || r.Methods[0].Score.F <= r.Methods[1].Score.F {
		t.Fatalf("full.json changed: want finetune first with the higher F, have %s", r.Methods[0].Name)
	}
	r.Methods[0].Score.Final = nil
	var b bytes.Buffer
	if err := WriteRanking(&b, r, "retrain"); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`(?m)^\| 1 +\| finetune +\| 0\.1621 \|.*\| +- \|`, `(?m)^\| 2 +\| noop +\|`, `(?m)^ranked by F: finetune has no final score$`} {
		if !regexp.MustCompile(re).MatchString(b.String()) {
			t.Errorf("ranking lacks %s:\n%s", re, b.String())
		}
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\| 1 +\| finetune +\|`).MatchString(md.String()) {
		t.Errorf("the Markdown summary ranks otherwise:\n%s", md.String())
	}
}
