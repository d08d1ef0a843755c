package result

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/scoring"
)

// fixtures holds the committed result files that reports' fixture test
// generates and renders; the schema's tests read the same files rather
// than keep a copy of their own.
var fixtures = filepath.Join("..", "reports", "testdata")

// readFixture reads a committed result file.
func readFixture(t *testing.T, name string) *Result {
	t.Helper()
	r, err := Read(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every way a result file can be wrong gives a one-line user error that
// names the file and what is wrong.
func TestDecodeRefusesBadResults(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(fixtures, "full.json"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("fixture lacks %q", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"other version", edit(`"version": 1`, `"version": 2`), `field "version" is 2; this unlearnbench reads version 1`},
		{"other schema", edit(`"schema": "unlearnbench.result"`, `"schema": "something.else"`), `field "schema" is "something.else"`},
		{"truncated", good[:len(good)/2], "unexpected end of JSON input"},
		{"not JSON", []byte("epsilon,bucket\n1,2\n"), "not a result file"},
		{"unknown field", edit(`"command": "run"`, `"command": "run", "comand": "x"`), `unknown field "comand"`},
		{"wrong type", edit(`"no_bucket": 0`, `"no_bucket": "0"`), "line "},
		{"edited F", edit(`"f": 0.162109375`, `"f": 0.9`), `field "score.f" is 0.9 but the examples' points average 0.162109375`},
		{"edited e", edit(`"e": 40`, `"e": 41`), "40 examples listed, field \"e\" says 41"},
		{"empty methods", []byte(`{"schema": "unlearnbench.result", "version": 1, "command": "score", "methods": []}`), `field "methods" is empty`},
		{"no methods", []byte(`{"schema": "unlearnbench.result", "version": 1, "command": "score"}`), `field "methods" is empty`},
		{"bad accuracy", edit(`"retain_acc": [`, `"retain_acc": [1.5, `), "retain_acc"},
		{"bad role", edit(`"role": "unlearned"`, `"role": "forgotten"`), `field "role" is "forgotten"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode("r.json", c.data)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !usererr.Is(err) || !strings.HasPrefix(msg, "r.json") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q (user error %v); want one line naming r.json and containing %q", msg, usererr.Is(err), c.want)
			}
		})
	}
}

func TestWriteRefusesEmptyResult(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	if err := New("score").Write(path); err == nil || !strings.Contains(err.Error(), "methods") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("a refused result left a file behind")
	}
}

func TestPlotExamples(t *testing.T) {
	eps := []float64{0.2, 3.1, 1.0, 0.9, 3.1, 1.1, 0.1}
	ex := make([]scoring.Example, len(eps))
	for i, e := range eps {
		ex[i] = scoring.Example{Index: i, Epsilon: e}
	}
	// Worst: 1 and 4 (tie by index); median epsilon 1.0: then 2, then 3
	// and 5 at distance 0.1 (3 first by index).
	got := PlotExamples(ex, 2, 3)
	want := []int{1, 4, 2, 3, 5}
	if len(got) != len(want) {
		t.Fatalf("PlotExamples = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("PlotExamples = %v, want %v", got, want)
		}
	}
	if got := PlotExamples(ex, 10, 3); len(got) != len(ex) {
		t.Fatalf("asking for more than there are: %v", got)
	}
	if r := Rank(ex); r[1] != 1 || r[4] != 2 || r[6] != 7 {
		t.Fatalf("Rank = %v", r)
	}
}

func TestTPRAt(t *testing.T) {
	a := AttackResult{ROC: []ROCPoint{{0, 0}, {0.005, 0.2}, {0.01, 0.3}, {0.2, 0.6}, {1, 1}}}
	for _, c := range []struct{ fpr, tpr float64 }{{0.001, 0}, {0.01, 0.3}, {0.1, 0.3}, {0.5, 0.6}} {
		if got, ok := a.TPRAt(c.fpr); !ok || got != c.tpr {
			t.Errorf("TPRAt(%v) = %v, %v; want %v", c.fpr, got, ok, c.tpr)
		}
	}
	a.TPRAtFPR = []TPRPoint{{FPR: 0.01, TPR: 0.25}}
	if got, _ := a.TPRAt(0.01); got != 0.25 {
		t.Errorf("the attack's own TPR was not used: %v", got)
	}
	if _, ok := (&AttackResult{}).TPRAt(0.01); ok {
		t.Error("an attack without ROC reported a TPR")
	}
}

// NewFrom fills what a command knows in one call; a result built from a
// committed file's parts encodes to that file's bytes.
func TestNewFromRebuildsAFile(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(fixtures, "minimal.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := readFixture(t, "minimal.json")
	got := NewFrom(r.Command, r.Inputs, r.Data, r.Methods...)
	var b bytes.Buffer
	if err := got.Encode(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("NewFrom(%q, ...) encodes differently from minimal.json", r.Command)
	}
	if r := NewFrom("score", nil, nil); r.Methods != nil || r.Version != SchemaVersion || r.Minor != SchemaMinor {
		t.Errorf("NewFrom without methods: %+v", r)
	}
}
