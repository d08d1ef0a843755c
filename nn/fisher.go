package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn/graph"
	"unlearnbench/nn/ort"
)

// FisherKind says which labels weight the squared per-example gradients.
type FisherKind int

const (
	// FisherEmpirical uses the data's labels: Σ_i (∇ℓ(x_i, y_i))².
	FisherEmpirical FisherKind = iota
	// FisherMC samples one label per example from the model's softmax.
	FisherMC
	// FisherTrue weights every class by the model's softmax probability:
	// Σ_i Σ_c p(c|x_i) (∇ℓ(x_i, c))², the diagonal Fisher information that
	// Golatkar et al. (2020) use.
	FisherTrue
)

func (k FisherKind) String() string {
	return [...]string{"empirical", "mc", "true"}[k]
}

// ParseFisherKind reads "empirical", "mc" or "true".
func ParseFisherKind(s string) (FisherKind, error) {
	for k := FisherEmpirical; k <= FisherTrue; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, usererr.Errorf("Fisher kind %q: want empirical, mc or true", s)
}

// FisherComputer computes sums of squared per-example gradients of the
// cross-entropy for every parameter, batch by batch, without a loop over
// single examples (graph.GradOptions.SquaredPerExample); the model runs in
// inference mode (batch norm with running statistics), so that examples do
// not interact.
type FisherComputer struct {
	m     *Model
	r     *runner
	sq    map[string]string
	ev    *Evaluator
	Batch int
}

// NewFisherComputer compiles the per-example squared-gradient graph of m.
func NewFisherComputer(rt *ort.Runtime, m *Model, batch int) (*FisherComputer, error) {
	if batch < 1 {
		batch = 64
	}
	g := m.inferenceGraph()
	labels := g.AddInput("labels", graph.Int64, -1)
	weights := g.AddInput("example_weights", graph.Float, -1)
	per, _ := g.CrossEntropyLoss(m.Output, labels, graph.CrossEntropy{})
	sq, err := g.Gradients(per, m.Params, graph.GradOptions{Seed: weights, SquaredPerExample: true})
	if err != nil {
		return nil, fmt.Errorf("model %q: per-example squared gradients: %w", m.Graph.Name, err)
	}
	var outs []string
	for _, p := range m.Params {
		outs = append(outs, sq[p])
	}
	r, err := newRunner(rt, m, g, []string{m.Input, labels, weights}, m.fixedNames(), outs)
	if err != nil {
		return nil, err
	}
	ev, err := NewEvaluator(rt, m, batch)
	if err != nil {
		r.close()
		return nil, err
	}
	return &FisherComputer{m: m, r: r, sq: sq, ev: ev, Batch: batch}, nil
}

// Close releases the sessions.
func (f *FisherComputer) Close() error {
	f.ev.Close()
	return f.r.close()
}

// Compute returns, for every parameter, Σ over the examples of d of the
// squared per-example gradient of the cross-entropy, with labels as kind
// says (MC draws from seed).
func (f *FisherComputer) Compute(d *Data, kind FisherKind, seed uint64) (map[string][]float64, error) {
	if err := d.Check(f.m); err != nil {
		return nil, err
	}
	sum := map[string][]float64{}
	for _, p := range f.m.Params {
		sum[p] = make([]float64, len(f.m.Param(p)))
	}
	c := f.m.Classes
	rng := rand.New(rand.NewPCG(seed, 0x666973686572))
	var probs []float32
	if kind != FisherEmpirical {
		lg, err := f.ev.logits(d, nil)
		if err != nil {
			return nil, err
		}
		probs = softmaxRows(lg, c)
	}
	n := d.Len()
	idx := make([]int, 0, f.Batch)
	for start := 0; start < n; start += f.Batch {
		idx = idx[:0]
		for i := start; i < min(n, start+f.Batch); i++ {
			idx = append(idx, i)
		}
		b, err := f.r.io(len(idx))
		if err != nil {
			return nil, err
		}
		d.gather(idx, b.inF[f.m.Input], b.inI["labels"])
		w := b.inF["example_weights"]
		passes := 1
		if kind == FisherTrue {
			passes = c
		}
		for cls := 0; cls < passes; cls++ {
			for j, i := range idx {
				switch kind {
				case FisherEmpirical:
					w[j] = 1
				case FisherMC:
					b.inI["labels"][j] = sample(rng, probs[i*c:(i+1)*c])
					w[j] = 1
				case FisherTrue:
					b.inI["labels"][j] = int64(cls)
					// Squares of sqrt(p)-scaled gradients are p-weighted.
					w[j] = float32(math.Sqrt(float64(probs[i*c+cls])))
				}
			}
			if err := f.r.run(b); err != nil {
				return nil, err
			}
			for _, p := range f.m.Params {
				acc := sum[p]
				for k, v := range b.out[f.sq[p]] {
					acc[k] += float64(v)
				}
			}
		}
	}
	return sum, nil
}

