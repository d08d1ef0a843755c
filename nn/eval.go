package nn

import (
	"math"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn/graph"
	"unlearnbench/nn/ort"
)

// Evaluator computes a model's logits batch by batch. It sees every update
// made to the model (by a Trainer, Param, CopyWeightsFrom, Reinit or a
// checkpoint) before each call, through one of two compiled sessions:
//
//   - the constant-weight session, compiled from the model's graph with its
//     current weights as initializers (the ONNX file Save writes). Only there
//     can ONNX Runtime fold BatchNormalization into Conv, prepack the
//     convolution weights and run the blocked (NCHWc) layout: ResNet-18
//     (32x32, torchvision stem) inference 0.117 against 0.076 s per batch
//     of 128 on one thread, its CIFAR form 1.44 against 0.98 s
//     (BENCHMARKS.md). It is compiled again when the model's Generation has
//     moved on, at a cost of about 0.24 s for ResNet-18;
//   - the input-weight session, whose weights are graph inputs bound to the
//     model's own memory, so it is never stale and never recompiled.
//
// Which one serves a call is decided from the examples alone, never from
// timing, so that a run's logits are reproducible: a current constant
// session always serves; a stale (or missing) one is compiled when the
// examples evaluated at the model's present weights, this call's included,
// reach RecompileAfter (the compile then costs less than it saves);
// otherwise the input-weight session serves. The two agree within float32
// rounding (the folding reorders the arithmetic). Close releases both.
type Evaluator struct {
	m     *Model
	rt    *ort.Runtime
	Batch int
	// RecompileAfter is the number of examples at one generation of the
	// weights from which the constant-weight session is (re)compiled; 0
	// means never (input weights only). NewEvaluator sets it from the
	// model's size (recompileAfter).
	RecompileAfter int

	in     *runner // input-weight session, compiled on first use
	cst    *runner // constant-weight session, nil until first compiled
	cstGen uint64  // the model's Generation that cst was compiled from
	seen   int     // examples served by in since the generation seenGen
	seenG  uint64
}

// NewEvaluator prepares m for inference at batches of up to batch
// examples; the sessions are compiled on first use.
func NewEvaluator(rt *ort.Runtime, m *Model, batch int) (*Evaluator, error) {
	if batch < 1 {
		batch = 128
	}
	return &Evaluator{m: m, rt: rt, Batch: batch, RecompileAfter: recompileAfter(m)}, nil
}

// recompileAfter is the number of examples at one generation of the weights
// from which compiling the constant-weight session pays for itself: twice
// the break-even point of a cost model fitted on one thread to the zoo's
// models (BENCHMARKS.md, "Constant-weight evaluation"), at least one batch
// of 64. Compiling costs about 30 ms plus 25 ns per parameter (ResNet-18:
// 0.24 s against 0.04 s for the input-weight session). The constant
// weights save about 12 ps per FLOP of the Convs that the input-weight
// session still runs as Convs (more than graph.GEMMConvPositions output
// positions; on smaller maps both run GEMMs) per example: CPU seconds per
// batch of 128, input against constant weights, ResNet-18 at 32x32 0.117
// against 0.076 (break-even about 600 examples), its CIFAR form 1.44
// against 0.98 (about 40), the CNN 0.0091 against 0.0034 (about 400). A
// model without such Convs (the MLP: 0.6 against 0.5 ms per batch) never
// recompiles. The threshold depends on the model alone, so which session
// serves, and with it the logits' last bits, is reproducible.
func recompileAfter(m *Model) int {
	var conv float64
	g := m.Graph
	for _, n := range g.Nodes {
		if n.OpType != "Conv" {
			continue
		}
		ws, ys := g.Shape(n.Input[1]), g.Shape(n.Output[0])
		if ws != nil && ys != nil && numel(ys[2:]) > graph.GEMMConvPositions {
			conv += 2 * float64(numel(ws)) * float64(numel(ys[2:]))
		}
	}
	if conv == 0 {
		return 0
	}
	params := 0
	for _, name := range m.fixedNames() {
		params += m.ParamLen(name)
	}
	compile := 0.030 + 25e-9*float64(params)
	save := 12e-12 * conv
	return max(64, int(math.Ceil(2*compile/save)))
}

// Close releases the sessions and their tensors.
func (e *Evaluator) Close() error {
	var first error
	for _, r := range []*runner{e.in, e.cst} {
		if r != nil {
			if err := r.close(); err != nil && first == nil {
				first = err
			}
		}
	}
	e.in, e.cst = nil, nil
	return first
}

