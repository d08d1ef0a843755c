package population

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/usererr"
)

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadAccuraciesFormats(t *testing.T) {
	cases := []struct {
		name, content string
	}{
		{"a.csv", "model,retain,test\n0,0.9,0.8\n1,0.91,0.81\n"},
		{"b.csv", "Test_Acc, seed, Retain_Accuracy\n0.8, 1, 0.9\n0.81, 2, 0.91\n"},
		{"c.json", `{"retain": [0.9, 0.91], "test": [0.8, 0.81]}`},
		{"d.json", `[{"retain_acc": 0.9, "test_acc": 0.8, "seed": 3}, {"retain_acc": 0.91, "test_acc": 0.81}]`},
	}
	for _, c := range cases {
		acc, err := ReadAccuracies(write(t, c.name, c.content))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(acc.Retain) != 2 || acc.Retain[1] != 0.91 || acc.Test[0] != 0.8 {
			t.Fatalf("%s: %+v", c.name, acc)
		}
	}
}

func TestReadAccuraciesErrors(t *testing.T) {
	cases := []struct {
		name, content string
		want          []string
	}{
		{"h.csv", "model,acc\n0,0.9\n", []string{"h.csv", "line 1", `"retain"`, `"test"`}},
		{"v.csv", "retain,test\n0.9,0.8\n0.9,x\n", []string{"v.csv", "line 3", `field "test"`, `"x" is not a number`}},
		{"r.csv", "retain,test\n1.5,0.8\n", []string{"r.csv", "line 2", "outside [0, 1]"}},
		{"e.csv", "", []string{"e.csv", "empty"}},
		{"n.csv", "retain,test\n", []string{"n.csv", "no models"}},
		{"f.csv", "retain,test\n0.9\n", []string{"f.csv", "wrong number of fields"}},
		{"k.json", `{"retain": [0.9]}`, []string{"k.json", `no "test" field`}},
		{"t.json", `{"retain": [0.9], "test": ["a"]}`, []string{"t.json", `field "test"`}},
		{"o.json", `[{"retain": 0.9, "test": -0.1}]`, []string{"o.json", "model 0", `field "test"`, "outside [0, 1]"}},
		{"s.json", "{\n  \"retain\": [0.9,\n", []string{"s.json"}},
		{"x.txt", "", []string{"x.txt", "unsupported"}},
		// Two columns or keys for one accuracy: refused, not the first.
		{"d.csv", "retain,test,retain\n0.9,0.8,0.7\n", []string{"d.csv", "line 1", `columns 1 ("retain") and 3 ("retain")`}},
		{"a.csv", "ta,retain,test_acc\n0.8,0.9,0.7\n", []string{"a.csv", `columns 1 ("ta") and 3 ("test_acc")`, "test accuracy"}},
		{"d.json", `{"retain": [0.9], "RA": [0.8], "test": [0.7]}`, []string{"d.json", `fields "RA" and "retain"`}},
		{"r.json", `[{"retain": 0.9, "test": 0.8, "TA": 0.7}]`, []string{"r.json", "model 0", `fields "TA" and "test"`}},
	}
	for _, c := range cases {
		_, err := ReadAccuracies(write(t, c.name, c.content))
		if err == nil || !usererr.Is(err) {
			t.Fatalf("%s: error %v, want a user error", c.name, err)
		}
		msg := err.Error()
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q does not mention %q", c.name, msg, w)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: multi-line error %q", c.name, msg)
		}
	}
}

func TestReadValuesAndConfidences(t *testing.T) {
	dir := t.TempDir()
	// Two models, one example, three classes: logits [0, ln 3, 0] with
	// label 1 give p = (1/5, 3/5, 1/5), confidence ln(3/5) - ln(2/5) = ln 1.5.
	p := filepath.Join(dir, "l.npy")
	data := []float64{0, 1.0986122886681098, 0, 0, 0, 0}
	if err := arrays.WriteNPY(p, arrays.Tensor[float64]{Shape: []int{2, 1, 3}, Data: data}); err != nil {
		t.Fatal(err)
	}
	v, err := ReadValues(p)
	if err != nil {
		t.Fatal(err)
	}
	if !v.IsLogits() || v.Describe() != "logits (2, 1, 3)" {
		t.Fatalf("values %s", v.Describe())
	}
	conf, err := v.Confidences([]int{1}, "labels")
	if err != nil {
		t.Fatal(err)
	}
	if d := conf[0] - 0.4054651081081644; d > 1e-12 || d < -1e-12 {
		t.Fatalf("confidence %v, want ln 1.5", conf[0])
	}
	// Uniform logits: p_y = 1/3, p_wrong = 2/3, confidence -ln 2.
	if d := conf[1] + 0.6931471805599453; d > 1e-12 || d < -1e-12 {
		t.Fatalf("confidence %v, want -ln 2", conf[1])
	}
	acc, err := v.Accuracies([]int{1}, "labels")
	if err != nil || acc[0] != 1 || acc[1] != 0 {
		// Model 1's logits tie; argmax takes the first class, 0.
		t.Fatalf("accuracies %v %v", acc, err)
	}
	if _, err := v.Confidences([]int{3}, "y.npy"); err == nil || !strings.Contains(err.Error(), "y.npy: label 0 is 3") {
		t.Fatalf("label out of range: %v", err)
	}
}