func softmaxRows(lg []float32, c int) []float32 {
	p := make([]float32, len(lg))
	for i := 0; i < len(lg)/c; i++ {
		row := lg[i*c : (i+1)*c]
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		var s float64
		for k, v := range row {
			e := math.Exp(float64(v - mx))
			p[i*c+k] = float32(e)
			s += e
		}
		for k := range row {
			p[i*c+k] /= float32(s)
		}
	}
	return p
}

func sample(rng *rand.Rand, p []float32) int64 {
	u := rng.Float32()
	for k, v := range p {
		u -= v
		if u <= 0 {
			return int64(k)
		}
	}
	return int64(len(p) - 1)
}

// fisherLoop is the reference: one gradient per example (batch size 1), in
// inference mode, squared and summed in Go. Tests and benchmarks compare
// FisherComputer with it.
func fisherLoop(rt *ort.Runtime, m *Model, d *Data, kind FisherKind, seed uint64) (map[string][]float64, error) {
	g := m.inferenceGraph()
	labels := g.AddInput("labels", graph.Int64, -1)
	weights := g.AddInput("example_weights", graph.Float, -1)
	per, _ := g.CrossEntropyLoss(m.Output, labels, graph.CrossEntropy{})
	grads, err := g.Gradients(per, m.Params, graph.GradOptions{Seed: weights})
	if err != nil {
		return nil, err
	}
	var outs []string
	for _, p := range m.Params {
		outs = append(outs, grads[p])
	}
	r, err := newRunner(rt, m, g, []string{m.Input, labels, weights}, m.fixedNames(), outs)
	if err != nil {
		return nil, err
	}
	defer r.close()
	ev, err := NewEvaluator(rt, m, 64)
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	lg, err := ev.logits(d, nil)
	if err != nil {
		return nil, err
	}
	c := m.Classes
	probs := softmaxRows(lg, c)
	rng := rand.New(rand.NewPCG(seed, 0x666973686572))
	sum := map[string][]float64{}
	for _, p := range m.Params {
		sum[p] = make([]float64, len(m.Param(p)))
	}
	b, err := r.io(1)
	if err != nil {
		return nil, err
	}
	for i := 0; i < d.Len(); i++ {
		d.gather([]int{i}, b.inF[m.Input], b.inI["labels"])
		var classes []int64
		var wts []float64
		switch kind {
		case FisherEmpirical:
			classes, wts = []int64{d.Y[i]}, []float64{1}
		case FisherMC:
			classes, wts = []int64{sample(rng, probs[i*c:(i+1)*c])}, []float64{1}
		case FisherTrue:
			for k := 0; k < c; k++ {
				classes, wts = append(classes, int64(k)), append(wts, float64(probs[i*c+k]))
			}
		}
		for k, cls := range classes {
			b.inI["labels"][0] = cls
			b.inF["example_weights"][0] = 1
			if err := r.run(b); err != nil {
				return nil, err
			}
			for _, p := range m.Params {
				acc := sum[p]
				for j, v := range b.out[grads[p]] {
					acc[j] += wts[k] * float64(v) * float64(v)
				}
			}
		}
	}
	return sum, nil
}
