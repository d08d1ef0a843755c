package graph

// Convolutions on small maps as GEMMs over the whole batch.
//
// Why: ONNX Runtime's Conv and ConvTranspose unfold and multiply one example
// at a time, so on small maps (ResNet-18's layers 3 and 4 at 32x32: 2x2 and
// 1x1) each example is a matrix-vector product that reads the whole weight
// from memory (9.4 MB for a 512-channel 3x3 layer, 128 times per batch):
// 50 ms a node, where one GEMM over the batch reads it once. The blocked
// (NCHWc) kernels that avoid this need constant weights, which training
// does not have.

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// GEMMConvPositions is the largest map (positions per example) on which the
// Conv rule emits its input gradient as a ConvTranspose and its weight
// gradient as one GEMM, and that callers pass to ConvsAsGEMM. Measured on
// ResNet-18 training steps at batch 128, one thread (CPU time per step):
// torchvision stem 0.91 s as Convs, 0.62 s with the 1x1 maps as GEMMs,
// 0.54 s up to 4 or 16 positions, 0.59 s up to 64; the CIFAR form 5.56 s
// as Convs, 5.18 s up to 16 positions (its layer 4 is 4x4).
const GEMMConvPositions = 16

// ConvsAsGEMM rewrites every 2-D ungrouped Conv whose output has at most
// maxPositions positions per example (and whose shapes are known) into one
// GEMM over the batch: the input in channels-last order, one strided Slice
// per kernel tap, concatenated to [N·H'·W', taps·C] (convCols), times the
// weight as [M, taps·C]. Likewise every 2-D ungrouped ConvTranspose
// without bias whose input has at most maxPositions positions (the input
// gradients of Convs on small maps): one GEMM [N·H·W, M] x [M, taps·C],
// then each tap's columns spread at the strides and placed at its offset
// (Pad), summed. It returns how many nodes it rewrote, and leaves the nodes
// in a topological order.
//
// Taps that meet only zero padding (on a 1x1 map, all but the centre of a
// 3x3 kernel), or land only outside a ConvTranspose's output, are left out:
// their products are zeros or discarded, so the sums are the Conv's, up to
// the order of the float32 additions.
func (g *Graph) ConvsAsGEMM(maxPositions int64) int {
	old := g.Nodes
	g.Nodes = nil
	count := 0
	for _, n := range old {
		done := false
		switch n.OpType {
		case "Conv":
			done = g.convAsGEMM(n, maxPositions)
		case "ConvTranspose":
			done = g.convTransposeAsGEMM(n, maxPositions)
		}
		if !done {
			g.Nodes = append(g.Nodes, n)
			continue
		}
		count++
	}
	if count > 0 {
		// The unfolded inputs are memoised with the weight gradients',
		// which the backward pass built after the forward Conv's place.
		g.sortNodes()
	}
	return count
}

// sortNodes orders g.Nodes so that every node follows the producers of its
// inputs, keeping the present order where it already does.
func (g *Graph) sortNodes() {
	prod := map[string]int{}
	for i, n := range g.Nodes {
		for _, o := range n.Output {
			prod[o] = i
		}
	}
	done := make([]bool, len(g.Nodes))
	out := make([]*onnx.NodeProto, 0, len(g.Nodes))
	var visit func(i int)
	visit = func(i int) {
		if done[i] {
			return
		}
		done[i] = true
		for _, in := range g.Nodes[i].Input {
			if j, ok := prod[in]; ok {
				visit(j)
			}
		}
		out = append(out, g.Nodes[i])
	}
	for i := range g.Nodes {
		visit(i)
	}
	g.Nodes = out
}

// convTaps are the kernel taps [a0, a1] x [b0, b1] of a Conv that meet the
// input at some output position, and the zero padding their strided slices
// still need around the input (top, bottom, left, right).
type convTaps struct {
	a0, a1, b0, b1     int64
	pt, pb, pl, pr     int64
	kh, kw, ho, wo, nt int64
}

// tapRange returns the taps [lo, hi] along one axis that meet the input
// (length in) at some output position, and the padding their slices need.
func tapRange(k, stride, dil, padBegin, in, out int64) (lo, hi, padB, padE int64, ok bool) {
	lo, hi = -1, -1
	for a := int64(0); a < k; a++ {
		first := a*dil - padBegin
		last := first + (out-1)*stride
		if last >= 0 && first <= in-1 {
			if lo < 0 {
				lo = a
			}
			hi = a
		}
	}
	if lo < 0 {
		return 0, 0, 0, 0, false
	}
	padB = max(0, padBegin-lo*dil)
	padE = max(0, hi*dil-padBegin+(out-1)*stride-(in-1))
	return lo, hi, padB, padE, true
}

