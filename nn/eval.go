package nn

import (
	"math"

	"unlearnbench/internal/usererr"

	"unlearnbench/nn/ort"
)

// Evaluator computes a model's logits batch by batch with one compiled
// session whose weights are read from the model's memory, so it sees every
// update a Trainer makes. Close releases it.
type Evaluator struct {
	m     *Model
	r     *runner
	Batch int
}

// NewEvaluator compiles m for inference at batches of up to batch examples.
func NewEvaluator(rt *ort.Runtime, m *Model, batch int) (*Evaluator, error) {
	if batch < 1 {
		batch = 128
	}
	g := m.inferenceGraph()
	r, err := newRunner(rt, m, g, []string{m.Input}, m.fixedNames(), []string{m.Output})
	if err != nil {
		return nil, err
	}
	return &Evaluator{m: m, r: r, Batch: batch}, nil
}

// Close releases the session and its tensors.
func (e *Evaluator) Close() error { return e.r.close() }

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
	idx := make([]int, 0, min(e.Batch, n)) // no batch is larger than the data
	for start := 0; start < n; start += e.Batch {
		end := min(n, start+e.Batch)
		idx = idx[:0]
		for i := start; i < end; i++ {
			idx = append(idx, i)
		}
		b, err := e.r.io(len(idx))
		if err != nil {
			return nil, err
		}
		d.gather(idx, b.inF[e.m.Input], nil)
		if err := e.r.run(b); err != nil {
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
	b, err := e.r.io(n)
	if err != nil {
		return nil, err
	}
	if len(x) != len(b.inF[e.m.Input]) {
		return nil, usererr.Errorf("batch of %d examples has %d values, model %q wants %d (shape %v)", n, len(x), e.m.Graph.Name, len(b.inF[e.m.Input]), e.m.Shape)
	}
	copy(b.inF[e.m.Input], x)
	if err := e.r.run(b); err != nil {
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
