package nn

import (
	"fmt"
	"math"

	"unlearnbench/nn/graph"
	"unlearnbench/nn/ort"
)

// Device-resident training (ort.Runtime.DeviceResident: always on CUDA, on
// request on the CPU). The model's parameters and buffers, the optimiser
// state, the gradients, the accumulator and the pending batch-norm
// statistics live in an ort.Store on the session's device, bound to the
// training, update and accumulation sessions by IoBindings, so that a step
// moves the batch in and the loss, the count of correct predictions and a
// finiteness flag out, nothing else. The weights come back to the model's
// memory only when something reads them (Model.hostRead: Param, Clone,
// Save, Digest, evaluators and the Fisher computer through their runners,
// checkpoints) and go up again before the next step when something may have
// written them (Model.hostWrite: Param). Closing the Trainer brings them
// back for good. On the CPU the same code runs with ONNX Runtime's "Cpu"
// memory, which is how it is tested (TestDeviceResidentTrainingEqualsHost);
// the CUDA variant differs only in the memory-info name and has never run
// on a GPU.

// devState holds the model's weights on the device for a Trainer.
type devState struct {
	st    *ort.Store
	m     *Model
	names []string // Params then Buffers
	vals  []*ort.DeviceTensor
	idx   map[string]int
	// stale: the device holds weights the model's memory lacks; dirty:
	// the model's memory may hold writes the device lacks.
	stale, dirty bool
	// err is the first failed transfer of a hook that cannot return one
	// (Param); the Trainer's next call reports it.
	err error
}

func newDevState(st *ort.Store, m *Model) (*devState, error) {
	d := &devState{st: st, m: m, names: m.fixedNames(), idx: map[string]int{}}
	for i, n := range d.names {
		t := m.Graph.Inits[n]
		v, err := st.Alloc(t.Dims)
		if err != nil {
			return nil, fmt.Errorf("model %q: %s: %w", m.Graph.Name, n, err)
		}
		if err := st.Upload(v, t.F32); err != nil {
			return nil, fmt.Errorf("model %q: %s: %w", m.Graph.Name, n, err)
		}
		d.vals = append(d.vals, v)
		d.idx[n] = i
	}
	return d, nil
}

// pull downloads the weights when the device holds newer ones.
func (d *devState) pull() {
	if !d.stale || d.err != nil {
		return
	}
	for i, n := range d.names {
		if err := d.st.Download(d.m.Graph.Inits[n].F32, d.vals[i]); err != nil {
			d.err = fmt.Errorf("model %q: bringing %s to the host: %w", d.m.Graph.Name, n, err)
			return
		}
	}
	d.stale = false
}

// push uploads weights the host may have written, before a device step.
func (d *devState) push() error {
	if d.err != nil {
		return d.err
	}
	if !d.dirty {
		return nil
	}
	for i, n := range d.names {
		if err := d.st.Upload(d.vals[i], d.m.Graph.Inits[n].F32); err != nil {
			return fmt.Errorf("model %q: uploading %s: %w", d.m.Graph.Name, n, err)
		}
	}
	d.dirty = false
	return nil
}

// devTrainer is the device side of a Trainer.
type devTrainer struct {
	ds     *devState
	grads  []*ort.DeviceTensor // per parameter
	stats  []*ort.DeviceTensor // pending running statistics, as ups: mean, var
	logits map[int]*ort.DeviceTensor
	binds  map[int]*ort.Binding
	// onHost[k]: Grad brought gradient k into the batch's host output
	// (where the caller may edit it); it goes up again before a step.
	onHost []bool
	curN   int
}

// finiteFlag adds to g an output that is NaN when any gradient holds a NaN
// or an infinity (0·x is NaN for those and 0 otherwise), so that
// GradsFinite needs one number from the device, not the gradients.
func finiteFlag(g *graph.Graph, grads []string) string {
	var terms []string
	zero := g.ScalarF(graph.Float, 0)
	for _, gr := range grads {
		terms = append(terms, g.Op1("ReduceSum", []string{g.Op1("Mul", []string{gr, zero})}, graph.AInt("keepdims", 0)))
	}
	return vec1(g, g.Op1("Sum", terms))
}

// startDevice moves the trainer's state onto the device.
func (t *Trainer) startDevice() error {
	if t.m.dev != nil {
		return fmt.Errorf("model %q is already held by another device-resident Trainer", t.m.Graph.Name)
	}
	cg := graph.New("copy")
	cg.AddInput("x", graph.Float, -1)
	cg.OpNamed("Identity", []string{"x"}, []string{"y"})
	cg.AddOutput("y")
	cb, err := cg.Marshal()
	if err != nil {
		return err
	}
	st, err := t.r.rt.NewStore(t.r.sess, cb)
	if err != nil {
		return err
	}
	ds, err := newDevState(st, t.m)
	if err != nil {
		st.Close()
		return err
	}
	d := &devTrainer{ds: ds, logits: map[int]*ort.DeviceTensor{}, binds: map[int]*ort.Binding{}, onHost: make([]bool, len(t.m.Params))}
	for _, p := range t.m.Params {
		v, err := st.Alloc(t.m.Graph.Inits[p].Dims)
		if err != nil {
			st.Close()
			return fmt.Errorf("model %q: gradient of %s: %w", t.m.Graph.Name, p, err)
		}
		d.grads = append(d.grads, v)
	}
	for _, u := range t.ups {
		for _, name := range []string{u.NewMean, u.NewVar} {
			v, err := st.Alloc(t.r.outShape(name, 0))
			if err != nil {
				st.Close()
				return err
			}
			d.stats = append(d.stats, v)
		}
	}
	t.dev = d
	t.m.dev = ds
	return nil
}

