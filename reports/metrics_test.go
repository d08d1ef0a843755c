package reports

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"unlearnbench/result"
)

// Whatever a caller puts in memory, a table shows no NaN.
func TestAttackTableHidesNaN(t *testing.T) {
	r := readFixture(t, "full.json")
	tow := &r.Methods[0].Attacks[slices.IndexFunc(r.Methods[0].Attacks, func(a result.AttackResult) bool { return a.Name == "tow" })]
	*tow.CILow, *tow.Value = math.NaN(), math.NaN()
	var b bytes.Buffer
	if err := WriteAttackTable(&b, &r.Methods[0]); err != nil || strings.Contains(b.String(), "NaN") {
		t.Errorf("attack table with NaN values:\n%s", b.String())
	}
}

func TestKLoMWorstAndSummaries(t *testing.T) {
	// Examples by KLoM, highest first, ties by index, undefined ones left
	// out; forget examples carry their epsilon.
	r := readFixture(t, "minimal.json")
	m := &r.Methods[0]
	vals := make([]float64, m.E)
	vals[3], vals[5], vals[7], vals[1] = 2, 0.5, 2, 9
	m.Attacks = []result.AttackResult{
		{Name: "klom/forget", Kind: result.KindKLoM, PerExample: vals, Undefined: []int{1}, Value: ptr(0.375), Median: ptr(0), P95: ptr(2)},
		{Name: "klom/test", Kind: result.KindKLoM, Skipped: "needs test logits"},
		{Name: "tow", Kind: result.KindToW, PerModel: slices.Repeat([]float64{1, 0.9, 0.8, 0.9}, 4), Value: ptr(0.9), CILow: ptr(0.65), CIHigh: ptr(1.15)},
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	g := klomWorstGrid(m, 3)
	var got []string
	for _, row := range g.rows {
		got = append(got, row[2]+"="+row[3])
	}
	if want := []string{"3=2.0000", "7=2.0000", "5=0.5000"}; !slices.Equal(got, want) {
		t.Errorf("worst %v, want %v", got, want)
	}
	if g.rows[0][4] != f4(m.Examples[3].Epsilon) {
		t.Errorf("epsilon cell %q", g.rows[0][4])
	}
	if k := klomGrid(r); len(k.rows) != 2 || k.rows[0][3] != "1" || !strings.HasPrefix(k.rows[1][4], "not run: needs test logits") {
		t.Errorf("KLoM grid %v", k.rows)
	}
	if tw := towGrid(r); len(tw.rows) != 1 || tw.rows[0][4] != "[0.6500, 1.1500]" {
		t.Errorf("ToW grid %v", tw.rows)
	}
	// The example's KLoM in examples.csv: empty where undefined.
	cell := forgetKLoM(m)
	if cell(3) != "2" || cell(1) != "" || cell(0) != "0" {
		t.Errorf("CSV cells %q %q %q", cell(3), cell(1), cell(0))
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil || !strings.Contains(b.String(), `id="method-0-klom"`) {
		t.Errorf("HTML without the KLoM histogram: %v", err)
	}
}

// A significant drop of ToW is a regression; KLoM's mean is lower-better.
func TestCompareGatesToW(t *testing.T) {
	base := readFixture(t, "full.json")
	cur := readFixture(t, "full.json")
	m := &cur.Methods[0]
	for i := range m.Attacks {
		a := &m.Attacks[i]
		switch a.Name {
		case "tow":
			for k := range a.PerModel {
				a.PerModel[k] -= 0.1
			}
			*a.Value -= 0.1
			*a.CILow -= 0.1
			*a.CIHigh -= 0.1
		case "klom/forget":
			for k := range a.PerExample {
				a.PerExample[k] *= 0.5
			}
			*a.Value *= 0.5
		}
	}
	c, err := Compare("base.json", base, "cur.json", cur, DefaultCompareOptions)
	if err != nil {
		t.Fatal(err)
	}
	tow := row(t, c, "finetune", "attack tow: ToW")
	if tow.Verdict != Worse || !tow.Regression || !tow.HasInterval || math.Abs(tow.Change+0.1) > 1e-9 {
		t.Errorf("ToW 0.1 lower: %+v", tow)
	}
	if err := c.RegressionError(); err == nil || !strings.Contains(err.Error(), "finetune attack tow: ToW -0.1") {
		t.Errorf("regression error %v", err)
	}
	if k := row(t, c, "finetune", "attack klom/forget: mean KLoM"); k.Verdict != Better || k.Regression || !k.HasInterval {
		t.Errorf("KLoM halved: %+v", k)
	}
	if r := row(t, c, "noop", "attack tow: ToW"); r.Verdict != NoChange {
		t.Errorf("unchanged noop: %+v", r)
	}
}
