package graph

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// squaredRule handles a node with a parameter input in SquaredPerExample
// mode: data inputs get their ordinary gradient, parameters the batch sum of
// their squared per-example gradients.
func (d *differ) squaredRule(n *onnx.NodeProto, dy []string, need []bool) ([]string, error) {
	g := d.g
	in := n.Input
	plain := slices.Clone(need)
	var params []int
	for k, name := range in {
		if k < len(need) && need[k] && d.isWrt[name] {
			plain[k] = false
			params = append(params, k)
		}
	}
	d.sq = false
	dx, err := d.node(n, dy, plain, "")
	d.sq = true
	if err != nil {
		return nil, err
	}
	unsupported := func(why string) error {
		return &UnsupportedOpError{Op: n.OpType, Node: n.Name, Why: "per-example squared gradient: " + why}
	}
	sq := func(v string) string { return g.Op1("Mul", []string{v, v}) }
	// The data's square depends on the forward pass alone: shared.
	sqData := func(v string) string { return g.memoised("square|"+v, func() string { return sq(v) }) }
	sumBatch := func(v string) string {
		return g.Op1("ReduceSum", []string{v, g.ConstI(0)}, AInt("keepdims", 0))
	}
	// sumSquares is sumBatch(sq(v)) in one pass over v: the per-example
	// gradients are the largest tensors of the graph (ResNet-18's layer 2:
	// 75 MB a batch), and squaring them first wrote and read them again.
	sumSquares := func(v string) string {
		return g.Op1("ReduceSumSquare", []string{v}, AInts("axes", 0), AInt("keepdims", 0))
	}
	g0 := dy[0]
	for _, k := range params {
		p := in[k]
		ps := g.info[p].Shape
		switch n.OpType {
		case "Gemm":
			if IntAttr(n, "transA", 0) != 0 || k == 0 {
				return nil, unsupported("the data must be the untransposed first operand")
			}
			alpha, beta := float64(FloatAttr(n, "alpha", 1)), float64(FloatAttr(n, "beta", 1))
			dt := g.info[p].DType
			if k == 1 {
				a2, d2 := sqData(in[0]), sq(g0)
				var r string
				if IntAttr(n, "transB", 0) != 0 {
					r = g.Op1("Gemm", []string{d2, a2}, AInt("transA", 1))
				} else {
					r = g.Op1("Gemm", []string{a2, d2}, AInt("transA", 1))
				}
				if alpha != 1 {
					r = g.Op1("Mul", []string{r, g.ScalarF(dt, alpha*alpha)})
				}
				dx[k] = r
			} else {
				r := g.reduceTo(sumBatch(sq(g0)), p)
				if len(ps) != 1 {
					return nil, unsupported("the bias must be a vector")
				}
				if beta != 1 {
					r = g.Op1("Mul", []string{r, g.ScalarF(dt, beta*beta)})
				}
				dx[k] = r
			}
		case "MatMul":
			if k != 1 {
				return nil, unsupported("the parameter must be the second operand")
			}
			as := g.info[in[0]].Shape
			if len(ps) != 2 || len(as) < 2 {
				return nil, unsupported("the parameter must be a matrix")
			}
			if len(as) == 2 {
				dx[k] = g.Op1("MatMul", []string{g.memoised("squareT|"+in[0], func() string { return g.Op1("Transpose", []string{sq(in[0])}) }), sq(g0)})
			} else {
				at := g.Op1("Transpose", []string{in[0]}, AInts("perm", swapLast(len(as))...))
				per := g.Op1("MatMul", []string{at, g0})
				if len(as) > 3 {
					per = g.Op1("Reshape", []string{per, g.ConstI(append([]int64{0, -1}, ps...)...)})
					per = g.Op1("ReduceSum", []string{per, g.ConstI(1)}, AInt("keepdims", 0))
				}
				dx[k] = sumSquares(per)
			}
		case "Conv":
			v, err := d.convSquared(n, g0, k)
			if err != nil {
				return nil, err
			}
			dx[k] = v
		case "BatchNormalization":
			xs := g.info[in[0]].Shape
			if k > 2 {
				return nil, unsupported("running statistics are not parameters")
			}
			axes := g.ConstI(spatialAxes(len(xs))[1:]...)
			var per string
			if k == 2 {
				per = g.Op1("ReduceSum", []string{g0, axes}, AInt("keepdims", 0))
			} else {
				dt := g.info[in[0]].DType
				cshape := g.ConstI(channelShape(ps[0], len(xs))...)
				inv := g.Op1("Reciprocal", []string{g.Op1("Sqrt", []string{g.Op1("Add", []string{in[4], g.ScalarF(dt, float64(FloatAttr(n, "epsilon", 1e-5)))})})})
				xhat := g.Op1("Mul", []string{
					g.Op1("Sub", []string{in[0], g.Op1("Reshape", []string{in[3], cshape})}),
					g.Op1("Reshape", []string{inv, cshape})})
				per = g.Op1("ReduceSum", []string{g.Op1("Mul", []string{g0, xhat}), axes}, AInt("keepdims", 0))
			}
			dx[k] = sumSquares(per)
		case "Add", "Sub", "Mul":
			v := g0
			switch {
			case n.OpType == "Sub" && k == 1:
				v = g.Op1("Neg", []string{v})
			case n.OpType == "Mul":
				v = g.Op1("Mul", []string{v, in[1-k]})
			}
			per, err := g.perExampleReduce(v, p)
			if err != nil {
				return nil, unsupported(err.Error())
			}
			dx[k] = g.reshapeLike(sumSquares(per), p)
		default:
			return nil, unsupported("operator not supported for parameters")
		}
	}
	return dx, nil
}