// smallConv reports whether n is a 2-D ungrouped Conv with known shapes and
// at most maxPositions output positions, and returns its window, input and
// weight shapes and taps.
func (g *Graph) smallConv(n *onnx.NodeProto, maxPositions int64) (Window, []int64, []int64, convTaps, bool) {
	xs, ok := g.knownSpatial(n.Input[0])
	w, okw := g.WindowOf(n)
	wi := g.info[n.Input[1]]
	ys := g.info[n.Output[0]].Shape
	if !ok || !okw || len(xs) != 4 || w.Group != 1 || !wi.Known() || len(wi.Shape) != 4 || len(ys) != 4 ||
		ys[2] < 1 || ys[3] < 1 || ys[2]*ys[3] > maxPositions {
		return w, nil, nil, convTaps{}, false
	}
	t := convTaps{kh: w.Kernel[0], kw: w.Kernel[1], ho: ys[2], wo: ys[3]}
	var okh, okv bool
	t.a0, t.a1, t.pt, t.pb, okh = tapRange(w.Kernel[0], w.Strides[0], w.Dilations[0], w.PadsBegin[0], xs[2], ys[2])
	t.b0, t.b1, t.pl, t.pr, okv = tapRange(w.Kernel[1], w.Strides[1], w.Dilations[1], w.PadsBegin[1], xs[3], ys[3])
	t.nt = (t.a1 - t.a0 + 1) * (t.b1 - t.b0 + 1)
	// A Conv whose every product is with padding stays a Conv.
	return w, xs, wi.Shape, t, okh && okv
}

// convCols is the unfolded input of a small Conv, [N·H'·W', taps·C] with
// channels innermost, memoised: the forward GEMM and the weight gradient's
// share it.
func (g *Graph) convCols(x string, xs []int64, w Window, t convTaps) string {
	key := fmt.Sprintf("convcols|%s|%v|%v|%v|%v|%d|%d", x, w.Kernel, w.Strides, w.Dilations, w.PadsBegin, t.ho, t.wo)
	return g.memoised(key, func() string {
		dt := g.info[x].DType
		c, h, wd := xs[1], xs[2], xs[3]
		var xt string
		if h*wd == 1 {
			xt = g.Op1("Reshape", []string{x, g.ConstI(-1, 1, 1, c)})
		} else {
			xt = g.Op1("Transpose", []string{x}, AInts("perm", 0, 2, 3, 1))
		}
		if t.pt+t.pb+t.pl+t.pr > 0 {
			p := g.Op1("Pad", []string{xt, g.ConstI(0, t.pt, t.pl, 0, 0, t.pb, t.pr, 0)})
			g.info[p] = Info{DType: dt, Shape: []int64{xs[0], t.pt + h + t.pb, t.pl + wd + t.pr, c}}
			xt = p
		}
		hp, wp := t.pt+h+t.pb, t.pl+wd+t.pr
		var taps []string
		for a := t.a0; a <= t.a1; a++ {
			for b := t.b0; b <= t.b1; b++ {
				sh := a*w.Dilations[0] - w.PadsBegin[0] + t.pt
				sw := b*w.Dilations[1] - w.PadsBegin[1] + t.pl
				eh, ew := sh+(t.ho-1)*w.Strides[0]+1, sw+(t.wo-1)*w.Strides[1]+1
				if sh == 0 && sw == 0 && eh == hp && ew == wp && w.Strides[0] == 1 && w.Strides[1] == 1 {
					taps = append(taps, xt) // the whole (padded) input
					continue
				}
				taps = append(taps, g.Op1("Slice", []string{xt, g.ConstI(sh, sw), g.ConstI(eh, ew), g.ConstI(1, 2),
					g.ConstI(w.Strides[0], w.Strides[1])}))
			}
		}
		cols := taps[0]
		if len(taps) > 1 {
			cols = g.Op1("Concat", taps, AInt("axis", 3))
		}
		return g.Op1("Reshape", []string{cols, g.ConstI(-1, t.nt*c)})
	})
}

// tapsWeight is a Conv weight [M, C, kh, kw] as [M, taps·C] in convCols'
// order: channels innermost, the taps t keeps.
func (g *Graph) tapsWeight(wt string, ws []int64, t convTaps) string {
	m, c := ws[0], ws[1]
	if t.kh*t.kw == 1 {
		return g.Op1("Reshape", []string{wt, g.ConstI(m, c)})
	}
	if t.a0 > 0 || t.a1 < t.kh-1 || t.b0 > 0 || t.b1 < t.kw-1 {
		wt = g.Op1("Slice", []string{wt, g.ConstI(t.a0, t.b0), g.ConstI(t.a1+1, t.b1+1), g.ConstI(2, 3)})
	}
	if t.nt > 1 {
		wt = g.Op1("Transpose", []string{wt}, AInts("perm", 0, 2, 3, 1))
	}
	return g.Op1("Reshape", []string{wt, g.ConstI(m, t.nt*c)})
}

