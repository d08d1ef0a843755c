package nn

import (
	"fmt"
	"slices"

	"unlearnbench/nn/graph"
	"unlearnbench/nn/ort"
)

// runner is one compiled graph whose parameter and buffer inputs read the
// model's own memory, plus per-batch-size input and output tensors, all
// created once and reused for every batch.
type runner struct {
	m       *Model
	rt      *ort.Runtime
	own     ort.Owner
	sess    *ort.Session
	fixed   []ort.Value // model tensors, in the order of fixedNames
	ioNames []string    // per-batch inputs, before the fixed ones
	outs    []string
	batches map[int]*batchIO
	// outShape gives an output's shape for batch size n.
	outShape func(name string, n int) []int64
	inDType  map[string]graph.DType
	inShape  func(name string, n int) []int64
}

// batchIO holds the tensors of one batch size: per-batch inputs (float32 or
// int64 data) and every output (float32).
type batchIO struct {
	inF  map[string][]float32
	inI  map[string][]int64
	out  map[string][]float32
	ins  []ort.Value
	outV map[string]ort.Value // by output name, for sessions that read them
	outs []ort.Value          // in the order of the runner's outputs
}

// newRunner compiles g (whose inputs are ioNames followed by the model's
// params/buffers fixed) and binds the fixed inputs to the model's memory.
func newRunner(rt *ort.Runtime, m *Model, g *graph.Graph, ioNames, fixed, outs []string, opts ...ort.SessionOption) (*runner, error) {
	g.Inputs = append(slices.Clone(ioNames), fixed...)
	g.Outputs = outs
	if len(fixed) > 0 {
		// Weights as inputs rule out ONNX Runtime's blocked Conv kernels,
		// and its plain Conv runs small maps one example at a time.
		g.ConvsAsGEMM(graph.GEMMConvPositions)
	}
	b, err := g.Marshal()
	if err != nil {
		return nil, err
	}
	r := &runner{m: m, rt: rt, ioNames: ioNames, outs: outs, batches: map[int]*batchIO{}, inDType: map[string]graph.DType{}}
	r.sess, err = rt.NewSession(&r.own, b, g.Inputs, outs, opts...)
	if err != nil {
		r.own.Close()
		return nil, fmt.Errorf("model %q: %w", m.Graph.Name, err)
	}
	for _, name := range fixed {
		t := m.Graph.Inits[name]
		v, err := ort.NewTensor(&r.own, t.Dims, t.F32)
		if err != nil {
			r.own.Close()
			return nil, err
		}
		r.fixed = append(r.fixed, v)
	}
	shapes := map[string][]int64{}
	for _, name := range append(slices.Clone(ioNames), outs...) {
		shapes[name] = g.Shape(name)
		r.inDType[name] = g.DTypeOf(name)
	}
	// Shapes with the batch axis (-1 at axis 0) filled in.
	withBatch := func(name string, n int) []int64 {
		s := slices.Clone(shapes[name])
		if len(s) > 0 && s[0] < 0 {
			s[0] = int64(n)
		}
		return s
	}
	r.outShape, r.inShape = withBatch, withBatch
	return r, nil
}

func (r *runner) close() error { return r.own.Close() }

// io returns the tensors for batch size n, creating them on first use.
func (r *runner) io(n int) (*batchIO, error) {
	if b, ok := r.batches[n]; ok {
		return b, nil
	}
	b := &batchIO{inF: map[string][]float32{}, inI: map[string][]int64{}, out: map[string][]float32{}, outV: map[string]ort.Value{}}
	for _, name := range r.ioNames {
		s := r.inShape(name, n)
		var v ort.Value
		var err error
		if r.inDType[name] == graph.Int64 {
			b.inI[name] = make([]int64, numel(s))
			v, err = ort.NewTensor(&r.own, s, b.inI[name])
		} else {
			b.inF[name] = make([]float32, numel(s))
			v, err = ort.NewTensor(&r.own, s, b.inF[name])
		}
		if err != nil {
			return nil, err
		}
		b.ins = append(b.ins, v)
	}
	b.ins = append(b.ins, r.fixed...)
	for _, name := range r.outs {
		s := r.outShape(name, n)
		if len(s) == 0 || slices.Min(s) < 0 {
			return nil, fmt.Errorf("internal: output %s has shape %v, not a known non-scalar shape", name, s)
		}
		b.out[name] = make([]float32, numel(s))
		v, err := ort.NewTensor(&r.own, s, b.out[name])
		if err != nil {
			return nil, err
		}
		b.outs = append(b.outs, v)
		b.outV[name] = v
	}
	r.batches[n] = b
	return b, nil
}

func (r *runner) run(b *batchIO) error {
	r.m.hostRead() // the fixed inputs read the model's memory
	return r.sess.Run(&r.own, b.ins, b.outs)
}

// inferenceGraph is the model's graph with parameters and buffers promoted to
// inputs, scalar outputs reshaped to [1] (onnxruntime_go cannot return 0-d
// tensors).
func (m *Model) inferenceGraph() *graph.Graph {
	g := m.Graph.Clone()
	g.Inputs = []string{m.Input}
	g.PromoteToInput(m.Params...)
	g.PromoteToInput(m.Buffers...)
	return g
}

func vec1(g *graph.Graph, v string) string {
	return g.Op1("Reshape", []string{v, g.ConstI(1)})
}

func (m *Model) fixedNames() []string { return append(slices.Clone(m.Params), m.Buffers...) }
