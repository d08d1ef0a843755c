package graph

import (
	"github.com/advancedclimatesystems/gonnx/onnx"
)

// ConvsAsGEMM rewrites every 2-D ungrouped Conv whose output has at most
// maxPositions positions per example (and whose shapes are known) into one
// GEMM over the whole batch: the input in channels-last order, one strided
// Slice per kernel tap, concatenated to [N·H'·W', taps·C], times the weight
// as [M, taps·C]. It returns how many it rewrote.
//
// Why: ONNX Runtime's Conv unfolds and multiplies one example at a time, so
// on small maps (ResNet-18's layers 3 and 4 at 32x32: 2x2 and 1x1) each
// example is a matrix-vector product that reads the whole weight from memory
// (9.4 MB for a 512-channel 3x3 layer, 128 times per batch): 50 ms a node,
// where one GEMM over the batch reads it once. The blocked (NCHWc) kernels
// that avoid this need constant weights, which training does not have.
//
// Taps that fall on the zero padding at every output position are left out
// (on a 1x1 map only the centre of a 3x3 kernel meets the input): their
// products are zeros, so the sums are the Conv's, up to the order of the
// float32 additions.
func (g *Graph) ConvsAsGEMM(maxPositions int64) int {
	old := g.Nodes
	g.Nodes = nil
	count := 0
	for _, n := range old {
		if n.OpType != "Conv" || !g.convAsGEMM(n, maxPositions) {
			g.Nodes = append(g.Nodes, n)
			continue
		}
		count++
	}
	return count
}

// tapRange returns the kernel taps [lo, hi] along one axis that meet the
// input (length in) at some output position, and the zero padding the
// strided slices of those taps still need before and after the input.
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

// convAsGEMM appends n's replacement and reports whether it did (nothing is
// appended when it does not apply).
func (g *Graph) convAsGEMM(n *onnx.NodeProto, maxPositions int64) bool {
	xs, ok := g.knownSpatial(n.Input[0])
	w, okw := g.WindowOf(n)
	wi := g.info[n.Input[1]]
	ys := g.info[n.Output[0]].Shape
	if !ok || !okw || len(xs) != 4 || w.Group != 1 || !wi.Known() || len(wi.Shape) != 4 || len(ys) != 4 ||
		ys[2] < 1 || ys[3] < 1 || ys[2]*ys[3] > maxPositions {
		return false
	}
	dt := g.info[n.Input[0]].DType
	c, h, wd := xs[1], xs[2], xs[3]
	m, ho, wo := wi.Shape[0], ys[2], ys[3]
	ah, bh, pbh, peh, okh := tapRange(w.Kernel[0], w.Strides[0], w.Dilations[0], w.PadsBegin[0], h, ho)
	aw, bw, pbw, pew, okw2 := tapRange(w.Kernel[1], w.Strides[1], w.Dilations[1], w.PadsBegin[1], wd, wo)
	if !okh || !okw2 {
		return false // every product is with padding: leave such a Conv to ONNX Runtime
	}
	// Channels last, so that every tap's slice is whole rows of C values.
	var xt string
	if h*wd == 1 {
		xt = g.Op1("Reshape", []string{n.Input[0], g.ConstI(-1, 1, 1, c)})
	} else {
		xt = g.Op1("Transpose", []string{n.Input[0]}, AInts("perm", 0, 2, 3, 1))
	}
	if pbh+peh+pbw+pew > 0 {
		xt0 := xt
		xt = g.Op1("Pad", []string{xt0, g.ConstI(0, pbh, pbw, 0, 0, peh, pew, 0)})
		g.info[xt] = Info{DType: dt, Shape: []int64{xs[0], pbh + h + peh, pbw + wd + pew, c}}
	}
	hp, wp := pbh+h+peh, pbw+wd+pew
	var taps []string
	for a := ah; a <= bh; a++ {
		for b := aw; b <= bw; b++ {
			sh := a*w.Dilations[0] - w.PadsBegin[0] + pbh
			sw := b*w.Dilations[1] - w.PadsBegin[1] + pbw
			eh, ew := sh+(ho-1)*w.Strides[0]+1, sw+(wo-1)*w.Strides[1]+1
			if sh == 0 && sw == 0 && eh == hp && ew == wp && w.Strides[0] == 1 && w.Strides[1] == 1 {
				taps = append(taps, xt) // the whole (padded) input
				continue
			}
			taps = append(taps, g.Op1("Slice", []string{xt, g.ConstI(sh, sw), g.ConstI(eh, ew), g.ConstI(1, 2),
				g.ConstI(w.Strides[0], w.Strides[1])}))
		}
	}
	nt := int64(len(taps))
	cols := taps[0]
	if nt > 1 {
		cols = g.Op1("Concat", taps, AInt("axis", 3))
	}
	cols = g.Op1("Reshape", []string{cols, g.ConstI(-1, nt*c)})
	// The weight as [M, taps·C] in the same order: channels last, the taps
	// that meet the input only.
	wt := n.Input[1]
	kh, kw := w.Kernel[0], w.Kernel[1]
	if kh*kw == 1 {
		wt = g.Op1("Reshape", []string{wt, g.ConstI(m, c)})
	} else {
		if ah > 0 || bh < kh-1 || aw > 0 || bw < kw-1 {
			wt = g.Op1("Slice", []string{wt, g.ConstI(ah, aw), g.ConstI(bh+1, bw+1), g.ConstI(2, 3)})
		}
		if nt > 1 {
			wt = g.Op1("Transpose", []string{wt}, AInts("perm", 0, 2, 3, 1))
		}
		wt = g.Op1("Reshape", []string{wt, g.ConstI(m, nt*c)})
	}
	ins := []string{cols, wt}
	if len(n.Input) > 2 && n.Input[2] != "" {
		ins = append(ins, n.Input[2])
	}
	y := g.Op1("Gemm", ins, AInt("transB", 1)) // [N·H'·W', M]
	if ho*wo == 1 {
		g.OpNamed("Reshape", []string{y, g.ConstI(-1, m, 1, 1)}, []string{n.Output[0]})
	} else {
		y = g.Op1("Reshape", []string{y, g.ConstI(-1, ho, wo, m)})
		g.OpNamed("Transpose", []string{y}, []string{n.Output[0]}, AInts("perm", 0, 3, 1, 2))
	}
	return true
}