// channelsLast is v [N, C, H, W] as [N·H·W, C].
func (g *Graph) channelsLast(v string, c, positions int64) string {
	if positions > 1 {
		v = g.Op1("Transpose", []string{v}, AInts("perm", 0, 2, 3, 1))
	}
	return g.Op1("Reshape", []string{v, g.ConstI(-1, c)})
}

// fromChannelsLast names out the [N·H·W, C] value v as [N, C, H, W].
func (g *Graph) fromChannelsLast(v, out string, c, h, w int64) {
	if h*w == 1 {
		g.OpNamed("Reshape", []string{v, g.ConstI(-1, c, 1, 1)}, []string{out})
		return
	}
	v = g.Op1("Reshape", []string{v, g.ConstI(-1, h, w, c)})
	g.OpNamed("Transpose", []string{v}, []string{out}, AInts("perm", 0, 3, 1, 2))
}

// convAsGEMM appends n's replacement and reports whether it did (nothing is
// appended when it does not apply).
func (g *Graph) convAsGEMM(n *onnx.NodeProto, maxPositions int64) bool {
	w, xs, ws, t, ok := g.smallConv(n, maxPositions)
	if !ok {
		return false
	}
	ins := []string{g.convCols(n.Input[0], xs, w, t), g.tapsWeight(n.Input[1], ws, t)}
	if len(n.Input) > 2 && n.Input[2] != "" {
		ins = append(ins, n.Input[2])
	}
	y := g.Op1("Gemm", ins, AInt("transB", 1)) // [N·H'·W', M]
	g.fromChannelsLast(y, n.Output[0], ws[0], t.ho, t.wo)
	return true
}

// convWeightGradGEMM is the weight gradient of a small Conv (see
// smallConv): dyᵀ [M, N·H'·W'] times its unfolded input, the taps that meet
// only padding zero. ok is false where the Conv is not small.
func (d *differ) convWeightGradGEMM(n *onnx.NodeProto, dy string) (string, bool) {
	g := d.g
	w, xs, ws, t, ok := g.smallConv(n, GEMMConvPositions)
	if !ok {
		return "", false
	}
	m, c := ws[0], ws[1]
	dyf := g.channelsLast(dy, m, t.ho*t.wo)
	prod := g.Op1("Gemm", []string{dyf, g.convCols(n.Input[0], xs, w, t)}, AInt("transA", 1)) // [M, taps·C]
	th, tw := t.a1-t.a0+1, t.b1-t.b0+1
	var dw string
	if t.nt == 1 {
		dw = g.Op1("Reshape", []string{prod, g.ConstI(m, c, 1, 1)})
	} else {
		dw = g.Op1("Transpose", []string{g.Op1("Reshape", []string{prod, g.ConstI(m, th, tw, c)})}, AInts("perm", 0, 3, 1, 2))
	}
	if th != t.kh || tw != t.kw {
		p := g.Op1("Pad", []string{dw, g.ConstI(0, 0, t.a0, t.b0, 0, 0, t.kh-1-t.a1, t.kw-1-t.b1)})
		g.info[p] = Info{DType: g.info[dy].DType, Shape: ws}
		dw = p
	}
	return dw, true
}

