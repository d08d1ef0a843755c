package graph

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// GradOptions modify Gradients.
type GradOptions struct {
	// Seed names a tensor shaped like y: the result is the gradient of
	// sum(Seed * y). Empty: y must be a scalar and the seed is 1.
	Seed string
	// SquaredPerExample asks, for every name in wrt, not for the gradient but
	// for the sum over the batch (axis 0 of the data) of the squared
	// per-example gradients, computed without a loop over examples: Gemm and
	// MatMul weights as (g∘g)ᵀ(a∘a), Conv weights through an unfolding Conv
	// and a batched MatMul, biases and batch-norm scales from per-example
	// reductions. Valid only when examples do not interact (batch
	// normalisation in inference mode) and y is a sum of per-example terms.
	SquaredPerExample bool
}

// UnsupportedOpError reports an operator the differentiator does not know,
// with the node that uses it.
type UnsupportedOpError struct {
	Op, Node, Why string
}

func (e *UnsupportedOpError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("node %q: cannot differentiate %s: %s", e.Node, e.Op, e.Why)
	}
	return fmt.Sprintf("node %q: cannot differentiate operator %s", e.Node, e.Op)
}

// Gradients appends to g the nodes that compute the gradient of y with
// respect to each name in wrt (graph inputs or initializers of a float type)
// and returns the names of those gradients. Only standard ONNX operators are
// emitted, so any ONNX Runtime build and provider can run the result.
// Parameters that do not influence y get a zero gradient.
func (g *Graph) Gradients(y string, wrt []string, opts GradOptions) (map[string]string, error) {
	if _, ok := g.info[y]; !ok {
		return nil, fmt.Errorf("gradients: no value %q in graph", y)
	}
	active, dep := g.activeNodes(y, wrt)
	isWrt := map[string]bool{}
	for _, w := range wrt {
		isWrt[w] = true
	}
	d := &differ{g: g, contrib: map[string][]string{}, sq: opts.SquaredPerExample, isWrt: isWrt, dep: dep, scaled: map[string]pendingScale{}, premasked: map[string]string{}}
	seed := opts.Seed
	if seed == "" {
		yi := g.info[y]
		if yi.Shape == nil || numel(yi.Shape) != 1 {
			return nil, fmt.Errorf("gradients: %q has shape %v; give a seed for a non-scalar output", y, yi.Shape)
		}
		seed = g.ConstF(yi.DType, yi.Shape, 1)
	}
	d.contrib[y] = []string{seed}
	if d.sq {
		// A parameter that reaches its operator through a reshape or a
		// permutation of its elements (a Reshape of a weight into a MatMul):
		// the squared gradients of the reshaped value, mapped back by the
		// plain rule of that node, are the parameter's, so the reshaped
		// value is differentiated as a parameter.
		d.passThrough = map[*onnx.NodeProto]bool{}
		for _, n := range g.Nodes {
			switch n.OpType {
			case "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose":
				if active[n] && isWrt[n.Input[0]] {
					d.passThrough[n] = true
					isWrt[n.Output[0]] = true
				}
			}
		}
		// Uses on the path to y only: the backward nodes of an earlier
		// Gradients call on the same graph read the parameters too.
		uses := map[string]int{}
		for n := range active {
			for _, in := range n.Input {
				if isWrt[in] {
					uses[in]++
				}
			}
		}
		for _, w := range wrt {
			if uses[w] > 1 {
				return nil, fmt.Errorf("gradients: %q is used by %d nodes; per-example squared gradients need one use", w, uses[w])
			}
		}
	}
	nodes := slices.Clone(g.Nodes)
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		if !active[n] {
			continue
		}
		dys := make([]string, len(n.Output))
		any := false
		scale := ""
		for k, o := range n.Output {
			if o != "" && len(d.contrib[o]) > 0 {
				// A Conv takes a lone contribution's pending factor on
				// its weight (see differ.scaled); in SquaredPerExample mode
				// squaredRule would drop it, so total applies it there.
				if c := d.contrib[o]; !d.sq && n.OpType == "Conv" && k == 0 && len(c) == 1 && d.scaled[c[0]].factor != "" {
					dys[k], scale = c[0], d.scaled[c[0]].factor
				} else {
					dys[k] = d.total(o)
				}
				any = true
			}
		}
		if !any {
			continue
		}
		need := make([]bool, len(n.Input))
		for k, in := range n.Input {
			need[k] = in != "" && dep[in]
		}
		dxs, err := d.node(n, dys, need, scale)
		if err != nil {
			return nil, err
		}
		for k, dx := range dxs {
			if dx != "" && k < len(need) && need[k] {
				d.contrib[n.Input[k]] = append(d.contrib[n.Input[k]], dx)
			}
		}
	}
	out := map[string]string{}
	for _, w := range wrt {
		if len(d.contrib[w]) == 0 {
			wi := g.info[w]
			out[w] = g.Op1("ConstantOfShape", []string{g.shapeTensor(w)}, zeroValue(wi.DType))
			continue
		}
		out[w] = d.total(w)
	}
	return out, nil
}

