package nn

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn/graph"
)

// Model is a classifier as an ONNX inference graph: input [N, C, H, W]
// float32, output logits [N, classes]. Its parameters and buffers are the
// graph's float32 initializers and live in Go memory (Graph.Inits[name].F32),
// which training updates in place.
type Model struct {
	Graph   *graph.Graph
	Input   string  // name of the image input
	Output  string  // name of the logits output
	Shape   []int64 // input shape without the batch axis, [C, H, W]
	Classes int
	Params  []string // trainable initializers, in a fixed order
	Buffers []string // batch-norm running statistics: updated by training, not trained
	// dev, while a device-resident Trainer holds the model, is where its
	// newest weights are (devtrain.go); nil otherwise.
	dev *devState

	// gen counts the occasions on which the weights may have changed (see
	// Generation); accessed atomically, so that a Model stays copyable.
	gen uint64
}

// hostRead brings the weights into the model's memory when a
// device-resident Trainer holds newer ones: the pull hook of everything
// that reads the weights (Param, Clone, Save, Digest, evaluators and the
// Fisher computer through their runners, checkpoints).
func (m *Model) hostRead() {
	if m.dev != nil {
		m.dev.pull()
	}
}

// hostWrite is hostRead for a caller that may write the weights: the
// device-resident Trainer uploads them again before its next step.
func (m *Model) hostWrite() {
	if m.dev != nil {
		m.dev.pull()
		m.dev.dirty = true
	}
}

// Param returns the data of parameter or buffer name, which the caller
// may read and write: it counts as a possible change of the weights (it
// calls Touch) and, with a device-resident Trainer, brings the weights to
// the host and has the next step upload them.
func (m *Model) Param(name string) []float32 {
	m.hostWrite()
	m.Touch()
	return m.Graph.Inits[name].F32
}

// ParamRead returns the data of parameter or buffer name for reading only:
// with a device-resident Trainer it brings the weights to the host, but
// unlike Param it counts as no change, so that a reader (a gradient edit
// that looks at the weights every step, a checkpoint) neither makes the
// Trainer upload every weight again before its next step nor makes a
// constant-weight Evaluator recompile. A write through it would be seen by
// neither: use Param to write.
func (m *Model) ParamRead(name string) []float32 {
	m.hostRead()
	return m.Graph.Inits[name].F32
}

// ParamLen is the number of values of parameter or buffer name.
func (m *Model) ParamLen(name string) int { return len(m.Graph.Inits[name].F32) }

// Generation is a counter that changes whenever the weights may have
// changed: Param (which hands out writable memory), CopyWeightsFrom,
// Reinit, Checkpoint.Restore and the Trainer's steps all bump it. Whoever
// keeps a copy of the weights (an Evaluator that compiled them into its
// session as constants) compares generations to know that the copy is
// current. Code that writes the weights through a slice it obtained earlier
// must call Touch after writing.
func (m *Model) Generation() uint64 { return atomic.LoadUint64(&m.gen) }

// Touch records that the weights may have changed (bumps Generation).
func (m *Model) Touch() { atomic.AddUint64(&m.gen, 1) }

// NumParams counts the trainable scalars.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.Params {
		n += len(m.Graph.Inits[p].F32)
	}
	return n
}

// Clone copies the model, weights included.
func (m *Model) Clone() *Model {
	m.hostRead()
	c := *m
	c.dev = nil
	c.Graph = m.Graph.Clone()
	for _, name := range append(slices.Clone(m.Params), m.Buffers...) {
		t := *m.Graph.Inits[name]
		t.F32 = slices.Clone(t.F32)
		c.Graph.Inits[name] = &t
	}
	c.Shape = slices.Clone(m.Shape)
	c.Params = slices.Clone(m.Params)
	c.Buffers = slices.Clone(m.Buffers)
	return &c
}

// CopyWeightsFrom overwrites m's parameters and buffers with src's (same
// architecture).
func (m *Model) CopyWeightsFrom(src *Model) error {
	src.hostRead()
	for _, name := range append(slices.Clone(m.Params), m.Buffers...) {
		s, ok := src.Graph.Inits[name]
		if !ok || len(s.F32) != m.ParamLen(name) {
			return fmt.Errorf("copying weights: %q missing or of another size in the source model", name)
		}
		copy(m.Param(name), s.F32)
	}
	m.Touch()
	return nil
}

// Save writes the model as a self-contained inference ONNX file (weights as
// initializers), atomically.
func (m *Model) Save(path string) error {
	m.hostRead()
	g := m.Graph.Clone()
	g.Outputs = []string{m.Output}
	return g.Save(path)
}

// builder helps the zoo constructors: names in PyTorch's style and He
// initialisation from one seeded source.
type builder struct {
	g   *graph.Graph
	rng *rand.Rand
	m   *Model
}

