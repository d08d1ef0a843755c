package graph

// Backward rules for Conv: the input gradient as a ConvTranspose and the
// weight gradient in three variants chosen by shape.

import (
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

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
		dw, ok := d.convWeightGradGEMM(n, dy)
		if !ok {
			dw = d.convWeightGrad(n, dy, w, xs, ws)
		}
		dx[1] = byM(dw, len(ws))
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
// weight; so it is too for 2-D ungrouped Convs of at most
// GEMMConvPositions output positions, which ConvsAsGEMM turns into a GEMM
// with the forward weight as it is (no swapped, flipped copy to make).
func (d *differ) convInputGrad(n *onnx.NodeProto, wt, dy string, w Window, xs, ws, ys []int64) string {
	g := d.g
	sp := len(xs) - 2
	unit := !(sp == 2 && w.Group == 1 && ys[2]*ys[3] <= GEMMConvPositions)
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
