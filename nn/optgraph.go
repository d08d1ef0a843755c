package nn

import (
	"fmt"
	"math"
	"slices"

	"unlearnbench/nn/graph"
	"unlearnbench/nn/ort"
)

// stepper is the optimiser update as ONNX nodes, in a small ONNX Runtime
// session of its own, so that the update runs on the session's device,
// multi-threaded by ONNX Runtime's intra-op threads, instead of in Go on one
// thread between steps. The graph is compiled once per set of masked
// parameters: everything that changes from step to step (the learning rate,
// Adam's bias corrections, SGD's first-step momentum, AdamW's decay factor)
// is a one-element input.
//
// Where the weights live: the model's Go memory holds the current weights
// after every step, because Evaluators, the Fisher computer, checkpoints
// and Save read it directly (their sessions are bound to it). The update
// writes the new weights and the new optimiser state over the old ones: the
// output tensors are the input tensors. That keeps the step's memory to
// the parameters, one optimiser state, the gradients and the activations
// (issue 22), with no copy back; a scratch set and a memcpy would cost one
// more copy of the parameters (45 MB for ResNet-18) and the copy's time,
// and double buffers would need every reader of the weights to ask which
// buffer is current. Writing an output over an input is safe here because
// of how the graph is built, not because ONNX Runtime promises it in
// general: every node is element-wise (the output element i depends only on
// the input elements i), every node that reads an old weight or state
// precedes, in the graph's order, the one node that writes its new value,
// and sessions run their nodes one after another (the sequential executor,
// the default; nn/ort never selects the parallel one). An element-wise
// kernel reads element i before it writes element i, on any number of
// threads, each thread owning a disjoint range. The equality test
// (TestInGraphOptimizerEqualsReference) checks the result bit for bit
// against the Go reference. The batch-norm running statistics are
// committed by the same run: Identity nodes from the training step's
// pending statistics into the model's buffers, with no Go loop.
type stepper struct {
	cfg OptimizerConfig
	rt  *ort.Runtime
	m   *Model
	// params are the model's parameters (its memory).
	params [][]float32
	dims   [][]int64 // of each parameter
	// state[j][k] is state kind j (0: momentum or Adam's first moment, 1:
	// Adam's second moment) of parameter k.
	state [][][]float32
	kinds int
	// t counts the steps (PyTorch's per-parameter step, the same for all).
	t int
	// bufs are the model's batch-norm buffers written by each step, in the
	// order of ups (mean, var, mean, var...).
	ups []graph.RunningUpdate

	base ort.Owner // tensors over params, state, scalars and buffers
	// sessOwn holds the compiled update and the mask tensors; it is
	// rebuilt when the set of masked parameters changes.
	sessOwn ort.Owner
	sess    *ort.Session
	masked  []bool // per parameter: the compiled graph takes a mask
	maskV   []ort.Value
	maskOf  [][]float32 // the mask slices maskV was made over

	paramV      []ort.Value
	stateV      []ort.Value // [kind*len(params)+k]
	bufV        []ort.Value
	scalarNames []string
	scalars     []float32
	scalarV     []ort.Value

	acc *accumulator
	// dev, for a device-resident Trainer, binds the update to device
	// tensors (devtrain.go); nil: the update runs on host tensors.
	dev *stepDev
}

// Scalar inputs of the update graph, by optimiser.
func (c OptimizerConfig) scalarInputs() []string {
	switch c.Name {
	case "adam":
		return []string{"step_size", "sqrt_bc2"}
	case "adamw":
		return []string{"step_size", "sqrt_bc2", "decay"}
	}
	if c.Momentum > 0 {
		return []string{"lr", "mu"}
	}
	return []string{"lr"}
}

func (c OptimizerConfig) stateKinds() int {
	switch {
	case c.Name == "adam" || c.Name == "adamw":
		return 2
	case c.Momentum > 0:
		return 1
	}
	return 0
}

// adamConsts are Adam's betas and epsilon with PyTorch's defaults.
func (c OptimizerConfig) adamConsts() (b1, b2, eps float64) {
	b1, b2, eps = c.Beta1, c.Beta2, c.Eps
	if b1 == 0 {
		b1 = 0.9
	}
	if b2 == 0 {
		b2 = 0.999
	}
	if eps == 0 {
		eps = 1e-8
	}
	return
}