func newBuilder(name string, shape []int64, classes int, seed uint64) *builder {
	g := graph.New(name)
	m := &Model{Graph: g, Input: "input", Output: "logits", Shape: slices.Clone(shape), Classes: classes}
	g.AddInput("input", graph.Float, append([]int64{-1}, shape...)...)
	return &builder{g: g, rng: rand.New(rand.NewPCG(seed, 0x6e6e)), m: m}
}

func (b *builder) param(name string, dims []int64, fill func(i int) float32) string {
	t := &graph.Tensor{DType: graph.Float, Dims: dims, F32: make([]float32, numel(dims))}
	for i := range t.F32 {
		t.F32[i] = fill(i)
	}
	b.g.AddInit(name, t)
	b.m.Params = append(b.m.Params, name)
	return name
}

func (b *builder) buffer(name string, dims []int64, v float32) string {
	t := &graph.Tensor{DType: graph.Float, Dims: dims, F32: make([]float32, numel(dims))}
	for i := range t.F32 {
		t.F32[i] = v
	}
	b.g.AddInit(name, t)
	b.m.Buffers = append(b.m.Buffers, name)
	return name
}

// he draws N(0, 2/fanIn) (He et al. 2015, for ReLU networks).
func (b *builder) he(fanIn int64) func(int) float32 {
	std := math.Sqrt(2 / float64(fanIn))
	return func(int) float32 { return float32(b.rng.NormFloat64() * std) }
}

func zero(int) float32 { return 0 }
func one(int) float32  { return 1 }

func numel(d []int64) int64 {
	n := int64(1)
	for _, v := range d {
		n *= v
	}
	return n
}

func (b *builder) conv(name, x string, cin, cout, k, stride, pad int64, bias bool) string {
	ins := []string{x, b.param(name+".weight", []int64{cout, cin, k, k}, b.he(cin*k*k))}
	if bias {
		ins = append(ins, b.param(name+".bias", []int64{cout}, zero))
	}
	return b.g.Op1("Conv", ins, graph.AInts("kernel_shape", k, k), graph.AInts("strides", stride, stride),
		graph.AInts("pads", pad, pad, pad, pad))
}

func (b *builder) bn(name, x string, c int64) string {
	return b.g.Op1("BatchNormalization", []string{x,
		b.param(name+".weight", []int64{c}, one), b.param(name+".bias", []int64{c}, zero),
		b.buffer(name+".running_mean", []int64{c}, 0), b.buffer(name+".running_var", []int64{c}, 1)},
		graph.AFloat("epsilon", 1e-5), graph.AFloat("momentum", 0.9))
}

func (b *builder) relu(x string) string { return b.g.Op1("Relu", []string{x}) }

func (b *builder) linear(name, x string, in, out int64) string {
	return b.g.Op1("Gemm", []string{x, b.param(name+".weight", []int64{out, in}, b.he(in)), b.param(name+".bias", []int64{out}, zero)},
		graph.AInt("transB", 1))
}

func (b *builder) finish(logits string) *Model {
	b.g.OpNamed("Identity", []string{logits}, []string{"logits"})
	b.g.AddOutput("logits")
	return b.m
}

// ForwardFLOPs counts the multiply-adds (as 2 FLOPs each) of one example's
// forward pass through the model's Conv, Gemm and MatMul nodes, the
// operators that dominate its cost.
func (m *Model) ForwardFLOPs() float64 {
	g := m.Graph
	var f float64
	for _, n := range g.Nodes {
		switch n.OpType {
		case "Conv":
			ws, ys := g.Shape(n.Input[1]), g.Shape(n.Output[0])
			if ws == nil || ys == nil {
				continue
			}
			f += 2 * float64(numel(ws)) * float64(numel(ys[2:]))
		case "Gemm", "MatMul":
			ws := g.Shape(n.Input[1])
			if len(ws) == 2 {
				f += 2 * float64(ws[0]*ws[1])
			}
		}
	}
	return f
}

