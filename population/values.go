package population

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

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
	// Notes are warnings about how the values were read (bfloat16 bits,
	// probabilities given as logits), for the result's warnings.
	Notes []string
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
// does not fit like. A spec that is a folder reads one .npy per model from
// it (ReadValuesFilesLike, in name order).
func ReadValuesLike(spec string, like Like, prefer ...string) (*Values, error) {
	if st, err := os.Stat(spec); err == nil && st.IsDir() {
		paths, err := filepath.Glob(filepath.Join(spec, "*.npy"))
		if err != nil {
			return nil, usererr.Wrap(fmt.Errorf("listing %s: %w", spec, err))
		}
		if len(paths) == 0 {
			return nil, usererr.Errorf("%s: the folder holds no .npy files; want one per model, each the model's confidences [E] or logits [E, C]", spec)
		}
		sort.Strings(paths)
		return stackFiles(spec+string(filepath.Separator), paths, like)
	}
	a, err := arrays.LoadChecked(spec, like.check, prefer...)
	if err != nil {
		return nil, err
	}
	data, err := floatData(a)
	if err != nil {
		return nil, err
	}
	return newValues(a.Name, a.Shape, data)
}

// ReadValuesFilesLike reads one model's values from each file, in the order
// given (a shell glob sorts them by name), and stacks them into one
// population: every file must hold the same shape and dtype, confidences
// [E] or logits [E, C]. A file that is an archive gives the first of
// prefer it holds, so that a run's cached member files
// (CACHE/populations/DIGEST/member-*.npz, forget logits under "forget")
// stack into their population as they are.
func ReadValuesFilesLike(paths []string, like Like, prefer ...string) (*Values, error) {
	if len(paths) == 1 {
		return ReadValuesLike(paths[0], like, prefer...)
	}
	return stackFiles(paths[0]+" ...", paths, like, prefer...)
}

// floatSlice is an array's values as float32 (float16, bfloat16 bits and
// float32, all exact) or float64, with a note when 16-bit integers were read
// as bfloat16 bit patterns (floatData reads it).
type floatSlice struct {
	f32  []float32
	f64  []float64
	note string
}

func floatData(a *arrays.Array) (floatSlice, error) {
	switch k := a.Kind(); {
	case k == "uint16" || k == "int16":
		v, err := a.BFloat16s()
		return floatSlice{f32: v, note: fmt.Sprintf("%s: %s values read as bfloat16 bit patterns (PyTorch's t.view(torch.%s)), upcast exactly to float32", a.Name, k, k)}, err
	case !a.IsFloat():
		return floatSlice{}, usererr.Errorf("%s: dtype %s (%s) is not supported; want float16, float32, float64 or bfloat16 saved as uint16: confidences [N, E] or logits [N, E, C]", a.Name, a.DType, k)
	case k == "float64":
		v, err := a.Float64s()
		return floatSlice{f64: v}, err
	default:
		v, err := a.Float32s()
		return floatSlice{f32: v}, err
	}
}

func (f floatSlice) len() int { return len(f.f32) + len(f.f64) }

// stackFiles reads each path as one model's values and stacks them; name
// names the population in messages.
func stackFiles(name string, paths []string, like Like, prefer ...string) (*Values, error) {
	if like.N > 0 && len(paths) != like.N {
		return nil, usererr.Errorf("%s: %d files, one per model, but %s has N = %d models", name, len(paths), like.Of, like.N)
	}
	var first *arrays.Array
	var all floatSlice
	for _, p := range paths {
		check := func(file string, shape []int, dtype string) error {
			if first == nil {
				if len(shape) != 1 && len(shape) != 2 {
					return usererr.Errorf("%s: shape %s; a file of one model holds confidences [E] or logits [E, C]", file, arrays.FormatShape(shape))
				}
				if like.E > 0 && shape[0] != like.E {
					return usererr.Errorf("%s: shape %s declares E = %d examples, but %s has E = %d", file, arrays.FormatShape(shape), shape[0], like.Of, like.E)
				}
				return nil
			}
			if !slices.Equal(shape, first.Shape) || dtype != first.DType {
				return usererr.Errorf("%s: shape %s dtype %s, but %s has shape %s dtype %s; every model's file must hold the same (confidences [E] or logits [E, C] alike)",
					file, arrays.FormatShape(shape), dtype, first.Name, first.ShapeString(), first.DType)
			}
			return nil
		}
		a, err := arrays.LoadChecked(p, check, prefer...)
		if err != nil {
			return nil, err
		}
		d, err := floatData(a)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = a
			all.note = d.note
		}
		// Each file's own values are checked here, so that a NaN is
		// reported with the file it is in.
		c := 1
		if len(a.Shape) == 2 {
			c = a.Shape[1]
		}
		if err := checkFiniteFile(a.Name, d, c); err != nil {
			return nil, err
		}
		all.f32 = append(all.f32, d.f32...)
		all.f64 = append(all.f64, d.f64...)
	}
	shape := append([]int{len(paths)}, first.Shape...)
	v, err := newValues(name+fmt.Sprintf(" (%d files)", len(paths)), shape, all)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// checkFiniteFile refuses a NaN or infinity in one model's file, naming the
