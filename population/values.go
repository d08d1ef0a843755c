package population

import (
	"math"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/usererr"
	"unlearnbench/scoring"
)

// Values is a population's outputs on a set of examples: confidences
// (C = 0, Conf set) or logits (C classes, Logits set).
type Values struct {
	Name    string // the file (and member) they came from
	N, E, C int
	Conf    []float64
	Logits  *scoring.Logits
}

// IsLogits reports whether the file held logits rather than confidences.
func (v *Values) IsLogits() bool { return v.Logits != nil }

// Like is what the inputs read before say an array must hold: N models
// (its first dimension) and E examples (its second); a zero field is not
// checked, and Of names the input that set them. Readers check it from the
// array's header, before inflating data that could not be used.
type Like struct {
	N, E int
	Of   string
}

// check is an arrays.Check for l.
func (l Like) check(name string, shape []int, _ string) error {
	if l.N > 0 && len(shape) >= 1 && shape[0] != l.N {
		return usererr.Errorf("%s: shape %s declares N = %d models, but %s has N = %d", name, arrays.FormatShape(shape), shape[0], l.Of, l.N)
	}
	if l.E > 0 && len(shape) >= 2 && shape[1] != l.E {
		return usererr.Errorf("%s: shape %s declares E = %d examples, but %s has E = %d", name, arrays.FormatShape(shape), shape[1], l.Of, l.E)
	}
	return nil
}

// ReadValues reads confidences or logits from spec (see arrays.Load; for an
// archive without a member named, the first of prefer it holds is used).
func ReadValues(spec string, prefer ...string) (*Values, error) {
	return ReadValuesLike(spec, Like{}, prefer...)
}

// ReadValuesLike is ReadValues refusing, from the header, an array that
// does not fit like.
func ReadValuesLike(spec string, like Like, prefer ...string) (*Values, error) {
	a, err := arrays.LoadChecked(spec, like.check, prefer...)
	if err != nil {
		return nil, err
	}
	if !a.IsFloat() {
		return nil, usererr.Errorf("%s: dtype %s (%s) is not supported; want float32 or float64 confidences [N, E] or logits [N, E, C]", a.Name, a.DType, a.Kind())
	}
	v := &Values{Name: a.Name}
	switch len(a.Shape) {
	case 2:
		v.N, v.E = a.Shape[0], a.Shape[1]
		if v.Conf, err = a.Float64s(); err != nil {
			return nil, err
		}
		if err := checkFinite(v.Name, v.Conf, v.E, 1, "confidence"); err != nil {
			return nil, err
		}
	case 3:
		v.N, v.E, v.C = a.Shape[0], a.Shape[1], a.Shape[2]
		if v.C < 2 {
			return nil, usererr.Errorf("%s: shape %s has %d classes; logits need at least 2", a.Name, a.ShapeString(), v.C)
		}
		l := &scoring.Logits{N: v.N, E: v.E, C: v.C}
		if a.Kind() == "float32" {
			l.F32, err = a.Float32s()
		} else {
			l.F64, err = a.Float64s()
		}
		if err != nil {
			return nil, err
		}
		if err := l.CheckFinite(); err != nil {
			return nil, usererr.Errorf("%s: %v", a.Name, err)
		}
		if l.F64 != nil {
			if err := checkFinite(a.Name, l.F64, v.E, v.C, "a logit"); err != nil {
				return nil, err
			}
		}
		v.Logits = l
	default:
		return nil, usererr.Errorf("%s: shape %s has rank %d; want confidences [N, E] or logits [N, E, C]", a.Name, a.ShapeString(), len(a.Shape))
	}
	if v.N == 0 || v.E == 0 {
		return nil, usererr.Errorf("%s: shape %s is empty", a.Name, a.ShapeString())
	}
	return v, nil
}

// MaxMagnitude bounds every confidence and logit read: logit-scaled
// confidences of float64 probabilities lie within about ±745, and beyond
// 1e150 the score's and the attacks' arithmetic (spreads, medians, squares
// and their sums) would overflow float64 into infinities that no result
// file can hold.
const MaxMagnitude = 1e150

