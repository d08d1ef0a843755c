package evaluate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/attack"
	"unlearnbench/attack/suite"
	"unlearnbench/internal/usererr"
	"unlearnbench/population"
)

const example = "../examples/finetune"

// readExample reads one population of examples/finetune as score reads it:
// the forget logits from the archive, the accuracies from the CSV when acc
// is set, otherwise the retain and test logits.
func readExample(t *testing.T, role string, acc bool) *population.Population {
	t.Helper()
	v, err := population.ReadValues(filepath.Join(example, role+".npz"), "forget")
	if err != nil {
		t.Fatal(err)
	}
	p := &population.Population{Forget: v}
	if acc {
		a, err := population.ReadAccuracies(filepath.Join(example, role+"_acc.csv"))
		if err != nil {
			t.Fatal(err)
		}
		p.RetainAcc, p.TestAcc = a.Retain, a.Test
		return p
	}
	for _, part := range []struct {
		name string
		dst  **population.Values
	}{{"retain", &p.Retain}, {"test", &p.Test}} {
		if *part.dst, err = population.ReadValues(filepath.Join(example, role+"_"+part.name+".npy")); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func readLabels(t *testing.T) *population.Labels {
	t.Helper()
	l := &population.Labels{}
	for _, part := range []struct {
		file string
		dst  *[]int
		name *string
	}{{"labels.npy", &l.Forget, &l.ForgetName}, {"retain_labels.npy", &l.Retain, &l.RetainName}, {"test_labels.npy", &l.Test, &l.TestName}} {
		var err error
		if *part.dst, *part.name, err = population.ReadLabels(filepath.Join(example, part.file)); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// wantMethod compares m, encoded, with the only method of a result file
// in testdata, byte for byte.
func wantMethod(t *testing.T, fixture string, m any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Methods []json.RawMessage }
	if err := json.Unmarshal(data, &file); err != nil || len(file.Methods) != 1 {
		t.Fatalf("%s: %v (%d methods)", fixture, err, len(file.Methods))
	}
	var want bytes.Buffer
	if err := json.Compact(&want, file.Methods[0]); err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		n := 0
		for n < min(len(got), want.Len()) && got[n] == want.Bytes()[n] {
			n++
		}
		from := max(n-80, 0)
		t.Fatalf("method differs from %s at byte %d:\n got  ...%s\n want ...%s", fixture, n, got[from:min(n+80, len(got))], want.Bytes()[from:min(n+80, want.Len())])
	}
}

// The examples' results as score and attack wrote them before the commands
// called Method.
func TestMethodMatchesCommands(t *testing.T) {
	labels := readLabels(t)
	cases := []struct {
		name, fixture string
		acc           bool
		attacks       *suite.Options
	}{
		{"accuracies from CSV", "score-acc.json", true, nil},
		{"accuracies from logits", "score-logits.json", false, nil},
		{"attacks", "attack.json", false, &suite.Options{
			Folds: 5, PerExample: suite.DefaultPerExample, Pooled: []string{"logreg", "svm"},
			Classifier: attack.ClassifierOptions{Neighbours: 5, Trees: 20}, MIASplits: 10, PooledMaxTrain: 4000,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, r := readExample(t, "unlearned", c.acc), readExample(t, "retrained", c.acc)
			m, err := Method(context.Background(), u, r, labels, Options{Method: "finetune", Attacks: c.attacks})
			if err != nil {
				t.Fatal(err)
			}
			wantMethod(t, c.fixture, m)
		})
	}
}

// A population compacted to its confidences and accuracies scores as the
// full one, and Method leaves both populations as they were.
func TestMethodCompactAndUnmodified(t *testing.T) {
	labels := readLabels(t)
	u, r := readExample(t, "unlearned", false), readExample(t, "retrained", false)
	cu, cr := *u, *r
	cu.Compact(labels)
	cr.Compact(labels)
	if cu.Forget.IsLogits() || cu.Retain != nil || cu.RetainAcc == nil || cu.ForgetAcc == nil {
		t.Fatalf("Compact kept logits or lost accuracies: %+v", cu)
	}
	m, err := Method(context.Background(), &cu, &cr, labels, Options{Method: "finetune", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	wantMethod(t, "score-logits.json", m)
	if _, err := Method(context.Background(), u, r, labels, Options{Method: "finetune"}); err != nil {
		t.Fatal(err)
	}
	if !u.Forget.IsLogits() || u.RetainAcc != nil || u.ForgetAcc != nil || u.Retain == nil {
		t.Fatalf("Method modified its input: %+v", u)
	}
}

func TestMethodCarriesSeedsAndTimes(t *testing.T) {
	labels := readLabels(t)
	u, r := readExample(t, "unlearned", true), readExample(t, "retrained", true)
	for i := range u.Forget.N {
		u.Seeds = append(u.Seeds, uint64(100+i))
		r.Seconds = append(r.Seconds, float64(i)/4)
	}
	m, err := Method(context.Background(), u, r, labels, Options{Method: "m"})
	if err != nil {
		t.Fatal(err)
	}
	pu, pr := m.Population("unlearned"), m.Population("retrained")
	if pu == nil || pr == nil || len(pu.Seeds) != u.Forget.N || pu.Seeds[3] != 103 || pu.Seconds != nil || pr.Seconds[2] != 0.5 || pr.Seeds != nil {
		t.Fatalf("populations %+v %+v", pu, pr)
	}
}

func TestMethodRefusesInputsThatDisagree(t *testing.T) {
	labels := readLabels(t)
	full := func() (*population.Population, *population.Population) {
		return readExample(t, "unlearned", true), readExample(t, "retrained", true)
	}
	attacks := &suite.Options{PerExample: []string{"none"}, Pooled: []string{"none"}}
	cases := []struct {
		name    string
		change  func(u, r *population.Population, l *population.Labels)
		attacks *suite.Options
		want    []string
	}{
		{"N differs", func(u, r *population.Population, _ *population.Labels) {
			v := *r.Forget
			v.N, v.Name = 127, "r127"
			v.Logits = nil
			v.Conf = make([]float64, 127*v.E)
			r.Forget = &v
		}, nil, []string{"r127", "N = 127", "N = 128"}},
		{"accuracies of one side", func(u, _ *population.Population, _ *population.Labels) { u.RetainAcc, u.TestAcc = nil, nil }, nil, []string{"one population only", "unlearned"}},
		{"seeds of another N", func(u, _ *population.Population, _ *population.Labels) { u.Seeds = []uint64{1, 2} }, nil, []string{"2 seeds", "N = 128"}},
		{"no forget labels", func(_, _ *population.Population, l *population.Labels) { l.Forget = nil }, nil, []string{"labels are needed"}},
		{"retain logits without labels", func(u, _ *population.Population, l *population.Labels) {
			u.Retain = readExample(t, "unlearned", false).Retain
			l.Retain = nil
		}, attacks, []string{"retain logits were given", "unlearned_retain.npy"}},
		{"same values twice", func(u, r *population.Population, _ *population.Labels) { *r = *u }, nil, []string{"hold the same values", "F = 1"}},
		{"class counts differ", func(_, r *population.Population, _ *population.Labels) {
			v := *r.Forget
			v.C, v.Name = 5, "r5"
			r.Forget = &v
		}, nil, []string{"has 10 classes but r5 has 5"}},
		{"labels with confidences of another E", func(u, r *population.Population, l *population.Labels) {
			for _, p := range []*population.Population{u, r} {
				v := *p.Forget
				v.Conf, _ = p.Confidences(l)
				v.Logits, v.C = nil, 0
				p.Forget = &v
			}
			l.Forget = l.Forget[:7]
		}, nil, []string{"7 labels, but the populations have E = 100"}},
		{"bad attack option", func(_, _ *population.Population, _ *population.Labels) {}, &suite.Options{Folds: 1}, []string{"1 folds"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, r := full()
			l := *labels
			c.change(u, r, &l)
			_, err := Method(context.Background(), u, r, &l, Options{Method: "m", Attacks: c.attacks})
			if err == nil {
				t.Fatal("no error")
			}
			if !usererr.Is(err) {
				t.Errorf("%v is not a user error", err)
			}
			for _, s := range c.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not mention %q", err, s)
				}
			}
		})
	}
}

// Values that overflow float64 arithmetic (population's readers refuse
// them; a caller that builds populations in memory may not) give a user
// error, never a result that cannot be encoded.
func TestMethodOverflow(t *testing.T) {
	huge := func(name string, f func(float64) float64) *population.Population {
		v := &population.Values{Name: name, N: 8, E: 3}
		for i := range v.N * v.E {
			v.Conf = append(v.Conf, f(float64(i))*1e308)
		}
		return &population.Population{Forget: v}
	}
	_, err := Method(context.Background(), huge("u", math.Sin), huge("r", math.Cos), nil, Options{Method: "m"})
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "not finite") {
		t.Fatalf("error %v", err)
	}
	if _, err := Method(context.Background(), huge("u", math.Sin), huge("r", math.Cos), nil, Options{Method: " "}); err == nil || !strings.Contains(err.Error(), "name is empty") {
		t.Fatalf("empty name: %v", err)
	}
}

// TestMethodStopsOnContext: a canceled context stops the score at its
// first example and the attacks at their first, with the context's error
// and no result; the progress reports show how little was done.
func TestMethodStopsOnContext(t *testing.T) {
	labels := readLabels(t)
	u, r := readExample(t, "unlearned", false), readExample(t, "retrained", false)
	opt := &suite.Options{Folds: 2, PerExample: []string{"logreg"}, Pooled: []string{"logreg"}, MIASplits: 2}
	for _, stage := range []string{"score", "attacks"} {
		ctx, cancel := context.WithCancel(context.Background())
		var scored, attacked int
		o := Options{Method: "finetune", Attacks: opt, Workers: 1,
			ScoreProgress: func(done, total int) {
				scored = done
				if stage == "score" {
					cancel()
				}
			},
			AttackProgress: func(done, total int) {
				attacked = done
				if stage == "attacks" {
					cancel()
				}
			}}
		m, err := Method(ctx, u, r, labels, o)
		cancel()
		if !errors.Is(err, context.Canceled) || m != nil {
			t.Fatalf("%s: %v, want the cancel", stage, err)
		}
		if stage == "score" && (scored != 1 || attacked != 0) || stage == "attacks" && attacked != 1 {
			t.Errorf("%s: %d examples scored and %d attacks run before stopping", stage, scored, attacked)
		}
	}
}
