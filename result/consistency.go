package result

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"unlearnbench/scoring"
)

// The checks of a result's internal consistency that need the score's own
// rules: a file that says one thing in one field and another elsewhere
// (hand-edited, or written by a broken tool) is refused naming the field,
// since report and compare would otherwise render, or gate on, whichever
// field they read.

// exampleFields are the per-example values a result must hold; a missing
// one would decode as 0 and pass for a real value.
var exampleFields = []string{"index", "epsilon", "bucket", "points"}

// requireExampleFields refuses a result whose examples lack a value.
func requireExampleFields(data []byte) error {
	var raw struct {
		Methods []struct {
			Name     string                       `json:"name"`
			Examples []map[string]json.RawMessage `json:"examples"`
		} `json:"methods"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	for _, m := range raw.Methods {
		for k, ex := range m.Examples {
			for _, f := range exampleFields {
				if _, ok := ex[f]; !ok {
					return fmt.Errorf("method %q: examples[%d]: field %q is missing", m.Name, k, f)
				}
			}
		}
	}
	return nil
}

// near reports whether a and b agree to the precision a result keeps.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b)) }

// unit reports whether a rate, an AUC or an accuracy lies in [0, 1].
func unit(v float64) bool { return v >= 0 && v <= 1 }

// checkConsistency checks every method of a validated result (see
// Method.checkConsistency). It is called beside validate, in Decode and
// Write, rather than from it, so that the two sets of checks stay apart.
func (r *Result) checkConsistency() error {
	for i := range r.Methods {
		m := &r.Methods[i]
		if err := m.checkConsistency(); err != nil {
			return fmt.Errorf("method %q: %w", m.Name, err)
		}
	}
	return nil
}

// checkConsistency checks the score against the competition's rules for
// N models per population: the buckets, each example's bucket and points
// against its epsilon, the bucket counts, the final score against F and the
// accuracy ratios, the populations' sizes and accuracies against the
// utility, and every rate and AUC in [0, 1].
func (m *Method) checkConsistency() error {
	want := scoring.Buckets(m.N)
	if len(m.Score.Buckets) != len(want) {
		return fmt.Errorf("score.buckets: %d buckets, but n = %d models give %d", len(m.Score.Buckets), m.N, len(want))
	}
	for k, b := range m.Score.Buckets {
		if b.Bucket != want[k] {
			return fmt.Errorf("score.buckets[%d] is [%v, %v) worth %v; n = %d gives [%v, %v) worth %v", k, b.Lo, b.Hi, b.Points, m.N, want[k].Lo, want[k].Hi, want[k].Points)
		}
	}
	if me := scoring.MaxEpsilon(m.N); m.Score.MaxEpsilon != me {
		return fmt.Errorf("field \"score.max_epsilon\" is %v; n = %d gives %v", m.Score.MaxEpsilon, m.N, me)
	}
	counts := make([]int, len(want))
	noBucket := 0
	for k, ex := range m.Examples {
		b := scoring.BucketOf(want, ex.Epsilon)
		if ex.Bucket != b {
			return fmt.Errorf("examples[%d]: field \"bucket\" is %d, but epsilon %v falls in bucket %d", k, ex.Bucket, ex.Epsilon, b)
		}
		if p := scoring.PointsOf(want, ex.Epsilon); ex.Points != p {
			return fmt.Errorf("examples[%d]: field \"points\" is %v, but epsilon %v earns %v", k, ex.Points, ex.Epsilon, p)
		}
		if b < 0 {
			noBucket++
		} else {
			counts[b]++
		}
		for _, r := range []struct {
			field string
			v     *float32
		}{{"fpr", ex.FPR}, {"fnr", ex.FNR}} {
			if r.v != nil && !unit(float64(*r.v)) {
				return fmt.Errorf("examples[%d]: field %q is %v; rates lie in [0, 1]", k, r.field, *r.v)
			}
		}
	}
	for k, b := range m.Score.Buckets {
		if b.Count != counts[k] {
			return fmt.Errorf("score.buckets[%d]: field \"count\" is %d, but %d examples fall in it", k, b.Count, counts[k])
		}
	}
	if m.Score.NoBucket != noBucket {
		return fmt.Errorf("field \"score.no_bucket\" is %d, but %d examples fall past the last bucket", m.Score.NoBucket, noBucket)
	}
	if err := m.checkUtility(); err != nil {
		return err
	}
	for i, d := range m.Distributions {
		if len(d.Unlearned) != m.N || len(d.Retrained) != m.N {
			return fmt.Errorf("distributions[%d]: %d and %d values for n = %d models per population", i, len(d.Unlearned), len(d.Retrained), m.N)
		}
	}
	for _, a := range m.Attacks {
		if err := a.checkConsistency(m.N); err != nil {
			return fmt.Errorf("attack %q: %w", a.Name, err)
		}
	}
	return nil
}

// checkUtility checks the final score, the accuracy ratios and the
// populations' sizes and mean accuracies against each other.
func (m *Method) checkUtility() error {
	u := m.Utility
	switch {
	case u == nil && m.Score.Final != nil:
		return fmt.Errorf("field \"score.final\" is given without field \"utility\" (the accuracies it is computed from)")
	case u != nil && m.Score.Final == nil:
		return fmt.Errorf("field \"utility\" is given without field \"score.final\"")
	}
	for i, p := range m.Populations {
		if p.N != m.N {
			return fmt.Errorf("populations[%d]: field \"n\" is %d, the method's is %d", i, p.N, m.N)
		}
	}
	if u == nil {
		return nil
	}
	for _, a := range []struct {
		field string
		v     float64
	}{{"retain_unlearned", u.RetainUnlearned}, {"retain_retrained", u.RetainRetrained}, {"test_unlearned", u.TestUnlearned}, {"test_retrained", u.TestRetrained}} {
		if !unit(a.v) {
			return fmt.Errorf("field \"utility.%s\" is %v; accuracies lie in [0, 1]", a.field, a.v)
		}
	}
	for _, r := range []struct {
		field         string
		ratio, num, d float64
	}{{"retain_ratio", u.RetainRatio, u.RetainUnlearned, u.RetainRetrained}, {"test_ratio", u.TestRatio, u.TestUnlearned, u.TestRetrained}} {
		if !(r.d > 0) || !near(r.ratio, r.num/r.d) {
			return fmt.Errorf("field \"utility.%s\" is %v, but the accuracies give %v / %v", r.field, r.ratio, r.num, r.d)
		}
	}
	if f := m.Score.F * u.RetainRatio * u.TestRatio; !near(*m.Score.Final, f) {
		return fmt.Errorf("field \"score.final\" is %v, but F × RA_U/RA_R × TA_U/TA_R is %v", *m.Score.Final, f)
	}
	for _, p := range m.Populations {
		means := map[string]float64{"retain_acc": u.RetainUnlearned, "test_acc": u.TestUnlearned}
		if p.Role == scoring.Retrained {
			means = map[string]float64{"retain_acc": u.RetainRetrained, "test_acc": u.TestRetrained}
		}
		for _, field := range []string{"retain_acc", "test_acc"} {
			v := p.RetainAcc
			if field == "test_acc" {
				v = p.TestAcc
			}
			if len(v) == 0 {
				continue
			}
			sum := 0.0
			for _, x := range v {
				sum += x
			}
			if mean := sum / float64(len(v)); !near(mean, means[field]) {
				return fmt.Errorf("%s population: field %q averages %v, but field \"utility\" says %v", p.Role, field, mean, means[field])
			}
		}
	}
	return nil
}

// checkConsistency checks an attack's rates, AUCs and F.
func (a *AttackResult) checkConsistency(n int) error {
	for _, v := range []struct {
		field string
		v     *float64
	}{{"auc", a.AUC}, {"auc_std", a.AUCStd}, {"balanced_accuracy", a.BalancedAccuracy}, {"advantage", a.Advantage}, {"f", a.F}} {
		if v.v != nil && !unit(*v.v) {
			return fmt.Errorf("field %q is %v; want a value in [0, 1]", v.field, *v.v)
		}
	}
	for j, p := range a.TPRAtFPR {
		if !unit(p.FPR) || !unit(p.TPR) {
			return fmt.Errorf("tpr_at_fpr[%d] is (%v, %v); rates lie in [0, 1]", j, p.FPR, p.TPR)
		}
	}
	if a.F != nil && len(a.Epsilons) > 0 {
		if slices.ContainsFunc(a.Epsilons, func(e float64) bool { return !(e >= 0) }) {
			return fmt.Errorf("field \"epsilons\" holds a negative or NaN epsilon")
		}
		if f, _, _ := scoring.ForgettingQuality(a.Epsilons, n); !near(*a.F, f) {
			return fmt.Errorf("field \"f\" is %v, but its epsilons give F = %v", *a.F, f)
		}
	}
	return nil
}
