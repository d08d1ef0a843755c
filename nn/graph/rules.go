package graph

import (
	"fmt"
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

// transposeGradPads returns ConvTranspose pads and output_padding that map an
// output-sized gradient back onto an input of length in for window w, axis i.
func transposeGradPads(w Window, i int, in, out int64) (pb, pe, op int64) {
	pb, pe = w.PadsBegin[i], w.PadsEnd[i]
	base := w.Strides[i]*(out-1) + (w.Kernel[i]-1)*w.Dilations[i] + 1 - pb - pe
	if base <= in {
		return pb, pe, in - base
	}
	return pb, pe + (base - in), 0
}

// conv emits a Conv's backward. A non-empty scale ([M]) means the output
// gradient is dy times scale along the channels (see scaledGrad): the scale is
// applied to the weight for the input gradient and to the (weight-sized)
// results, never to a full-size tensor.
func (d *differ) conv(n *onnx.NodeProto, dy string, need []bool, scale string) ([]string, error) {
	g := d.g
	in := n.Input
	dx := make([]string, len(in))
	xs, ok := g.knownSpatial(in[0])
	w, okw := g.WindowOf(n)
	ws := g.info[in[1]].Shape
	if !ok || !okw || ws == nil || !g.info[in[1]].Known() {
		return nil, &UnsupportedOpError{Op: "Conv", Node: n.Name, Why: "input channels, spatial sizes and weight shape must be known"}
	}
	ys := g.info[n.Output[0]].Shape
	byM := func(v string, rank int) string {
		if scale == "" {
			return v
		}
		s := make([]int64, rank)
		for i := range s {
			s[i] = 1
		}
		s[0] = ws[0]
		return g.Op1("Mul", []string{v, g.Op1("Reshape", []string{scale, g.ConstI(s...)})})
	}
	if need[0] {
		dx[0] = d.convInputGrad(n, byM(in[1], len(ws)), dy, w, xs, ws, ys)
	}
	if need[1] {
		dx[1] = byM(d.convWeightGrad(n, dy, w, xs, ws), len(ws))
	}
	if len(in) > 2 && in[2] != "" && need[2] {
		dx[2] = byM(g.Op1("ReduceSum", []string{dy, g.ConstI(spatialAxes(len(xs))...)}, AInt("keepdims", 0)), 1)
	}
	return dx, nil
}

// convInputGrad is the input gradient of a Conv. With unit strides it is
// another Conv, over the weight with input and output channels swapped
// (within each group) and the kernel flipped, padded by dilation*(k-1)-pad:
// ONNX Runtime runs that as fast as the forward Conv. Otherwise (or when
// that padding would be negative) it is a ConvTranspose with the forward
// weight.
func (d *differ) convInputGrad(n *onnx.NodeProto, wt, dy string, w Window, xs, ws, ys []int64) string {
	g := d.g
	sp := len(xs) - 2
	unit := true
	var pb, pe []int64
	for i := 0; i < sp; i++ {
		span := w.Dilations[i] * (w.Kernel[i] - 1)
		b, e := span-w.PadsBegin[i], span-w.PadsEnd[i]
		// The Conv over dy must give back exactly the input length.
		if w.Strides[i] != 1 || b < 0 || e < 0 || ys[i+2]+b+e-span != xs[i+2] {
			unit = false
		}
		pb, pe = append(pb, b), append(pe, e)
	}
	if unit {
		grp := w.Group
		m, cg := ws[0], ws[1]
		var swapped string
		if grp == 1 {
			swapped = g.Op1("Transpose", []string{wt}, AInts("perm", perm01(len(ws))...))
		} else {
			r := g.Op1("Reshape", []string{wt, g.ConstI(append([]int64{grp, m / grp, cg}, ws[2:]...)...)})
			p := []int64{0, 2, 1}
			for i := 0; i < sp; i++ {
				p = append(p, int64(3+i))
			}
			t := g.Op1("Transpose", []string{r}, AInts("perm", p...))
			swapped = g.Op1("Reshape", []string{t, g.ConstI(append([]int64{grp * cg, m / grp}, ws[2:]...)...)})
		}
		// Flip every spatial axis at once: reverse the flattened kernel
		// index (see selectTaps).
		kk := numel(w.Kernel)
		rev := make([]int64, kk)
		for i := range rev {
			rev[i] = kk - 1 - int64(i)
		}
		flat := g.Op1("Reshape", []string{swapped, g.ConstI(ws[1]*grp, ws[0]/grp, kk)})
		flipped := g.Op1("Reshape", []string{d.selectTaps(flat, kk, rev), g.ConstI(append([]int64{ws[1] * grp, ws[0] / grp}, w.Kernel...)...)})
		return g.Op1("Conv", []string{dy, flipped},
			AInts("strides", w.Strides...), AInts("dilations", w.Dilations...), AInts("pads", append(pb, pe...)...),
			AInt("group", grp), AInts("kernel_shape", w.Kernel...))
	}
	var ops []int64
	pb, pe = nil, nil
	for i := 0; i < sp; i++ {
		b, e, op := transposeGradPads(w, i, xs[i+2], ys[i+2])
		pb, pe, ops = append(pb, b), append(pe, e), append(ops, op)
	}
	return g.Op1("ConvTranspose", []string{dy, wt},
		AInts("strides", w.Strides...), AInts("dilations", w.Dilations...), AInts("pads", append(pb, pe...)...),
		AInts("output_padding", ops...), AInt("group", w.Group), AInts("kernel_shape", w.Kernel...))
}

// selectTaps picks kernel taps from flat ([..., kk], the flattened kernel
// last): the result's last axis holds flat's entries idx. A MatMul by a 0/1
// selection matrix: ONNX Runtime's Gather along the innermost axis is several
// times slower.
func (d *differ) selectTaps(flat string, kk int64, idx []int64) string {
	g := d.g
	sel := make([]float64, kk*int64(len(idx)))
	for j, i := range idx {
		sel[i*int64(len(idx))+int64(j)] = 1
	}
	return g.Op1("MatMul", []string{flat, g.ConstF(g.info[flat].DType, []int64{kk, int64(len(idx))}, sel...)})
}

// convWeightGrad is the weight gradient of a Conv. For ungrouped
// convolutions it is one GEMM per kernel offset: the output gradient as
// [M, P·N] times the (padded, transposed) input shifted by that offset and
// sampled at the strides as [C, P·N], transposed; the k results are stacked
// into [M, C, k...]. Unit-stride 2-D convolutions where it pays use
// convWeightGradStacked, grouped ones convWeightGradConv.
func (d *differ) convWeightGrad(n *onnx.NodeProto, dy string, w Window, xs, ws []int64) string {
	if w.Group != 1 {
		return d.convWeightGradConv(n, dy, w, xs, ws)
	}
	g := d.g
	x := n.Input[0]
	sp := len(xs) - 2
	ys := g.info[n.Output[0]].Shape
	if stackedWeightGradFits(w, xs, ws, ys) {
		return d.convWeightGradStacked(n, dy, w, xs, ws, ys)
	}
	m, c := ws[0], xs[1]
	// Batch innermost ([C, spatial..., N], padded by concatenated zeros):
	// every Slice below copies runs of at least N values, even with strides.
	all := make([]int64, len(xs))
	for i := range all {
		all[i] = int64(i + 1)
	}
	all[len(xs)-1] = 0
	xt := g.Op1("Transpose", []string{x}, AInts("perm", all...))
	for i := 0; i < sp; i++ {
		dims := slices.Clone(g.info[xt].Shape)
		var parts []string
		if p := w.PadsBegin[i]; p > 0 {
			dims[i+1] = p
			parts = append(parts, d.batchZeros(x, dims, len(xs)-1))
		}
		parts = append(parts, xt)
		if p := w.PadsEnd[i]; p > 0 {
			dims[i+1] = p
			parts = append(parts, d.batchZeros(x, dims, len(xs)-1))
		}
		if len(parts) > 1 {
			xt = g.Op1("Concat", parts, AInt("axis", int64(i+1)))
		}
	}
	dyt := g.Op1("Reshape", []string{g.Op1("Transpose", []string{dy}, AInts("perm", all...)), g.ConstI(m, -1)})
	kk := numel(w.Kernel)
	axes := make([]int64, sp)
	for i := range axes {
		axes[i] = int64(i + 1)
	}
	var parts []string
	few := kk > 1 && c*kk <= 256
	off := make([]int64, sp)
	for k := int64(0); k < kk; k++ {
		r := k
		for i := sp - 1; i >= 0; i-- {
			off[i] = r % w.Kernel[i]
			r /= w.Kernel[i]
		}
		starts, ends := make([]int64, sp), make([]int64, sp)
		for i := 0; i < sp; i++ {
			starts[i] = off[i] * w.Dilations[i]
			ends[i] = starts[i] + (ys[i+2]-1)*w.Strides[i] + 1
		}
		sl := g.Op1("Slice", []string{xt, g.ConstI(starts...), g.ConstI(ends...), g.ConstI(axes...), g.ConstI(w.Strides...)})
		if few {
			parts = append(parts, sl)
			continue
		}
		flat := g.Op1("Reshape", []string{sl, g.ConstI(c, -1)})
		prod := g.Op1("Gemm", []string{dyt, flat}, AInt("transB", 1)) // [M, C]
		parts = append(parts, g.Op1("Unsqueeze", []string{prod, g.ConstI(2)}))
	}
	if few {
		// Few input channels (a stem): one GEMM against all the offsets'
		// slices, [M, k·C], rather than k GEMMs with C columns each.
		cat := g.Op1("Reshape", []string{g.Op1("Concat", parts, AInt("axis", 0)), g.ConstI(kk*c, -1)})
		prod := g.Op1("Reshape", []string{g.Op1("Gemm", []string{dyt, cat}, AInt("transB", 1)), g.ConstI(m, kk, c)})
		return g.Op1("Reshape", []string{g.Op1("Transpose", []string{prod}, AInts("perm", 0, 2, 1)), g.ConstI(ws...)})
	}
	st := parts[0]
	if len(parts) > 1 {
		st = g.Op1("Concat", parts, AInt("axis", 2))
	}
	return g.Op1("Reshape", []string{st, g.ConstI(ws...)})
}

// batchZeros returns zeros of shape dims, except that axis bAxis has the
// batch size of ref (its axis 0), known only when the graph runs.
func (d *differ) batchZeros(ref string, dims []int64, bAxis int) string {
	g := d.g
	batch := g.Op1("Slice", []string{g.Op1("Shape", []string{ref}), g.ConstI(0), g.ConstI(1)})
	var parts []string
	for i, v := range dims {
		if i == bAxis {
			parts = append(parts, batch)
		} else {
			parts = append(parts, g.ConstI(v))
		}
	}
	dt := g.info[ref].DType
	z := g.Op1("ConstantOfShape", []string{g.Op1("Concat", parts, AInt("axis", 0))}, zeroValue(dt))
	s := slices.Clone(dims)
	s[bAxis] = -1
	g.info[z] = Info{DType: dt, Shape: s}
	return z
}

// stackedWeightGradFits reports whether convWeightGradStacked applies and is
// likely the faster form: a 2-D ungrouped Conv with unit strides whose input
// is at least as large as its output (per example) and whose row padding
// adds at most an eighth to the output height (measured on ResNet-18: at a
// quarter, 8x8 outputs, the per-offset GEMMs are faster).
func stackedWeightGradFits(w Window, xs, ws, ys []int64) bool {
	if len(xs) != 4 || len(ys) != 4 || w.Group != 1 || w.Strides[0] != 1 || w.Strides[1] != 1 {
		return false
	}
	hp := xs[2] + w.PadsBegin[0] + w.PadsEnd[0]
	ho, wo := ys[2], ys[3]
	if ho < 1 || wo < 1 || hp-(w.Kernel[0]-1)*w.Dilations[0] != ho ||
		xs[3]+w.PadsBegin[1]+w.PadsEnd[1]-(w.Kernel[1]-1)*w.Dilations[1] != wo {
		return false
	}
	return xs[1]*xs[2]*xs[3] >= ws[0]*ho*wo && 8*hp <= 9*ho
}

// convWeightGradStacked is the weight gradient of a 2-D Conv with unit
// strides as one Conv whose GEMM is well shaped, with no per-offset copies:
//
//	dW[m, c, a, b] = Σ_{n,i,j} dy[n, m, i, j] · xpad[n, c, i + a·dh, j + b·dw]
//
// The input is x with its rows padded, its channels stacked along the height
// ([1, N, C·Hp, W]: batch as input channels); the kernel is dy transposed to
// [M, N, H', W'] stacked kh times along the output channels, copy a shifted
// down by a·dh rows (so its height is Hp). A vertical stride of Hp visits
// every channel once; horizontal offsets b are the output columns (stride dw,
// the Conv's own column padding). The output [1, kh·M, C, kw] is dW
// reordered. ONNX Runtime unfolds the input inside its Conv, in a third of
// the copies the per-offset Slices of convWeightGrad need.
func (d *differ) convWeightGradStacked(n *onnx.NodeProto, dy string, w Window, xs, ws, ys []int64) string {
	g := d.g
	x := n.Input[0]
	c, h, wd := xs[1], xs[2], xs[3]
	m, kh, kw := ws[0], w.Kernel[0], w.Kernel[1]
	ho, wo := ys[2], ys[3]
	pt, pb := w.PadsBegin[0], w.PadsEnd[0]
	hp := h + pt + pb
	zeros := func(dims []int64, bAxis int) string { return d.batchZeros(x, dims, bAxis) }
	// padRows concatenates top and bottom zero rows (axis 2) around v.
	padRows := func(v string, top, bottom int64, d0, d1, width int64, bAxis int) string {
		parts := []string{v}
		if top > 0 {
			parts = append([]string{zeros([]int64{d0, d1, top, width}, bAxis)}, parts...)
		}
		if bottom > 0 {
			parts = append(parts, zeros([]int64{d0, d1, bottom, width}, bAxis))
		}
		if len(parts) == 1 {
			return v
		}
		return g.Op1("Concat", parts, AInt("axis", 2))
	}
	in := g.Op1("Reshape", []string{padRows(x, pt, pb, -1, c, wd, 0), g.ConstI(1, -1, c*hp, wd)})
	dyt := g.Op1("Transpose", []string{dy}, AInts("perm", 1, 0, 2, 3)) // [M, N, H', W']
	blocks := make([]string, kh)
	for a := int64(0); a < kh; a++ {
		top := a * w.Dilations[0]
		blocks[a] = padRows(dyt, top, hp-ho-top, m, -1, wo, 1)
	}
	k := blocks[0]
	if kh > 1 {
		k = g.Op1("Concat", blocks, AInt("axis", 0))
	}
	out := g.Op1("Conv", []string{in, k}, AInts("strides", hp, w.Dilations[1]),
		AInts("pads", 0, w.PadsBegin[1], 0, w.PadsEnd[1]), AInts("kernel_shape", hp, wo))
	r := g.Op1("Reshape", []string{out, g.ConstI(kh, m, c, kw)})
	return g.Op1("Transpose", []string{r}, AInts("perm", 1, 2, 0, 3))
}

// convWeightGradConv is the weight gradient of a Conv as another Conv: the input
// transposed to [C/g, g*N, ...] is convolved with the output gradient
// transposed to [M, N, ...] as the kernel, the original strides becoming
// dilations and the dilations strides; the result [C/g, M, k'...] is
// transposed to [M, C/g, ...] and cropped to the kernel size.
func (d *differ) convWeightGradConv(n *onnx.NodeProto, dy string, w Window, xs, ws []int64) string {
	g := d.g
	x := n.Input[0]
	sp := len(xs) - 2
	c, grp := xs[1], w.Group
	var x2 string
	if grp == 1 {
		x2 = g.Op1("Transpose", []string{x}, AInts("perm", perm01(len(xs))...))
	} else {
		s5 := append([]int64{-1, grp, c / grp}, xs[2:]...)
		r := g.Op1("Reshape", []string{x, g.ConstI(s5...)})
		p := []int64{2, 1, 0}
		for i := 0; i < sp; i++ {
			p = append(p, int64(3+i))
		}
		t := g.Op1("Transpose", []string{r}, AInts("perm", p...))
		x2 = g.Op1("Reshape", []string{t, g.ConstI(append([]int64{c / grp, -1}, xs[2:]...)...)})
	}
	w2 := g.Op1("Transpose", []string{dy}, AInts("perm", perm01(len(xs))...))
	out := g.Op1("Conv", []string{x2, w2},
		AInts("strides", w.Dilations...), AInts("dilations", w.Strides...),
		AInts("pads", append(slices.Clone(w.PadsBegin), w.PadsEnd...)...), AInt("group", grp))
	dw := g.Op1("Transpose", []string{out}, AInts("perm", perm01(len(xs))...))
	os := g.info[dw].Shape
	crop := false
	for i := 0; i < sp; i++ {
		if os == nil || os[i+2] != ws[i+2] {
			crop = true
		}
	}
	if crop {
		starts := make([]int64, sp)
		axes := make([]int64, sp)
		for i := range axes {
			axes[i] = int64(i + 2)
		}
		dw = g.Op1("Slice", []string{dw, g.ConstI(starts...), g.ConstI(ws[2:]...), g.ConstI(axes...)})
	}
	return dw
}

func (d *differ) maxPool(n *onnx.NodeProto, dy string) (string, error) {
	g := d.g
	if IntAttr(n, "storage_order", 0) != 0 {
		return "", &UnsupportedOpError{Op: "MaxPool", Node: n.Name, Why: "storage_order 1"}
	}
	if len(n.Output) < 2 || n.Output[1] == "" {
		// Ask the forward node for its Indices output.
		idx := g.Fresh(n.Name + "_indices")
		if len(n.Output) < 2 {
			n.Output = append(n.Output, idx)
		} else {
			n.Output[1] = idx
		}
		g.Infer(n)
	}
	x := n.Input[0]
	dt := g.info[x].DType
	if dx, ok := d.maxPoolTiled(n, dy); ok {
		return dx, nil
	}
	size := g.Op1("Reshape", []string{g.Op1("Size", []string{x}), g.ConstI(1)})
	zeros := g.Op1("ConstantOfShape", []string{size}, zeroValue(dt))
	flatIdx := g.Op1("Reshape", []string{n.Output[1], g.ConstI(-1)})
	flatDy := g.Op1("Reshape", []string{dy, g.ConstI(-1)})
	sc := g.Op1("ScatterElements", []string{zeros, flatIdx, flatDy}, AInt("axis", 0), AString("reduction", "add"))
	return g.reshapeLike(sc, x), nil
}

// maxPoolTiled is MaxPool's backward for 2-D windows that tile the input
// (kernel = strides, no padding or dilation, sizes divisible): dy spread over
// each window by Expand, times a mask of the position Indices names, which
// depends on the forward pass alone and is memoised (the true Fisher's
// per-class passes share it). It gives what the ScatterElements form gives,
// ties included (the mask holds Indices' one position per window), in a
// fraction of its time. ok is false where it does not apply.
func (d *differ) maxPoolTiled(n *onnx.NodeProto, dy string) (string, bool) {
	g := d.g
	x := n.Input[0]
	xs, known := g.knownSpatial(x)
	w, okw := g.WindowOf(n)
	if !known || !okw || len(xs) != 4 || IntAttr(n, "ceil_mode", 0) != 0 {
		return "", false
	}
	for i := range 2 {
		if w.Kernel[i] != w.Strides[i] || w.Dilations[i] != 1 || w.PadsBegin[i] != 0 || w.PadsEnd[i] != 0 || xs[2+i]%w.Kernel[i] != 0 {
			return "", false
		}
	}
	hh, ww := xs[2], xs[3]
	kh, kw := w.Kernel[0], w.Kernel[1]
	h, wd := hh/kh, ww/kw
	spread := func(v string) string {
		v = g.Op1("Reshape", []string{v, g.ConstI(0, 0, h, 1, wd, 1)})
		v = g.Op1("Expand", []string{v, g.ConstI(1, 1, 1, kh, 1, kw)})
		return g.Op1("Reshape", []string{v, g.ConstI(0, 0, hh, ww)})
	}
	dt := g.info[x].DType
	mask := g.memoised("poolmask|"+n.Output[1], func() string {
		// Indices count over the whole tensor; modulo the plane size they
		// are the row-major position within the window's plane.
		local := g.Op1("Mod", []string{n.Output[1], g.AddInit(g.Fresh("plane"), &Tensor{DType: Int64, Dims: []int64{}, I64: []int64{hh * ww}})})
		g.info[local] = g.info[n.Output[1]]
		pos := make([]int64, hh*ww)
		for i := range pos {
			pos[i] = int64(i)
		}
		iota := g.AddInit(g.Fresh("positions"), &Tensor{DType: Int64, Dims: []int64{1, 1, hh, ww}, I64: pos})
		return g.Op1("Cast", []string{g.Op1("Equal", []string{spread(local), iota})}, AInt("to", int64(dt)))
	})
	dx := g.Op1("Mul", []string{spread(dy), mask})
	g.info[dx] = g.info[x]
	return dx, true
}

func (d *differ) avgPool(n *onnx.NodeProto, dy string) (string, error) {
	g := d.g
	x := n.Input[0]
	xs, ok := g.knownSpatial(x)
	w, okw := g.WindowOf(n)
	if !ok || !okw {
		return "", &UnsupportedOpError{Op: "AveragePool", Node: n.Name, Why: "channels and spatial sizes must be known"}
	}
	ys := g.info[n.Output[0]].Shape
	dt := g.info[x].DType
	sp := len(xs) - 2
	includePad := IntAttr(n, "count_include_pad", 0) != 0
	// The divisor of every output position, worked out here once.
	outSp := ys[2:]
	cnt := make([]float64, numel(outSp))
	idx := make([]int64, sp)
	for k := range cnt {
		r := int64(k)
		for i := sp - 1; i >= 0; i-- {
			idx[i] = r % outSp[i]
			r /= outSp[i]
		}
		c := 1.0
		for i := 0; i < sp; i++ {
			start := idx[i]*w.Strides[i] - w.PadsBegin[i]
			end := start + w.Kernel[i]
			lo, hi := int64(0), xs[i+2]
			if includePad {
				lo, hi = -w.PadsBegin[i], xs[i+2]+w.PadsEnd[i]
			}
			c *= float64(max(0, min(end, hi)-max(start, lo)))
		}
		cnt[k] = 1 / c
	}
	inv := g.ConstF(dt, append([]int64{1, 1}, outSp...), cnt...)
	scaled := g.Op1("Mul", []string{dy, inv})
	c := xs[1]
	ones := make([]float64, c*numel(w.Kernel))
	for i := range ones {
		ones[i] = 1
	}
	kern := g.ConstF(dt, append([]int64{c, 1}, w.Kernel...), ones...)
	var pb, pe, ops []int64
	for i := 0; i < sp; i++ {
		b, e, op := transposeGradPads(w, i, xs[i+2], ys[i+2])
		pb, pe, ops = append(pb, b), append(pe, e), append(ops, op)
	}
	return g.Op1("ConvTranspose", []string{scaled, kern},
		AInts("strides", w.Strides...), AInts("pads", append(pb, pe...)...), AInts("output_padding", ops...),
		AInt("group", c), AInts("kernel_shape", w.Kernel...)), nil
}

func (d *differ) batchNormInference(n *onnx.NodeProto, dy string, need []bool) ([]string, error) {
	g := d.g
	in := n.Input
	dx := make([]string, len(in))
	xs := g.info[in[0]].Shape
	cs := g.info[in[1]].Shape
	if len(xs) < 2 || len(cs) != 1 || cs[0] < 0 {
		return nil, &UnsupportedOpError{Op: "BatchNormalization", Node: n.Name, Why: "rank and channel count must be known"}
	}
	dt := g.info[in[0]].DType
	eps := FloatAttr(n, "epsilon", 1e-5)
	cshape := g.ConstI(channelShape(cs[0], len(xs))...)
	inv := g.Op1("Reciprocal", []string{g.Op1("Sqrt", []string{g.Op1("Add", []string{in[4], g.ScalarF(dt, float64(eps))})})})
	if need[0] {
		s := g.Op1("Reshape", []string{g.Op1("Mul", []string{in[1], inv}), cshape})
		dx[0] = g.Op1("Mul", []string{dy, s})
	}
	axes := g.ConstI(spatialAxes(len(xs))...)
	if need[1] {
		xhat := g.Op1("Mul", []string{
			g.Op1("Sub", []string{in[0], g.Op1("Reshape", []string{in[3], cshape})}),
			g.Op1("Reshape", []string{inv, cshape})})
		dx[1] = g.Op1("ReduceSum", []string{g.Op1("Mul", []string{dy, xhat}), axes}, AInt("keepdims", 0))
	}
	if need[2] {
		dx[2] = g.Op1("ReduceSum", []string{dy, axes}, AInt("keepdims", 0))
	}
	if need[3] || need[4] {
		return nil, &UnsupportedOpError{Op: "BatchNormalization", Node: n.Name, Why: "running mean and variance are not differentiable parameters"}
	}
	return dx, nil
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
	}
	return nil, fmt.Errorf("internal: unknown fused gradient %d", f.kind)
}
