package reports

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"unlearnbench/attack"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

var update = flag.Bool("update", false, "rewrite the fixtures and golden files under testdata/")

// The result files the golden tests render, made by the generators below
// (go test ./reports -run TestFixtures -update rewrites them). The repository
// root's testdata/ gets copies for the README's examples.
var fixtures = map[string]func() *result.Result{
	"full.json":      func() *result.Result { return fullResult(map[string]float64{"finetune": 0.5, "noop": 2.5}) },
	"regressed.json": func() *result.Result { return fullResult(map[string]float64{"finetune": 1.5, "noop": 2.5}) },
	"minimal.json":   minimalResult,
}

// readmeFixtures are copied to the repository's testdata/results/.
var readmeFixtures = []string{"full.json", "regressed.json"}

const (
	fixtureN = 32
	fixtureE = 40
)

// synthPopulations simulates both populations on E forget examples: the
// retrained models' confidence scatters around each example's difficulty;
// the unlearned models keep memory times the example's memorisation. The
// same seed gives the same examples and noise whatever the memory, so
// results of one seed pair example by example.
func synthPopulations(seed uint64, n, e int, memory float64) (u, r *scoring.Population, forgetAcc map[string][]float64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	difficulty := make([]float64, e)
	memorised := make([]float64, e)
	for j := range e {
		difficulty[j] = 1.5 + 1.2*rng.NormFloat64()
		memorised[j] = rng.ExpFloat64()
	}
	u = &scoring.Population{N: n, E: e, Conf: make([]float64, n*e)}
	r = &scoring.Population{N: n, E: e, Conf: make([]float64, n*e)}
	forgetAcc = map[string][]float64{}
	for _, p := range []struct {
		role string
		pop  *scoring.Population
		mem  float64
		ra   float64
	}{{scoring.Retrained, r, 0, 0.95}, {scoring.Unlearned, u, memory, 0.955 - 0.01*memory}} {
		for i := range n {
			correct := 0
			for j := range e {
				c := math.Round(1e4*(difficulty[j]+p.mem*memorised[j]+rng.NormFloat64())) / 1e4
				p.pop.Conf[i*e+j] = c
				if c > 0 {
					correct++
				}
			}
			p.pop.RetainAcc = append(p.pop.RetainAcc, math.Round(1e4*min(1, p.ra+0.01*rng.NormFloat64()))/1e4)
			p.pop.TestAcc = append(p.pop.TestAcc, math.Round(1e4*(0.87+0.01*rng.NormFloat64()))/1e4)
			forgetAcc[p.role] = append(forgetAcc[p.role], float64(correct)/float64(e))
		}
	}
	return u, r, forgetAcc
}