// devBinding binds the training session for batch b of n examples: the
// batch's host tensors in, the device weights in, gradients, statistics
// and logits out on the device, the loss, count and flag out to the host.
func (t *Trainer) devBinding(b *batchIO, n int) (*ort.Binding, error) {
	d := t.dev
	if bd, ok := d.binds[n]; ok {
		return bd, nil
	}
	st := d.ds.st
	bd, err := st.NewBinding(t.r.sess)
	if err != nil {
		return nil, err
	}
	for i, name := range t.r.ioNames {
		if err := bd.BindHostInput(name, b.ins[i]); err != nil {
			return nil, err
		}
	}
	for i, name := range d.ds.names {
		if err := bd.BindInput(name, d.ds.vals[i]); err != nil {
			return nil, err
		}
	}
	gradK := map[string]int{}
	for k, p := range t.m.Params {
		gradK[t.gradOf[p]] = k
	}
	statK := map[string]int{}
	for i, u := range t.ups {
		statK[u.NewMean], statK[u.NewVar] = 2*i, 2*i+1
	}
	for _, name := range t.r.outs {
		if k, ok := gradK[name]; ok {
			err = bd.BindOutput(name, d.grads[k])
		} else if i, ok := statK[name]; ok {
			err = bd.BindOutput(name, d.stats[i])
		} else if name == t.m.Output {
			var lg *ort.DeviceTensor
			if lg, err = st.Alloc(t.r.outShape(name, n)); err == nil {
				d.logits[n] = lg
				err = bd.BindOutput(name, lg)
			}
		} else {
			err = bd.BindHostOutput(name, b.outV[name])
		}
		if err != nil {
			return nil, err
		}
	}
	d.binds[n] = bd
	return bd, nil
}

// devCompute runs the training step on the device.
func (t *Trainer) devCompute(b *batchIO, n int) error {
	if err := t.dev.ds.push(); err != nil {
		return err
	}
	bd, err := t.devBinding(b, n)
	if err != nil {
		return err
	}
	if err := bd.Run(); err != nil {
		return fmt.Errorf("model %q: training step: %w", t.m.Graph.Name, err)
	}
	clear(t.dev.onHost)
	t.dev.curN = n
	return nil
}

// devGrad brings gradient k to the host (once per Compute).
func (t *Trainer) devGrad(k int) []float32 {
	host := t.cur.out[t.gradOf[t.m.Params[k]]]
	if !t.dev.onHost[k] {
		if err := t.dev.ds.st.Download(host, t.dev.grads[k]); err != nil && t.dev.ds.err == nil {
			t.dev.ds.err = err
		}
		t.dev.onHost[k] = true
	}
	return host
}

// devGradsFinite is GradsFinite from the graph's flag and the host copies
// that callers may have edited.
func (t *Trainer) devGradsFinite() bool {
	if f := t.cur.out[t.finiteOut][0]; math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return false
	}
	for k, on := range t.dev.onHost {
		if !on {
			continue
		}
		for _, v := range t.cur.out[t.gradOf[t.m.Params[k]]] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return false
			}
		}
	}
	return true
}

// devPushGrads uploads the gradients Grad brought to the host (and that
// the caller may have edited) before an update reads them.
func (t *Trainer) devPushGrads() error {
	if err := t.dev.ds.push(); err != nil {
		return err
	}
	for k, on := range t.dev.onHost {
		if on {
			if err := t.dev.ds.st.Upload(t.dev.grads[k], t.cur.out[t.gradOf[t.m.Params[k]]]); err != nil {
				return err
			}
		}
	}
	return nil
}

// devClose brings the weights home and releases the device memory (the
// store first: its bindings and tensors belong to the sessions' allocator).
func (t *Trainer) devClose() error {
	ds := t.dev.ds
	ds.pull()
	t.m.dev = nil
	t.opt.dev = nil
	err := ds.err
	if e := ds.st.Close(); err == nil {
		err = e
	}
	return err
}

// stepDev is the device side of the update and accumulation sessions.
type stepDev struct {
	t       *devTrainer
	state   []*ort.DeviceTensor // [kind*len(params)+k]
	masks   []*ort.DeviceTensor // per parameter; nil: none
	acc     []*ort.DeviceTensor
	bind    [2]*ort.Binding // update reading the gradients [0] or the accumulator [1]
	accBind *ort.Binding
	// stateOnHost: the stepper's host state arrays were filled from the
	// device (moments) and may have been written (restore).
	stateOnHost bool
}

