package graph

// Backward rules for pooling (MaxPool, AveragePool) and inference-mode
// BatchNormalization.

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

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
	dt := g.info[x].DType
	c := xs[1]
	ones := make([]float64, c*kh*kw)
	for i := range ones {
		ones[i] = 1
	}
	kernel := g.memoised(fmt.Sprintf("poolspread|%v|%d|%d|%d", dt, c, kh, kw), func() string {
		return g.ConstF(dt, []int64{c, 1, kh, kw}, ones...)
	})
	// Each window's value copied over the window: a depthwise ConvTranspose
	// with a kernel of ones (exact: one product by 1 per output), several
	// times faster in ONNX Runtime than Expand, Resize or DepthToSpace.
	spread := func(v string) string {
		out := g.Op1("ConvTranspose", []string{v, kernel}, AInts("strides", kh, kw), AInt("group", c), AInts("kernel_shape", kh, kw))
		g.info[out] = Info{dt, []int64{xs[0], c, hh, ww}}
		return out
	}
	mask := g.memoised("poolmask|"+n.Output[1], func() string {
		// Indices count over the whole tensor; modulo the plane size they
		// are the row-major position within the window's plane (exact in
		// float up to 2^24 positions).
		if hh*ww > 1<<24 {
			return ""
		}
		local := g.Op1("Mod", []string{n.Output[1], g.AddInit(g.Fresh("plane"), &Tensor{DType: Int64, Dims: []int64{}, I64: []int64{hh * ww}})})
		local = g.Op1("Cast", []string{local}, AInt("to", int64(dt)))
		g.info[local] = Info{dt, g.info[n.Output[1]].Shape}
		pos := make([]float64, hh*ww)
		for i := range pos {
			pos[i] = float64(i)
		}
		iota := g.ConstF(dt, []int64{1, 1, hh, ww}, pos...)
		return g.Op1("Cast", []string{g.Op1("Equal", []string{spread(local), iota})}, AInt("to", int64(dt)))
	})
	if mask == "" {
		return "", false
	}
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
