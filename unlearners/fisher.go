package unlearners

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/nn/graph"
)

func init() {
	Register(&Spec{
		Name:    "fisher",
		Summary: "Fisher forgetting: Gaussian noise scaled by the inverse diagonal Fisher of the retain set (no training)",
		Source:  "Golatkar, Achille, Soatto, Eternal Sunshine of the Spotless Net, CVPR 2020, and the authors' notebook (Forgetting.ipynb)",
		Params: []Param{
			{Key: "alpha", Default: 1e-6, Meaning: "noise scale: var = alpha/(F + 1e-8) before the notebook's clamps and factors", Source: "the notebook's 1e-6 (sweeps 1e-8 to 1e-5)", Check: positive},
			{Key: "exponent", Default: 0.5, Meaning: "noise std ~ F^-exponent: 0.5 (or 1/2) gives var = alpha/F, 0.25 (or 1/4) gives var = alpha/sqrt(F)", Source: "0.5: the notebook; 0.25: the paper", Check: fisherExponent},
			{Key: "estimator", Default: "true", Meaning: "Fisher labels: true (every class weighted by the softmax), mc (samples labels drawn from the softmax), empirical (the true label)", Source: "true: the notebook's hessian()", Check: oneOf("true", "mc", "empirical")},
			{Key: "samples", Default: 1, Meaning: "mc: labels drawn per example, squares averaged over them", Source: "ours", Check: positive},
			{Key: "class_forgetting", Default: false, Meaning: "the forget set is whole classes: their classifier rows get mean 0 and variance 1e-4 (x10 with the classifier at step 6)", Source: "the notebook (class_to_forget)"},
			{Key: "batch_size", Default: 64, Meaning: "examples per batched pass of per-example gradients (speed only, same Fisher)", Source: "ours", Check: positive},
		},
		Build: func(p Params) (Unlearner, error) { return &fisher{p: p}, nil },
	})
}

func fisherExponent(v any) error {
	if f := v.(float64); f != 0.5 && f != 0.25 {
		return fmt.Errorf("want 0.5 (F^-1/2, the notebook) or 0.25 (F^-1/4, the paper)")
	}
	return nil
}

// fisher is Fisher forgetting (Golatkar, Achille, Soatto, CVPR 2020) as
// the authors' notebook runs it (../shared/docs/methods.md lists its
// steps), in order:
//
//  1. F = the diagonal Fisher over the retain set in inference mode, a
//     mean over the examples (estimator true: Σ_y p(y|x)(∇CE(x, y))², the
//     notebook's; mc and empirical are the cheaper estimators);
//  2. var = 1/(F + 1e-8) clamped to at most 1e3, 1e2 for the classifier
//     layer (weight and bias);
//  3. var *= alpha (with exponent 0.25, the paper's F^-1/4, step 2's value
//     is square-rooted first: std = sqrt(alpha)*F^-1/4);
//  4. tensors of rank >= 2: var averaged over dimension 1 and broadcast
//     back;
//  5. class forgetting: the forgotten classes' classifier rows get mean 0
//     and variance 1e-4;
//  6. the classifier's variance and every rank-1 parameter's are
//     multiplied by 10;
//  7. w' = mean + sqrt(var)*n, n ~ N(0, 1) from the run's seed; batch-norm
//     running statistics are left alone.
//
// The Fisher is computed once per (model, retain set, estimator) and
// cached (Fisher), so each member only draws its own noise.
type fisher struct{ p Params }

func (u *fisher) estimator() FisherEstimator {
	e := FisherEstimator{Kind: u.p.String("estimator")}
	if e.Kind == "mc" {
		e.Samples = u.p.Int("samples")
	}
	return e
}

func (u *fisher) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	m := in.Original
	var forgotten []int
	if u.p.Bool("class_forgetting") {
		var err error
		if forgotten, err = forgottenClasses(in); err != nil {
			return nil, err
		}
	}
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	fs, err := Fisher(in, m, in.Retain, u.estimator(), u.p.Int("batch_size"))
	if err != nil {
		return nil, err
	}
	vars, means := FisherNoise(m, fs, u.p.Float("alpha"), u.p.Float("exponent"), forgotten)
	out := m.Clone()
	rng := rngFor(in.Seed, streamNoise)
	for _, name := range m.Params {
		w, v, mu := out.Param(name), vars[name], means[name]
		for i := range w {
			w[i] = float32(float64(mu[i]) + math.Sqrt(v[i])*rng.NormFloat64())
		}
	}
	return out, nil
}