// perExampleReduce sums v (shaped like the batch-first broadcast result) over
// the axes along which p was broadcast, keeping axis 0: the per-example
// gradients of p, shaped [N, p's broadcast shape without leading ones].
func (g *Graph) perExampleReduce(v, p string) (string, error) {
	vs, ps := g.info[v].Shape, g.info[p].Shape
	if vs == nil || ps == nil || len(ps) > len(vs) {
		return "", errUnknownShape
	}
	lead := len(vs) - len(ps)
	if lead == 0 && ps[0] != 1 {
		return "", errBatchParam
	}
	var axes []int64
	for i := 1; i < len(vs); i++ {
		if i < lead || ps[i-lead] == 1 && vs[i] != 1 {
			axes = append(axes, int64(i))
		}
	}
	if len(axes) == 0 {
		return v, nil
	}
	return g.Op1("ReduceSum", []string{v, g.ConstI(axes...)}, AInt("keepdims", 1)), nil
}

type constErr string

func (e constErr) Error() string { return string(e) }

const (
	errUnknownShape = constErr("shapes must be known")
	errBatchParam   = constErr("the parameter spans the batch axis")
)

// convSquared: per-example Conv weight gradients G_i = dy_i U_iᵀ, with U the
// input unfolded by a fixed one-hot depthwise Conv, squared and summed.
func (d *differ) convSquared(n *onnx.NodeProto, dy string, k int) (string, error) {
	g := d.g
	x := n.Input[0]
	xs, ok := g.knownSpatial(x)
	w, okw := g.WindowOf(n)
	ws := g.info[n.Input[1]].Shape
	unsupported := func(why string) error {
		return &UnsupportedOpError{Op: "Conv", Node: n.Name, Why: "per-example squared gradient: " + why}
	}
	if !ok || !okw {
		return "", unsupported("shapes must be known")
	}
	ys := g.info[n.Output[0]].Shape
	m := ws[0]
	p := numel(ys[2:])
	dyr := g.Op1("Reshape", []string{dy, g.ConstI(0, m, p)})
	if k == 2 {
		per := g.Op1("ReduceSum", []string{dyr, g.ConstI(2)}, AInt("keepdims", 0))
		return g.Op1("ReduceSumSquare", []string{per}, AInts("axes", 0), AInt("keepdims", 0)), nil
	}
	if k == 0 {
		return "", unsupported("the data must be the first input")
	}
	if w.Group != 1 {
		return "", unsupported("grouped convolutions")
	}
	c := xs[1]
	kk := numel(w.Kernel)
	key := fmt.Sprintf("unfoldT|%s|%v|%v|%v|%v|%v", x, w.Kernel, w.Strides, w.Dilations, w.PadsBegin, w.PadsEnd)
	ut := g.memoised(key, func() string {
		u := g.Op1("Reshape", []string{g.unfold(x, w, xs, ys), g.ConstI(0, c*kk, p)})
		return g.Op1("Transpose", []string{u}, AInts("perm", 0, 2, 1))
	})
	if p*p < m && p <= 8 {
		return g.Op1("Reshape", []string{d.convSquaredOuter(dyr, ut, key, m, c*kk, p), g.ConstI(ws...)}), nil
	}
	per := g.Op1("MatMul", []string{dyr, ut}) // [N, M, C*kk]
	s := g.Op1("ReduceSumSquare", []string{per}, AInts("axes", 0), AInt("keepdims", 0))
	return g.Op1("Reshape", []string{s, g.ConstI(ws...)}), nil
}

