package run

import (
	"strings"
	"testing"
)

// The dry run estimates scoring and attacks too: every method at the
// assumed rate before anything was scored; after a run, nothing for the
// methods whose scores are cached, and other attack settings (another
// score key) at their own rate, assumed until measured.
func TestDryRunEstimatesScoring(t *testing.T) {
	file := testConfig(t, "")
	dry := func(sets ...string) (int, float64, string) {
		t.Helper()
		cfg, err := Load(file, sets...)
		if err != nil {
			t.Fatal(err)
		}
		o, err := Execute(t.Context(), cfg, Options{DryRun: true, Replace: true})
		if err != nil {
			t.Fatal(err)
		}
		return o.Plan.ScoreMethods, o.Plan.ScoreSeconds, o.Plan.ScoreHow
	}
	n, secs, how := dry()
	// 2 methods x N = 4 x E = 40 at the assumed rate.
	if n != 2 || secs != 2*4*40*assumedAttackRate || !strings.Contains(how, "assumed") {
		t.Fatalf("before any run: %d methods, %v s (%s); want 2 at the assumed rate", n, secs, how)
	}
	mustExecute(t, file, Options{})
	if n, secs, _ := dry(); n != 0 || secs != 0 {
		t.Errorf("after the run: %d methods, %v s to score; want none (cached)", n, secs)
	}
	n, secs, how = dry("attacks.mia_splits=3")
	if n != 2 || secs <= 0 || !strings.Contains(how, "assumed") {
		t.Errorf("other attack settings: %d methods, %v s (%s); want 2, at the assumed rate", n, secs, how)
	}
	n, _, how = dry("n=5")
	if n != 2 || !strings.Contains(how, "measured by an earlier run") {
		t.Errorf("growing N: %d methods (%s); want 2 at the measured rate", n, how)
	}
}
