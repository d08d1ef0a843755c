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
// output [N, classes]; the batch dimension is made dynamic. Unsupported
// operators are reported by operator and node name.
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
	if len(g.Outputs) == 0 {
		return nil, usererr.Errorf("the model has no output")
	}
	out := g.Outputs[0]
	outShape := g.Shape(out)
	if len(outShape) != 2 || outShape[1] < 2 {
		return nil, usererr.Errorf("output %q has shape %v; want logits [N, classes]", out, outShape)
	}
	params, buffers := g.Trainable()
	if len(params) == 0 {
		return nil, usererr.Errorf("the model has no float initializers to train")
	}
	g.Outputs = []string{out}
	return &Model{Graph: g, Input: in, Output: out, Shape: shape, Classes: int(outShape[1]), Params: params, Buffers: buffers}, nil
}