// binormalROC is the ROC curve of a score that is N(d, 1) for members and
// N(0, 1) for non-members, at 60 thresholds.
func binormalROC(d float64) []result.ROCPoint {
	std := distuv.UnitNormal
	pts := []result.ROCPoint{{FPR: 0, TPR: 0}}
	for k := 59; k >= 0; k-- {
		t := -4 + float64(k)*(8+d)/59
		pts = append(pts, result.ROCPoint{FPR: round6(std.Survival(t)), TPR: round6(std.Survival(t - d))})
	}
	return append(pts, result.ROCPoint{FPR: 1, TPR: 1})
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func ptr(v float64) *float64 { return &v }

// fullResult is a run of several methods with everything a result can hold.
func fullResult(memory map[string]float64) *result.Result {
	res := result.New("run")
	res.Config = json.RawMessage(`{"dataset":"fashion-mnist","forget":{"classes":[0],"fraction":0.02},"population":{"n":32},"seed":2023}`)
	res.Data = &result.DataSplit{Dataset: "synthetic (reports/fixture_test.go)", Classes: 10, Train: 2000, Retain: 1960, Forget: fixtureE, Validation: 200, Test: 500,
		ForgetSelection: "40 examples drawn at random, seed 2023", ForgetDigest: result.LabelsDigest(fixtureLabels())}
	res.Seconds = ptr(3725)
	res.Inputs = map[string]string{"config": "configs/small.yaml"}
	for k, name := range []string{"finetune", "noop"} {
		mem := memory[name]
		u, r, forgetAcc := synthPopulations(2023, fixtureN, fixtureE, mem)
		sc, err := scoring.Score(u, r, scoring.Options{Workers: 1})
		if err != nil {
			panic(err)
		}
		m := result.NewMethod(name, sc)
		secU, secR := 12.0, 95.0
		if name == "noop" {
			secU = 0.05
		}
		for _, side := range []struct {
			role string
			pop  *scoring.Population
			sec  float64
			seed uint64
		}{{scoring.Unlearned, u, secU, 1}, {scoring.Retrained, r, secR, 1001}} {
			// One retrained population (the oracle) serves every method.
			noise := rand.New(rand.NewPCG(side.seed+uint64(k)*boolInt(side.role == scoring.Unlearned), 11))
			p := result.NewPopulation(side.role, side.pop)
			p.ForgetAcc = forgetAcc[side.role]
			for i := range fixtureN {
				p.Seeds = append(p.Seeds, side.seed+uint64(i))
				p.Seconds = append(p.Seconds, round6(side.sec*(1+0.05*noise.NormFloat64())))
			}
			m.Populations = append(m.Populations, p)
		}
		m.KeepDistributions(u, r, 3, 2)
		d := 0.3 + 0.5*mem
		lira := result.AttackResult{Name: "lira/offline/fixed-var", Kind: "lira", Features: []string{"confidence"},
			AUC: ptr(round6(distuv.UnitNormal.CDF(d / math.Sqrt2))), Advantage: ptr(round6(2*distuv.UnitNormal.CDF(d/2) - 1)), ROC: binormalROC(d)}
		for _, fpr := range StandardFPRs {
			lira.TPRAtFPR = append(lira.TPRAtFPR, result.TPRPoint{FPR: fpr, TPR: round6(distuv.UnitNormal.Survival(distuv.UnitNormal.Quantile(1-fpr) - d))})
		}
		perExample := result.AttackResult{Name: "logreg/per-example", Kind: "per-example", Features: []string{"confidence", "loss"}, AUC: ptr(round6(0.5 + 0.08*mem))}
		noise := rand.New(rand.NewPCG(uint64(k), 13))
		for _, ex := range m.Examples {
			perExample.Epsilons = append(perExample.Epsilons, round6(max(0, ex.Epsilon*0.9+0.2*noise.NormFloat64())))
		}
		simple := result.AttackResult{Name: "simple-mia", Kind: "single-model", Value: ptr(round6(0.5 + 0.03*mem)), ValueName: "accuracy", Spread: ptr(0.012),
			Warnings: []string{"2 of 10 folds held fewer than 5 members"}}
		online := result.AttackResult{Name: "lira/online/fixed-var", Kind: "lira", Skipped: "needs the original models (--original)"}
		m.Attacks = []result.AttackResult{lira, perExample, simple, online}
		m.Attacks = append(m.Attacks, fixtureMetrics(u, r, forgetAcc)...)
		res.Methods = append(res.Methods, m)
	}
	res.Warnings = []string{"synthetic populations: made by the test generator, not by unlearning"}
	return res
}

// fixtureMetrics computes KLoM on the forget set (the confidences are the
// margins) and ToW of the synthetic populations, as attack/suite does, with
// the retain set's KLoM and ToW-MIA not run.
func fixtureMetrics(u, r *scoring.Population, forgetAcc map[string][]float64) []result.AttackResult {
	vals, undefined, err := attack.KLoM(u.Conf, r.Conf, u.N, r.N, u.E, attack.KLoMOptions{})
	if err != nil || len(undefined) > 0 {
		panic(fmt.Sprint(err, undefined))
	}
	for j := range vals {
		vals[j] = round6(vals[j])
	}
	klom := result.AttackResult{Name: "klom/forget", Kind: result.KindKLoM, Features: []string{"margin"}, ValueName: "binned-margin KL(R || U) mean",
		PerExample: vals, Value: ptr(stat.Mean(vals, nil)), Median: ptr(attack.Median(vals)), P95: ptr(attack.Percentile(vals, 95)),
		Warnings: []string{"margins from the competition's confidences (equal up to rounding and their 1e-45 floor); logits [N, E, C] with --labels give them exactly"}}
	retain := result.AttackResult{Name: "klom/retain", Kind: result.KindKLoM, Features: []string{"margin"}, ValueName: klom.ValueName,
		Skipped: "needs both populations' logits on the retain set and its labels"}
	tow := result.AttackResult{Name: "tow", Kind: result.KindToW, ValueName: "mean over model pairs [95% t CI]"}
	for i := range u.N {
		v, err := attack.ToW(attack.Accuracies{Forget: forgetAcc[scoring.Unlearned][i], Retain: u.RetainAcc[i], Test: u.TestAcc[i]},
			attack.Accuracies{Forget: forgetAcc[scoring.Retrained][i], Retain: r.RetainAcc[i], Test: r.TestAcc[i]})
		if err != nil {
			panic(err)
		}
		tow.PerModel = append(tow.PerModel, round6(v))
	}
	mean, lo, hi, _ := attack.TInterval(tow.PerModel, 0.95)
	tow.Value, tow.CILow, tow.CIHigh = ptr(mean), ptr(lo), ptr(hi)
	towMIA := result.AttackResult{Name: "tow-mia", Kind: result.KindToW, Features: []string{"loss"}, ValueName: tow.ValueName,
		Skipped: "needs the simple MIA's accuracies on both populations, and it did not run (simple-mia: needs the test set's logits and labels)"}
	return []result.AttackResult{klom, retain, tow, towMIA}
}

// minimalResult is what score --resamples 200 --target-width 0.02 writes
// without accuracies, from confidences: F's interval with its measured
// exponent, but no accuracies, times, attacks or distributions.
func minimalResult() *result.Result {
	u, r, _ := synthPopulations(7, 16, 12, 1)
	u.RetainAcc, u.TestAcc, r.RetainAcc, r.TestAcc = nil, nil, nil, nil
	sc, err := scoring.Score(u, r, scoring.Options{Workers: 1})
	if err != nil {
		panic(err)
	}
	res := result.New("score")
	res.Inputs = map[string]string{"unlearned": "u.npy", "retrained": "r.npy"}
	m := result.NewMethod("unlearned", sc)
	if m.Score.Interval, err = scoring.BootstrapF(u, r, scoring.BootstrapOptions{Resamples: 200, Level: 0.95, Seed: 1, MeasureExponent: true}); err != nil {
		panic(err)
	}
	m.Score.Interval.TargetWidth = ptr(0.02)
	res.Methods = []result.Method{m}
	return res
}

func encode(t *testing.T, r *result.Result) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestFixtures checks that the committed result files are what the
// generators make, which also pins the JSON encoding of every field.
func TestFixtures(t *testing.T) {
	for name, gen := range fixtures {
		path := filepath.Join("testdata", name)
		got := encode(t, gen())
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its generator; run go test ./reports -run TestFixtures -update", path)
		}
		if _, err := result.Decode(path, want); err != nil {
			t.Errorf("%s does not read back: %v", path, err)
		}
	}
	for _, name := range readmeFixtures {
		src := filepath.Join("testdata", name)
		dst := filepath.Join("..", "testdata", "results", name)
		want, _ := os.ReadFile(src)
		if *update {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(dst)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not a copy of %s; run go test ./reports -run TestFixtures -update", dst, src)
		}
	}
}

// readFixture reads a committed result file.
func readFixture(t *testing.T, name string) *result.Result {
	t.Helper()
	r, err := result.Read(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func boolInt(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// fixtureLabels are the synthetic forget set's labels.
func fixtureLabels() []int {
	labels := make([]int, fixtureE)
	for i := range labels {
		labels[i] = i * 7 % 10
	}
	return labels
}