func newStepDev(s *stepper, t *devTrainer) (*stepDev, error) {
	sd := &stepDev{t: t, masks: make([]*ort.DeviceTensor, len(s.params))}
	st := t.ds.st
	for j := range s.kinds {
		for k := range s.params {
			v, err := st.Alloc(s.dims[k])
			if err != nil {
				return nil, fmt.Errorf("model %q: optimiser state: %w", s.m.Graph.Name, err)
			}
			if err := st.Upload(v, s.state[j][k]); err != nil {
				return nil, err
			}
			sd.state = append(sd.state, v)
		}
	}
	return sd, nil
}

// dropBindings releases the update's bindings (before a recompile).
func (sd *stepDev) dropBindings() {
	for i, b := range sd.bind {
		if b != nil {
			sd.t.ds.st.DropBinding(b)
			sd.bind[i] = nil
		}
	}
}

// setMask uploads parameter k's mask.
func (sd *stepDev) setMask(s *stepper, k int, mk []float32) error {
	v, err := sd.t.ds.st.Alloc(s.dims[k])
	if err != nil {
		return err
	}
	if err := sd.t.ds.st.Upload(v, mk); err != nil {
		return err
	}
	sd.masks[k] = v
	sd.dropBindings()
	return nil
}

// binding binds the update session to the device tensors, the gradients
// read from the training step's (acc false) or the accumulator's.
func (sd *stepDev) binding(s *stepper, acc bool) (*ort.Binding, error) {
	i := 0
	if acc {
		i = 1
	}
	if sd.bind[i] != nil {
		return sd.bind[i], nil
	}
	st, ds := sd.t.ds.st, sd.t.ds
	bd, err := st.NewBinding(s.sess)
	if err != nil {
		return nil, err
	}
	try := func(e error) {
		if err == nil {
			err = e
		}
	}
	for i, name := range s.scalarNames {
		try(bd.BindHostInput(name, s.scalarV[i]))
	}
	grads := sd.t.grads
	if acc {
		grads = sd.acc
	}
	np := len(s.params)
	for k := range s.params {
		try(bd.BindInput(fmt.Sprintf("p%d", k), ds.vals[k]))
		try(bd.BindOutput(fmt.Sprintf("p%d_new", k), ds.vals[k]))
		try(bd.BindInput(fmt.Sprintf("g%d", k), grads[k]))
		for j := range s.kinds {
			try(bd.BindInput(fmt.Sprintf("state%d_%d", j, k), sd.state[j*np+k]))
			try(bd.BindOutput(fmt.Sprintf("state%d_%d_new", j, k), sd.state[j*np+k]))
		}
		if s.masked[k] {
			try(bd.BindInput(fmt.Sprintf("mask%d", k), sd.masks[k]))
		}
	}
	for i, u := range s.ups {
		for j, name := range []string{u.Mean, u.Var} {
			try(bd.BindInput(fmt.Sprintf("stat%d", 2*i+j), sd.t.stats[2*i+j]))
			try(bd.BindOutput(fmt.Sprintf("stat%d_commit", 2*i+j), ds.vals[ds.idx[name]]))
		}
	}
	if err != nil {
		st.DropBinding(bd)
		return nil, err
	}
	sd.bind[i] = bd
	return bd, nil
}

// pushState uploads host state written since moments.
func (sd *stepDev) pushState(s *stepper) error {
	if !sd.stateOnHost {
		return nil
	}
	np := len(s.params)
	for j := range s.kinds {
		for k := range s.params {
			if err := sd.t.ds.st.Upload(sd.state[j*np+k], s.state[j][k]); err != nil {
				return err
			}
		}
	}
	sd.stateOnHost = false
	return nil
}

// pullState fills the stepper's host state from the device.
func (sd *stepDev) pullState(s *stepper) {
	np := len(s.params)
	for j := range s.kinds {
		for k := range s.params {
			if err := sd.t.ds.st.Download(s.state[j][k], sd.state[j*np+k]); err != nil && sd.t.ds.err == nil {
				sd.t.ds.err = err
			}
		}
	}
	sd.stateOnHost = true
}

// accumulate runs acc ← acc + scale·g on the device.
func (sd *stepDev) accumulate(a *accumulator) error {
	st := sd.t.ds.st
	if sd.accBind == nil {
		if sd.acc == nil {
			for _, g := range sd.t.grads {
				v, err := st.Alloc(g.Shape)
				if err != nil {
					return err
				}
				sd.acc = append(sd.acc, v)
			}
		}
		bd, err := st.NewBinding(a.sess)
		if err != nil {
			return err
		}
		try := func(e error) {
			if err == nil {
				err = e
			}
		}
		try(bd.BindHostInput("first", a.firstV))
		try(bd.BindHostInput("scale", a.scaleV))
		for k := range sd.acc {
			try(bd.BindInput(fmt.Sprintf("acc%d", k), sd.acc[k]))
			try(bd.BindOutput(fmt.Sprintf("acc%d_new", k), sd.acc[k]))
			try(bd.BindInput(fmt.Sprintf("g%d", k), sd.t.grads[k]))
		}
		if err != nil {
			st.DropBinding(bd)
			return err
		}
		sd.accBind = bd
	}
	return sd.accBind.Run()
}
