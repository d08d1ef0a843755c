package graph

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"unlearnbench/internal/atomicfile"
	"unlearnbench/internal/usererr"
)

// minInputs is the number of inputs an operator needs at opset 13 to 17
// (older opsets pass some of them as attributes).
var minInputs = map[string]int{
	"Conv": 2, "ConvTranspose": 2, "Gemm": 2, "MatMul": 2, "Add": 2, "Sub": 2, "Mul": 2, "Div": 2, "Pow": 2,
	"Reshape": 2, "BatchNormalization": 5, "Expand": 2, "Where": 3, "Equal": 2, "Greater": 2, "Less": 2,
	"Slice": 3, "OneHot": 3, "Gather": 2, "ScatterElements": 3, "Concat": 1, "Sum": 1,
}

func checkArity(n *onnx.NodeProto) error {
	if len(n.Output) == 0 || n.Output[0] == "" {
		return usererr.Errorf("node %q (%s) has no output", n.Name, n.OpType)
	}
	need := max(1, minInputs[n.OpType])
	if len(n.Input) < need {
		return usererr.Errorf("node %q (%s) has %d inputs, needs %d", n.Name, n.OpType, len(n.Input), need)
	}
	return nil
}

// FromProto converts an ONNX TensorProto (float, double, int64, int32 or
// bool; data inline, not external) to a Tensor. int32 and bool become int64.
func FromProto(tp *onnx.TensorProto) (*Tensor, error) {
	if tp.DataLocation == onnx.TensorProto_EXTERNAL || len(tp.ExternalData) > 0 {
		return nil, fmt.Errorf("tensor %q: external data is not supported", tp.Name)
	}
	// A tensor without dims is a scalar (rank 0), which torch.onnx.export
	// writes for a Python number such as the 2 of x / 2. Its shape must be
	// empty, not nil: nil means "unknown" to shape inference, and an
	// unknown operand made every shape after it unknown.
	t := &Tensor{Dims: append([]int64{}, tp.Dims...)}
	n := int(numel(tp.Dims))
	raw := tp.RawData
	wantRaw := func(size int) error {
		if len(raw) != n*size {
			return fmt.Errorf("tensor %q: raw_data has %d bytes, want %d for dims %v", tp.Name, len(raw), n*size, tp.Dims)
		}
		return nil
	}
	switch onnx.TensorProto_DataType(tp.DataType) {
	case onnx.TensorProto_FLOAT:
		t.DType = Float
		if raw != nil {
			if err := wantRaw(4); err != nil {
				return nil, err
			}
			t.F32 = make([]float32, n)
			for i := range t.F32 {
				t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		} else {
			t.F32 = slices.Clone(tp.FloatData)
		}
		if len(t.F32) != n {
			return nil, fmt.Errorf("tensor %q: %d floats, want %d for dims %v", tp.Name, len(t.F32), n, tp.Dims)
		}
	case onnx.TensorProto_DOUBLE:
		t.DType = Double
		if raw != nil {
			if err := wantRaw(8); err != nil {
				return nil, err
			}
			t.F64 = make([]float64, n)
			for i := range t.F64 {
				t.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		} else {
			t.F64 = slices.Clone(tp.DoubleData)
		}
		if len(t.F64) != n {
			return nil, fmt.Errorf("tensor %q: %d doubles, want %d for dims %v", tp.Name, len(t.F64), n, tp.Dims)
		}
	case onnx.TensorProto_INT64, onnx.TensorProto_INT32, onnx.TensorProto_BOOL:
		t.DType = Int64
		size := map[onnx.TensorProto_DataType]int{onnx.TensorProto_INT64: 8, onnx.TensorProto_INT32: 4, onnx.TensorProto_BOOL: 1}[onnx.TensorProto_DataType(tp.DataType)]
		switch {
		case raw != nil:
			if err := wantRaw(size); err != nil {
				return nil, err
			}
			t.I64 = make([]int64, n)
			for i := range t.I64 {
				switch size {
				case 8:
					t.I64[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
				case 4:
					t.I64[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
				case 1:
					t.I64[i] = int64(raw[i])
				}
			}
		case tp.DataType == int32(onnx.TensorProto_INT64):
			t.I64 = slices.Clone(tp.Int64Data)
		default:
			for _, v := range tp.Int32Data {
				t.I64 = append(t.I64, int64(v))
			}
		}
		if len(t.I64) != n {
			return nil, fmt.Errorf("tensor %q: %d integers, want %d for dims %v", tp.Name, len(t.I64), n, tp.Dims)
		}
	default:
		return nil, fmt.Errorf("tensor %q: element type %v is not supported", tp.Name, onnx.TensorProto_DataType(tp.DataType))
	}
	return t, nil
}

// ToProto converts t to a TensorProto named name, data as raw little-endian
// bytes (what ONNX Runtime and Netron read fastest).
func (t *Tensor) ToProto(name string) *onnx.TensorProto {
	tp := &onnx.TensorProto{Name: name, Dims: slices.Clone(t.Dims), DataType: int32(t.DType)}
	if tp.Dims == nil {
		tp.Dims = []int64{}
	}
	switch t.DType {
	case Float:
		b := make([]byte, 4*len(t.F32))
		for i, v := range t.F32 {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		tp.RawData = b
	case Double:
		b := make([]byte, 8*len(t.F64))
		for i, v := range t.F64 {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
		}
		tp.RawData = b
	case Int64:
		b := make([]byte, 8*len(t.I64))
		for i, v := range t.I64 {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
		}
		tp.RawData = b
	case Bool:
		b := make([]byte, len(t.I64))
		for i, v := range t.I64 {
			if v != 0 {
				b[i] = 1
			}
		}
		tp.RawData = b
	}
	return tp
}

func (g *Graph) valueInfo(name string) *onnx.ValueInfoProto {
	i := g.info[name]
	tt := &onnx.TypeProto_Tensor{ElemType: int32(i.DType)}
	if i.Shape != nil {
		tt.Shape = &onnx.TensorShapeProto{}
		for k, d := range i.Shape {
			dim := &onnx.TensorShapeProto_Dimension{}
			if d >= 0 {
				dim.Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}
			} else if k == 0 {
				dim.Value = &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
			} else {
				dim.Value = &onnx.TensorShapeProto_Dimension_DimParam{DimParam: fmt.Sprintf("d%d", k)}
			}
			tt.Shape.Dim = append(tt.Shape.Dim, dim)
		}
	}
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: tt}}}
}

// Proto returns the graph as an ONNX ModelProto (IR version 8, opset 17).
// Initializers that no node reads and no output names are left out.
func (g *Graph) Proto() *onnx.ModelProto {
	gp := &onnx.GraphProto{Name: g.Name}
	used := map[string]bool{}
	for _, n := range g.Nodes {
		gp.Node = append(gp.Node, n)
		for _, in := range n.Input {
			used[in] = true
		}
	}
	for _, o := range g.Outputs {
		used[o] = true
	}
	names := make([]string, 0, len(g.Inits))
	for name := range g.Inits {
		if used[name] && !slices.Contains(g.Inputs, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		gp.Initializer = append(gp.Initializer, g.Inits[name].ToProto(name))
	}
	for _, in := range g.Inputs {
		gp.Input = append(gp.Input, g.valueInfo(in))
	}
	for _, o := range g.Outputs {
		gp.Output = append(gp.Output, g.valueInfo(o))
	}
	return &onnx.ModelProto{
		IrVersion:    8,
		ProducerName: "unlearnbench",
		OpsetImport:  []*onnx.OperatorSetIdProto{{Domain: "", Version: Opset}},
		Graph:        gp,
	}
}

// Marshal serialises the graph as an ONNX model.
func (g *Graph) Marshal() ([]byte, error) {
	b, err := proto.Marshal(g.Proto())
	if err != nil {
		return nil, fmt.Errorf("encoding ONNX graph %q: %w", g.Name, err)
	}
	return b, nil
}

// Save writes the graph to path as an .onnx file, atomically.
func (g *Graph) Save(path string) error {
	b, err := g.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, b)
}

// Load reads an .onnx file. See Parse.
func Load(path string) (*Graph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("opening ONNX model: %w", err))
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading ONNX model %s: %w", path, err)
	}
	g, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("ONNX model %s: %w", path, err)
	}
	return g, nil
}

