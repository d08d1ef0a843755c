package attack

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Accuracies are one model's accuracies (fractions) on the forget, retain
// and test sets; ToW-MIA puts a membership-inference accuracy in Forget.
type Accuracies struct {
	Forget, Retain, Test float64
}

// ToW is the RUM benchmark's tug-of-war of one unlearned model against one
// retrained model: the product over forget, retain and test of
// 1 - |acc_U - acc_R|. 1 means the unlearned model is as accurate as the
// retrained one everywhere; each term falls with the gap on its set.
// ToW-MIA is the same product with MIA accuracies in the forget term.
func ToW(u, r Accuracies) (float64, error) {
	for _, a := range []struct {
		name string
		v    float64
	}{{"unlearned forget", u.Forget}, {"unlearned retain", u.Retain}, {"unlearned test", u.Test},
		{"retrained forget", r.Forget}, {"retrained retain", r.Retain}, {"retrained test", r.Test}} {
		if !(a.v >= 0 && a.v <= 1) {
			return 0, fmt.Errorf("ToW: %s accuracy is %v; want a fraction in [0, 1]", a.name, a.v)
		}
	}
	return (1 - math.Abs(u.Forget-r.Forget)) * (1 - math.Abs(u.Retain-r.Retain)) * (1 - math.Abs(u.Test-r.Test)), nil
}

// TInterval is the mean of v with its two-sided t-based confidence
// interval at level (0.95 for 95%): mean ± t_{(1+level)/2, n-1} s / sqrt n
// with s the sample standard deviation, as RUM reports its numbers over
// seeds. ok is false for fewer than 2 values (no interval).
func TInterval(v []float64, level float64) (mean, lo, hi float64, ok bool) {
	if len(v) == 0 {
		return math.NaN(), math.NaN(), math.NaN(), false
	}
	if len(v) == 1 {
		return v[0], math.NaN(), math.NaN(), false
	}
	mean, sd := stat.MeanStdDev(v, nil)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(v) - 1)}.Quantile((1 + level) / 2)
	half := t * sd / math.Sqrt(float64(len(v)))
	return mean, mean - half, mean + half, true
}
