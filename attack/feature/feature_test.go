package feature

import (
	"math"
	"testing"

	"unlearnbench/scoring"
)

func TestFeaturesKnownValues(t *testing.T) {
	// One model, one example, logits (2, 0, 0), label 0:
	// p = (e^2, 1, 1) / (e^2 + 2).
	l := &scoring.Logits{N: 1, E: 1, C: 3, F64: []float64{2, 0, 0}}
	fs, err := Compute(l, []int{0}, All)
	if err != nil {
		t.Fatal(err)
	}
	e2 := math.Exp(2)
	s := e2 + 2
	p := []float64{e2 / s, 1 / s, 1 / s}
	want := map[string]float64{
		Conf:     math.Log(p[0]) - math.Log(p[1]+p[2]),
		Loss:     -math.Log(p[0]),
		Prob:     p[0],
		Top1:     p[0],
		Entropy:  -(p[0]*math.Log(p[0]) + 2*p[1]*math.Log(p[1])),
		MEntropy: -(1-p[0])*math.Log(p[0]) - 2*p[1]*math.Log(1-p[1]),
		Margin:   2,
		Correct:  1,
	}
	for k, name := range fs.Names {
		if got := fs.X[k]; math.Abs(got-want[name]) > 1e-12 {
			t.Errorf("%s = %v, want %v", name, got, want[name])
		}
	}
	// Label 1: wrong prediction, negative margin.
	fs, _ = Compute(l, []int{1}, []string{Margin, Correct, MEntropy})
	wantM := -(1-p[1])*math.Log(p[1]) - p[0]*math.Log(1-p[0]) - p[2]*math.Log(1-p[2])
	if fs.X[0] != -2 || fs.X[1] != 0 || math.Abs(fs.X[2]-wantM) > 1e-12 {
		t.Errorf("label 1: margin %v, correct %v, mentropy %v (want %v)", fs.X[0], fs.X[1], fs.X[2], wantM)
	}
}

func TestFeaturesFiniteForExtremeLogits(t *testing.T) {
	// Gaps far beyond float64's exponent range: probabilities underflow,
	// yet no feature may be NaN or infinite.
	for _, z := range [][]float32{{1000, 0, -1000}, {-1000, 1000, 0}, {3e4, -3e4, 0}, {0, 0, 0}} {
		for y := 0; y < 3; y++ {
			l := &scoring.Logits{N: 1, E: 1, C: 3, F32: z}
			fs, err := Compute(l, []int{y}, All)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range fs.X {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("logits %v, label %d: %s = %v", z, y, fs.Names[k], v)
				}
			}
		}
	}
	// Confident and right: the modified entropy is close to 0; confident
	// and wrong: large (Song and Mittal's monotonicity).
	l := &scoring.Logits{N: 1, E: 1, C: 3, F64: []float64{30, 0, 0}}
	right, _ := Compute(l, []int{0}, []string{MEntropy})
	wrong, _ := Compute(l, []int{1}, []string{MEntropy})
	if right.X[0] > 1e-10 || wrong.X[0] < 29 {
		t.Errorf("mentropy right %v, wrong %v", right.X[0], wrong.X[0])
	}
}

func TestConfidenceIsTheScoresConfidence(t *testing.T) {
	// The conf feature is bit for bit the confidence score computes, so
	// the decision rules and the classifiers look at the same numbers.
	z := []float32{0.3, -1.7, 2.2, 0.9, 2.2000003, -0.4}
	l := &scoring.Logits{N: 2, E: 1, C: 3, F32: z}
	fs, err := Compute(l, []int{2}, []string{Conf})
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := l.Confidences([]int{2})
	for i := range conf {
		if fs.X[i] != conf[i] {
			t.Errorf("model %d: feature %v, score's confidence %v", i, fs.X[i], conf[i])
		}
	}
}

func TestBadInput(t *testing.T) {
	l := &scoring.Logits{N: 1, E: 2, C: 3, F64: []float64{1, 2, 3, 4, 5, math.NaN()}}
	if _, err := Compute(l, []int{0, 1}, All); err == nil {
		t.Error("NaN logit accepted")
	}
	l.F64[5] = 0
	if _, err := Compute(l, []int{0, 3}, All); err == nil {
		t.Error("label out of range accepted")
	}
	if _, err := Compute(l, []int{0}, All); err == nil {
		t.Error("label count mismatch accepted")
	}
	if _, err := Compute(l, []int{0, 1}, []string{"loss", "bogus"}); err == nil {
		t.Error("unknown feature accepted")
	}
}

func TestMeanPredictive(t *testing.T) {
	// Two models on one example: softmax (1/2, 1/2) and (e/(1+e), 1/(1+e)).
	l := &scoring.Logits{N: 2, E: 1, C: 2, F64: []float64{0, 0, 1, 0}}
	p, err := MeanPredictive(l)
	if err != nil {
		t.Fatal(err)
	}
	e := math.E
	if want := (0.5 + e/(1+e)) / 2; math.Abs(p[0]-want) > 1e-15 || math.Abs(p[0]+p[1]-1) > 1e-15 {
		t.Errorf("mean predictive %v, want %v", p, want)
	}
}
