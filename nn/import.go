package nn

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn/graph"
)

// Import loads an ONNX classifier, such as torch.onnx.export of torchvision's
// resnet18 (opset 13 to 17, with or without batch normalisation folded into
// the convolutions), and makes every weight initializer a trainable
// parameter and every batch-norm running statistic a buffer. The model must
// have one float input [N, ...] with known non-batch dimensions and a first
// output [N, classes]; the batch dimension is made dynamic, in the input
// and in every Reshape whose constant shape fixes it (torch.onnx.export
// writes the traced batch size into a flattening Reshape's shape, 1 in the
// ONNX model zoo's MNIST): such a shape gets -1 at the batch axis, and one
// that cannot be rewritten so is refused, naming the node. Every float
// initializer that reaches the logits through differentiable operators is
// a parameter, also through other nodes (graph.Trainable), except the
// constants of the input's normalisation (inputNormalization), which are
// buffers: kept, saved and restored, never trained. Unsupported operators
// are reported by operator and node name.
func Import(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("reading ONNX model: %w", err))
	}
	m, err := ImportBytes(b, strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
	if err != nil {
		return nil, fmt.Errorf("ONNX model %s: %w", path, err)
	}
	return m, nil
}

// ImportBytes is Import of a serialised model; name names it in messages.
func ImportBytes(b []byte, name string) (*Model, error) {
	g, err := graph.Parse(b)
	if err != nil {
		return nil, err
	}
	if g.Name == "" {
		g.Name = name
	}
	if err := g.CheckOps(); err != nil {
		return nil, err
	}
	if len(g.Inputs) != 1 {
		return nil, usererr.Errorf("want exactly one input besides the initializers, found %d (%v)", len(g.Inputs), g.Inputs)
	}
	in := g.Inputs[0]
	info, _ := g.Info(in)
	if info.DType != graph.Float || len(info.Shape) < 2 {
		return nil, usererr.Errorf("input %q is %v of shape %v; want float [N, C, H, W]", in, info.DType, info.Shape)
	}
	shape := slices.Clone(info.Shape[1:])
	if slices.Min(shape) < 1 {
		return nil, usererr.Errorf("input %q has shape %v; every dimension but the batch must be known", in, info.Shape)
	}
	info.Shape[0] = -1
	g.SetInfo(in, info)
	g.Reinfer()
	if err := dynamicBatchReshapes(g, in); err != nil {
		return nil, err
	}
	g.Reinfer()
	if len(g.Outputs) == 0 {
		return nil, usererr.Errorf("the model has no output")
	}
	out := g.Outputs[0]
	outShape := g.Shape(out)
	if len(outShape) != 2 || outShape[1] < 2 {
		return nil, usererr.Errorf("output %q has shape %v; want logits [N, classes]", out, outShape)
	}
	if outShape[0] >= 0 {
		return nil, usererr.Errorf("output %q has shape %v whatever the batch size: a node fixes the batch (want logits [N, classes])", out, outShape)
	}
	g.Outputs = []string{out}
	params, buffers := g.Trainable()
	// The input's normalisation constants are data statistics, not
	// weights: Trainable lists those of more than one element (a mean per
	// channel) among the parameters, and unlearning would train them.
	norm := inputNormalization(g, in)
	for _, p := range params {
		if norm[p] {
			buffers = append(buffers, p)
		}
	}
	params = slices.DeleteFunc(params, func(p string) bool { return norm[p] })
	if len(params) == 0 {
		return nil, usererr.Errorf("the model has no float initializers to train")
	}
	return &Model{Graph: g, Input: in, Output: out, Shape: shape, Classes: int(outShape[1]), Params: params, Buffers: buffers}, nil
}

// dynamicBatchReshapes rewrites every Reshape of a batch-dependent value
// whose constant shape fixes the leading (batch) dimension to a number:
// with no other -1 in the shape, the number becomes -1 (the per-example
// size is checked where the shapes are known); otherwise the node is
// refused, since where the batch goes cannot be told from the constant.
func dynamicBatchReshapes(g *graph.Graph, in string) error {
	dep := map[string]bool{in: true}
	for _, n := range g.Nodes {
		if slices.ContainsFunc(n.Input, func(v string) bool { return dep[v] }) {
			for _, o := range n.Output {
				dep[o] = true
			}
		}
		if n.OpType != "Reshape" || len(n.Input) < 2 || !dep[n.Input[0]] {
			continue
		}
		shape, ok := g.ConstInts(n.Input[1])
		if !ok || len(shape) == 0 || shape[0] <= 0 || graph.IntAttr(n, "allowzero", 0) != 0 {
			continue
		}
		refuse := func(why string) error {
			return usererr.Errorf("Reshape node %q: its constant shape %v fixes the batch size to %d (a traced export?) and %s; export the model with a dynamic batch axis (torch.onnx.export(..., dynamic_axes={...: {0: \"batch\"}}))", n.Name, shape, shape[0], why)
		}
		if slices.Contains(shape[1:], -1) {
			return refuse("another dimension is -1, so it cannot be made dynamic")
		}
		ds := g.Shape(n.Input[0])
		if len(ds) > 0 && ds[0] < 0 && !slices.ContainsFunc(ds[1:], func(d int64) bool { return d < 0 }) {
			per := int64(1)
			for k, d := range shape[1:] {
				if d == 0 && k+1 < len(ds) {
					d = ds[k+1]
				}
				per *= d
			}
			want := int64(1)
			for _, d := range ds[1:] {
				want *= d
			}
			if per != want {
				return refuse(fmt.Sprintf("its other dimensions hold %d values, not the %d of one example of shape %v", per, want, ds[1:]))
			}
		}
		dyn := slices.Clone(shape)
		dyn[0] = -1
		n.Input[1] = g.AddInit(g.Fresh(n.Input[1]+"_dynamic_batch"), &graph.Tensor{DType: graph.Int64, Dims: []int64{int64(len(dyn))}, I64: dyn})
		g.Infer(n)
	}
	return nil
}

// inputNormalization returns the float initializers that normalise the
// input before the first weight: the constant operands of the chain of
// Sub, Div and Mul nodes the input goes through alone, one after another
// (x-mean then *1/std, as PrependNormalization writes it, or /std as
// torchvision-style exports do). The chain ends at the first node of
// another kind, at a node the value is not the sole consumer of, or at an
// operand that is not a float initializer.
func inputNormalization(g *graph.Graph, in string) map[string]bool {
	out := map[string]bool{}
	cur := in
	for {
		k, users := -1, 0
		for i, n := range g.Nodes {
			if slices.Contains(n.Input, cur) {
				k, users = i, users+1
			}
		}
		if users != 1 || slices.Contains(g.Outputs, cur) {
			return out
		}
		n := g.Nodes[k]
		if len(n.Input) != 2 || len(n.Output) != 1 {
			return out
		}
		var other string
		switch {
		case n.Input[0] == cur && n.Input[1] != cur && (n.OpType == "Sub" || n.OpType == "Div" || n.OpType == "Mul"):
			other = n.Input[1]
		case n.Input[1] == cur && n.Input[0] != cur && n.OpType == "Mul":
			other = n.Input[0]
		default:
			return out
		}
		if t, ok := g.Inits[other]; !ok || t.DType != graph.Float {
			return out
		}
		out[other] = true
		cur = n.Output[0]
	}
}
