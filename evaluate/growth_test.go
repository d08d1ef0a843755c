package evaluate

import (
	"context"
	"math"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/scoring"
)

// Method with Bootstrap puts F's interval into the method, from the real
// example populations, and the same seed gives the same interval.
func TestMethodBootstrap(t *testing.T) {
	u, r, labels := readExample(t, "unlearned", true), readExample(t, "retrained", true), readLabels(t)
	opt := Options{Method: "finetune", Bootstrap: &scoring.BootstrapOptions{Resamples: 20, Level: 0.9, Seed: 3}}
	m, err := Method(context.Background(), u, r, labels, opt)
	if err != nil {
		t.Fatal(err)
	}
	iv := m.Score.Interval
	if iv == nil || iv.Resamples != 20 || iv.Level != 0.9 || iv.Seed != 3 || iv.FinalLow == nil {
		t.Fatalf("interval %+v", iv)
	}
	// examples/finetune: F = 0.0488 at N = 128 (docs/commands/score.md).
	if !(iv.Low > 0 && iv.Low < iv.High && iv.High < 0.2) {
		t.Errorf("F = %v, interval [%v, %v]", m.Score.F, iv.Low, iv.High)
	}
	t.Logf("F = %.4f, 90%% interval [%.4f, %.4f], final [%.4f, %.4f]", m.Score.F, iv.Low, iv.High, *iv.FinalLow, *iv.FinalHigh)
	again, err := Method(context.Background(), u, r, labels, opt)
	if err != nil || *again.Score.Interval.FinalHigh != *iv.FinalHigh || again.Score.Interval.Low != iv.Low {
		t.Errorf("same seed, another interval: %+v, %v", again.Score.Interval, err)
	}
	opt.Bootstrap = &scoring.BootstrapOptions{Resamples: 1, Level: 0.9}
	if _, err := Method(context.Background(), u, r, labels, opt); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "resamples is 1") {
		t.Errorf("one resample: %v", err)
	}
}

func TestCheckTargetWidth(t *testing.T) {
	for _, w := range []float64{0, -0.01, math.NaN(), math.Inf(1)} {
		err := CheckTargetWidth("--target-width", w)
		if err == nil || !usererr.Is(err) || !strings.HasPrefix(err.Error(), "--target-width is ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("width %v: %v", w, err)
		}
	}
	if err := CheckTargetWidth("--target-width", 0.02); err != nil {
		t.Error(err)
	}
	if _, err := NewGrowthPlan("target_width", math.NaN(), 512); err == nil || !strings.Contains(err.Error(), "target_width is NaN") {
		t.Errorf("NaN target: %v", err)
	}
	if _, err := NewGrowthPlan("target_width", 0.02, 2); err == nil {
		t.Error("a cap of 2 accepted")
	}
}

func TestNeededNStatement(t *testing.T) {
	iv := &scoring.Interval{Low: 0.10, High: 0.14, Level: 0.95}
	n, s := NeededN(32, iv, 0.02)
	if n != 128 || !strings.Contains(s, "needs N ≈ 128") || !strings.Contains(s, "1/sqrt(N)") || !strings.Contains(s, "95% interval is 0.0400 wide at N = 32") {
		t.Errorf("%d, %q", n, s)
	}
	if n, s = NeededN(32, iv, 0.05); n != 32 || !strings.Contains(s, "within the target") {
		t.Errorf("narrow enough: %d, %q", n, s)
	}
	// A measured exponent replaces the assumption: -0.25 needs the
	// square of the models -0.5 needs.
	b := -0.25
	iv.Exponent, iv.ExponentSizes = &b, []int{8, 16, 32}
	if n, s = NeededN(32, iv, 0.02); n != 512 || !strings.Contains(s, "N^-0.25, as measured on these populations by bootstraps of [8 16 32] models") {
		t.Errorf("measured exponent: %d, %q", n, s)
	}
	b = 0.01
	if n, s = NeededN(32, iv, 0.02); n != 0 || !strings.Contains(s, "more models do not narrow it") {
		t.Errorf("flat width: %d, %q", n, s)
	}
}

// A plan grows to the predicted N, by a quarter at least and four times
// at most, stops at the target or the cap, and stops when more models do
// not narrow the interval.
func TestGrowthPlan(t *testing.T) {
	g, err := NewGrowthPlan("--target-width", 0.02, 512)
	if err != nil {
		t.Fatal(err)
	}
	width := func(w float64) *scoring.Interval { return &scoring.Interval{Low: 0.1, High: 0.1 + w, Level: 0.95} }
	for _, c := range []struct {
		n    int
		w    float64
		want Step
	}{
		{32, 0.04, Step{N: 128}},              // predicted 128
		{32, 0.2, Step{N: 128}},               // predicted 3200, four times at most
		{100, 0.0205, Step{N: 125}},           // predicted 106, a quarter at least
		{256, 0.04, Step{N: 512}},             // predicted 1024, the cap
		{512, 0.04, Step{N: 512, Done: true}}, // at the cap
		{64, 0.015, Step{N: 64, Done: true}},  // within the target
	} {
		got := g.Next(c.n, width(c.w))
		if got.N != c.want.N || got.Done != c.want.Done || got.Why == "" {
			t.Errorf("N = %d, width %v: %+v; want N = %d, done %v", c.n, c.w, got, c.want.N, c.want.Done)
		}
	}
	g.Exponent = 0.05
	if s := g.Next(32, width(0.04)); !s.Done || !strings.Contains(s.Why, "more models do not narrow it") {
		t.Errorf("flat width: %+v", s)
	}
}