func newStepper(rt *ort.Runtime, m *Model, cfg OptimizerConfig, ups []graph.RunningUpdate) (*stepper, error) {
	s := &stepper{cfg: cfg, rt: rt, m: m, kinds: cfg.stateKinds(), ups: ups}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	for _, p := range m.Params {
		w := m.Param(p)
		s.params = append(s.params, w)
		s.dims = append(s.dims, m.Graph.Inits[p].Dims)
		pv, err := ort.NewTensor(&s.base, s.dims[len(s.dims)-1], w)
		if err != nil {
			return nil, err
		}
		s.paramV = append(s.paramV, pv)
	}
	s.state = make([][][]float32, s.kinds)
	for j := range s.kinds {
		for k, w := range s.params {
			buf := make([]float32, len(w))
			s.state[j] = append(s.state[j], buf)
			v, err := ort.NewTensor(&s.base, s.dims[k], buf)
			if err != nil {
				return nil, err
			}
			s.stateV = append(s.stateV, v)
		}
	}
	for _, u := range ups {
		for _, name := range []string{u.Mean, u.Var} {
			t := m.Graph.Inits[name]
			v, err := ort.NewTensor(&s.base, t.Dims, t.F32)
			if err != nil {
				return nil, err
			}
			s.bufV = append(s.bufV, v)
		}
	}
	s.scalarNames = cfg.scalarInputs()
	s.scalars = make([]float32, len(s.scalarNames))
	for i := range s.scalars {
		v, err := ort.NewTensor(&s.base, []int64{1}, s.scalars[i:i+1])
		if err != nil {
			return nil, err
		}
		s.scalarV = append(s.scalarV, v)
	}
	s.masked = make([]bool, len(s.params))
	s.maskOf = make([][]float32, len(s.params))
	if err := s.compile(); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func (s *stepper) close() error {
	err := s.sessOwn.Close()
	if s.acc != nil {
		if e := s.acc.own.Close(); err == nil {
			err = e
		}
	}
	if e := s.base.Close(); err == nil {
		err = e
	}
	return err
}

// moments returns the current state of kind j (nil when the optimiser
// keeps none).
func (s *stepper) moments(j int) [][]float32 {
	if j >= s.kinds {
		return nil
	}
	if s.dev != nil && !s.dev.stateOnHost {
		s.dev.pullState(s)
	}
	return s.state[j]
}

// updateGraph is the update of every parameter, with masks where masked
// says, and the commit of the batch-norm statistics.
func (s *stepper) updateGraph() (*graph.Graph, []string, []string) {
	c := s.cfg
	g := graph.New("optimizer_step")
	var ins, outs []string
	sc := map[string]string{}
	for _, name := range s.scalarNames {
		sc[name] = g.AddInput(name, graph.Float, 1)
		ins = append(ins, name)
	}
	f := func(v float32) string { return g.ConstF(graph.Float, []int64{1}, float64(v)) }
	op := func(o string, a ...string) string { return g.Op1(o, a) }
	wd := float32(c.WeightDecay)
	for k := range s.params {
		n := s.dims[k]
		p := g.AddInput(fmt.Sprintf("p%d", k), graph.Float, n...)
		gr := g.AddInput(fmt.Sprintf("g%d", k), graph.Float, n...)
		ins = append(ins, p, gr)
		var st []string
		for j := range s.kinds {
			st = append(st, g.AddInput(fmt.Sprintf("state%d_%d", j, k), graph.Float, n...))
			ins = append(ins, st[j])
		}
		var mask, keep string
		if s.masked[k] {
			mask = g.AddInput(fmt.Sprintf("mask%d", k), graph.Float, n...)
			ins = append(ins, mask)
			// Elements whose factor is 0 are frozen: Where selects their
			// old bits, so neither the weight nor its state moves.
			keep = op("Not", op("Equal", mask, f(0)))
		}
		// gi is PyTorch's d_p: the gradient plus the L2 weight decay
		// (AdamW decays the weight itself instead), times the mask.
		gi := gr
		if wd != 0 && c.Name != "adamw" {
			gi = op("Add", gr, op("Mul", f(wd), p))
		}
		if mask != "" {
			gi = op("Mul", gi, mask)
		}
		var np string
		var nst []string
		switch c.Name {
		case "sgd":
			upd := gi
			if s.kinds == 1 {
				// mu is 0 at the first step: PyTorch starts the buffer at
				// the first gradient (0·0 + g = g).
				v := op("Add", op("Mul", sc["mu"], st[0]), gi)
				nst = append(nst, v)
				upd = v
				if c.Nesterov {
					upd = op("Add", gi, op("Mul", f(float32(c.Momentum)), v))
				}
			}
			np = op("Sub", p, op("Mul", sc["lr"], upd))
		case "adam", "adamw":
			b1, b2, eps := c.adamConsts()
			fb1, fb2 := float32(b1), float32(b2)
			m1 := op("Add", op("Mul", f(fb1), st[0]), op("Mul", f(1-fb1), gi))
			m2 := op("Add", op("Mul", f(fb2), st[1]), op("Mul", op("Mul", f(1-fb2), gi), gi))
			nst = append(nst, m1, m2)
			denom := op("Add", op("Div", op("Sqrt", m2), sc["sqrt_bc2"]), f(float32(eps)))
			base := p
			if c.Name == "adamw" && wd != 0 {
				base = op("Mul", p, sc["decay"])
			}
			np = op("Sub", base, op("Div", op("Mul", sc["step_size"], m1), denom))
		}
		if keep != "" {
			np = op("Where", keep, np, p)
			for j := range nst {
				nst[j] = op("Where", keep, nst[j], st[j])
			}
		}
		outs = append(outs, nameOutput(g, np, fmt.Sprintf("p%d_new", k)))
		for j, v := range nst {
			outs = append(outs, nameOutput(g, v, fmt.Sprintf("state%d_%d_new", j, k)))
		}
	}
	for i := range 2 * len(s.ups) {
		in := g.AddInput(fmt.Sprintf("stat%d", i), graph.Float, -1)
		ins = append(ins, in)
		name := fmt.Sprintf("stat%d_commit", i)
		g.OpNamed("Identity", []string{in}, []string{name})
		outs = append(outs, name)
	}
	return g, ins, outs
}

// nameOutput renames value v, computed by a node of g, to the graph output
// name out, rather than adding an Identity node: ONNX Runtime keeps an
// Identity whose input has other consumers, and it would copy the whole
// tensor once more.
func nameOutput(g *graph.Graph, v, out string) string {
	for _, n := range g.Nodes {
		for i, o := range n.Output {
			if o == v {
				n.Output[i] = out
			}
		}
		for i, in := range n.Input {
			if in == v {
				n.Input[i] = out
			}
		}
	}
	if info, ok := g.Info(v); ok {
		g.SetInfo(out, info)
	}
	return out
}

// compile (re)builds the update session for the current masks.
func (s *stepper) compile() error {
	if s.dev != nil {
		s.dev.dropBindings()
	}
	if err := s.sessOwn.Close(); err != nil {
		return err
	}
	s.sess, s.maskV = nil, nil
	g, ins, outs := s.updateGraph()
	g.Inputs, g.Outputs = ins, outs
	b, err := g.Marshal()
	if err != nil {
		return err
	}
	s.sess, err = s.rt.NewSession(&s.sessOwn, b, ins, outs, ort.NoSpin)
	if err != nil {
		return fmt.Errorf("model %q: optimiser update: %w", s.m.Graph.Name, err)
	}
	s.maskV = make([]ort.Value, len(s.params))
	clear(s.maskOf)
	return nil
}

// setMasks brings the compiled graph and its mask tensors in line with
// masks (nil entries: no mask), recompiling only when the set of masked
// parameters changed.
func (s *stepper) setMasks(masks [][]float32) error {
	changed := false
	for k := range s.params {
		if (masks[k] != nil) != s.masked[k] {
			changed = true
			s.masked[k] = masks[k] != nil
		}
	}
	if changed {
		if err := s.compile(); err != nil {
			return err
		}
	}
	for k, mk := range masks {
		if mk == nil || (len(s.maskOf[k]) > 0 && &s.maskOf[k][0] == &mk[0]) {
			continue
		}
		v, err := ort.NewTensor(&s.sessOwn, s.dims[k], mk)
		if err != nil {
			return err
		}
		s.maskV[k], s.maskOf[k] = v, mk
		if s.dev != nil {
			if err := s.dev.setMask(s, k, mk); err != nil {
				return err
			}
		}
	}
	return nil
}

// step runs one update with learning rate lr on gradients grads (one
// tensor per parameter) and commits the batch-norm statistics stats (in
// the order of ups: mean, var, ...), honouring masks. On a device-resident
// trainer grads and stats are ignored: the device's gradients (or its
// accumulator, with acc) and pending statistics are bound instead.
func (s *stepper) step(grads, stats []ort.Value, masks [][]float32, lr float64, acc bool) error {
	if err := s.setMasks(masks); err != nil {
		return err
	}
	s.t++
	c := s.cfg
	switch c.Name {
	case "sgd":
		s.scalars[0] = float32(lr)
		if s.kinds == 1 {
			s.scalars[1] = float32(c.Momentum)
			if s.t == 1 {
				s.scalars[1] = 0
			}
		}
	case "adam", "adamw":
		b1, b2, _ := c.adamConsts()
		bc1 := 1 - math.Pow(b1, float64(s.t))
		bc2 := 1 - math.Pow(b2, float64(s.t))
		s.scalars[0] = float32(lr / bc1)
		s.scalars[1] = float32(math.Sqrt(bc2))
		if c.Name == "adamw" {
			s.scalars[2] = float32(1 - lr*c.WeightDecay)
		}
	}
	if s.dev != nil {
		err := s.dev.pushState(s)
		var bd *ort.Binding
		if err == nil {
			bd, err = s.dev.binding(s, acc)
		}
		if err == nil {
			err = bd.Run()
		}
		if err != nil {
			s.t--
			return fmt.Errorf("model %q: optimiser update: %w", s.m.Graph.Name, err)
		}
		s.dev.t.ds.stale = true
		return nil
	}
	np := len(s.params)
	ins := slices.Clone(s.scalarV)
	var outs []ort.Value
	for k := range s.params {
		ins = append(ins, s.paramV[k], grads[k])
		for j := range s.kinds {
			ins = append(ins, s.stateV[j*np+k])
		}
		if s.masked[k] {
			ins = append(ins, s.maskV[k])
		}
		// In place: see the type's comment.
		outs = append(outs, s.paramV[k])
		for j := range s.kinds {
			outs = append(outs, s.stateV[j*np+k])
		}
	}
	ins = append(ins, stats...)
	outs = append(outs, s.bufV...)
	if err := s.sess.Run(&s.sessOwn, ins, outs); err != nil {
		s.t--
		return fmt.Errorf("model %q: optimiser update: %w", s.m.Graph.Name, err)
	}
	return nil
}

// accumulator is Accumulate's running sum as graph nodes: acc ← acc +
// scale·g for every parameter (acc ← scale·g at the first call), in a
// session of its own, written in place as the optimiser's update is.
type accumulator struct {
	own            ort.Owner
	sess           *ort.Session
	vals           []ort.Value
	first          []float32 // 1 at the first Accumulate after a step
	scale          []float64
	firstV, scaleV ort.Value
	dev            *stepDev // device-resident: the sum lives there
}

func newAccumulator(rt *ort.Runtime, m *Model, params [][]float32, dims [][]int64) (*accumulator, error) {
	a := &accumulator{first: []float32{1}, scale: []float64{0}}
	ok := false
	defer func() {
		if !ok {
			a.own.Close()
		}
	}()
	g := graph.New("accumulate")
	first := g.AddInput("first", graph.Float, 1)
	scale := g.AddInput("scale", graph.Double, 1)
	ins := []string{first, scale}
	var outs []string
	isFirst := g.Op1("Greater", []string{first, g.ConstF(graph.Float, []int64{1}, 0.5)})
	for k := range params {
		n := dims[k]
		acc := g.AddInput(fmt.Sprintf("acc%d", k), graph.Float, n...)
		gr := g.AddInput(fmt.Sprintf("g%d", k), graph.Float, n...)
		ins = append(ins, acc, gr)
		// scale·g in float64, rounded once to float32, as the Go
		// accumulation computed it (float32(scale*float64(g))).
		sg := g.Op1("Cast", []string{g.Op1("Mul", []string{scale, g.Op1("Cast", []string{gr}, graph.AInt("to", int64(graph.Double)))})}, graph.AInt("to", int64(graph.Float)))
		// Where, not 0·acc: a cleared accumulator may hold anything.
		out := fmt.Sprintf("acc%d_new", k)
		g.OpNamed("Where", []string{isFirst, sg, g.Op1("Add", []string{acc, sg})}, []string{out})
		outs = append(outs, out)
	}
	g.Inputs, g.Outputs = ins, outs
	b, err := g.Marshal()
	if err != nil {
		return nil, err
	}
	if a.sess, err = rt.NewSession(&a.own, b, ins, outs, ort.NoSpin); err != nil {
		return nil, fmt.Errorf("model %q: gradient accumulation: %w", m.Graph.Name, err)
	}
	if a.firstV, err = ort.NewTensor(&a.own, []int64{1}, a.first); err != nil {
		return nil, err
	}
	if a.scaleV, err = ort.NewTensor(&a.own, []int64{1}, a.scale); err != nil {
		return nil, err
	}
	for k, w := range params {
		v, err := ort.NewTensor(&a.own, dims[k], make([]float32, len(w)))
		if err != nil {
			return nil, err
		}
		a.vals = append(a.vals, v)
	}
	ok = true
	return a, nil
}

// add runs acc ← acc + scale·g (acc ← scale·g when first).
func (a *accumulator) add(grads []ort.Value, scale float64, first bool) error {
	a.scale[0] = scale
	a.first[0] = 0
	if first {
		a.first[0] = 1
	}
	if a.dev != nil {
		if err := a.dev.accumulate(a); err != nil {
			return fmt.Errorf("accumulating gradients: %w", err)
		}
		return nil
	}
	ins := []ort.Value{a.firstV, a.scaleV}
	for k, g := range grads {
		ins = append(ins, a.vals[k], g)
	}
	if err := a.sess.Run(&a.own, ins, a.vals); err != nil {
		return fmt.Errorf("accumulating gradients: %w", err)
	}
	return nil
}

// sum is the current accumulated gradient.
func (a *accumulator) sum() []ort.Value { return a.vals }
