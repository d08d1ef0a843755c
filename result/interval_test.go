package result

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/scoring"
)

func ptr(v float64) *float64 { return &v }

// A method's F interval survives the round trip through a file, and the
// file's checks refuse intervals that are not intervals of F.
func TestFIntervalRoundTripAndChecks(t *testing.T) {
	r := readFixture(t, "full.json")
	m := &r.Methods[0]
	m.Score.Interval = &scoring.Interval{Low: 0.1, High: 0.2, Level: 0.95, Resamples: 200, Seed: 7, Mean: 0.15, Std: 0.02, FinalLow: ptr(0.09), FinalHigh: ptr(0.19)}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.Write(path); err != nil {
		t.Fatal(err)
	}
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Minor != SchemaMinor || back.Methods[0].Score.Interval == nil || back.Methods[0].Score.Interval.Seed != 7 || *back.Methods[0].Score.Interval.FinalHigh != 0.19 {
		t.Fatalf("interval read back as %+v (minor %d)", back.Methods[0].Score.Interval, back.Minor)
	}
	for _, c := range []struct {
		name string
		edit func(iv *scoring.Interval, s *Score)
		want string
	}{
		{"low above high", func(iv *scoring.Interval, _ *Score) { iv.Low = 0.3 }, "low 0.3 is above high 0.2"},
		{"above 1", func(iv *scoring.Interval, _ *Score) { iv.High = 1.5 }, `field "score.f_interval.high" is 1.5`},
		{"NaN", func(iv *scoring.Interval, _ *Score) { iv.Low = math.NaN() }, `field "score.f_interval.low" is NaN`},
		{"level", func(iv *scoring.Interval, _ *Score) { iv.Level = 95 }, `field "score.f_interval.level" is 95`},
		{"resamples", func(iv *scoring.Interval, _ *Score) { iv.Resamples = 1 }, `field "score.f_interval.resamples" is 1`},
		{"half a final interval", func(iv *scoring.Interval, _ *Score) { iv.FinalLow = nil }, "come together"},
		{"exponent without sizes", func(iv *scoring.Interval, _ *Score) { b := -0.3; iv.Exponent = &b }, "come together"},
		{"unknown neighbour", func(_ *scoring.Interval, s *Score) { s.Unseparated = []string{"nosuch"} }, `names "nosuch", which is not another method`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := readFixture(t, "full.json")
			m := &r.Methods[0]
			m.Score.Interval = &scoring.Interval{Low: 0.1, High: 0.2, Level: 0.95, Resamples: 200, Mean: 0.15, Std: 0.02, FinalLow: ptr(0.09), FinalHigh: ptr(0.19)}
			c.edit(m.Score.Interval, &m.Score)
			err := r.validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v; want %q", err, c.want)
			}
		})
	}
	data := []byte(strings.Replace(string(mustEncode(t, back)), `"seed": 7`, `"seed": 7, "colour": 1`, 1))
	if _, err := Decode("r.json", data); err == nil || !usererr.Is(err) {
		t.Errorf("an unknown field in f_interval: %v", err)
	}
}

func mustEncode(t *testing.T, r *Result) []byte {
	t.Helper()
	var b strings.Builder
	if err := r.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

// Neighbours in the ranking are marked when their intervals overlap, in
// the order of the final score when every method has one.
func TestMarkUnseparated(t *testing.T) {
	method := func(name string, f, lo, hi float64) Method {
		return Method{Name: name, Score: Score{F: f, Interval: &scoring.Interval{Low: lo, High: hi}}}
	}
	ms := []Method{
		method("c", 0.10, 0.08, 0.12),
		method("a", 0.30, 0.25, 0.35),
		method("b", 0.27, 0.20, 0.26),
		method("d", 0.05, 0.00, 0.09),
		{Name: "e", Score: Score{F: 0.28}}, // no interval: never marked
	}
	MarkUnseparated(ms)
	got := map[string][]string{}
	for _, m := range ms {
		got[m.Name] = m.Score.Unseparated
	}
	// Ranked by F: a 0.30, e 0.28, b 0.27, c 0.10, d 0.05. a and b are
	// not neighbours (e lies between), c and d overlap.
	for name, want := range map[string][]string{"a": nil, "e": nil, "b": nil, "c": {"d"}, "d": {"c"}} {
		if !slices.Equal(got[name], want) {
			t.Errorf("%s: unseparated %v; want %v", name, got[name], want)
		}
	}
	ms = ms[:4]
	MarkUnseparated(ms)
	if !slices.Equal(ms[1].Score.Unseparated, []string{"b"}) || !slices.Equal(ms[2].Score.Unseparated, []string{"a"}) {
		t.Errorf("a %v, b %v; want each other", ms[1].Score.Unseparated, ms[2].Score.Unseparated)
	}
	// By final score when all have one: the finals' intervals decide.
	for i, fin := range []float64{0.5, 0.1, 0.4, 0.05} {
		ms[i].Score.Final = ptr(fin)
		ms[i].Score.Interval.FinalLow, ms[i].Score.Interval.FinalHigh = ptr(fin-0.02), ptr(fin+0.02)
	}
	MarkUnseparated(ms)
	if order := Ranked(ms); !slices.Equal(order, []int{0, 2, 1, 3}) {
		t.Errorf("ranked by final: %v", order)
	}
	for _, m := range ms {
		if len(m.Score.Unseparated) != 0 {
			t.Errorf("%s: unseparated %v; the finals' intervals are disjoint", m.Name, m.Score.Unseparated)
		}
	}
}