// PrependNormalization makes the model normalise its own input per channel,
// (x - mean[c]) / std[c], with constant (untrained) nodes at the front of
// the graph, so that the saved ONNX file takes data as read (pixels in
// [0, 1]) and nobody has to remember the statistics.
func (m *Model) PrependNormalization(mean, std []float64) error {
	g := m.Graph
	if len(m.Shape) < 1 || int(m.Shape[0]) != len(mean) || len(std) != len(mean) {
		return usererr.Errorf("normalisation has %d means and %d deviations; model %q has %d channels", len(mean), len(std), g.Name, m.Shape[0])
	}
	bshape := make([]int64, len(m.Shape)+1)
	for i := range bshape {
		bshape[i] = 1
	}
	bshape[1] = m.Shape[0]
	inv := make([]float64, len(std))
	for c, s := range std {
		if !(s > 0) {
			return usererr.Errorf("normalisation std %v of channel %d: want > 0", s, c)
		}
		inv[c] = 1 / s
	}
	old := g.Nodes
	g.Nodes = nil
	mu := g.AddInit(m.Input+".norm_mean", &graph.Tensor{DType: graph.Float, Dims: bshape, F32: f32s(mean)})
	is := g.AddInit(m.Input+".norm_inv_std", &graph.Tensor{DType: graph.Float, Dims: bshape, F32: f32s(inv)})
	normed := g.Fresh(m.Input + "_normalized")
	g.OpNamed("Mul", []string{g.Op1("Sub", []string{m.Input, mu}), is}, []string{normed})
	for _, n := range old {
		for k, in := range n.Input {
			if in == m.Input {
				n.Input[k] = normed
			}
		}
	}
	g.Nodes = append(g.Nodes, old...)
	g.Reinfer()
	return nil
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// Reinit re-draws the elements of parameter param where mask is true (nil:
// all of them) with the zoo's initialiser, chosen from the node that
// consumes the parameter (through Reshape, Flatten, Squeeze, Unsqueeze and
// Identity nodes, as exporters write them): He normal, N(0, 2/fan-in), for
// the weights of Conv, Gemm and MatMul, with PyTorch's fan-in (input
// channels times the kernel's size; a Gemm's or MatMul's input features);
// zeros for their biases and for batch-norm shifts and Add/Sub operands;
// ones for batch-norm scales and Mul operands. The values come from seed and
// the parameter's name alone, element by element, so that a masked element
// gets the value an unmasked re-draw would give it; the other elements keep
// their bits.
func (m *Model) Reinit(param string, mask []bool, seed uint64) error {
	if !slices.Contains(m.Params, param) {
		return usererr.Errorf("model %q has no trainable parameter %q", m.Graph.Name, param)
	}
	w := m.Param(param)
	if mask != nil && len(mask) != len(w) {
		return usererr.Errorf("re-initialising %q: mask of %d elements for a parameter of %d", param, len(mask), len(w))
	}
	fill, err := m.initialiser(param)
	if err != nil {
		return err
	}
	h := fnv.New64a()
	h.Write([]byte(param))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	for i := range w {
		v := fill(rng)
		if mask == nil || mask[i] {
			w[i] = v
		}
	}
	m.Touch()
	return nil
}

// initialiser finds param's consumer and returns the zoo's draw for it.
func (m *Model) initialiser(param string) (func(*rand.Rand) float32, error) {
	g := m.Graph
	cons := g.Consumers()
	v := param
	for {
		c := cons[v]
		if len(c) != 1 {
			return nil, usererr.Errorf("re-initialising %q: it is read by %d nodes; want one, to choose its initialiser", param, len(c))
		}
		n := c[0]
		k := slices.Index(n.Input, v)
		switch n.OpType {
		case "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity":
			if k == 0 {
				v = n.Output[0]
				continue
			}
		}
		s := g.Shape(v)
		if s == nil {
			s = m.Graph.Inits[param].Dims
		}
		he := func(fanIn int64) (func(*rand.Rand) float32, error) {
			if fanIn < 1 {
				return nil, usererr.Errorf("re-initialising %q: fan-in %d from shape %v at %s node %q", param, fanIn, s, n.OpType, n.Name)
			}
			std := math.Sqrt(2 / float64(fanIn))
			return func(r *rand.Rand) float32 { return float32(r.NormFloat64() * std) }, nil
		}
		zeros := func(*rand.Rand) float32 { return 0 }
		ones := func(*rand.Rand) float32 { return 1 }
		switch {
		case n.OpType == "Conv" && k == 1 && len(s) >= 2:
			return he(numel(s) / s[0])
		case n.OpType == "Gemm" && k == 1 && len(s) == 2:
			if graph.IntAttr(n, "transB", 0) != 0 {
				return he(s[1])
			}
			return he(s[0])
		case n.OpType == "MatMul" && k == 1 && len(s) >= 2:
			return he(s[len(s)-2])
		case (n.OpType == "Conv" || n.OpType == "Gemm") && k == 2, n.OpType == "BatchNormalization" && k == 2,
			n.OpType == "Add" || n.OpType == "Sub":
			return zeros, nil
		case n.OpType == "BatchNormalization" && k == 1, n.OpType == "Mul":
			return ones, nil
		}
		return nil, usererr.Errorf("re-initialising %q: no initialiser for input %d of %s node %q", param, k, n.OpType, n.Name)
	}
}
