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
	if k < FisherEmpirical || k > FisherTrue {
		return fmt.Sprintf("FisherKind(%d)", int(k))
	}
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
// not interact. Each kind has its own graph, compiled on first use:
// empirical reads the labels; MC samples its labels inside the graph from
// the model's own softmax and uniform numbers drawn in Go from the seed, so
// that no separate forward pass is needed, and shares one forward pass among
// its samples (up to 16; in groups beyond); true shares one forward pass
// among C backward passes, one per class, each seeded with √p(c|x), in one
// graph (up to 16 classes; in groups of 16 beyond).
type FisherComputer struct {
	rt      *ort.Runtime
	m       *Model
	graphs  map[fisherKey]*fisherGraph
	Batch   int
	classes int
}

// fisherCopies bounds the per-class backward passes in the true Fisher's
// graph: a model with more classes runs its forward pass once per group of
// this many classes.
const fisherCopies = 16

// fisherGraph is one kind's compiled graph and its per-parameter outputs.
type fisherGraph struct {
	r  *runner
	sq map[string]string
	g  *graph.Graph // as compiled, for tests
}

// NewFisherComputer compiles the per-example squared-gradient graph of m
// (the empirical one; the others on first use).
func NewFisherComputer(rt *ort.Runtime, m *Model, batch int) (*FisherComputer, error) {
	if batch < 1 {
		batch = 64
	}
	f := &FisherComputer{rt: rt, m: m, graphs: map[fisherKey]*fisherGraph{}, Batch: batch, classes: m.Classes}
	if _, err := f.graph(FisherEmpirical, 1); err != nil {
		return nil, err
	}
	return f, nil
}

// fisherKey names a compiled graph: the kind and, for MC, the samples it
// draws per run.
type fisherKey struct {
	kind    FisherKind
	samples int64
}

// graph returns kind's compiled graph (for MC, the one drawing samples
// labels per example in one run), building it on first use.
func (f *FisherComputer) graph(kind FisherKind, samples int64) (*fisherGraph, error) {
	key := fisherKey{kind, samples}
	if kind != FisherMC {
		key.samples = 0
	}
	if fg, ok := f.graphs[key]; ok {
		return fg, nil
	}
	m := f.m
	g := m.inferenceGraph()
	c := int64(m.Classes)
	var ioNames []string
	sq := map[string]string{}
	wrap := func(err error) error {
		return fmt.Errorf("model %q: per-example squared gradients (%v Fisher): %w", m.Graph.Name, kind, err)
	}
	switch kind {
	case FisherEmpirical:
		labels := g.AddInput("labels", graph.Int64, -1)
		ioNames = []string{m.Input, labels}
		per, _ := g.CrossEntropyLoss(m.Output, labels, graph.CrossEntropy{})
		total := g.Op1("ReduceSum", []string{per}, graph.AInt("keepdims", 0))
		grads, err := g.Gradients(total, m.Params, graph.GradOptions{SquaredPerExample: true})
		if err != nil {
			return nil, wrap(err)
		}
		sq = grads
	case FisherMC:
		// samples backward passes sharing one forward pass, sample j's
		// labels from column j of uniform: the first class whose
		// cumulative probability reaches u, as sample draws it (the last
		// one if rounding leaves the total below u). A sample whose
		// sample_weights entry is 0 contributes nothing (the last group
		// of a ComputeK whose samples are not a multiple of the graph's).
		u := g.AddInput("uniform", graph.Float, -1, samples)
		wts := g.AddInput("sample_weights", graph.Float, samples)
		ioNames = []string{m.Input, u, wts}
		p := g.Op1("Softmax", []string{m.Output}, graph.AInt("axis", 1))
		cum := g.Op1("CumSum", []string{p, g.ConstI(1)})
		for j := int64(0); j < samples; j++ {
			uj := g.Op1("Slice", []string{u, g.ConstI(j), g.ConstI(j + 1), g.ConstI(1)})
			below := g.Op1("Less", []string{cum, uj})
			n := g.Op1("ReduceSum", []string{g.Op1("Cast", []string{below}, graph.AInt("to", int64(graph.Int64))), g.ConstI(1)}, graph.AInt("keepdims", 0))
			labels := g.Op1("Min", []string{n, g.ConstI(c - 1)})
			per, _ := g.CrossEntropyLoss(m.Output, labels, graph.CrossEntropy{})
			total := g.Op1("Mul", []string{g.Op1("ReduceSum", []string{per}, graph.AInt("keepdims", 0)),
				g.Op1("Slice", []string{wts, g.ConstI(j), g.ConstI(j + 1)})})
			grads, err := g.Gradients(total, m.Params, graph.GradOptions{SquaredPerExample: true})
			if err != nil {
				return nil, wrap(err)
			}
			for _, p := range m.Params {
				if j == 0 {
					sq[p] = grads[p]
				} else {
					sq[p] = g.Op1("Add", []string{sq[p], grads[p]})
				}
			}
		}
	case FisherTrue:
		// One backward pass per row of class_select (one-hot rows, or zero
		// rows that contribute nothing): all classes at once for up to
		// fisherCopies classes, in groups beyond, so that the graph stays
		// of a bounded size for a 100- or 1000-class model.
		copies := min(c, fisherCopies)
		sel := g.AddInput("class_select", graph.Float, copies, c)
		ioNames = []string{m.Input, sel}
		logp := g.Op1("LogSoftmax", []string{m.Output}, graph.AInt("axis", 1))
		root := g.Op1("Sqrt", []string{g.Op1("Softmax", []string{m.Output}, graph.AInt("axis", 1))})
		for cls := int64(0); cls < copies; cls++ {
			onehot := g.Op1("Slice", []string{sel, g.ConstI(cls), g.ConstI(cls + 1), g.ConstI(0)})
			pick := func(v string) string {
				return g.Op1("ReduceSum", []string{g.Op1("Mul", []string{v, onehot}), g.ConstI(1)}, graph.AInt("keepdims", 0))
			}
			// -log p(cls|x), seeded with √p(cls|x): its squared
			// gradient is p-weighted. The seed is a value, not
			// differentiated.
			per := g.Op1("Neg", []string{pick(logp)})
			grads, err := g.Gradients(per, m.Params, graph.GradOptions{Seed: pick(root), SquaredPerExample: true})
			if err != nil {
				return nil, wrap(err)
			}
			for _, p := range m.Params {
				if cls == 0 {
					sq[p] = grads[p]
				} else {
					sq[p] = g.Op1("Add", []string{sq[p], grads[p]})
				}
			}
		}
	}
	var outs []string
	for _, p := range m.Params {
		outs = append(outs, sq[p])
	}
	r, err := newRunner(f.rt, m, g, ioNames, m.fixedNames(), outs)
	if err != nil {
		return nil, err
	}
	fg := &fisherGraph{r: r, sq: sq, g: g}
	f.graphs[key] = fg
	return fg, nil
}