// MinOpset is the oldest opset Parse reads. Opsets 13 to 17 (what
// torch.onnx.export writes) are read as they are; older ones are upgraded
// node by node for the operators supported here.
const MinOpset = 6

// Parse decodes a serialised ONNX model of the default domain at opset 6 to
// 17. Constant nodes become initializers; shapes are inferred from the
// inputs' declared shapes. Errors are user errors: the input is the user's.
func Parse(b []byte) (g *Graph, err error) {
	cur := ""
	defer func() {
		// Shape inference trusts node arity and attributes checked below; a
		// malformed model that slips past them must not crash the program.
		if r := recover(); r != nil {
			g, err = nil, usererr.Errorf("malformed ONNX model at node %q: %v", cur, r)
		}
	}()
	var m onnx.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, usererr.Errorf("not an ONNX model: %v", err)
	}
	if m.Graph == nil {
		return nil, usererr.Errorf("not an ONNX model: no graph")
	}
	opset := int64(0)
	for _, op := range m.OpsetImport {
		if op.Domain != "" && op.Domain != "ai.onnx" {
			return nil, usererr.Errorf("operator domain %q (version %d) is not supported", op.Domain, op.Version)
		}
		if op.Version < MinOpset || op.Version > Opset {
			return nil, usererr.Errorf("opset %d is not supported (want %d to %d; re-export with torch.onnx.export(..., opset_version=17))", op.Version, MinOpset, Opset)
		}
		opset = op.Version
	}
	gp := m.Graph
	g = New(gp.Name)
	for _, tp := range gp.Initializer {
		t, err := FromProto(tp)
		if err != nil {
			return nil, usererr.Errorf("initializer: %v", err)
		}
		g.AddInit(tp.Name, t)
	}
	for _, vi := range gp.Input {
		if _, isInit := g.Inits[vi.Name]; isInit {
			continue
		}
		tt := vi.GetType().GetTensorType()
		if tt == nil {
			return nil, usererr.Errorf("input %q is not a tensor", vi.Name)
		}
		var shape []int64
		if tt.Shape != nil {
			shape = []int64{}
			for _, d := range tt.Shape.Dim {
				if v, ok := d.Value.(*onnx.TensorShapeProto_Dimension_DimValue); ok {
					shape = append(shape, v.DimValue)
				} else {
					shape = append(shape, -1)
				}
			}
		}
		g.AddInput(vi.Name, DType(tt.ElemType), shape...)
	}
	for _, n := range gp.Node {
		if n.Domain != "" && n.Domain != "ai.onnx" {
			return nil, usererr.Errorf("node %q: operator %s of domain %q is not supported", n.Name, n.OpType, n.Domain)
		}
		if n.OpType == "Constant" {
			a := AttrOf(n, "value")
			if a == nil || a.T == nil || len(n.Output) != 1 {
				return nil, usererr.Errorf("node %q: Constant without a tensor value is not supported", n.Name)
			}
			t, err := FromProto(a.T)
			if err != nil {
				return nil, usererr.Errorf("node %q: %v", n.Name, err)
			}
			g.AddInit(n.Output[0], t)
			continue
		}
		if n.Name == "" {
			n.Name = g.Fresh("n_" + n.OpType)
		}
		cur = n.Name
		if err := checkArity(n); err != nil {
			return nil, err
		}
		for _, in := range n.Input {
			if _, ok := g.info[in]; in != "" && !ok {
				return nil, usererr.Errorf("node %q (%s): input %q is not produced before it (nodes must be in topological order)", n.Name, n.OpType, in)
			}
		}
		if opset < 13 {
			if err := g.upgradeNode(n, opset); err != nil {
				return nil, err
			}
			continue
		}
		g.Nodes = append(g.Nodes, n)
		g.Infer(n)
	}
	for _, o := range gp.Output {
		if _, ok := g.info[o.Name]; !ok {
			return nil, usererr.Errorf("output %q is not produced by any node", o.Name)
		}
		g.Outputs = append(g.Outputs, o.Name)
	}
	return g, nil
}
