package reports

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"unlearnbench/result"
	"unlearnbench/scoring"
)

// FuzzDecode feeds arbitrary bytes to the result reader: it must refuse or
// accept without panicking, and the text renderers and compare must handle
// whatever it accepts. The HTML renderer is left to TestHTMLEdgeCases: its
// plots take milliseconds, and the fuzzer spent its time minimising.
func FuzzDecode(f *testing.F) {
	// Small seeds: the fuzzer minimises what it finds interesting byte by
	// byte, which takes hours on the 100 KB fixtures.
	small, err := json.Marshal(smallResult())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small)
	data, err := os.ReadFile(filepath.Join("testdata", "minimal.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := result.Decode("fuzz.json", data)
		if err != nil {
			return
		}
		for _, write := range []func(io.Writer, *result.Result) error{WriteSummary, WriteMarkdown, WriteMethodsCSV, WriteExamplesCSV, WriteAttacksCSV} {
			if err := write(io.Discard, r); err != nil {
				t.Fatalf("rendering an accepted result: %v", err)
			}
		}
		for i := range r.Methods {
			if err := WriteScore(io.Discard, &r.Methods[i], 10); err != nil {
				t.Fatal(err)
			}
		}
		var b bytes.Buffer
		if err := r.Encode(&b); err != nil {
			t.Fatal(err)
		}
		if _, err := result.Decode("again.json", b.Bytes()); err != nil {
			t.Fatalf("an accepted result does not read back: %v", err)
		}
		opt := DefaultCompareOptions
		opt.Resamples = 100
		opt.AllowDifferentN = true
		if _, err := Compare("a", r, "b", r, opt); err != nil {
			t.Fatalf("comparing a result with itself: %v", err)
		}
	})
}

// smallResult is a whole result in a few kilobytes: N = 4, E = 3, one
// plotted example, an attack with a ROC curve and per-example epsilons.
func smallResult() *result.Result {
	u, r, forgetAcc := synthPopulations(3, 4, 3, 1)
	sc, err := scoring.Score(u, r, scoring.Options{Workers: 1})
	if err != nil {
		panic(err)
	}
	res := result.New("run")
	res.Data = &result.DataSplit{Forget: 3, ForgetDigest: result.LabelsDigest([]int{1, 2, 3})}
	m := result.NewMethod("m", sc)
	for _, side := range []struct {
		role string
		pop  *scoring.Population
	}{{scoring.Unlearned, u}, {scoring.Retrained, r}} {
		p := result.NewPopulation(side.role, side.pop)
		p.ForgetAcc = forgetAcc[side.role]
		p.Seconds = []float64{1, 2, 3, 4}
		p.Seeds = []uint64{1, 2, 3, 4}
		m.Populations = append(m.Populations, p)
	}
	m.KeepDistributions(u, r, 1, 0)
	m.Attacks = []result.AttackResult{{Name: "a", AUC: ptr(0.6), ROC: []result.ROCPoint{{FPR: 0, TPR: 0}, {FPR: 0.01, TPR: 0.1}, {FPR: 1, TPR: 1}}, Epsilons: []float64{0.1, 1, 2}}}
	res.Methods = []result.Method{m}
	return res
}

// TestHTMLEdgeCases renders results whose values are extreme but valid.
func TestHTMLEdgeCases(t *testing.T) {
	cases := map[string]func(r *result.Result){
		"huge confidences": func(r *result.Result) { r.Methods[0].Distributions[0].Unlearned[0] = 1e300 },
		"one value": func(r *result.Result) {
			d := &r.Methods[0].Distributions[0]
			d.Unlearned, d.Retrained = d.Unlearned[:1], d.Retrained[:1]
		},
		"equal values": func(r *result.Result) {
			d := &r.Methods[0].Distributions[0]
			for i := range d.Unlearned {
				d.Unlearned[i] = 1
			}
			for i := range d.Retrained {
				d.Retrained[i] = 1
			}
		},
		"ROC without positives": func(r *result.Result) {
			r.Methods[0].Attacks[0].ROC = []result.ROCPoint{{FPR: 0, TPR: 0}, {FPR: 1, TPR: 0}}
		},
		"zero times": func(r *result.Result) { p := &r.Methods[0].Populations[0]; p.Seconds = make([]float64, p.N) },
		"zero accuracies": func(r *result.Result) {
			for i := range r.Methods[0].Populations {
				p := &r.Methods[0].Populations[i]
				p.RetainAcc, p.TestAcc, p.ForgetAcc = make([]float64, p.N), make([]float64, p.N), make([]float64, p.N)
			}
		},
		"no buckets": func(r *result.Result) { r.Methods[0].Score.Buckets = nil },
	}
	for name, modify := range cases {
		t.Run(name, func(t *testing.T) {
			r := smallResult()
			modify(r)
			if err := WriteHTML(io.Discard, r); err != nil {
				t.Fatal(err)
			}
		})
	}
}
