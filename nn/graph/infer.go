package graph

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Infer records the element types and shapes of n's outputs from its inputs,
// as far as they can be known at build time. Unknown operators leave their
// outputs with an unknown shape and the first input's element type.
func (g *Graph) Infer(n *onnx.NodeProto) {
	in := func(i int) Info {
		if i < len(n.Input) && n.Input[i] != "" {
			return g.info[n.Input[i]]
		}
		return Info{}
	}
	set := func(i int, dt DType, shape []int64) {
		if i < len(n.Output) && n.Output[i] != "" {
			g.info[n.Output[i]] = Info{dt, shape}
		}
	}
	x := in(0)
	switch n.OpType {
	case "Identity", "Relu", "Sqrt", "Reciprocal", "Neg", "Exp", "Log", "Abs", "Softmax", "LogSoftmax", "CumSum",
		"Sigmoid", "Tanh", "ScatterElements", "LeakyRelu":
		set(0, x.DType, x.Shape)
	case "Dropout":
		set(0, x.DType, x.Shape)
		set(1, Bool, x.Shape)
	case "Cast":
		set(0, DType(IntAttr(n, "to", int64(x.DType))), x.Shape)
	case "Add", "Sub", "Mul", "Div", "Pow", "Sum", "Max", "Min":
		s := x.Shape
		for i := 1; i < len(n.Input); i++ {
			s = broadcast(s, in(i).Shape)
		}
		set(0, x.DType, s)
	case "Greater", "Less", "Equal", "GreaterOrEqual", "LessOrEqual":
		set(0, Bool, broadcast(x.Shape, in(1).Shape))
	case "Where":
		set(0, in(1).DType, broadcast(broadcast(x.Shape, in(1).Shape), in(2).Shape))
	case "MatMul":
		set(0, x.DType, matmulShape(x.Shape, in(1).Shape))
	case "Gemm":
		a, b := x.Shape, in(1).Shape
		if len(a) == 2 && len(b) == 2 {
			m, k := a[0], a[1]
			if IntAttr(n, "transA", 0) != 0 {
				m = a[1]
			}
			_ = k
			nn := b[1]
			if IntAttr(n, "transB", 0) != 0 {
				nn = b[0]
			}
			set(0, x.DType, []int64{m, nn})
		} else {
			set(0, x.DType, nil)
		}
	case "Flatten":
		if x.Shape == nil {
			set(0, x.DType, nil)
			break
		}
		axis := normAxis(IntAttr(n, "axis", 1), len(x.Shape))
		set(0, x.DType, []int64{prodKnown(x.Shape[:axis]), prodKnown(x.Shape[axis:])})
	case "Reshape":
		if src, ok := g.shapeOf[n.Input[1]]; ok {
			set(0, x.DType, g.info[src].Shape)
			break
		}
		target, ok := g.ConstInts(n.Input[1])
		if !ok {
			set(0, x.DType, nil)
			break
		}
		set(0, x.DType, reshapeShape(x.Shape, target, IntAttr(n, "allowzero", 0) != 0))
	case "Transpose":
		if x.Shape == nil {
			set(0, x.DType, nil)
			break
		}
		perm := IntsAttr(n, "perm", nil)
		if perm == nil {
			for i := len(x.Shape) - 1; i >= 0; i-- {
				perm = append(perm, int64(i))
			}
		}
		s := make([]int64, len(perm))
		for i, p := range perm {
			s[i] = x.Shape[p]
		}
		set(0, x.DType, s)
	case "Concat":
		if x.Shape == nil {
			set(0, x.DType, nil)
			break
		}
		axis := normAxis(IntAttr(n, "axis", 0), len(x.Shape))
		s := slices.Clone(x.Shape)
		for i := 1; i < len(n.Input); i++ {
			o := in(i).Shape
			if o == nil || s[axis] < 0 || o[axis] < 0 {
				s[axis] = -1
			} else {
				s[axis] += o[axis]
			}
		}
		set(0, x.DType, s)
	case "Split":
		axis := int64(0)
		if x.Shape != nil {
			axis = normAxis(IntAttr(n, "axis", 0), len(x.Shape))
		}
		var sizes []int64
		if len(n.Input) > 1 {
			sizes, _ = g.ConstInts(n.Input[1])
		}
		for i := range n.Output {
			if x.Shape == nil || i >= len(sizes) {
				set(i, x.DType, nil)
				continue
			}
			s := slices.Clone(x.Shape)
			s[axis] = sizes[i]
			set(i, x.DType, s)
		}
	case "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSumSquare":
		var axes []int64
		if n.OpType == "ReduceSum" {
			if len(n.Input) > 1 {
				axes, _ = g.ConstInts(n.Input[1])
			}
		} else {
			axes = IntsAttr(n, "axes", nil)
		}
		set(0, x.DType, reduceShape(x.Shape, axes, IntAttr(n, "keepdims", 1) != 0))
	case "Size":
		set(0, Int64, []int64{})
	case "Shape":
		if x.Shape != nil {
			set(0, Int64, []int64{int64(len(x.Shape))})
		} else {
			set(0, Int64, []int64{-1})
		}
		g.shapeOf[n.Output[0]] = n.Input[0]
	case "ConstantOfShape", "Expand":
		dt := x.DType
		if n.OpType == "ConstantOfShape" {
			dt = Float
			if a := AttrOf(n, "value"); a != nil && a.T != nil {
				dt = DType(a.T.DataType)
			}
		}
		shapeIn := n.Input[len(n.Input)-1]
		var s []int64
		if src, ok := g.shapeOf[shapeIn]; ok {
			s = g.info[src].Shape
		} else if c, ok := g.ConstInts(shapeIn); ok {
			s = c
		}
		if n.OpType == "Expand" && s != nil && x.Shape != nil {
			s = broadcast(x.Shape, s)
		}
		set(0, dt, s)
	case "OneHot":
		depth := int64(-1)
		if t, ok := g.Inits[n.Input[1]]; ok {
			switch {
			case len(t.I64) > 0:
				depth = t.I64[0]
			case len(t.F32) > 0:
				depth = int64(t.F32[0])
			}
		}
		var s []int64
		if x.Shape != nil {
			s = append(slices.Clone(x.Shape), depth)
		}
		set(0, in(2).DType, s)
	case "Unsqueeze":
		axes, ok := g.ConstInts(n.Input[1])
		if !ok || x.Shape == nil {
			set(0, x.DType, nil)
			break
		}
		r := len(x.Shape) + len(axes)
		s := make([]int64, 0, r)
		src := 0
		for i := 0; i < r; i++ {
			if slices.Contains(axes, int64(i)) || slices.Contains(axes, int64(i-r)) {
				s = append(s, 1)
			} else {
				s = append(s, x.Shape[src])
				src++
			}
		}
		set(0, x.DType, s)
	case "Squeeze":
		var axes []int64
		if len(n.Input) > 1 {
			axes, _ = g.ConstInts(n.Input[1])
		}
		if x.Shape == nil {
			set(0, x.DType, nil)
			break
		}
		var s []int64
		for i, d := range x.Shape {
			if (axes == nil && d == 1) || slices.Contains(axes, int64(i)) || slices.Contains(axes, int64(i-len(x.Shape))) {
				continue
			}
			s = append(s, d)
		}
		set(0, x.DType, s)
	case "Slice":
		starts, ok1 := g.ConstInts(n.Input[1])
		ends, ok2 := g.ConstInts(n.Input[2])
		if !ok1 || !ok2 || x.Shape == nil {
			set(0, x.DType, nil)
			break
		}
		var axes, steps []int64
		if len(n.Input) > 3 {
			axes, _ = g.ConstInts(n.Input[3])
		}
		if len(n.Input) > 4 {
			steps, _ = g.ConstInts(n.Input[4])
		}
		s := slices.Clone(x.Shape)
		for i := range starts {
			ax := int64(i)
			if axes != nil {
				ax = normAxis(axes[i], len(s))
			}
			step := int64(1)
			if steps != nil {
				step = steps[i]
			}
			d := s[ax]
			if d < 0 || step != 1 {
				s[ax] = -1
				continue
			}
			b, e := clampIdx(starts[i], d), clampIdx(ends[i], d)
			s[ax] = max(e-b, 0)
		}
		set(0, x.DType, s)
	case "Conv", "MaxPool", "AveragePool":
		set(0, x.DType, g.windowShape(n))
		if n.OpType == "MaxPool" {
			set(1, Int64, g.windowShape(n))
		}
	case "ConvTranspose":
		set(0, x.DType, g.convTransposeShape(n))
	case "GlobalAveragePool", "GlobalMaxPool":
		if x.Shape == nil {
			set(0, x.DType, nil)
			break
		}
		s := slices.Clone(x.Shape)
		for i := 2; i < len(s); i++ {
			s[i] = 1
		}
		set(0, x.DType, s)
	case "BatchNormalization":
		set(0, x.DType, x.Shape)
		set(1, x.DType, in(3).Shape)
		set(2, x.DType, in(4).Shape)
	case "Pad":
		begin, end, err := g.padAmounts(n)
		if err != nil || x.Shape == nil || len(begin) != len(x.Shape) {
			set(0, x.DType, nil)
			break
		}
		s := slices.Clone(x.Shape)
		for i, d := range s {
			if d >= 0 {
				s[i] = d + begin[i] + end[i]
			}
		}
		set(0, x.DType, s)
	case "Constant":
		if a := AttrOf(n, "value"); a != nil && a.T != nil {
			if t, err := FromProto(a.T); err == nil {
				set(0, t.DType, t.Dims)
				break
			}
		}
		set(0, Float, nil)
	case "Gather":
		set(0, x.DType, nil)
	default:
		set(0, x.DType, nil)
		for i := 1; i < len(n.Output); i++ {
			set(i, x.DType, nil)
		}
	}
}