// convTransposeAsGEMM appends n's replacement and reports whether it did.
func (g *Graph) convTransposeAsGEMM(n *onnx.NodeProto, maxPositions int64) bool {
	xs, ok := g.knownSpatial(n.Input[0])
	w, okw := g.WindowOf(n)
	wi := g.info[n.Input[1]]
	ys := g.info[n.Output[0]].Shape
	if !ok || !okw || len(xs) != 4 || w.Group != 1 || !wi.Known() || len(wi.Shape) != 4 || len(ys) != 4 ||
		ys[2] < 1 || ys[3] < 1 || xs[2]*xs[3] > maxPositions || (len(n.Input) > 2 && n.Input[2] != "") ||
		AttrOf(n, "output_shape") != nil || StringAttr(n, "auto_pad", "NOTSET") != "NOTSET" {
		return false
	}
	dt := g.info[n.Input[0]].DType
	m, h, wd := xs[1], xs[2], xs[3]
	c, kh, kw := wi.Shape[1], wi.Shape[2], wi.Shape[3]
	sh, sw := w.Strides[0], w.Strides[1]
	ho, wo := ys[2], ys[3]
	// Input row i, tap a lands on output row i·s + a·d - pad. Spread at
	// the strides (hu rows, row r = i·s), tap a covers output rows
	// [r0 + off, r1 + off) with off = a·d - pad.
	hu, wu := h*sh, wd*sw
	rows := func(a, d, pad, u, out int64) (r0, r1, off int64) {
		off = a*d - pad
		return max(0, -off), min(u, out-off), off
	}
	// The taps that reach the output: a rectangle [a0, a1] x [b0, b1]
	// (inner taps that only reach it with spread-in zeros add zeros).
	a0, a1, b0, b1 := int64(-1), int64(-1), int64(-1), int64(-1)
	reaches := func(a, d, pad, in, s, out int64) bool {
		for i := int64(0); i < in; i++ {
			if o := i*s + a*d - pad; o >= 0 && o < out {
				return true
			}
		}
		return false
	}
	for a := int64(0); a < kh; a++ {
		if reaches(a, w.Dilations[0], w.PadsBegin[0], h, sh, ho) {
			if a0 < 0 {
				a0 = a
			}
			a1 = a
		}
	}
	for b := int64(0); b < kw; b++ {
		if reaches(b, w.Dilations[1], w.PadsBegin[1], wd, sw, wo) {
			if b0 < 0 {
				b0 = b
			}
			b1 = b
		}
	}
	if a0 < 0 || b0 < 0 {
		return false
	}
	th, tw := a1-a0+1, b1-b0+1
	// [N·H·W, M] x [M, taps·C]: every input position's contribution to
	// every tap, channels last.
	wt := n.Input[1]
	if th != kh || tw != kw {
		wt = g.Op1("Slice", []string{wt, g.ConstI(a0, b0), g.ConstI(a1+1, b1+1), g.ConstI(2, 3)})
	}
	if th*tw > 1 {
		wt = g.Op1("Transpose", []string{wt}, AInts("perm", 0, 2, 3, 1))
	}
	wt = g.Op1("Reshape", []string{wt, g.ConstI(m, th*tw*c)})
	cols := g.Op1("MatMul", []string{g.channelsLast(n.Input[0], m, h*wd), wt})
	// Spread at the strides: [N, H, 1, W, 1, taps·C] padded to
	// [N, H, s, W, s, taps·C] is [N, H·s, W·s, th, tw, C].
	up := g.Op1("Reshape", []string{cols, g.ConstI(-1, h, 1, wd, 1, th*tw*c)})
	if sh > 1 || sw > 1 {
		p := g.Op1("Pad", []string{up, g.ConstI(0, 0, 0, 0, 0, 0, 0, 0, sh-1, 0, sw-1, 0)})
		g.info[p] = Info{DType: dt, Shape: []int64{-1, h, sh, wd, sw, th * tw * c}}
		up = p
	}
	up = g.Op1("Reshape", []string{up, g.ConstI(-1, hu, wu, th, tw, c)})
	var placed []string
	for a := a0; a <= a1; a++ {
		r0, r1, oh := rows(a, w.Dilations[0], w.PadsBegin[0], hu, ho)
		for b := b0; b <= b1; b++ {
			q0, q1, ow := rows(b, w.Dilations[1], w.PadsBegin[1], wu, wo)
			if r0 >= r1 || q0 >= q1 {
				continue // wholly outside the output
			}
			v := up
			if r0 > 0 || q0 > 0 || r1 < hu || q1 < wu || th*tw > 1 {
				v = g.Op1("Slice", []string{up, g.ConstI(r0, q0, a-a0, b-b0), g.ConstI(r1, q1, a-a0+1, b-b0+1), g.ConstI(1, 2, 3, 4)})
			}
			v = g.Op1("Reshape", []string{v, g.ConstI(-1, r1-r0, q1-q0, c)})
			if top, left := r0+oh, q0+ow; top > 0 || left > 0 || r1+oh < ho || q1+ow < wo {
				p := g.Op1("Pad", []string{v, g.ConstI(0, top, left, 0, 0, ho-(r1+oh), wo-(q1+ow), 0)})
				g.info[p] = Info{DType: dt, Shape: []int64{-1, ho, wo, c}}
				v = p
			}
			placed = append(placed, v)
		}
	}
	sum := placed[0] // a0's row range is not empty, nor b0's column range
	if len(placed) > 1 {
		sum = g.Op1("Sum", placed)
		g.info[sum] = Info{DType: dt, Shape: []int64{-1, ho, wo, c}}
	}
	g.fromChannelsLast(g.Op1("Reshape", []string{sum, g.ConstI(-1, c)}), n.Output[0], c, ho, wo)
	return true
}
