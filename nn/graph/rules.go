package graph

import (
	"fmt"
	"math"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// shapeTensor returns an int64 tensor holding name's shape: a constant when
// the shape is known at build time, a Shape node otherwise.
func (g *Graph) shapeTensor(name string) string {
	if i := g.info[name]; i.Known() {
		return g.ConstI(i.Shape...)
	}
	return g.Op1("Shape", []string{name})
}

// reshapeLike reshapes v to name's shape.
func (g *Graph) reshapeLike(v, name string) string {
	return g.Op1("Reshape", []string{v, g.shapeTensor(name)})
}

// reduceTo sums grad (shaped like the broadcast result) down to x's shape.
func (g *Graph) reduceTo(grad, x string) string {
	gs, xs := g.info[grad].Shape, g.info[x].Shape
	if gs == nil || xs == nil {
		return grad
	}
	if slices.Equal(gs, xs) {
		return grad
	}
	lead := len(gs) - len(xs)
	var axes []int64
	for i := range gs {
		if i < lead || (xs[i-lead] == 1 && gs[i] != 1) {
			axes = append(axes, int64(i))
		}
	}
	r := grad
	if len(axes) > 0 {
		r = g.Op1("ReduceSum", []string{grad, g.ConstI(axes...)}, AInt("keepdims", 1))
	}
	if lead > 0 || !slices.Equal(g.info[r].Shape, xs) {
		r = g.reshapeLike(r, x)
	}
	return r
}

// spatialAxes returns [0, 2, 3, ...] for a tensor of the given rank.
func spatialAxes(rank int) []int64 {
	axes := []int64{0}
	for i := 2; i < rank; i++ {
		axes = append(axes, int64(i))
	}
	return axes
}

// channelShape returns [1, c, 1, ...] of the given rank.
func channelShape(c int64, rank int) []int64 {
	s := make([]int64, rank)
	for i := range s {
		s[i] = 1
	}
	s[1] = c
	return s
}

func perm01(rank int) []int64 {
	p := make([]int64, rank)
	for i := range p {
		p[i] = int64(i)
	}
	p[0], p[1] = 1, 0
	return p
}

func swapLast(rank int) []int64 {
	p := make([]int64, rank)
	for i := range p {
		p[i] = int64(i)
	}
	p[rank-1], p[rank-2] = p[rank-2], p[rank-1]
	return p
}

// node emits the backward of one node: given the gradients of its outputs
// (empty where none), the gradients of its inputs where need says so.
func (d *differ) node(n *onnx.NodeProto, dy []string, need []bool, scale string) ([]string, error) {
	g := d.g
	dx := make([]string, len(n.Input))
	in := n.Input
	x := ""
	if len(in) > 0 {
		x = in[0]
	}
	dt := g.info[x].DType
	unsupported := func(why string) error { return &UnsupportedOpError{Op: n.OpType, Node: n.Name, Why: why} }
	if f, ok := g.fused[n.Output[0]]; ok {
		return d.fusedRule(n, f, dy[0], need)
	}
	if d.sq && !d.passThrough[n] {
		for k, name := range in {
			if k < len(need) && need[k] && d.isWrt[name] {
				return d.squaredRule(n, dy, need)
			}
		}
	}
	switch n.OpType {
	case "Identity":
		dx[0] = dy[0]
	case "Dropout":
		if len(n.Output) > 1 && n.Output[1] != "" && len(in) > 2 && in[2] != "" {
			ratio := 0.5
			if len(in) > 1 && in[1] != "" {
				if t, ok := g.Inits[in[1]]; ok {
					switch {
					case len(t.F32) == 1:
						ratio = float64(t.F32[0])
					case len(t.F64) == 1:
						ratio = t.F64[0]
					}
				} else {
					return nil, unsupported("the ratio must be a constant")
				}
			}
			m := g.Op1("Cast", []string{n.Output[1]}, AInt("to", int64(dt)))
			dx[0] = g.Op1("Mul", []string{g.Op1("Mul", []string{dy[0], m}), g.ScalarF(dt, 1/(1-ratio))})
		} else {
			if len(in) > 2 && in[2] != "" {
				return nil, unsupported("training-mode Dropout needs its mask output")
			}
			dx[0] = dy[0]
		}
	case "Relu":
		if d.premasked[dy[0]] == n.Output[0] {
			dx[0] = dy[0]
			break
		}
		// dy·[y > 0] as a Mul by the cast mask: ONNX Runtime's Where is
		// several times slower than Greater, Cast and Mul together.
		mask := g.Op1("Cast", []string{g.Op1("Greater", []string{n.Output[0], g.ScalarF(dt, 0)})}, AInt("to", int64(dt)))
		dx[0] = g.Op1("Mul", []string{dy[0], mask})
	case "Add", "Sub":
		if need[0] {
			dx[0] = g.reduceTo(dy[0], in[0])
		}
		if need[1] {
			v := dy[0]
			if n.OpType == "Sub" {
				v = g.Op1("Neg", []string{v})
			}
			dx[1] = g.reduceTo(v, in[1])
		}
	case "Sum":
		for k := range in {
			if need[k] {
				dx[k] = g.reduceTo(dy[0], in[k])
			}
		}
	case "Mul":
		if need[0] {
			dx[0] = g.reduceTo(g.Op1("Mul", []string{dy[0], in[1]}), in[0])
		}
		if need[1] {
			dx[1] = g.reduceTo(g.Op1("Mul", []string{dy[0], in[0]}), in[1])
		}
	case "Div":
		if need[0] {
			dx[0] = g.reduceTo(g.Op1("Div", []string{dy[0], in[1]}), in[0])
		}
		if need[1] {
			// d(a/b)/db = -y/b
			t := g.Op1("Div", []string{g.Op1("Mul", []string{dy[0], n.Output[0]}), in[1]})
			dx[1] = g.reduceTo(g.Op1("Neg", []string{t}), in[1])
		}
	case "Neg":
		dx[0] = g.Op1("Neg", []string{dy[0]})
	case "Sqrt":
		dx[0] = g.Op1("Div", []string{dy[0], g.Op1("Mul", []string{n.Output[0], g.ScalarF(dt, 2)})})
	case "Reciprocal":
		y := n.Output[0]
		dx[0] = g.Op1("Neg", []string{g.Op1("Mul", []string{dy[0], g.Op1("Mul", []string{y, y})})})
	case "Exp":
		dx[0] = g.Op1("Mul", []string{dy[0], n.Output[0]})
	case "Log":
		dx[0] = g.Op1("Div", []string{dy[0], x})
	case "ReduceSum", "ReduceMean":
		var axes []int64
		if n.OpType == "ReduceSum" {
			if len(in) > 1 && in[1] != "" {
				a, ok := g.ConstInts(in[1])
				if !ok {
					return nil, unsupported("the axes must be a constant")
				}
				axes = a
			}
			if len(axes) == 0 && IntAttr(n, "noop_with_empty_axes", 0) != 0 {
				dx[0] = dy[0]
				break
			}
		} else {
			axes = IntsAttr(n, "axes", nil)
		}
		v := dy[0]
		if IntAttr(n, "keepdims", 1) == 0 && len(axes) > 0 {
			v = g.Op1("Unsqueeze", []string{v, g.ConstI(axes...)})
		}
		v = g.Op1("Expand", []string{v, g.shapeTensor(x)})
		if n.OpType == "ReduceMean" {
			xi, yi := g.info[x], g.info[n.Output[0]]
			var cnt string
			if xi.Known() && yi.Known() {
				cnt = g.ScalarF(dt, float64(numel(xi.Shape)/numel(yi.Shape)))
			} else {
				cnt = g.Op1("Div", []string{
					g.Op1("Cast", []string{g.Op1("Size", []string{x})}, AInt("to", int64(dt))),
					g.Op1("Cast", []string{g.Op1("Size", []string{n.Output[0]})}, AInt("to", int64(dt)))})
			}
			v = g.Op1("Div", []string{v, cnt})
		}
		dx[0] = v
	case "MatMul":
		a, b := g.info[in[0]].Shape, g.info[in[1]].Shape
		if len(a) < 2 || len(b) < 2 {
			return nil, unsupported("operands of rank 1 (or unknown rank) are not supported")
		}
		if need[0] {
			bt := g.Op1("Transpose", []string{in[1]}, AInts("perm", swapLast(len(b))...))
			dx[0] = g.reduceTo(g.Op1("MatMul", []string{dy[0], bt}), in[0])
		}
		if need[1] {
			at := g.Op1("Transpose", []string{in[0]}, AInts("perm", swapLast(len(a))...))
			dx[1] = g.reduceTo(g.Op1("MatMul", []string{at, dy[0]}), in[1])
		}
	case "Gemm":
		ta, tb := IntAttr(n, "transA", 0) != 0, IntAttr(n, "transB", 0) != 0
		alpha, beta := FloatAttr(n, "alpha", 1), FloatAttr(n, "beta", 1)
		gemm := func(a, b string, tA, tB bool) string {
			return g.Op1("Gemm", []string{a, b}, AFloat("alpha", alpha), AInt("transA", b2i(tA)), AInt("transB", b2i(tB)))
		}
		if need[0] {
			if !ta {
				dx[0] = gemm(dy[0], in[1], false, !tb)
			} else {
				dx[0] = gemm(in[1], dy[0], tb, true)
			}
		}
		if need[1] {
			if !tb {
				dx[1] = gemm(in[0], dy[0], !ta, false)
			} else {
				dx[1] = gemm(dy[0], in[0], true, ta)
			}
		}
		if len(in) > 2 && need[2] {
			v := dy[0]
			if beta != 1 {
				v = g.Op1("Mul", []string{v, g.ScalarF(dt, float64(beta))})
			}
			dx[2] = g.reduceTo(v, in[2])
		}
	case "Flatten", "Reshape", "Squeeze", "Unsqueeze":
		dx[0] = g.reshapeLike(dy[0], x)
	case "Transpose":
		perm := IntsAttr(n, "perm", nil)
		if perm == nil {
			r := len(g.info[x].Shape)
			for i := r - 1; i >= 0; i-- {
				perm = append(perm, int64(i))
			}
		}
		inv := make([]int64, len(perm))
		for i, p := range perm {
			inv[p] = int64(i)
		}
		dx[0] = g.Op1("Transpose", []string{dy[0]}, AInts("perm", inv...))
	case "Concat":
		r := len(g.info[x].Shape)
		axis := normAxis(IntAttr(n, "axis", 0), r)
		var sizes []int64
		for _, name := range in {
			s := g.info[name].Shape
			if s == nil || s[axis] < 0 {
				return nil, unsupported("the sizes along the concatenation axis must be known")
			}
			sizes = append(sizes, s[axis])
		}
		parts := g.Op("Split", []string{dy[0], g.ConstI(sizes...)}, len(in), AInt("axis", axis))
		copy(dx, parts)
	case "Pad":
		begin, end, err := g.padAmounts(n)
		if err != nil {
			return nil, unsupported(err.Error())
		}
		// The gradient of a zero-or-more padding is the unpadded window of
		// dy: the padded borders hold a constant, whatever its value.
		r := len(begin)
		axes, ends := make([]int64, r), make([]int64, r)
		for i := range r {
			axes[i] = int64(i)
			ends[i] = -end[i]
			if end[i] == 0 {
				ends[i] = math.MaxInt64
			}
		}
		dx[0] = g.Op1("Slice", []string{dy[0], g.ConstI(begin...), g.ConstI(ends...), g.ConstI(axes...)})
	case "Softmax":
		axis := IntAttr(n, "axis", -1)
		y := n.Output[0]
		s := g.Op1("ReduceSum", []string{g.Op1("Mul", []string{dy[0], y}), g.ConstI(axis)}, AInt("keepdims", 1))
		dx[0] = g.Op1("Mul", []string{y, g.Op1("Sub", []string{dy[0], s})})
	case "LogSoftmax":
		axis := IntAttr(n, "axis", -1)
		s := g.Op1("ReduceSum", []string{dy[0], g.ConstI(axis)}, AInt("keepdims", 1))
		dx[0] = g.Op1("Sub", []string{dy[0], g.Op1("Mul", []string{g.Op1("Exp", []string{n.Output[0]}), s})})
	case "GlobalAveragePool":
		xs := g.info[x].Shape
		if xs == nil || prodKnown(xs[2:]) < 0 {
			return nil, unsupported("spatial dimensions must be known")
		}
		v := g.Op1("Expand", []string{dy[0], g.shapeTensor(x)})
		dx[0] = g.Op1("Div", []string{v, g.ScalarF(dt, float64(prodKnown(xs[2:])))})
	case "AveragePool":
		v, err := d.avgPool(n, dy[0])
		if err != nil {
			return nil, err
		}
		dx[0] = v
	case "MaxPool":
		v, err := d.maxPool(n, dy[0])
		if err != nil {
			return nil, err
		}
		dx[0] = v
	case "Conv":
		return d.conv(n, dy[0], need, scale)
	case "BatchNormalization":
		if IntAttr(n, "training_mode", 0) != 0 {
			return nil, unsupported("training-mode BatchNormalization must be lowered first (LowerBatchNormTraining)")
		}
		return d.batchNormInference(n, dy[0], need)
	default:
		return nil, unsupported("")
	}
	return dx, nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// knownSpatial checks that x's channel and spatial dimensions are known.
func (g *Graph) knownSpatial(x string) ([]int64, bool) {
	s := g.info[x].Shape
	if len(s) < 3 {
		return nil, false
	}
	for _, d := range s[1:] {
		if d < 0 {
			return nil, false
		}
	}
	return s, true
}

func (d *differ) fusedRule(n *onnx.NodeProto, f fusedGrad, dy string, need []bool) ([]string, error) {
	g := d.g
	dx := make([]string, len(n.Input))
	switch f.kind {
	case fusedBatchNorm:
		// y = scale·x̂ + bias, x̂ = (x - μ)·inv, inv = 1/sqrt(σ² + ε), with μ
		// and σ² the batch's. With m1 = mean(dy) and m2 = mean(dy·x̂) per
		// channel: dx = scale·inv·(dy - m1 - x̂·m2) = A·dy + B·x + C, where
		// A = scale·inv, B = -A·inv·m2, C = -A·(m1 - inv·m2·μ); dscale =
		// n·m2 and dbias = n·m1; mean(dy·x̂) = inv·(mean(dy·x) - μ·m1).
		// Four full-size operations in all.
		in := n.Input
		xs := g.info[f.x].Shape
		dt := g.info[f.x].DType
		c := xs[1]
		axes := spatialAxes(len(xs))
		flat := g.ConstI(c)
		red := func(v string) string {
			return g.Op1("Reshape", []string{g.Op1("ReduceMean", []string{v}, AInts("axes", axes...), AInt("keepdims", 0)), flat})
		}
		inv := g.Op1("Reciprocal", []string{g.Op1("Sqrt", []string{g.Op1("Add", []string{f.variance, g.ScalarF(dt, f.eps)})})})
		m1 := red(dy)
		pm := red(g.Op1("Mul", []string{dy, f.x}))
		m2 := g.Op1("Mul", []string{inv, g.Op1("Sub", []string{pm, g.Op1("Mul", []string{f.mean, m1})})})
		if need[0] {
			// dx = A·u with u = dy + B'·x + C', B' = -inv·m2 and C' =
			// -(m1 - inv·m2·μ); B'·x + C' as an inference-mode
			// BatchNormalization (mean 0, variance 1, epsilon 0): one fast
			// pass, where a Mul and a broadcasting Sum are two slow ones.
			// The per-channel factor A is left to the consumer where it can
			// take it (a Conv scales its weight instead, see scaledGrad).
			a := g.Op1("Mul", []string{in[1], inv})
			b := g.Op1("Neg", []string{g.Op1("Mul", []string{inv, m2})})
			cc := g.Op1("Neg", []string{g.Op1("Sub", []string{m1, g.Op1("Mul", []string{g.Op1("Mul", []string{inv, m2}), f.mean})})})
			zero, one := make([]float64, c), make([]float64, c)
			for i := range one {
				one[i] = 1
			}
			t2 := g.Op1("BatchNormalization", []string{f.x, b, cc, g.ConstF(dt, []int64{c}, zero...), g.ConstF(dt, []int64{c}, one...)}, AFloat("epsilon", 0))
			u := g.Op1("Add", []string{dy, t2})
			d.scaled[u] = pendingScale{factor: a, c: c, rank: len(xs)}
			dx[0] = u
		}
		if need[1] {
			dx[1] = g.Op1("Mul", []string{m2, f.count})
		}
		if need[2] {
			dx[2] = g.Op1("Mul", []string{m1, f.count})
		}
		return dx, nil
	case fusedMaxPool:
		// maxPoolUnpool adds x's gradient itself: the node reads the
		// SpaceToDepth of x, whose gradient is not needed.
		if _, err := d.maxPool(f.pool, dy); err != nil {
			return nil, err
		}
		return dx, nil
	}
	return nil, fmt.Errorf("internal: unknown fused gradient %d", f.kind)
}
