package evaluate

import (
	"context"
	"math"
	"testing"

	"unlearnbench/attack"
	"unlearnbench/attack/suite"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

// ToW reads the accuracies the result reports: with an accuracies file and
// no held-out logits, each pair's ToW is the formula over the populations'
// forget (from the forget logits), retain and test accuracies.
func TestMethodToWFromAccuracyFiles(t *testing.T) {
	u, r := readExample(t, "unlearned", true), readExample(t, "retrained", true)
	m, err := Method(context.Background(), u, r, readLabels(t), Options{Method: "finetune", Attacks: &suite.Options{PerExample: []string{"none"}, Pooled: []string{"none"}}})
	if err != nil {
		t.Fatal(err)
	}
	var tow *result.AttackResult
	for i := range m.Attacks {
		if m.Attacks[i].Name == "tow" {
			tow = &m.Attacks[i]
		}
	}
	if tow == nil || tow.Skipped != "" || len(tow.PerModel) != m.N {
		t.Fatalf("tow: %+v", tow)
	}
	pu, pr := m.Population(scoring.Unlearned), m.Population(scoring.Retrained)
	for i, v := range tow.PerModel {
		want, err := attack.ToW(attack.Accuracies{Forget: pu.ForgetAcc[i], Retain: pu.RetainAcc[i], Test: pu.TestAcc[i]},
			attack.Accuracies{Forget: pr.ForgetAcc[i], Retain: pr.RetainAcc[i], Test: pr.TestAcc[i]})
		if err != nil || math.Abs(v-want) > 1e-15 {
			t.Fatalf("pair %d: ToW %v, want %v (%v)", i, v, want, err)
		}
	}
}