func zeroValue(dt DType) Attr {
	t := &Tensor{DType: dt, Dims: []int64{1}}
	switch dt {
	case Double:
		t.F64 = []float64{0}
	default:
		t.F32 = []float32{0}
	}
	return &onnx.AttributeProto{Name: "value", Type: onnx.AttributeProto_TENSOR, T: t.ToProto("")}
}

// activeNodes marks the nodes on a path from some name in wrt to y.
func (g *Graph) activeNodes(y string, wrt []string) (map[*onnx.NodeProto]bool, map[string]bool) {
	dep := map[string]bool{}
	for _, w := range wrt {
		dep[w] = true
	}
	fwd := map[*onnx.NodeProto]bool{}
	for _, n := range g.Nodes {
		for _, in := range n.Input {
			if dep[in] {
				fwd[n] = true
				for _, o := range n.Output {
					if dt := g.info[o].DType; dt == Float || dt == Double {
						dep[o] = true
					}
				}
				break
			}
		}
	}
	need := map[string]bool{y: true}
	active := map[*onnx.NodeProto]bool{}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if !fwd[n] {
			continue
		}
		for _, o := range n.Output {
			if need[o] {
				active[n] = true
				for _, in := range n.Input {
					if dep[in] {
						need[in] = true
					}
				}
				break
			}
		}
	}
	return active, dep
}

type differ struct {
	g       *Graph
	contrib map[string][]string
	sq      bool
	isWrt   map[string]bool
	dep     map[string]bool
	// scaled marks contributions that still lack a per-channel factor
	// (axis 1): the gradient is the tensor times scaled[name]. A Conv
	// consuming it alone applies the factor to its weight-sized operands;
	// total multiplies it in for everything else.
	scaled map[string]pendingScale
	// premasked marks contributions that already carry a Relu's mask:
	// premasked[v] names the Relu output whose mask v holds (see
	// maxPoolUnpool).
	premasked map[string]string
	// passThrough marks, in SquaredPerExample mode, the nodes that only
	// reshape or permute a parameter (see Gradients).
	passThrough map[*onnx.NodeProto]bool
}

// pendingScale is a per-channel factor ([c]) not yet applied to a gradient of
// the given rank.
type pendingScale struct {
	factor string
	c      int64
	rank   int
}

// scaledGrad returns v with its pending per-channel factor applied.
func (d *differ) scaledGrad(v string) string {
	s, ok := d.scaled[v]
	if !ok {
		return v
	}
	g := d.g
	return g.Op1("Mul", []string{v, g.Op1("Reshape", []string{s.factor, g.ConstI(channelShape(s.c, s.rank)...)})})
}

func (d *differ) total(name string) string {
	c := d.contrib[name]
	for i, v := range c {
		c[i] = d.scaledGrad(v)
	}
	if len(c) == 1 {
		return c[0]
	}
	// A chain of Adds: ONNX Runtime's Sum of two full-size tensors takes
	// about twice as long as their Add.
	s := c[0]
	for _, v := range c[1:] {
		s = d.g.Op1("Add", []string{s, v})
	}
	d.contrib[name] = []string{s}
	return s
}
