package attack

/*
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"unsafe"

	"github.com/sjwhitworth/golearn/base"
	"github.com/sjwhitworth/golearn/linear_models"
)

// golearn's linear models (linear_models) are a cgo binding of liblinear
// 1.94 compiled from C/C++ sources inside golearn; LogisticRegression and
// LinearSVC are thin wrappers over its exported NewParameter, NewProblem,
// Train and Predict. Three of that binding's defects decide how this file
// uses it (golearn v0.0.0-20221228163002-74ae077eafb2, checked by tests):
//
//  1. Train passes C a Go struct holding Go pointers (the feature and label
//     arrays NewProblem allocates), which the Go runtime's cgo pointer
//     check (on by default since Go 1.6) rejects with a panic, so
//     LogisticRegression.Fit and LinearSVC.Fit crash on every call. The
//     arrays are pinned with runtime.Pinner for the duration of Train,
//     which is exactly what the check asks for.
//  2. Predict builds liblinear's sparse row from the features that are
//     > 0 only, so every negative feature value is read as 0; standardised
//     features are negative half the time. The decision value is computed
//     here from the trained weights instead, as liblinear's
//     predict_values does (w . x).
//  3. NewProblem never sets liblinear's bias, and its bias argument writes
//     malformed feature nodes; the models have no intercept. A constant
//     feature 1 is appended instead, which is how liblinear itself models
//     a bias (its weight is regularised, as in liblinear).
//
// The trained weights are read from liblinear's struct model (C memory)
// and the model is then freed, since golearn offers no way to free it.

// problemLayout mirrors liblinear's struct problem (linear.h in golearn's
// linear_models): int l, n; double *y; struct feature_node **x; double bias.
type problemLayout struct {
	l, n int32
	y    unsafe.Pointer
	x    unsafe.Pointer
	bias float64
}

// parameterLayout mirrors struct parameter: int solver_type; double eps, C;
// int nr_weight; int *weight_label; double *weight; double p.
type parameterLayout struct {
	solverType  int32
	eps, c      float64
	nrWeight    int32
	weightLabel unsafe.Pointer
	weight      unsafe.Pointer
	p           float64
}

// modelLayout mirrors struct model: struct parameter param; int nr_class,
// nr_feature; double *w; int *label; double bias.
type modelLayout struct {
	param     parameterLayout
	nrClass   int32
	nrFeature int32
	w         unsafe.Pointer
	label     unsafe.Pointer
	bias      float64
}

var silenceGolearn sync.Once

// quietGolearn sends golearn's log (liblinear's per-iteration lines, which
// go to standard output by default) to io.Discard.
func quietGolearn() { silenceGolearn.Do(func() { base.SetLoggerOut(io.Discard) }) }

// Linear is a liblinear classifier trained through golearn's linear_models.
type Linear struct {
	name   string
	solver int
	// C is the inverse regularisation strength, Eps the stopping
	// tolerance (liblinear's defaults: C = 1; eps 0.01 for its primal
	// solvers).
	C, Eps float64
}

// LogisticRegression is L2-regularised logistic regression (liblinear's
// L2R_LR, golearn's LogisticRegression with penalty "l2"), C = 1.
func LogisticRegression() *Linear {
	return &Linear{name: NameLogReg, solver: linear_models.L2R_LR, C: 1, Eps: 0.01}
}

// LinearSVM is an L2-regularised linear support-vector machine with the
// squared hinge loss, solved in the primal (liblinear's L2R_L2LOSS_SVC,
// golearn's LinearSVC with loss "l2", penalty "l2", dual false), C = 1.
// liblinear recommends the primal solver when rows far outnumber features,
// as here; its dual solver is about 25 times slower on overlapping samples
// (BenchmarkFitScore/svm-dual).
func LinearSVM() *Linear {
	return &Linear{name: NameSVM, solver: linear_models.L2R_L2LOSS_SVC, C: 1, Eps: 0.01}
}

// Name is "logreg" or "svm".
func (l *Linear) Name() string { return l.name }

// Fit trains liblinear on the rows with a bias feature appended.
func (l *Linear) Fit(x []float64, d int, y []bool, _ *rand.Rand) (Model, error) {
	if err := checkFit(x, d, y); err != nil {
		return nil, err
	}
	quietGolearn()
	n := len(y)
	rows := make([][]float64, n)
	flat := make([]float64, n*(d+1))
	labels := make([]float64, n)
	for i := range rows {
		rows[i] = flat[i*(d+1) : (i+1)*(d+1)]
		copy(rows[i], x[i*d:(i+1)*d])
		rows[i][d] = 1
		if y[i] {
			labels[i] = 1
		}
	}
	prob := linear_models.NewProblem(rows, labels, 0)
	param := linear_models.NewParameter(l.solver, l.C, l.Eps)
	lay := (*problemLayout)(unsafe.Pointer(prob))
	var pin runtime.Pinner
	pin.Pin(lay.y)
	pin.Pin(lay.x)
	pin.Pin(*(*unsafe.Pointer)(lay.x)) // the feature nodes the rows point into
	model := linear_models.Train(prob, param)
	pin.Unpin()
	runtime.KeepAlive(prob)

	cm := *(*unsafe.Pointer)(unsafe.Pointer(model)) // linear_models.Model's only field
	if cm == nil {
		return nil, fmt.Errorf("liblinear returned no model")
	}
	ml := (*modelLayout)(cm)
	defer freeModel(ml)
	if ml.nrClass != 2 || ml.nrFeature < int32(d+1) {
		return nil, fmt.Errorf("liblinear trained %d classes on %d features; want 2 classes on at least %d", ml.nrClass, ml.nrFeature, d+1)
	}
	w := unsafe.Slice((*float64)(ml.w), ml.nrFeature)
	lab := unsafe.Slice((*int32)(ml.label), 2)
	m := &linearModel{w: make([]float64, d+1)}
	copy(m.w, w[:d+1])
	// liblinear's decision value w . x is positive for label[0].
	if lab[0] != 1 {
		for i := range m.w {
			m.w[i] = -m.w[i]
		}
	}
	return m, nil
}

// freeModel is liblinear's free_and_destroy_model, which golearn does not
// export: the weights, the labels and the struct are malloc'ed by train.
func freeModel(ml *modelLayout) {
	C.free(ml.w)
	C.free(ml.label)
	C.free(unsafe.Pointer(ml))
}

// linearModel holds liblinear's weights, the bias weight last, oriented so
// that a positive decision value means the positive class.
type linearModel struct{ w []float64 }

func (m *linearModel) Score(x []float64, d int, dst []float64) error {
	for i := range dst {
		s := m.w[d]
		for j, v := range x[i*d : (i+1)*d] {
			s += m.w[j] * v
		}
		dst[i] = s
	}
	return nil
}

// Positive is liblinear's predict: label[0] when the decision value is > 0.
func (m *linearModel) Positive(s float64) bool { return s > 0 }