func clampIdx(i, d int64) int64 {
	if i < 0 {
		i += d
	}
	return max(0, min(i, d))
}

func normAxis(a int64, rank int) int64 {
	if a < 0 {
		a += int64(rank)
	}
	return a
}

func prodKnown(s []int64) int64 {
	p := int64(1)
	for _, d := range s {
		if d < 0 {
			return -1
		}
		p *= d
	}
	return p
}

// broadcast is numpy's broadcasting of two shapes; unknown dims stay unknown
// unless the other side fixes them.
func broadcast(a, b []int64) []int64 {
	if a == nil || b == nil {
		return nil
	}
	r := max(len(a), len(b))
	s := make([]int64, r)
	for i := 0; i < r; i++ {
		da, db := int64(1), int64(1)
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == 1:
			s[i] = db
		case db == 1:
			s[i] = da
		case da < 0:
			s[i] = db
		default:
			s[i] = da
		}
	}
	return s
}

func matmulShape(a, b []int64) []int64 {
	if len(a) < 1 || len(b) < 1 {
		return nil
	}
	if len(a) == 1 || len(b) == 1 {
		return nil
	}
	batch := broadcast(a[:len(a)-2], b[:len(b)-2])
	return append(batch, a[len(a)-2], b[len(b)-1])
}

