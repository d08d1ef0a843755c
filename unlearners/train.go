package unlearners

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
)

// Random streams: every random choice of a run comes from (Inputs.Seed,
// stream), one stream per purpose, so that adding a choice to one method
// does not move another's.
const (
	streamOrder  = iota + 1 // batch order of the first data set
	streamOrder2            // batch order of the second one (neggrad+, scrub)
	streamLabels            // random labels
	streamNoise             // Fisher noise
	streamInit              // re-initialisation
	streamSelect            // random choices of layers
)

func rngFor(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x756e6c6561726e00^stream))
}

// order is a permutation of 0..n-1 fixed by (seed, stream, epoch).
func order(seed, stream uint64, epoch, n int) []int {
	rng := rand.New(rand.NewPCG(seed^uint64(epoch)*0x9e3779b97f4a7c15, 0x6f72646572^stream))
	o := make([]int, n)
	for i := range o {
		o[i] = i
	}
	rng.Shuffle(n, func(i, j int) { o[i], o[j] = o[j], o[i] })
	return o
}

// batchesOf cuts idx into batches of at most bs (the last one may be
// shorter, as in PyTorch's DataLoader without drop_last).
func batchesOf(idx []int, bs int) [][]int {
	var out [][]int
	for s := 0; s < len(idx); s += bs {
		out = append(out, idx[s:min(len(idx), s+bs)])
	}
	return out
}

func steps(n, bs int) int { return (n + bs - 1) / bs }

// Parameter checks.

func positive(v any) error {
	if f, ok := v.(float64); ok && !(f > 0) {
		return fmt.Errorf("want > 0")
	}
	if i, ok := v.(int); ok && i <= 0 {
		return fmt.Errorf("want > 0")
	}
	return nil
}

func nonNegative(v any) error {
	if f, ok := v.(float64); ok && f < 0 {
		return fmt.Errorf("want >= 0")
	}
	if i, ok := v.(int); ok && i < 0 {
		return fmt.Errorf("want >= 0")
	}
	return nil
}

func unitClosed(v any) error {
	if f := v.(float64); f < 0 || f > 1 {
		return fmt.Errorf("want [0, 1]")
	}
	return nil
}

func unitOpenLow(v any) error {
	if f := v.(float64); !(f > 0) || f > 1 {
		return fmt.Errorf("want (0, 1]")
	}
	return nil
}

func momentumRange(v any) error {
	if f := v.(float64); f < 0 || f >= 1 {
		return fmt.Errorf("want [0, 1)")
	}
	return nil
}

func oneOf(allowed ...string) func(any) error {
	return func(v any) error {
		if !slices.Contains(allowed, v.(string)) {
			return fmt.Errorf("want one of %v", allowed)
		}
		return nil
	}
}

// sgdParams are the optimiser parameters every training method has: SGD
// with momentum, as the baselines' public code runs it.
func sgdParams(epochs int, lr float64, src string) []Param {
	return []Param{
		{Key: "epochs", Default: epochs, Meaning: "passes over the method's data", Source: src, Check: positive},
		{Key: "lr", Default: lr, Meaning: "SGD learning rate", Source: src, Check: positive},
		{Key: "momentum", Default: 0.9, Meaning: "SGD momentum", Source: "the baselines' public code", Check: momentumRange},
		{Key: "weight_decay", Default: 5e-4, Meaning: "L2 weight decay added to the gradient (PyTorch's SGD)", Source: "the baselines' public code", Check: nonNegative},
		{Key: "batch_size", Default: 0, Meaning: "examples per step; 0: the recipe's batch size (128 without one)", Source: "ours", Check: nonNegative},
		{Key: "schedule", Default: "constant", Meaning: "learning-rate schedule over the run: constant or cosine", Source: "ours", Check: oneOf("constant", "cosine")},
	}
}

// batchSize is the method's batch size: its parameter, else the recipe's,
// else 128.
func batchSize(p Params, in *Inputs) int {
	if bs := p.Int("batch_size"); bs > 0 {
		return bs
	}
	if in.Recipe.BatchSize > 0 {
		return in.Recipe.BatchSize
	}
	return 128
}