// convSquaredOuter is Σ_i (dy_i U_iᵀ)² for few output positions P, without
// the per-example gradients [N, M, K] (for ResNet-18's last layers, larger
// than the batch's activations): (Σ_p a_p b_p)² = Σ_{p,q} a_p a_q b_p b_q,
// so it is one MatMul of the pairwise products, [M, N·P²] × [N·P², K] (for
// P = 1 the Gemm rule's (dy∘dy)ᵀ(u∘u)). dyr is dy [N, M, P], ut the
// unfolded input [N, P, K] (memoised under key); the products of ut are
// memoised too, for the true Fisher's per-class passes.
func (d *differ) convSquaredOuter(dyr, ut, key string, m, k, p int64) string {
	g := d.g
	if p == 1 {
		b := g.memoised("outer|"+key, func() string {
			u := g.Op1("Reshape", []string{ut, g.ConstI(-1, k)})
			return g.Op1("Mul", []string{u, u})
		})
		a := g.Op1("Reshape", []string{dyr, g.ConstI(-1, m)})
		return g.Op1("Gemm", []string{g.Op1("Mul", []string{a, a}), b}, AInt("transA", 1))
	}
	b := g.memoised("outer|"+key, func() string {
		pq := g.Op1("Mul", []string{g.Op1("Unsqueeze", []string{ut, g.ConstI(2)}), g.Op1("Unsqueeze", []string{ut, g.ConstI(1)})}) // [N, P, P, K]
		return g.Op1("Reshape", []string{pq, g.ConstI(-1, k)})
	})
	a := g.Op1("Mul", []string{g.Op1("Unsqueeze", []string{dyr, g.ConstI(3)}), g.Op1("Unsqueeze", []string{dyr, g.ConstI(2)})}) // [N, M, P, P]
	a = g.Op1("Reshape", []string{g.Op1("Transpose", []string{a}, AInts("perm", 1, 0, 2, 3)), g.ConstI(m, -1)})
	return g.Op1("MatMul", []string{a, b})
}

// unfold returns x [N, C, spatial...] unfolded for Conv window w: [N, C,
// kk, out...], the kernel offsets in row-major order, as one zero Pad, one
// strided Slice per kernel offset and a Concat. (A depthwise Conv with
// one-hot kernels computes the same, but ONNX Runtime runs it several times
// slower than the copies: 41 ms for the small CNN's first layer at batch
// 128, its 9 outputs padded to NCHWc's 16 channels.)
func (g *Graph) unfold(x string, w Window, xs, ys []int64) string {
	sp := len(xs) - 2
	dt := g.info[x].DType
	padded, ps := x, slices.Clone(xs)
	if slices.Max(w.PadsBegin) > 0 || slices.Max(w.PadsEnd) > 0 {
		pads := make([]int64, 2*len(xs))
		for i := 0; i < sp; i++ {
			pads[2+i], pads[len(xs)+2+i] = w.PadsBegin[i], w.PadsEnd[i]
			ps[2+i] += w.PadsBegin[i] + w.PadsEnd[i]
		}
		padded = g.Op1("Pad", []string{x, g.ConstI(pads...), g.ScalarF(dt, 0)})
		g.info[padded] = Info{dt, ps}
	}
	axes := make([]int64, sp)
	for i := range axes {
		axes[i] = int64(2 + i)
	}
	var parts []string
	off := make([]int64, sp)
	for {
		starts, ends := make([]int64, sp), make([]int64, sp)
		for i := range off {
			starts[i] = off[i] * w.Dilations[i]
			ends[i] = starts[i] + (ys[2+i]-1)*w.Strides[i] + 1
		}
		sl := g.Op1("Slice", []string{padded, g.ConstI(starts...), g.ConstI(ends...), g.ConstI(axes...), g.ConstI(w.Strides...)})
		g.info[sl] = Info{dt, append([]int64{xs[0], xs[1]}, ys[2:]...)}
		parts = append(parts, g.Op1("Unsqueeze", []string{sl, g.ConstI(2)}))
		i := sp - 1
		for ; i >= 0; i-- {
			if off[i]++; off[i] < w.Kernel[i] {
				break
			}
			off[i] = 0
		}
		if i < 0 {
			break
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return g.Op1("Concat", parts, AInt("axis", 2))
}