func reshapeShape(in, target []int64, allowZero bool) []int64 {
	s := slices.Clone(target)
	neg := -1
	for i, d := range s {
		switch {
		case d == 0 && !allowZero:
			if in == nil || i >= len(in) {
				return nil
			}
			s[i] = in[i]
		case d == -1:
			neg = i
		}
	}
	if neg >= 0 {
		total := prodKnown(in)
		rest := int64(1)
		for i, d := range s {
			if i != neg {
				if d < 0 {
					rest = -1
					break
				}
				rest *= d
			}
		}
		if total < 0 || rest <= 0 {
			s[neg] = -1
			// A batch dimension kept by 0 or by the -1 itself stays unknown.
		} else {
			s[neg] = total / rest
		}
	}
	return s
}

func reduceShape(s, axes []int64, keep bool) []int64 {
	if s == nil {
		return nil
	}
	all := len(axes) == 0
	var out []int64
	for i, d := range s {
		if all || slices.Contains(axes, int64(i)) || slices.Contains(axes, int64(i-len(s))) {
			if keep {
				out = append(out, 1)
			}
			continue
		}
		out = append(out, d)
	}
	if out == nil {
		out = []int64{}
	}
	return out
}

// Window describes a Conv or pooling node's geometry over its spatial axes.
type Window struct {
	Kernel, Strides, Dilations, PadsBegin, PadsEnd []int64
	Group                                          int64
	CeilMode                                       bool
}