// run is one training run of a method on a copy of the original.
type run struct {
	ctx         context.Context
	in          *Inputs
	m           *nn.Model
	tr          *nn.Trainer
	lr          float64
	sched       nn.Schedule
	done, total int
	epoch       int
}

// startRun copies the original and compiles its training step with the
// method's optimiser parameters p; total is the run's number of steps.
func startRun(ctx context.Context, in *Inputs, p Params, loss nn.LossConfig, total int) (*run, error) {
	m := in.Original.Clone()
	return startRunOn(ctx, in, m, p, loss, total)
}

func startRunOn(ctx context.Context, in *Inputs, m *nn.Model, p Params, loss nn.LossConfig, total int) (*run, error) {
	opt := nn.OptimizerConfig{Name: "sgd", LR: p.Float("lr"), Momentum: p.Float("momentum"), WeightDecay: p.Float("weight_decay")}
	tr, err := nn.NewTrainer(in.Runtime, m, opt, loss, in.Seed)
	if err != nil {
		return nil, err
	}
	return &run{ctx: ctx, in: in, m: m, tr: tr, lr: opt.LR, sched: nn.Schedule{Name: p.String("schedule")}, total: total}, nil
}

func (r *run) close() { r.tr.Close() }

// ctxErr is ctx's error; a nil ctx is never done.
func ctxErr(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	return ctx.Err()
}

// alive returns ctx's error once it is done.
func (r *run) alive() error {
	if r.ctx != nil {
		if err := r.ctx.Err(); err != nil {
			return fmt.Errorf("stopped after step %d of %d: %w", r.done, r.total, err)
		}
	}
	return nil
}

// compute runs forward and backward on examples idx of d.
func (r *run) compute(d *nn.Data, idx []int) (nn.StepResult, error) {
	if err := r.alive(); err != nil {
		return nn.StepResult{}, err
	}
	return r.tr.Compute(d, idx)
}

// finite refuses a non-finite loss or pending gradient: the model then
// keeps the weights from before the step.
func (r *run) finite(loss float64) error {
	if math.IsNaN(loss) || math.IsInf(loss, 0) || !r.tr.GradsFinite() {
		return usererr.Wrap(&nn.NonFiniteError{Epoch: r.epoch + 1, Step: r.done + 1, Loss: loss})
	}
	return nil
}

// lrNow is the learning rate of the next step.
func (r *run) lrNow() float64 { return r.sched.LR(r.lr, r.tr.Step, r.epoch, r.total) }

// apply steps the optimiser with the pending (possibly edited) gradients,
// after checking that they and the loss are finite.
func (r *run) apply(loss float64) error {
	if err := r.finite(loss); err != nil {
		return err
	}
	if err := r.tr.Apply(r.lrNow()); err != nil {
		return err
	}
	r.stepped()
	return nil
}

// applyAccumulated steps the optimiser with the accumulated gradients.
func (r *run) applyAccumulated() error {
	if err := r.tr.ApplyAccumulated(r.lrNow()); err != nil {
		return err
	}
	r.stepped()
	return nil
}

func (r *run) stepped() {
	r.done++
	if r.in.Progress != nil {
		r.in.Progress(r.done, r.total)
	}
}

// editGrads adds f(param, weights, gradient) to every pending gradient; f
// reads the weights and writes only the gradient (ParamRead: a weight
// read every step must not make a device-resident Trainer upload them all
// again).
func (r *run) editGrads(f func(name string, w, g []float32)) {
	for _, name := range r.m.Params {
		f(name, r.m.ParamRead(name), r.tr.Grad(name))
	}
}

// gatherTo copies examples idx of d into x and y (labels from labels when
// not nil).
func gatherTo(d *nn.Data, labels []int64, idx []int, x []float32, y []int64) {
	s := d.Size()
	for j, i := range idx {
		copy(x[j*s:(j+1)*s], d.X[i*s:(i+1)*s])
		if labels != nil {
			y[j] = labels[i]
		} else {
			y[j] = d.Y[i]
		}
	}
}