// forgottenClasses are the classes of the forget set, for class
// forgetting: the retain set must hold none of them, and they must not be
// every class.
func forgottenClasses(in *Inputs) ([]int, error) {
	if in.Forget == nil || in.Forget.Len() == 0 {
		return nil, usererr.Errorf("parameter class_forgetting = true: the forget set is empty")
	}
	seen := map[int]bool{}
	for _, y := range in.Forget.Y {
		seen[int(y)] = true
	}
	var cls []int
	for c := range seen {
		cls = append(cls, c)
	}
	slices.Sort(cls)
	if len(cls) == in.Original.Classes {
		return nil, usererr.Errorf("parameter class_forgetting = true: the forget set covers every one of the %d classes; class forgetting needs classes left to keep", len(cls))
	}
	for i, y := range in.Retain.Y {
		if seen[int(y)] {
			return nil, usererr.Errorf("parameter class_forgetting = true: retain example %d is of class %d, a class of the forget set (%s); class forgetting needs the whole class in the forget set", i, y, joinInts(cls))
		}
	}
	return cls, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// FisherNoise computes steps 2 to 6 of the notebook's procedure (see
// fisher) from the Fisher fs of m: each parameter's noise variance and
// mean (the original weights, or 0 in a forgotten class's row).
func FisherNoise(m *nn.Model, fs *FisherSums, alpha, exponent float64, forgotten []int) (vars map[string][]float64, means map[string][]float32) {
	cls := classifierOf(m)
	vars, means = map[string][]float64{}, map[string][]float32{}
	for _, name := range m.Params {
		dims := m.Graph.Inits[name].Dims
		_, isCls := cls.axis[name]
		limit := 1e3
		if isCls {
			limit = 1e2
		}
		v := fs.Mean(name)
		for i, f := range v {
			x := min(1/(f+1e-8), limit)
			if exponent == 0.25 {
				x = math.Sqrt(x)
			}
			v[i] = alpha * x
		}
		if len(dims) >= 2 {
			meanOverDim1(v, dims)
		}
		mu := slices.Clone(m.ParamRead(name))
		if isCls {
			for _, c := range forgotten {
				forRow(dims, cls.axis[name], c, func(i int) { mu[i], v[i] = 0, 1e-4 })
			}
		}
		if isCls || len(dims) == 1 {
			for i := range v {
				v[i] *= 10
			}
		}
		vars[name], means[name] = v, mu
	}
	return vars, means
}

// meanOverDim1 replaces v (a tensor of shape dims, rank >= 2) by its mean
// over dimension 1, broadcast back (PyTorch's var.mean(dim=1,
// keepdim=True).expand_as(p)).
func meanOverDim1(v []float64, dims []int64) {
	d0, d1 := int(dims[0]), int(dims[1])
	inner := len(v) / (d0 * d1)
	for a := 0; a < d0; a++ {
		for r := 0; r < inner; r++ {
			var s float64
			for b := 0; b < d1; b++ {
				s += v[(a*d1+b)*inner+r]
			}
			s /= float64(d1)
			for b := 0; b < d1; b++ {
				v[(a*d1+b)*inner+r] = s
			}
		}
	}
}

// forRow calls f with the index of every element of class c's slice of a
// classifier tensor of shape dims whose class axis is axis.
func forRow(dims []int64, axis, c int, f func(i int)) {
	if len(dims) == 1 {
		f(c)
		return
	}
	rows, cols := int(dims[0]), 1
	for _, d := range dims[1:] {
		cols *= int(d)
	}
	if axis == 0 {
		for j := 0; j < cols; j++ {
			f(c*cols + j)
		}
		return
	}
	for i := 0; i < rows; i++ {
		f(i*cols + c)
	}
}

// classifier names the parameters of a model's classifier layer, each
// with the axis that indexes the classes.
type classifier struct{ axis map[string]int }

// classifierOf finds the classifier layer: the Gemm (or MatMul, with an
// Add for its bias) that produces the logits, through Identity nodes.
// When there is none, it falls back on the notebook's own rule: every
// parameter whose first dimension is the number of classes.
func classifierOf(m *nn.Model) classifier {
	g := m.Graph
	cls := classifier{axis: map[string]int{}}
	isParam := map[string]bool{}
	for _, p := range m.Params {
		isParam[p] = true
	}
	n := g.Producer(m.Output)
	for n != nil && n.OpType == "Identity" {
		n = g.Producer(n.Input[0])
	}
	if n != nil && n.OpType == "Add" {
		for _, in := range n.Input {
			if isParam[in] {
				cls.axis[in] = 0
			} else if p := g.Producer(in); p != nil && p.OpType == "MatMul" {
				n = p
			}
		}
	}
	switch {
	case n != nil && n.OpType == "Gemm" && len(n.Input) >= 2 && isParam[n.Input[1]]:
		cls.axis[n.Input[1]] = 1
		if graph.IntAttr(n, "transB", 0) == 1 {
			cls.axis[n.Input[1]] = 0
		}
		if len(n.Input) >= 3 && isParam[n.Input[2]] {
			cls.axis[n.Input[2]] = 0
		}
		return cls
	case n != nil && n.OpType == "MatMul" && isParam[n.Input[1]]:
		cls.axis[n.Input[1]] = len(g.Inits[n.Input[1]].Dims) - 1
		return cls
	}
	clear(cls.axis)
	for _, p := range m.Params {
		if d := g.Inits[p].Dims; len(d) >= 1 && d[0] == int64(m.Classes) {
			cls.axis[p] = 0
		}
	}
	return cls
}