func checkFinite(name string, vals []float64, e, c int, what string) error {
	for i, x := range vals {
		if x != x || x > 1.7976931348623157e308 || x < -1.7976931348623157e308 {
			return usererr.Errorf("%s: model %d, example %d: %s is %v", name, i/(e*c), (i/c)%e, what, x)
		}
		if math.Abs(x) > MaxMagnitude {
			return usererr.Errorf("%s: model %d, example %d: %s is %v, beyond ±%g (confidences lie within about ±745; larger values overflow the score's arithmetic)", name, i/(e*c), (i/c)%e, what, x, MaxMagnitude)
		}
	}
	return nil
}

// ReadLabels reads integer class labels [E].
func ReadLabels(spec string, prefer ...string) ([]int, string, error) {
	return ReadLabelsLike(spec, 0, "", prefer...)
}

// ReadLabelsLike is ReadLabels refusing, from the header, labels of another
// count than e (0: any), the examples of the input named of.
func ReadLabelsLike(spec string, e int, of string, prefer ...string) ([]int, string, error) {
	check := func(name string, shape []int, _ string) error {
		if e > 0 && len(shape) == 1 && shape[0] != e {
			return usererr.Errorf("%s: %d labels, but %s has %d examples", name, shape[0], of, e)
		}
		return nil
	}
	a, err := arrays.LoadChecked(spec, check, prefer...)
	if err != nil {
		return nil, "", err
	}
	if len(a.Shape) != 1 {
		return nil, "", usererr.Errorf("%s: shape %s; want labels of shape (E,)", a.Name, a.ShapeString())
	}
	if !a.IsInteger() {
		return nil, "", usererr.Errorf("%s: dtype %s (%s) is not supported; labels must be integers", a.Name, a.DType, a.Kind())
	}
	ints, err := a.Ints()
	if err != nil {
		return nil, "", err
	}
	out := make([]int, len(ints))
	for i, y := range ints {
		if y < 0 || y > 1<<31 {
			return nil, "", usererr.Errorf("%s: label %d is %d; labels must be class indices from 0", a.Name, i, y)
		}
		out[i] = int(y)
	}
	return out, a.Name, nil
}

// Confidences returns the values as logit-scaled confidences, N x E: as
// given, or computed from the logits and labels (named by labelsName in
// errors).
func (v *Values) Confidences(labels []int, labelsName string) ([]float64, error) {
	if !v.IsLogits() {
		return v.Conf, nil
	}
	if labels == nil {
		return nil, usererr.Errorf("%s holds logits %s; labels are needed to compute confidences (--labels)", v.Name, arrays.FormatShape([]int{v.N, v.E, v.C}))
	}
	if err := checkLabels(labels, labelsName, v); err != nil {
		return nil, err
	}
	return v.Logits.Confidences(labels)
}

// Accuracies returns each model's accuracy on these examples: the fraction
// whose largest logit is the label's. It needs logits.
func (v *Values) Accuracies(labels []int, labelsName string) ([]float64, error) {
	if !v.IsLogits() {
		return nil, usererr.Errorf("%s holds confidences; accuracies need logits [N, E, C]", v.Name)
	}
	if err := checkLabels(labels, labelsName, v); err != nil {
		return nil, err
	}
	return v.Logits.Accuracies(labels)
}

func checkLabels(labels []int, labelsName string, v *Values) error {
	if len(labels) != v.E {
		return usererr.Errorf("%s: %d labels, but %s has %d examples", labelsName, len(labels), v.Name, v.E)
	}
	for i, y := range labels {
		if y >= v.C {
			return usererr.Errorf("%s: label %d is %d, outside the %d classes of %s", labelsName, i, y, v.C, v.Name)
		}
	}
	return nil
}

// Describe says what the values are, for messages: "logits (512, 100, 10)".
func (v *Values) Describe() string {
	if v.IsLogits() {
		return "logits " + arrays.FormatShape([]int{v.N, v.E, v.C})
	}
	return "confidences " + arrays.FormatShape([]int{v.N, v.E})
}