// runnerFor returns the session that serves n examples at the model's
// present weights (see Evaluator).
func (e *Evaluator) runnerFor(n int) (*runner, error) {
	gen := e.m.Generation()
	if e.cst != nil && e.cstGen == gen {
		return e.cst, nil
	}
	if gen != e.seenG {
		e.seen, e.seenG = 0, gen
	}
	if e.RecompileAfter > 0 && e.seen+n >= e.RecompileAfter {
		if e.cst != nil {
			if err := e.cst.close(); err != nil {
				return nil, err
			}
			e.cst = nil
		}
		// The generation is read before the weights are serialised: a
		// concurrent writer would make the session stale, never wrongly
		// current.
		// A device-resident Trainer may hold newer weights than the
		// model's memory: bring them in before they become constants.
		e.m.hostRead()
		g := e.m.Graph.Clone()
		g.Inputs = []string{e.m.Input}
		r, err := newRunner(e.rt, e.m, g, []string{e.m.Input}, nil, []string{e.m.Output})
		if err != nil {
			return nil, err
		}
		e.cst, e.cstGen = r, gen
		return r, nil
	}
	if e.in == nil {
		r, err := newRunner(e.rt, e.m, e.m.inferenceGraph(), []string{e.m.Input}, e.m.fixedNames(), []string{e.m.Output})
		if err != nil {
			return nil, err
		}
		e.in = r
	}
	e.seen += n
	return e.in, nil
}

// Logits returns the logits [N, classes] of every example of d, row-major.
func (e *Evaluator) Logits(d *Data) ([]float32, error) {
	if err := d.Check(e.m); err != nil {
		return nil, err
	}
	return e.logits(d, nil)
}

func (e *Evaluator) logits(d *Data, dst []float32) ([]float32, error) {
	c := e.m.Classes
	n := d.Len()
	if dst == nil {
		dst = make([]float32, n*c)
	}
	r, err := e.runnerFor(n) // one session for the whole call
	if err != nil {
		return nil, err
	}
	idx := make([]int, 0, min(e.Batch, n)) // no batch is larger than the data
	for start := 0; start < n; start += e.Batch {
		end := min(n, start+e.Batch)
		idx = idx[:0]
		for i := start; i < end; i++ {
			idx = append(idx, i)
		}
		b, err := r.io(len(idx))
		if err != nil {
			return nil, err
		}
		d.gather(idx, b.inF[e.m.Input], nil)
		if err := r.run(b); err != nil {
			return nil, err
		}
		copy(dst[start*c:end*c], b.out[e.m.Output])
	}
	return dst, nil
}

// LogitsBatch returns the logits [n, classes] of one batch of n examples
// given as NCHW floats (tensors are made once per batch size). The result is the evaluator's buffer, valid until its next
// call.
func (e *Evaluator) LogitsBatch(x []float32, n int) ([]float32, error) {
	if want := n * int(numel(e.m.Shape)); n < 1 || len(x) != want {
		return nil, usererr.Errorf("batch of %d examples has %d values, model %q wants %d (shape %v)", n, len(x), e.m.Graph.Name, want, e.m.Shape)
	}
	r, err := e.runnerFor(n)
	if err != nil {
		return nil, err
	}
	b, err := r.io(n)
	if err != nil {
		return nil, err
	}
	copy(b.inF[e.m.Input], x)
	if err := r.run(b); err != nil {
		return nil, err
	}
	return b.out[e.m.Output], nil
}

// Metrics are a model's mean cross-entropy loss and accuracy on a dataset.
type Metrics struct {
	Loss     float64
	Accuracy float64
	N        int
}

// Evaluate returns the loss and accuracy of the evaluator's model on d.
func (e *Evaluator) Evaluate(d *Data) (Metrics, error) {
	lg, err := e.Logits(d)
	if err != nil {
		return Metrics{}, err
	}
	return MetricsOf(lg, d.Y, e.m.Classes), nil
}

// MetricsOf computes mean cross-entropy and accuracy from logits [N, C].
func MetricsOf(logits []float32, labels []int64, classes int) Metrics {
	var loss float64
	correct := 0
	for i, y := range labels {
		row := logits[i*classes : (i+1)*classes]
		best := 0
		mx := math.Inf(-1)
		for j, v := range row {
			if float64(v) > mx {
				mx, best = float64(v), j
			}
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		loss += mx + math.Log(s) - float64(row[y])
		if int64(best) == y {
			correct++
		}
	}
	n := len(labels)
	if n == 0 {
		return Metrics{}
	}
	return Metrics{Loss: loss / float64(n), Accuracy: float64(correct) / float64(n), N: n}
}
