package graph

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"unlearnbench/internal/usererr"
)

// Opset is the ONNX operator set version of every graph this package writes.
// Models imported at opsets 13 to 17 are read as opset 17: none of the
// operators supported here changed meaning between them.
const Opset = 17

// DType is an ONNX tensor element type (TensorProto.DataType).
type DType int32

// Element types used here.
const (
	Float  DType = DType(onnx.TensorProto_FLOAT)
	Double DType = DType(onnx.TensorProto_DOUBLE)
	Int64  DType = DType(onnx.TensorProto_INT64)
	Bool   DType = DType(onnx.TensorProto_BOOL)
)

func (d DType) String() string { return onnx.TensorProto_DataType(d).String() }

// Info is what the builder knows about a value: its element type and shape.
// A nil Shape means the rank is unknown; a dimension of -1 is unknown (the
// batch dimension usually is).
type Info struct {
	DType DType
	Shape []int64
}

// Known reports whether every dimension is known.
func (i Info) Known() bool {
	if i.Shape == nil {
		return false
	}
	for _, d := range i.Shape {
		if d < 0 {
			return false
		}
	}
	return true
}

// Tensor is a constant or parameter held in Go memory. Exactly one of the
// data slices is used, according to DType.
type Tensor struct {
	DType DType
	Dims  []int64
	F32   []float32
	F64   []float64
	I64   []int64
}

// Size is the number of elements the dimensions call for.
func (t *Tensor) Size() int64 { return numel(t.Dims) }

func numel(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// Graph is an ONNX graph under construction. Nodes are ONNX NodeProtos;
// initializers are Go tensors (constants and parameters alike; which of them
// are trainable is the caller's business).
type Graph struct {
	Name    string
	Inputs  []string
	Outputs []string
	Nodes   []*onnx.NodeProto
	Inits   map[string]*Tensor
	info    map[string]Info
	shapeOf map[string]string // value produced by Shape(x) -> x
	fused   map[string]fusedGrad
	// memo holds values computed from forward values only (the unfolded
	// input of a Conv, the squared input of a Gemm), by a key naming the
	// value and how it was derived, so that several Gradients calls on one
	// graph (the true Fisher's one per class) share them.
	memo    map[string]string
	counter int
}

// New returns an empty graph.
func New(name string) *Graph {
	return &Graph{Name: name, Inits: map[string]*Tensor{}, info: map[string]Info{}, shapeOf: map[string]string{}}
}

// Clone returns a copy whose node list, inputs, outputs and maps can be changed
// without touching g. Initializer tensors are shared, not copied.
func (g *Graph) Clone() *Graph {
	c := &Graph{
		Name:    g.Name,
		Inputs:  slices.Clone(g.Inputs),
		Outputs: slices.Clone(g.Outputs),
		Inits:   maps.Clone(g.Inits),
		info:    maps.Clone(g.info),
		shapeOf: maps.Clone(g.shapeOf),
		fused:   maps.Clone(g.fused),
		memo:    maps.Clone(g.memo),
		counter: g.counter,
	}
	for _, n := range g.Nodes {
		c.Nodes = append(c.Nodes, proto.Clone(n).(*onnx.NodeProto))
	}
	return c
}

// memoised returns the value memoised under key, building it with build on
// first use.
func (g *Graph) memoised(key string, build func() string) string {
	if v, ok := g.memo[key]; ok {
		return v
	}
	if g.memo == nil {
		g.memo = map[string]string{}
	}
	v := build()
	g.memo[key] = v
	return v
}

// Info returns what is known about value name.
func (g *Graph) Info(name string) (Info, bool) {
	i, ok := g.info[name]
	return i, ok
}

// Shape returns the build-time shape of name (nil if unknown).
func (g *Graph) Shape(name string) []int64 { return g.info[name].Shape }

// DTypeOf returns the element type of name.
func (g *Graph) DTypeOf(name string) DType { return g.info[name].DType }

// SetInfo records the type and shape of a value (used by importers).
func (g *Graph) SetInfo(name string, i Info) { g.info[name] = i }

// Fresh returns a value name not used in the graph, starting with prefix.
func (g *Graph) Fresh(prefix string) string {
	for {
		g.counter++
		name := fmt.Sprintf("%s_%d", prefix, g.counter)
		if _, used := g.info[name]; !used {
			if _, used := g.Inits[name]; !used {
				return name
			}
		}
	}
}

// AddInput declares a graph input.
func (g *Graph) AddInput(name string, dt DType, shape ...int64) string {
	g.Inputs = append(g.Inputs, name)
	g.info[name] = Info{dt, slices.Clone(shape)}
	return name
}

// AddOutput declares a graph output.
func (g *Graph) AddOutput(names ...string) { g.Outputs = append(g.Outputs, names...) }

// AddInit adds an initializer under name.
func (g *Graph) AddInit(name string, t *Tensor) string {
	g.Inits[name] = t
	g.info[name] = Info{t.DType, slices.Clone(t.Dims)}
	return name
}

// ConstF adds a constant of g's float type dt with the given dims and values.
func (g *Graph) ConstF(dt DType, dims []int64, vals ...float64) string {
	t := &Tensor{DType: dt, Dims: append([]int64{}, dims...)}
	switch dt {
	case Float:
		t.F32 = make([]float32, len(vals))
		for i, v := range vals {
			t.F32[i] = float32(v)
		}
	case Double:
		t.F64 = slices.Clone(vals)
	default:
		panic("graph: ConstF of " + dt.String())
	}
	return g.AddInit(g.Fresh("const"), t)
}

// ScalarF is a 0-d float constant of type dt.
func (g *Graph) ScalarF(dt DType, v float64) string { return g.ConstF(dt, nil, v) }

// ConstI adds a 1-d int64 constant.
func (g *Graph) ConstI(vals ...int64) string {
	return g.AddInit(g.Fresh("const"), &Tensor{DType: Int64, Dims: []int64{int64(len(vals))}, I64: slices.Clone(vals)})
}

// ConstInts returns the values of an int64 initializer, if name is one.
func (g *Graph) ConstInts(name string) ([]int64, bool) {
	t, ok := g.Inits[name]
	if !ok || t.DType != Int64 {
		return nil, false
	}
	return t.I64, true
}

// Attr is a node attribute.
type Attr = *onnx.AttributeProto

// AInt, AInts, AFloat, AString build attributes.
func AInt(name string, v int64) Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: v}
}
func AInts(name string, v ...int64) Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INTS, Ints: slices.Clone(v)}
}
func AFloat(name string, v float32) Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_FLOAT, F: v}
}
func AString(name, v string) Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_STRING, S: []byte(v)}
}

