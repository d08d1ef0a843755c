package graph

import (
	"github.com/advancedclimatesystems/gonnx/onnx"

	"unlearnbench/internal/usererr"
)

// upgradeNode rewrites a node of an opset older than 13 into its opset-17
// form, for the operators this package supports; nodes are appended to g
// (some become several). Operators whose old semantics differ in ways not
// handled here are reported.
func (g *Graph) upgradeNode(n *onnx.NodeProto, opset int64) error {
	drop := func(names ...string) {
		var keep []*onnx.AttributeProto
		for _, a := range n.Attribute {
			skip := false
			for _, nm := range names {
				if a.Name == nm {
					skip = true
				}
			}
			if !skip {
				keep = append(keep, a)
			}
		}
		n.Attribute = keep
	}
	attrToInput := func(attr string, pos int) {
		a := AttrOf(n, attr)
		if a == nil {
			return
		}
		for len(n.Input) < pos {
			n.Input = append(n.Input, "")
		}
		n.Input = append(n.Input[:pos], g.ConstI(a.Ints...))
		drop(attr)
	}
	unsupported := func(why string) error {
		return usererr.Errorf("node %q: operator %s at opset %d: %s", n.Name, n.OpType, opset, why)
	}
	switch n.OpType {
	case "BatchNormalization":
		if a := AttrOf(n, "spatial"); a != nil && a.I == 0 {
			return unsupported("spatial=0 is not supported")
		}
		drop("is_test", "spatial", "consumed_inputs")
		n.Output = n.Output[:1]
	case "Gemm":
		drop("broadcast")
	case "Add", "Sub", "Mul", "Div":
		if AttrOf(n, "axis") != nil {
			return unsupported("legacy broadcasting with an axis is not supported")
		}
		drop("broadcast", "consumed_inputs")
	case "Relu", "Neg", "Sqrt", "Reciprocal", "Exp", "Log":
		drop("consumed_inputs")
	case "Dropout":
		ratio := FloatAttr(n, "ratio", 0.5)
		drop("ratio", "is_test")
		n.Input = append(n.Input[:1], g.ScalarF(Float, float64(ratio)))
		n.Output = n.Output[:1]
	case "Unsqueeze", "Squeeze", "ReduceSum":
		attrToInput("axes", 1)
	case "Split":
		attrToInput("split", 1)
	case "Pad":
		// Before opset 11 the pads and the constant were attributes.
		if AttrOf(n, "pads") != nil {
			v := FloatAttr(n, "value", 0)
			attrToInput("pads", 1)
			drop("value")
			dt := g.info[n.Input[0]].DType
			if dt != Float && dt != Double {
				return unsupported("only float padding is supported")
			}
			n.Input = append(n.Input, g.ScalarF(dt, float64(v)))
		}
	case "Softmax", "LogSoftmax":
		// Before opset 13 these flattened the input to 2-D at axis.
		xs := g.info[n.Input[0]].Shape
		axis := IntAttr(n, "axis", 1)
		if xs == nil {
			return unsupported("the input rank must be known")
		}
		axis = normAxis(axis, len(xs))
		drop("axis")
		if axis == int64(len(xs))-1 {
			n.Attribute = append(n.Attribute, AInt("axis", -1))
			break
		}
		flat := g.Op1("Flatten", []string{n.Input[0]}, AInt("axis", axis))
		soft := g.Op1(n.OpType, []string{flat}, AInt("axis", -1))
		g.OpNamed("Reshape", []string{soft, g.Op1("Shape", []string{n.Input[0]})}, n.Output)
		return nil
	}
	g.Nodes = append(g.Nodes, n)
	g.Infer(n)
	return nil
}