// example (and class).
func checkFiniteFile(name string, d floatSlice, c int) error {
	for i := 0; i < d.len(); i++ {
		var x float64
		if d.f32 != nil {
			x = float64(d.f32[i])
		} else {
			x = d.f64[i]
		}
		if x != x || math.IsInf(x, 0) {
			if c == 1 {
				return usererr.Errorf("%s: example %d: value is %v", name, i, x)
			}
			return usererr.Errorf("%s: example %d, class %d: logit is %v", name, i/c, i%c, x)
		}
	}
	return nil
}

// newValues makes Values of the given shape from float data read from name.
func newValues(name string, shape []int, d floatSlice) (*Values, error) {
	v := &Values{Name: name}
	if d.note != "" {
		v.Notes = append(v.Notes, d.note)
	}
	shapeStr := arrays.FormatShape(shape)
	switch len(shape) {
	case 2:
		v.N, v.E = shape[0], shape[1]
		v.Conf = d.f64
		if d.f32 != nil {
			v.Conf = make([]float64, len(d.f32))
			for i, x := range d.f32 {
				v.Conf[i] = float64(x)
			}
		}
		if err := checkFinite(v.Name, v.Conf, v.E, 1, "confidence"); err != nil {
			return nil, err
		}
	case 3:
		v.N, v.E, v.C = shape[0], shape[1], shape[2]
		if v.C < 2 {
			return nil, usererr.Errorf("%s: shape %s has %d classes; logits need at least 2", name, shapeStr, v.C)
		}
		l := &scoring.Logits{N: v.N, E: v.E, C: v.C, F32: d.f32, F64: d.f64}
		if err := l.CheckFinite(); err != nil {
			return nil, usererr.Errorf("%s: %v", name, err)
		}
		if l.F64 != nil {
			if err := checkFinite(name, l.F64, v.E, v.C, "a logit"); err != nil {
				return nil, err
			}
		}
		v.Logits = l
		if note := probabilityNote(name, l); note != "" {
			v.Notes = append(v.Notes, note)
		}
	default:
		return nil, usererr.Errorf("%s: shape %s has rank %d; want confidences [N, E] or logits [N, E, C]", name, shapeStr, len(shape))
	}
	if v.N == 0 || v.E == 0 {
		return nil, usererr.Errorf("%s: shape %s is empty", name, shapeStr)
	}
	return v, nil
}

// probabilityNote warns when every row of l looks like a softmax output
// (non-negative, summing to 1 within 1e-4) rather than logits: the score
// takes a softmax of what it is given, and the softmax of probabilities is
// not the competition's confidence.
func probabilityNote(name string, l *scoring.Logits) string {
	rows := l.N * l.E
	for r := 0; r < rows; r++ {
		sum := 0.0
		for k := 0; k < l.C; k++ {
			var x float64
			if l.F32 != nil {
				x = float64(l.F32[r*l.C+k])
			} else {
				x = l.F64[r*l.C+k]
			}
			if x < 0 {
				return ""
			}
			sum += x
		}
		if math.Abs(sum-1) > 1e-4 {
			return ""
		}
	}
	return fmt.Sprintf("%s: every row is non-negative and sums to 1 (within 1e-4): these look like softmax probabilities, not logits; the score takes their softmax again, which is not the competition's confidence (save the model's outputs before the softmax)", name)
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
