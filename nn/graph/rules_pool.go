package graph

// Backward rules for pooling (MaxPool, AveragePool) and inference-mode
// BatchNormalization.

import (
	"fmt"
	"math"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

func (d *differ) maxPool(n *onnx.NodeProto, dy string) (string, error) {
	g := d.g
	if IntAttr(n, "storage_order", 0) != 0 {
		return "", &UnsupportedOpError{Op: "MaxPool", Node: n.Name, Why: "storage_order 1"}
	}
	if dx, ok := d.maxPoolUnpool(n, dy); ok {
		return dx, nil
	}
	// The fallback for what maxPoolUnpool does not cover (dilation, ceil
	// mode, double precision, shapes unknown at build time): the positions
	// from the forward node's Indices output, which ONNX Runtime computes in
	// a slow generic kernel (tens of times the time of MaxPool without it).
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
// (kernel = strides, no padding or dilation, sizes divisible) where
// maxPoolUnpool does not apply (double precision): dy spread over
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

// maxPoolUnpool is MaxPool's backward for float windows without dilation,
// in floor mode, with channels and spatial sizes known: dy goes to the first
// maximum of each window in scan order, as PyTorch's and ONNX Runtime's
// Indices give it, placed by MaxUnpool (one zero fill and one scatter) where
// the windows neither overlap nor pad (the cnn's 2x2 pools), else added up
// by ScatterElements (ResNet-18's 3x3 stride-2 padded stem pool). The flat
// position of each window's first maximum is found from the forward's
// output alone (see windowArgmax), so the forward MaxPool runs without its
// Indices output. ok is false where it does not apply.
//
// When x is a Relu's output read by this pool alone, dy is masked by
// y > 0 here, on the pooled size, and the Relu passes the result through
// (differ.premasked): y is the Relu's output at the position dy goes to, so
// the mask is the Relu's own, and the other positions receive zero either
// way.
func (d *differ) maxPoolUnpool(n *onnx.NodeProto, dy string) (string, bool) {
	g := d.g
	x, y := n.Input[0], n.Output[0]
	xs, known := g.knownSpatial(x)
	w, okw := g.WindowOf(n)
	if !known || !okw || g.info[x].DType != Float || w.CeilMode || len(xs) > 5 {
		return "", false
	}
	sp := len(xs) - 2
	out := make([]int64, sp)
	overlap, padded := false, false
	for i := range sp {
		k, pb, pe := w.Kernel[i], w.PadsBegin[i], w.PadsEnd[i]
		if w.Dilations[i] != 1 || pb < 0 || pe < 0 || pb >= k || pe >= k || xs[2+i]+pb+pe < k {
			return "", false
		}
		overlap = overlap || w.Strides[i] < k
		padded = padded || pb > 0 || pe > 0
		out[i] = (xs[2+i]+pb+pe-k)/w.Strides[i] + 1
	}
	// Decided before windowArgmax adds its readers of x, and memoised, so
	// that every Gradients call on the graph decides alike.
	relu := g.memoised("poolrelu|"+y, func() string {
		if p := g.Producer(x); p != nil && p.OpType == "Relu" {
			if cs := g.Consumers()[x]; len(cs) == 1 && cs[0] == n {
				return x
			}
		}
		return ""
	})
	s2d := ""
	if k := w.Kernel[0]; (len(n.Output) < 2 || n.Output[1] == "") && !padded && sp == 2 && w.Kernel[1] == k && w.Strides[0] == k && w.Strides[1] == k && xs[2] == k*out[0] && xs[3] == k*out[1] {
		s2d = g.memoised("pools2d|"+y, func() string { return g.poolBySpaceToDepth(n, k, out) })
	}
	idx := g.memoised("poolargmax|"+y, func() string { return g.windowArgmax(x, y, s2d, xs, w, out) })
	if idx == "" {
		return "", false
	}
	v := dy
	if relu != "" {
		mask := g.Op1("Cast", []string{g.Op1("Greater", []string{y, g.ScalarF(Float, 0)})}, AInt("to", int64(Float)))
		v = g.Op1("Mul", []string{dy, mask})
	}
	var dx string
	if overlap || padded {
		// Windows that overlap share positions, whose gradients add up:
		// ScatterElements with reduction add, in the order of the windows,
		// as PyTorch adds them.
		size := g.Op1("Reshape", []string{g.Op1("Size", []string{x}), g.ConstI(1)})
		zeros := g.Op1("ConstantOfShape", []string{size}, zeroValue(Float))
		flatIdx := g.Op1("Reshape", []string{idx, g.ConstI(-1)})
		flatV := g.Op1("Reshape", []string{v, g.ConstI(-1)})
		dx = g.reshapeLike(g.Op1("ScatterElements", []string{zeros, flatIdx, flatV}, AInt("axis", 0), AString("reduction", "add")), x)
	} else {
		dx = g.Op1("MaxUnpool", []string{v, idx, g.shapeTensor(x)}, AInts("kernel_shape", w.Kernel...), AInts("strides", w.Strides...))
	}
	g.info[dx] = g.info[x]
	if relu != "" {
		d.premasked[dx] = relu
	}
	if g.fused[y].kind == fusedMaxPool {
		// The forward node reads the SpaceToDepth now: dx is x's.
		d.contrib[x] = append(d.contrib[x], dx)
		return "", true
	}
	return dx, true
}

// poolBySpaceToDepth rewrites the forward MaxPool n, whose k×k windows tile
// its input x, as a ReduceMax over the window axis of x's SpaceToDepth
// ([N, k·k, C, H/k, W/k]: offset (a, b) of every window at a·k + b, scan
// order), and returns that 5-D view, which windowArgmax compares with the
// maximum. The same maximum (an element of the window either way), but
// ONNX Runtime runs MaxPool in its blocked layout with a reorder of the input
// and of the output around it, three times the time of the ReduceMax, and
// the backward needs the SpaceToDepth anyway. The node keeps its output
// name; g.fused records the MaxPool it was, for the Gradients calls that
// meet it as a ReduceMax.
func (g *Graph) poolBySpaceToDepth(n *onnx.NodeProto, k int64, out []int64) string {
	x := n.Input[0]
	c := g.info[x].Shape[1]
	at := slices.Index(g.Nodes, n)
	s2d := g.Op1("SpaceToDepth", []string{x}, AInt("blocksize", k))
	s2d = g.Op1("Reshape", []string{s2d, g.ConstI(-1, k*k, c, out[0], out[1])})
	// The two new nodes go where n is, ahead of it and of its readers.
	added := slices.Clone(g.Nodes[len(g.Nodes)-2:])
	g.Nodes = slices.Insert(g.Nodes[:len(g.Nodes)-2], at, added...)
	if g.fused == nil {
		g.fused = map[string]fusedGrad{}
	}
	g.fused[n.Output[0]] = fusedGrad{kind: fusedMaxPool, x: x, pool: proto.Clone(n).(*onnx.NodeProto)}
	n.OpType, n.Input, n.Output = "ReduceMax", []string{s2d}, n.Output[:1]
	n.Attribute = []Attr{AInts("axes", 1), AInt("keepdims", 0)}
	return s2d
}

// windowArgmax returns, for MaxPool output y of x over windows that do not
// overlap (w, out as maxPoolUnpool checked them), the flat position in x
// (int64, shaped like y) of each window's first maximum in scan order. Each
// window offset's values are compared with y at the pooled size: all at once
// in s2d, x's SpaceToDepth view for square windows that tile x (see
// poolBySpaceToDepth), else one strided Slice of x per offset. A chain of
// Where, from the last offset to the first, keeps the first that equals.
// All of it runs at the pooled size but the one pass that reads x. It
// returns "" where the offsets within a window exceed float's exact
// integers (planes of more than 2^24 elements).
func (g *Graph) windowArgmax(x, y, s2d string, xs []int64, w Window, out []int64) string {
	sp := len(xs) - 2
	c := xs[1]
	ys := append([]int64{xs[0], c}, out...)
	// Strides of the spatial axes within one plane, and the plane size.
	st := make([]int64, sp)
	plane := int64(1)
	for i := sp - 1; i >= 0; i-- {
		st[i] = plane
		plane *= xs[2+i]
	}
	// The window offsets in scan order and their flat distance from the
	// window's origin.
	offs := [][]int64{{}}
	for i := range sp {
		var next [][]int64
		for _, o := range offs {
			for k := range w.Kernel[i] {
				next = append(next, append(slices.Clone(o), k))
			}
		}
		offs = next
	}
	flat := make([]int64, len(offs))
	for p, o := range offs {
		for i := range sp {
			flat[p] += o[i] * st[i]
		}
	}
	if flat[len(flat)-1] >= 1<<24 {
		return ""
	}
	var eqs []string // per window offset, where x equals the window's maximum
	if s2d != "" {
		// One Equal over all window offsets against y broadcast, then a
		// Split of the booleans: a quarter of the bytes a Split of x moves.
		kk := int64(len(offs))
		eq := g.Op1("Equal", []string{s2d, g.Op1("Unsqueeze", []string{y, g.ConstI(1)})})
		ones := make([]int64, kk)
		for i := range ones {
			ones[i] = 1
		}
		for _, e := range g.Op("Split", []string{eq, g.ConstI(ones...)}, int(kk), AInt("axis", 1)) {
			eqs = append(eqs, g.Op1("Squeeze", []string{e, g.ConstI(1)}))
		}
	} else {
		// Offsets count from the padded window's corner: x padded with
		// NaN, which equals nothing, so a padding position is never picked.
		src := x
		padded := false
		pads := make([]int64, 2*len(xs))
		for i := range sp {
			pads[2+i], pads[len(xs)+2+i] = w.PadsBegin[i], w.PadsEnd[i]
			padded = padded || w.PadsBegin[i] > 0 || w.PadsEnd[i] > 0
		}
		if padded {
			src = g.Op1("Pad", []string{x, g.ConstI(pads...), g.ScalarF(Float, math.NaN())})
		}
		axes := make([]int64, sp)
		for i := range axes {
			axes[i] = int64(2 + i)
		}
		for _, o := range offs {
			ends := make([]int64, sp)
			for i := range sp {
				ends[i] = o[i] + w.Strides[i]*(out[i]-1) + 1
			}
			part := g.Op1("Slice", []string{src, g.ConstI(o...), g.ConstI(ends...), g.ConstI(axes...), g.ConstI(w.Strides...)})
			eqs = append(eqs, g.Op1("Equal", []string{part, y}))
		}
	}
	// The Where chain picks offsets in the narrowest type that holds
	// them, uint8 (rows up to 255 wide) or float, and casts the result to
	// int64 once: ONNX Runtime's Where takes about twice as long on int64
	// as on float, and uint8 moves a quarter of float's bytes.
	narrow := flat[len(flat)-1] < 256
	konst := func(v int64) string { return g.ScalarF(Float, float64(v)) }
	if narrow {
		konst = func(v int64) string {
			return g.Op1("Cast", []string{g.ConstI(v)}, AInt("to", int64(onnx.TensorProto_UINT8)))
		}
	}
	// Where no offset equals the maximum (a NaN in the window), the last
	// one that is not padding: a position inside x either way.
	off := konst(flat[len(flat)-1])
	if last := lastInside(xs, w, out, offs, flat); last != nil {
		vals := make([]float64, len(last))
		for i, v := range last {
			vals[i] = float64(v)
		}
		off = g.ConstF(Float, append([]int64{1, 1}, out...), vals...)
		if narrow {
			off = g.Op1("Cast", []string{off}, AInt("to", int64(onnx.TensorProto_UINT8)))
		}
	}
	for p := len(eqs) - 2; p >= 0; p-- {
		off = g.Op1("Where", []string{eqs[p], konst(flat[p]), off})
	}
	off = g.Op1("Cast", []string{off}, AInt("to", int64(Int64)))
	// Each window's origin: its plane's start plus the strided position
	// (before x's first element where padding comes first), constant but
	// for the batch offset n·c·plane.
	origin := make([]int64, c*numel(out))
	for q := range origin {
		r := int64(q)
		pos := int64(0)
		for i := sp - 1; i >= 0; i-- {
			pos += ((r%out[i])*w.Strides[i] - w.PadsBegin[i]) * st[i]
			r /= out[i]
		}
		origin[q] = r*plane + pos
	}
	org := g.AddInit(g.Fresh("window_origin"), &Tensor{DType: Int64, Dims: append([]int64{1, c}, out...), I64: origin})
	zero := g.AddInit(g.Fresh("zero"), &Tensor{DType: Int64, Dims: []int64{}, I64: []int64{0}})
	step := g.AddInit(g.Fresh("sample_size"), &Tensor{DType: Int64, Dims: []int64{}, I64: []int64{c * plane}})
	lim := g.Op1("Mul", []string{g.Op1("Gather", []string{g.Op1("Shape", []string{x}), zero}), step})
	batch := g.Op1("Range", []string{zero, lim, step})
	shape := make([]int64, len(xs))
	for i := range shape {
		shape[i] = 1
	}
	shape[0] = -1
	batch = g.Op1("Reshape", []string{batch, g.ConstI(shape...)})
	idx := g.Op1("Add", []string{g.Op1("Add", []string{off, org}), batch})
	g.info[idx] = Info{Int64, ys}
	return idx
}

// lastInside returns, for windows with padding, the flat offset (as flat
// gives it) of each window's last position inside x, over the pooled
// spatial grid; nil without padding, where that is the last offset.
func lastInside(xs []int64, w Window, out []int64, offs [][]int64, flat []int64) []int64 {
	sp := len(xs) - 2
	padded := false
	for i := range sp {
		padded = padded || w.PadsBegin[i] > 0 || w.PadsEnd[i] > 0
	}
	if !padded {
		return nil
	}
	last := make([]int64, numel(out))
	pos := make([]int64, sp)
	for q := range last {
		r := int64(q)
		for i := sp - 1; i >= 0; i-- {
			pos[i] = r % out[i]
			r /= out[i]
		}
		for p := len(offs) - 1; p >= 0; p-- {
			inside := true
			for i := range sp {
				at := pos[i]*w.Strides[i] - w.PadsBegin[i] + offs[p][i]
				inside = inside && at >= 0 && at < xs[2+i]
			}
			if inside {
				last[q] = flat[p]
				break
			}
		}
	}
	return last
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