func FuzzAccuracyCSV(f *testing.F) {
	f.Add([]byte("model,retain,test\n0,0.9,0.8\n"))
	f.Add([]byte("retain,test\n\"0.5\",1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		acc, err := parseAccuracyCSV("f.csv", b)
		if err != nil {
			if !usererr.Is(err) {
				t.Fatalf("not a user error: %v", err)
			}
			return
		}
		for i := range acc.Retain {
			if !(acc.Retain[i] >= 0 && acc.Retain[i] <= 1 && acc.Test[i] >= 0 && acc.Test[i] <= 1) {
				t.Fatalf("accepted accuracy outside [0, 1]: %v %v", acc.Retain[i], acc.Test[i])
			}
		}
	})
}

func FuzzAccuracyJSON(f *testing.F) {
	f.Add([]byte(`{"retain": [0.9], "test": [0.8]}`))
	f.Add([]byte(`[{"retain": 0.9, "test": 0.8}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		acc, err := parseAccuracyJSON("f.json", b)
		if err != nil {
			if !usererr.Is(err) {
				t.Fatalf("not a user error: %v", err)
			}
			return
		}
		if len(acc.Retain) != len(acc.Test) {
			t.Fatalf("accepted %d retain and %d test accuracies", len(acc.Retain), len(acc.Test))
		}
		for i := range acc.Retain {
			if !(acc.Retain[i] >= 0 && acc.Retain[i] <= 1 && acc.Test[i] >= 0 && acc.Test[i] <= 1) {
				t.Fatalf("accepted accuracy outside [0, 1]")
			}
		}
	})
}

// Compact keeps what scoring needs and drops the logits; a population it
// cannot compact (no labels) is left as it was.
func TestCompact(t *testing.T) {
	p := filepath.Join(t.TempDir(), "l.npy")
	data := []float64{0, 1.0986122886681098, 0, 0, 0, 0}
	if err := arrays.WriteNPY(p, arrays.Tensor[float64]{Shape: []int{2, 1, 3}, Data: data}); err != nil {
		t.Fatal(err)
	}
	v, err := ReadValues(p)
	if err != nil {
		t.Fatal(err)
	}
	pop := &Population{Forget: v, Retain: v, Test: v}
	pop.Compact(&Labels{})
	if pop.Forget != v || pop.Retain == nil || pop.ForgetAcc != nil {
		t.Fatalf("compacted without labels: %+v", pop)
	}
	one := []int{1}
	pop.Compact(&Labels{Forget: one, Retain: one, Test: one})
	f := pop.Forget
	if f.IsLogits() || f.C != 3 || len(f.Conf) != 2 || pop.Retain != nil || pop.Test != nil {
		t.Fatalf("compacted forget values %+v, retain %v", f, pop.Retain)
	}
	for name, acc := range map[string][]float64{"forget": pop.ForgetAcc, "retain": pop.RetainAcc, "test": pop.TestAcc} {
		if len(acc) != 2 || acc[0] != 1 || acc[1] != 0 {
			t.Errorf("%s accuracies %v, want [1 0]", name, acc)
		}
	}
	if !v.IsLogits() {
		t.Error("Compact changed the values it was given")
	}
	if err := pop.CheckSizes("unlearned"); err != nil {
		t.Fatal(err)
	}
	pop.Seeds = []uint64{1}
	if err := pop.CheckSizes("unlearned"); err == nil || !strings.Contains(err.Error(), "1 seeds for the unlearned population of N = 2") {
		t.Fatalf("seeds of another N: %v", err)
	}
}

// ReadValuesLike refuses, from the header, an array of another N or E.
func TestReadValuesLike(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.npy")
	if err := arrays.WriteNPY(p, arrays.Tensor[float32]{Shape: []int{4, 2}, Data: make([]float32, 8)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		like Like
		want string
	}{
		{Like{N: 5, Of: "u.npy"}, "declares N = 4 models, but u.npy has N = 5"},
		{Like{N: 4, E: 3, Of: "u.npy"}, "declares E = 2 examples, but u.npy has E = 3"},
	} {
		if _, err := ReadValuesLike(p, c.like); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.like, err, c.want)
		}
	}
	if v, err := ReadValuesLike(p, Like{N: 4, E: 2}); err != nil || v.N != 4 {
		t.Errorf("fitting array: %v", err)
	}
	if _, _, err := ReadLabelsLike(p, 9, "x.npy"); err == nil {
		t.Error("labels of rank 2 accepted")
	}
}