// Op appends a node of type op and returns its nOut fresh output names.
func (g *Graph) Op(op string, inputs []string, nOut int, attrs ...Attr) []string {
	outs := make([]string, nOut)
	for i := range outs {
		outs[i] = g.Fresh(strings.ToLower(op))
	}
	g.OpNamed(op, inputs, outs, attrs...)
	return outs
}

// Op1 is Op with one output.
func (g *Graph) Op1(op string, inputs []string, attrs ...Attr) string {
	return g.Op(op, inputs, 1, attrs...)[0]
}

// OpNamed appends a node with the given output names and infers their types
// and shapes.
func (g *Graph) OpNamed(op string, inputs, outputs []string, attrs ...Attr) *onnx.NodeProto {
	n := &onnx.NodeProto{
		OpType:    op,
		Name:      g.Fresh("n_" + strings.ToLower(op)),
		Input:     slices.Clone(inputs),
		Output:    slices.Clone(outputs),
		Attribute: attrs,
	}
	g.Nodes = append(g.Nodes, n)
	g.Infer(n)
	return n
}

// AttrOf returns the attribute called name of n, or nil.
func AttrOf(n *onnx.NodeProto, name string) Attr {
	for _, a := range n.Attribute {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// IntAttr returns an integer attribute or def.
func IntAttr(n *onnx.NodeProto, name string, def int64) int64 {
	if a := AttrOf(n, name); a != nil {
		return a.I
	}
	return def
}

// FloatAttr returns a float attribute or def.
func FloatAttr(n *onnx.NodeProto, name string, def float32) float32 {
	if a := AttrOf(n, name); a != nil {
		return a.F
	}
	return def
}

// IntsAttr returns an ints attribute or def.
func IntsAttr(n *onnx.NodeProto, name string, def []int64) []int64 {
	if a := AttrOf(n, name); a != nil {
		return a.Ints
	}
	return def
}

// StringAttr returns a string attribute or def.
func StringAttr(n *onnx.NodeProto, name, def string) string {
	if a := AttrOf(n, name); a != nil {
		return string(a.S)
	}
	return def
}

// Consumers returns, for each value name, the nodes that read it.
func (g *Graph) Consumers() map[string][]*onnx.NodeProto {
	m := map[string][]*onnx.NodeProto{}
	for _, n := range g.Nodes {
		for _, in := range n.Input {
			if in != "" {
				m[in] = append(m[in], n)
			}
		}
	}
	return m
}

// Producer returns the node that writes name, or nil.
func (g *Graph) Producer(name string) *onnx.NodeProto {
	for _, n := range g.Nodes {
		if slices.Contains(n.Output, name) {
			return n
		}
	}
	return nil
}

// PromoteToInput turns initializers into graph inputs (the same name, type
// and shape), so that a session reads their values from tensors the caller
// owns instead of from the compiled model.
func (g *Graph) PromoteToInput(names ...string) {
	for _, name := range names {
		if _, ok := g.Inits[name]; !ok {
			continue
		}
		delete(g.Inits, name)
		if !slices.Contains(g.Inputs, name) {
			g.Inputs = append(g.Inputs, name)
		}
	}
}

// Reinfer recomputes every node's output types and shapes, after an input's
// shape changed (SetInfo).
func (g *Graph) Reinfer() {
	g.shapeOf = map[string]string{}
	for _, n := range g.Nodes {
		g.Infer(n)
	}
}

// Differentiable lists the operators Gradients knows.
var Differentiable = map[string]bool{
	"Identity": true, "Dropout": true, "Relu": true, "Add": true, "Sub": true, "Sum": true, "Mul": true, "Div": true,
	"Neg": true, "Sqrt": true, "Reciprocal": true, "Exp": true, "Log": true, "ReduceSum": true, "ReduceMean": true,
	"MatMul": true, "Gemm": true, "Flatten": true, "Reshape": true, "Squeeze": true, "Unsqueeze": true,
	"Transpose": true, "Concat": true, "Softmax": true, "LogSoftmax": true, "GlobalAveragePool": true,
	"AveragePool": true, "MaxPool": true, "Conv": true, "BatchNormalization": true, "Pad": true,
}

// shapeOnly lists operators accepted off the differentiated path (shape
// arithmetic as exporters write it).
var shapeOnly = map[string]bool{
	"Shape": true, "Gather": true, "Cast": true, "ConstantOfShape": true, "Slice": true, "Size": true,
	"Equal": true, "Where": true, "Expand": true,
}

// CheckOps reports every node whose operator is neither differentiable nor
// shape arithmetic (an operator like Shape or Gather with an integer
// result), naming the operator and the node.
func (g *Graph) CheckOps() error {
	var bad []string
	for _, n := range g.Nodes {
		dt := g.info[n.Output[0]].DType
		if n.OpType == "Pad" {
			if _, _, err := g.padAmounts(n); err != nil {
				bad = append(bad, fmt.Sprintf("Pad (node %q: %v)", n.Name, err))
				continue
			}
		}
		if !Differentiable[n.OpType] && !(shapeOnly[n.OpType] && dt != Float && dt != Double) {
			bad = append(bad, fmt.Sprintf("%s (node %q)", n.OpType, n.Name))
		}
	}
	if len(bad) > 0 {
		return usererr.Errorf("unsupported operators: %s", strings.Join(bad, ", "))
	}
	return nil
}

// Trainable splits the float initializers into parameters and buffers
// (batch normalisation's running mean and variance), each sorted by name.
// A parameter is any float initializer from which a path of differentiable
// inputs reaches one of the graph's outputs: a weight, bias, scale or
// operand, also when it reaches its operator through other nodes (a
// Reshape of a weight into a MatMul, as in the ONNX model zoo's MNIST).
// Initializers of one element are parameters only as a Conv, Gemm or
// batch-norm input: elsewhere they are constants (ratios, epsilons,
// normalisation factors).
func (g *Graph) Trainable() (params, buffers []string) {
	isBuf := map[string]bool{}
	need := map[string]bool{}
	for _, o := range g.Outputs {
		need[o] = true
	}
	direct := map[string]bool{}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		for k, in := range n.Input {
			if t, ok := g.Inits[in]; ok && t.DType == Float && n.OpType == "BatchNormalization" && k >= 3 {
				isBuf[in] = true
			}
		}
		if !Differentiable[n.OpType] || !slices.ContainsFunc(n.Output, func(o string) bool { return need[o] }) {
			continue
		}
		for k, in := range n.Input {
			if in == "" || !differentiableInput(n.OpType, k) {
				continue
			}
			if dt := g.info[in].DType; dt != Float && dt != Double {
				continue
			}
			need[in] = true
			if (n.OpType == "Conv" || n.OpType == "Gemm" || n.OpType == "BatchNormalization") && k >= 1 {
				direct[in] = true
			}
		}
	}
	for name, t := range g.Inits {
		if t.DType != Float || !need[name] || isBuf[name] {
			continue
		}
		if t.Size() > 1 || direct[name] {
			params = append(params, name)
		}
	}
	for name := range isBuf {
		buffers = append(buffers, name)
	}
	slices.Sort(params)
	slices.Sort(buffers)
	return params, buffers
}

// differentiableInput reports whether input k of a Differentiable operator
// carries a gradient (not a ratio, axes, shape or running statistic).
func differentiableInput(op string, k int) bool {
	switch op {
	case "BatchNormalization":
		return k < 3
	case "Dropout", "Reshape", "Squeeze", "Unsqueeze", "ReduceSum", "ReduceMean":
		return k == 0
	}
	return true
}
