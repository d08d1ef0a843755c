package reports

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
)

// Files of schema 1.0 (no "minor" field) still read; a later minor version
// is refused in one line.
func TestDecodeSchemaMinor(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "minimal.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(good, []byte("\"minor\": 1,\n")) {
		t.Fatal("minimal.json is not of minor version 1")
	}
	old := bytes.Replace(good, []byte("  \"minor\": 1,\n"), nil, 1)
	r, err := Decode("old.json", old)
	if err != nil || r.Minor != 0 || r.Version != 1 {
		t.Fatalf("a version 1.0 file: %v, %+v", err, r)
	}
	_, err = Decode("new.json", bytes.Replace(good, []byte(`"minor": 1`), []byte(`"minor": 2`), 1))
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), `new.json: field "minor" is 2; this unlearnbench reads version 1.0 to 1.1`) {
		t.Fatalf("minor 2: %v", err)
	}
	if New("attack").Minor != SchemaMinor {
		t.Fatal("New does not write the current minor version")
	}
}

// The KLoM and ToW rows' fields are checked like every other.
func TestDecodeRefusesBadMetrics(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "full.json"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("fixture lacks %q", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"ToW above 1", edit("\"per_model\": [\n            0.937017,", "\"per_model\": [\n            1.5,"), `attack "tow": per_model[0] is 1.5; ToW lies in [0, 1]`},
		{"KLoM of other examples", edit("\"per_example\": [\n            2.312322,", "\"per_example\": [\n            2.312322, 1,"), `attack "klom/forget": 41 per-example values for 40 forget examples`},
		{"negative KLoM", edit(`"median": 1.8582395`, `"median": -1`), `attack "klom/forget": field "median" is -1; a KL divergence is 0 or more`},
		{"undefined out of range", edit(`"median": 1.8582395`, `"undefined": [40], "median": 1.8582395`), "undefined[0] is 40; per_example has 40 values"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode("r.json", c.data)
			if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v; want one line with %q", err, c.want)
			}
		})
	}
	r := readFixture(t, "full.json")
	tow := &r.Methods[0].Attacks[slices.IndexFunc(r.Methods[0].Attacks, func(a AttackResult) bool { return a.Name == "tow" })]
	*tow.CILow = *tow.Value + 0.01
	if err := r.validate(); err == nil || !strings.Contains(err.Error(), "does not hold field \"value\"") {
		t.Errorf("an interval beside its value: %v", err)
	}
	*tow.CILow, *tow.Value = math.NaN(), math.NaN()
	if err := r.Write(filepath.Join(t.TempDir(), "r.json")); err == nil || !strings.Contains(err.Error(), `field "ci_low" is NaN`) {
		t.Errorf("NaN written: %v", err)
	}
	// Whatever a caller puts in memory, a table shows no NaN.
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
	m.Attacks = []AttackResult{
		{Name: "klom/forget", Kind: KindKLoM, PerExample: vals, Undefined: []int{1}, Value: ptr(0.375), Median: ptr(0), P95: ptr(2)},
		{Name: "klom/test", Kind: KindKLoM, Skipped: "needs test logits"},
		{Name: "tow", Kind: KindToW, PerModel: slices.Repeat([]float64{1, 0.9, 0.8, 0.9}, 4), Value: ptr(0.9), CILow: ptr(0.65), CIHigh: ptr(1.15)},
	}
	if err := r.validate(); err != nil {
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