// Close releases the sessions.
func (f *FisherComputer) Close() error {
	var first error
	for _, fg := range f.graphs {
		if err := fg.r.close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Compute is ComputeK with one sample per example.
func (f *FisherComputer) Compute(d *Data, kind FisherKind, seed uint64) (map[string][]float64, error) {
	return f.ComputeK(d, kind, 1, seed)
}

// ComputeK returns, for every parameter, the sum over the examples of d of
// the squared per-example gradient of the cross-entropy, at the labels kind
// says: the data's (empirical); samples labels drawn per example from the
// model's softmax with seed, the squares averaged over them (MC; one
// forward pass per batch shared by up to 16 samples); every class weighted
// by its probability (true).
// samples is used by MC only and must be at least 1.
func (f *FisherComputer) ComputeK(d *Data, kind FisherKind, samples int, seed uint64) (map[string][]float64, error) {
	if err := d.Check(f.m); err != nil {
		return nil, err
	}
	if kind < FisherEmpirical || kind > FisherTrue {
		return nil, usererr.Errorf("Fisher kind %d: want empirical, mc or true", int(kind))
	}
	if samples < 1 {
		return nil, usererr.Errorf("Fisher: %d samples per example, want at least 1", samples)
	}
	perRun := int64(min(samples, fisherCopies))
	fg, err := f.graph(kind, perRun)
	if err != nil {
		return nil, err
	}
	sum := map[string][]float64{}
	for _, p := range f.m.Params {
		sum[p] = make([]float64, f.m.ParamLen(p))
	}
	passes := 1
	switch kind {
	case FisherMC:
		passes = (samples + fisherCopies - 1) / fisherCopies
	case FisherTrue:
		passes = (f.classes + fisherCopies - 1) / fisherCopies
	}
	rng := rand.New(rand.NewPCG(seed, 0x666973686572))
	var us []float32
	n := d.Len()
	idx := make([]int, 0, min(f.Batch, n)) // no batch larger than the data
	for start := 0; start < n; start += f.Batch {
		idx = idx[:0]
		for i := start; i < min(n, start+f.Batch); i++ {
			idx = append(idx, i)
		}
		b, err := fg.r.io(len(idx))
		if err != nil {
			return nil, err
		}
		d.gather(idx, b.inF[f.m.Input], b.inI["labels"])
		if kind == FisherMC {
			// Example by example, sample by sample, as fisherLoop draws.
			us = us[:0]
			for range len(idx) * samples {
				us = append(us, rng.Float32())
			}
		}
		for k := 0; k < passes; k++ {
			switch kind {
			case FisherMC:
				// Samples k·perRun, ... of every example; weight 0 past
				// the last.
				u, w := b.inF["uniform"], b.inF["sample_weights"]
				for s := range int(perRun) {
					w[s] = 0
					if k*int(perRun)+s < samples {
						w[s] = 1
					}
					for j := range idx {
						u[j*int(perRun)+s] = 0.5
						if w[s] == 1 {
							u[j*int(perRun)+s] = us[j*samples+k*int(perRun)+s]
						}
					}
				}
			case FisherTrue:
				// Rows for classes k·fisherCopies, ...: one-hot, then zero.
				sel := b.inF["class_select"]
				fill(sel, 0)
				c := f.classes
				for j := 0; j < len(sel)/c; j++ {
					if cls := k*fisherCopies + j; cls < c {
						sel[j*c+cls] = 1
					}
				}
			}
			if err := fg.r.run(b); err != nil {
				return nil, err
			}
			for _, p := range f.m.Params {
				acc := sum[p]
				for i, v := range b.out[fg.sq[p]] {
					acc[i] += float64(v)
				}
			}
		}
	}
	if kind == FisherMC && samples > 1 {
		for _, acc := range sum {
			for i := range acc {
				acc[i] /= float64(samples)
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
// With kind MC it draws samples labels per example and averages their
// squares.
func fisherLoop(rt *ort.Runtime, m *Model, d *Data, kind FisherKind, samples int, seed uint64) (map[string][]float64, error) {
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
		sum[p] = make([]float64, m.ParamLen(p))
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
			for range samples {
				classes, wts = append(classes, sample(rng, probs[i*c:(i+1)*c])), append(wts, 1/float64(samples))
			}
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