// WindowOf reads a Conv/ConvTranspose/MaxPool/AveragePool node's attributes,
// with the kernel size taken from the weight when the node has none.
func (g *Graph) WindowOf(n *onnx.NodeProto) (Window, bool) {
	xs := g.info[n.Input[0]].Shape
	if xs == nil {
		return Window{}, false
	}
	sp := len(xs) - 2
	k := IntsAttr(n, "kernel_shape", nil)
	if k == nil && (n.OpType == "Conv" || n.OpType == "ConvTranspose") && len(n.Input) > 1 {
		ws := g.info[n.Input[1]].Shape
		if len(ws) == sp+2 {
			k = ws[2:]
		}
	}
	if len(k) != sp {
		return Window{}, false
	}
	ones := func() []int64 {
		o := make([]int64, sp)
		for i := range o {
			o[i] = 1
		}
		return o
	}
	w := Window{Kernel: k, Strides: IntsAttr(n, "strides", ones()), Dilations: IntsAttr(n, "dilations", ones()),
		Group: IntAttr(n, "group", 1), CeilMode: IntAttr(n, "ceil_mode", 0) != 0}
	pads := IntsAttr(n, "pads", make([]int64, 2*sp))
	if ap := StringAttr(n, "auto_pad", "NOTSET"); ap != "NOTSET" && ap != "" && ap != "VALID" {
		if ap != "SAME_UPPER" && ap != "SAME_LOWER" {
			return Window{}, false
		}
		pads = make([]int64, 2*sp)
		for i := 0; i < sp; i++ {
			if xs[i+2] < 0 {
				return Window{}, false
			}
			out := (xs[i+2] + w.Strides[i] - 1) / w.Strides[i]
			total := max(0, (out-1)*w.Strides[i]+(k[i]-1)*w.Dilations[i]+1-xs[i+2])
			if ap == "SAME_UPPER" {
				pads[i], pads[i+sp] = total/2, total-total/2
			} else {
				pads[i], pads[i+sp] = total-total/2, total/2
			}
		}
	}
	if len(pads) != 2*sp || len(w.Strides) != sp || len(w.Dilations) != sp {
		return Window{}, false
	}
	w.PadsBegin, w.PadsEnd = pads[:sp], pads[sp:]
	return w, true
}

// OutSize is the output length of a window over an input of length in.
func (w Window) OutSize(i int, in int64) int64 {
	if in < 0 {
		return -1
	}
	span := (w.Kernel[i]-1)*w.Dilations[i] + 1
	num := in + w.PadsBegin[i] + w.PadsEnd[i] - span
	if w.CeilMode {
		out := (num+w.Strides[i]-1)/w.Strides[i] + 1
		// The last window must start inside the input or the left padding.
		if (out-1)*w.Strides[i] >= in+w.PadsBegin[i] {
			out--
		}
		return out
	}
	return num/w.Strides[i] + 1
}

func (g *Graph) windowShape(n *onnx.NodeProto) []int64 {
	xs := g.info[n.Input[0]].Shape
	w, ok := g.WindowOf(n)
	if !ok {
		return nil
	}
	s := slices.Clone(xs)
	if n.OpType == "Conv" {
		ws := g.info[n.Input[1]].Shape
		if ws == nil {
			return nil
		}
		s[1] = ws[0]
	}
	for i := range w.Kernel {
		s[i+2] = w.OutSize(i, xs[i+2])
	}
	return s
}

func (g *Graph) convTransposeShape(n *onnx.NodeProto) []int64 {
	xs := g.info[n.Input[0]].Shape
	ws := g.info[n.Input[1]].Shape
	w, ok := g.WindowOf(n)
	if !ok || ws == nil {
		return nil
	}
	s := slices.Clone(xs)
	s[1] = ws[1] * w.Group
	op := IntsAttr(n, "output_padding", make([]int64, len(w.Kernel)))
	for i := range w.Kernel {
		if xs[i+2] < 0 {
			s[i+2] = -1
			continue
		}
		s[i+2] = w.Strides[i]*(xs[i+2]-1) + op[i] + (w.Kernel[i]-1)*w.Dilations[i] + 1 - w.PadsBegin[i] - w.PadsEnd[i]
	}
	return s
}

// padAmounts reads a Pad node's padding (opset 11 and later: the pads
// input, which must be a constant) as the amounts before and after each
// axis. Only what the importer can train through is accepted: constant
// mode (torch.onnx.export writes an AvgPool2d with padding, and
// nn.ZeroPad2d/ConstantPad2d, as such a Pad) and no negative amount (a
// crop).
func (g *Graph) padAmounts(n *onnx.NodeProto) (begin, end []int64, err error) {
	if m := StringAttr(n, "mode", "constant"); m != "constant" {
		return nil, nil, fmt.Errorf("Pad of mode %q is not supported (only constant)", m)
	}
	if len(n.Input) < 2 || n.Input[1] == "" {
		return nil, nil, fmt.Errorf("Pad without pads")
	}
	if len(n.Input) > 3 && n.Input[3] != "" {
		return nil, nil, fmt.Errorf("Pad with axes is not supported")
	}
	pads, ok := g.ConstInts(n.Input[1])
	if !ok || len(pads)%2 != 0 {
		return nil, nil, fmt.Errorf("the pads of a Pad must be a constant of even length")
	}
	for _, p := range pads {
		if p < 0 {
			return nil, nil, fmt.Errorf("negative pads %v (a crop) are not supported", pads)
		}
	}
	r := len(pads) / 2
	return pads[:r], pads[r:], nil
}
