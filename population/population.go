package population

import "unlearnbench/internal/usererr"

// Population is one population of models as the scoring and the attacks see
// it: each model's values on the forget set and, where known, its logits on
// the retain and test sets, its accuracies, its seed and its wall time. Every
// per-model slice has N entries or is nil.
type Population struct {
	// Forget holds confidences [N, E] or logits [N, E, C]; it is required.
	Forget *Values
	// Retain and Test hold logits [N, R, C] and [N, T, C]; nil when not
	// given.
	Retain, Test *Values
	// RetainAcc and TestAcc are given (from a CSV or JSON file) or
	// computed from Retain and Test; ForgetAcc is computed from Forget's
	// logits when nil.
	RetainAcc, TestAcc []float64
	ForgetAcc          []float64
	// Seeds and Seconds are each model's seed and the wall time it took
	// to produce, when known.
	Seeds   []uint64
	Seconds []float64
}

// Labels are the class labels of the forget, retain and test sets, with
// where they came from for messages.
type Labels struct {
	Forget, Retain, Test             []int // nil when not given
	ForgetName, RetainName, TestName string
}

// forget returns the forget set's labels and their name; l may be nil.
func (l *Labels) forget() ([]int, string) {
	if l == nil {
		return nil, ""
	}
	return l.Forget, l.ForgetName
}

// Confidences returns the logit-scaled confidences on the forget set, N x E:
// as given, or computed from the logits and the forget labels.
func (p *Population) Confidences(l *Labels) ([]float64, error) {
	labels, name := l.forget()
	c, err := p.Forget.Confidences(labels, name)
	return c, usererr.Wrap(err)
}

// ForgetAccuracies returns each model's accuracy on the forget set: as given,
// computed from the forget logits, or nil for confidences.
func (p *Population) ForgetAccuracies(l *Labels) ([]float64, error) {
	if p.ForgetAcc != nil || !p.Forget.IsLogits() {
		return p.ForgetAcc, nil
	}
	labels, name := l.forget()
	acc, err := p.Forget.Accuracies(labels, name)
	return acc, usererr.Wrap(err)
}

// HeldOutAccuracies returns each model's retain and test accuracies: as
// given, computed from the retain and test logits when both are there, or
// nil.
func (p *Population) HeldOutAccuracies(l *Labels) (retain, test []float64, err error) {
	if p.RetainAcc != nil || p.Retain == nil || p.Test == nil {
		return p.RetainAcc, p.TestAcc, nil
	}
	if l == nil {
		l = &Labels{}
	}
	for _, part := range []struct {
		field  string
		v      *Values
		labels []int
		name   string
		dst    *[]float64
	}{{"retain", p.Retain, l.Retain, l.RetainName, &retain}, {"test", p.Test, l.Test, l.TestName, &test}} {
		if part.labels == nil {
			return nil, nil, usererr.Errorf("%s logits were given (%s) without %s labels", part.field, part.v.Name, part.field)
		}
		if *part.dst, err = part.v.Accuracies(part.labels, part.name); err != nil {
			return nil, nil, usererr.Wrap(err)
		}
	}
	return retain, test, nil
}

// CheckSizes checks that every per-model value of p has one entry per model
// of its forget values; role ("unlearned", "retrained") names p in messages.
func (p *Population) CheckSizes(role string) error {
	n := p.Forget.N
	for _, v := range []*Values{p.Retain, p.Test} {
		if v != nil && v.N != n {
			return usererr.Errorf("%s has N = %d models, but the %s population has N = %d", v.Name, v.N, role, n)
		}
	}
	for _, c := range []struct {
		what string
		n    int
	}{{"retain accuracies", len(p.RetainAcc)}, {"test accuracies", len(p.TestAcc)}, {"forget accuracies", len(p.ForgetAcc)}, {"seeds", len(p.Seeds)}, {"wall times", len(p.Seconds)}} {
		if c.n != 0 && c.n != n {
			return usererr.Errorf("%d %s for the %s population of N = %d", c.n, c.what, role, n)
		}
	}
	return nil
}

// Compact replaces the logits by what scoring alone needs: the forget set's
// confidences, each model's forget accuracy and, unless given, its retain
// and test accuracies. A population read only to be scored then keeps N x E
// values instead of N x E x C, which matters for hundreds of models. When a
// value cannot be computed p is left as it was, so that its user reports the
// error where it checks the inputs.
func (p *Population) Compact(l *Labels) {
	conf, err := p.Confidences(l)
	if err != nil {
		return
	}
	forgetAcc, err := p.ForgetAccuracies(l)
	if err != nil {
		return
	}
	retainAcc, testAcc, err := p.HeldOutAccuracies(l)
	if err != nil {
		return
	}
	f := *p.Forget
	f.Conf, f.Logits = conf, nil
	p.Forget, p.ForgetAcc = &f, forgetAcc
	p.RetainAcc, p.TestAcc = retainAcc, testAcc
	p.Retain, p.Test = nil, nil
}
