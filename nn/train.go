package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn/graph"
	"unlearnbench/nn/ort"
)

// LossConfig configures the training loss (PyTorch's CrossEntropyLoss).
type LossConfig struct {
	LabelSmoothing float64   `yaml:"label_smoothing"`
	ClassWeights   []float32 `yaml:"class_weights"`
}

// Trainer runs a model's training step: forward in training mode (batch
// statistics, dropout on), mean cross-entropy, and the gradients of every
// parameter, in one ONNX Runtime session compiled once, reading and writing
// the model's memory. Compute fills the gradients; Apply steps the optimiser.
// Methods that need more than a plain step read Grad between the two.
type Trainer struct {
	m       *Model
	r       *runner
	ups     []graph.RunningUpdate
	gradOf  map[string]string
	params  [][]float32
	grads   [][]float32
	opt     *optimizer
	cur     *batchIO
	lossOut string
	// Step counts Apply calls.
	Step int
}

// NewTrainer compiles the training graph of m.
func NewTrainer(rt *ort.Runtime, m *Model, opt OptimizerConfig, loss LossConfig, seed uint64) (*Trainer, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if loss.LabelSmoothing < 0 || loss.LabelSmoothing >= 1 {
		return nil, usererr.Errorf("label smoothing %v: want [0, 1)", loss.LabelSmoothing)
	}
	if loss.ClassWeights != nil && len(loss.ClassWeights) != m.Classes {
		return nil, usererr.Errorf("%d class weights for %d classes", len(loss.ClassWeights), m.Classes)
	}
	g := m.inferenceGraph()
	ups, err := g.LowerBatchNormTraining()
	if err != nil {
		return nil, err
	}
	g.EnableDropoutTraining(int64(seed & 0x7fffffff))
	labels := g.AddInput("labels", graph.Int64, -1)
	ce := graph.CrossEntropy{LabelSmoothing: loss.LabelSmoothing}
	if loss.ClassWeights != nil {
		ce.Weights = g.AddInit("class_weights", &graph.Tensor{DType: graph.Float, Dims: []int64{int64(m.Classes)}, F32: slices.Clone(loss.ClassWeights)})
	}
	_, mean := g.CrossEntropyLoss(m.Output, labels, ce)
	grads, err := g.Gradients(mean, m.Params, graph.GradOptions{})
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", m.Graph.Name, err)
	}
	lossOut := vec1(g, mean)
	outs := []string{lossOut, m.Output}
	for _, p := range m.Params {
		outs = append(outs, grads[p])
	}
	for _, u := range ups {
		outs = append(outs, u.NewMean, u.NewVar)
	}
	r, err := newRunner(rt, m, g, []string{m.Input, labels}, m.fixedNames(), outs)
	if err != nil {
		return nil, err
	}
	t := &Trainer{m: m, r: r, ups: ups, gradOf: grads, lossOut: lossOut}
	for _, p := range m.Params {
		t.params = append(t.params, m.Param(p))
	}
	t.opt = newOptimizer(opt, t.params)
	return t, nil
}

// Close releases the session and its tensors.
func (t *Trainer) Close() error { return t.r.close() }

// StepResult is what one training step computed.
type StepResult struct {
	Loss    float64 // mean loss of the batch
	Correct int     // examples classified correctly (training mode)
	Logits  []float32
}

// Compute runs forward and backward on examples idx of d. The gradients
// (Grad) and the batch's running statistics stay pending until Apply.
func (t *Trainer) Compute(d *Data, idx []int) (StepResult, error) {
	b, err := t.r.io(len(idx))
	if err != nil {
		return StepResult{}, err
	}
	d.gather(idx, b.inF[t.m.Input], b.inI["labels"])
	return t.compute(b)
}

// ComputeBatch is Compute on a batch given as NCHW floats x and labels y
// (len(y) examples), such as datasets.Batches yields.
func (t *Trainer) ComputeBatch(x []float32, y []int64) (StepResult, error) {
	b, err := t.r.io(len(y))
	if err != nil {
		return StepResult{}, err
	}
	if len(x) != len(b.inF[t.m.Input]) {
		return StepResult{}, usererr.Errorf("batch of %d examples has %d values, model %q wants %d (shape %v)", len(y), len(x), t.m.Graph.Name, len(b.inF[t.m.Input]), t.m.Shape)
	}
	for i, l := range y {
		if l < 0 || l >= int64(t.m.Classes) {
			return StepResult{}, usererr.Errorf("label %d of batch example %d is outside the model's %d classes", l, i, t.m.Classes)
		}
	}
	copy(b.inF[t.m.Input], x)
	copy(b.inI["labels"], y)
	return t.compute(b)
}

func (t *Trainer) compute(b *batchIO) (StepResult, error) {
	if err := t.r.run(b); err != nil {
		return StepResult{}, err
	}
	t.cur = b
	t.grads = t.grads[:0]
	for _, p := range t.m.Params {
		t.grads = append(t.grads, b.out[t.gradOf[p]])
	}
	lg := b.out[t.m.Output]
	res := StepResult{Loss: float64(b.out[t.lossOut][0]), Logits: lg}
	c := t.m.Classes
	for j, y := range b.inI["labels"] {
		if int64(slices.Index(lg[j*c:(j+1)*c], slices.Max(lg[j*c:(j+1)*c]))) == y {
			res.Correct++
		}
	}
	return res, nil
}

// Grad returns the pending gradient of parameter name (valid until the next
// Compute; may be modified before Apply).
func (t *Trainer) Grad(name string) []float32 {
	if t.cur == nil {
		return nil
	}
	return t.cur.out[t.gradOf[name]]
}

// GradsFinite reports whether every pending gradient is finite.
func (t *Trainer) GradsFinite() bool {
	for _, g := range t.grads {
		for _, v := range g {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return false
			}
		}
	}
	return true
}

// Apply commits the pending batch statistics to the running buffers and
// steps the optimiser with learning rate lr.
func (t *Trainer) Apply(lr float64) {
	if t.cur == nil {
		return
	}
	for _, u := range t.ups {
		copy(t.m.Param(u.Mean), t.cur.out[u.NewMean])
		copy(t.m.Param(u.Var), t.cur.out[u.NewVar])
	}
	t.opt.step(t.params, t.grads, lr)
	t.Step++
}

// TrainConfig configures Train.
type TrainConfig struct {
	Epochs    int             `yaml:"epochs"`
	BatchSize int             `yaml:"batch_size"`
	Seed      uint64          `yaml:"seed"`
	Optimizer OptimizerConfig `yaml:"optimizer"`
	Schedule  Schedule        `yaml:"schedule"`
	Loss      LossConfig      `yaml:"loss"`
}

// EpochResult summarises one epoch.
type EpochResult struct {
	Epoch     int // from 1
	Steps     int
	LR        float64 // at the epoch's last step
	TrainLoss float64 // mean over the epoch's batches, training mode
	TrainAcc  float64
	Eval      *Metrics // on the evaluation data, when given
}

// NonFiniteError reports a loss or gradient that became NaN or infinite; the
// model keeps the weights from before that step.
type NonFiniteError struct {
	Epoch, Step int
	Loss        float64
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("training diverged at epoch %d, step %d: loss %v (or a gradient) is not finite; the model keeps the weights from before that step (lower the learning rate?)", e.Epoch, e.Step, e.Loss)
}

// EpochBatches yields the batches of one epoch (epoch from 0) as NCHW floats
// and labels; the slices may be reused after yield returns. Steps is the
// number of batches per epoch (for the schedule) and Examples their total.
type EpochBatches struct {
	Steps, Examples int
	Epoch           func(epoch int, yield func(x []float32, y []int64) bool)
}

// Train trains m on d for cfg.Epochs epochs with mini-batches drawn in an
// order fixed by cfg.Seed (the last partial batch of an epoch is used too),
// evaluating on eval (if not nil) after each epoch and reporting through
// progress (if not nil).
func Train(rt *ort.Runtime, m *Model, d, eval *Data, cfg TrainConfig, progress func(EpochResult)) ([]EpochResult, error) {
	if err := d.Check(m); err != nil {
		return nil, err
	}
	if cfg.BatchSize < 1 {
		return nil, usererr.Errorf("batch size %d: want >= 1", cfg.BatchSize)
	}
	if d.Len() == 0 {
		return nil, usererr.Errorf("no training examples")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x747261696e))
	n := d.Len()
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	x := make([]float32, cfg.BatchSize*d.Size())
	y := make([]int64, cfg.BatchSize)
	src := EpochBatches{Steps: (n + cfg.BatchSize - 1) / cfg.BatchSize, Examples: n,
		Epoch: func(_ int, yield func(x []float32, y []int64) bool) {
			rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
			for s := 0; s < n; s += cfg.BatchSize {
				idx := order[s:min(n, s+cfg.BatchSize)]
				d.gather(idx, x, y)
				if !yield(x[:len(idx)*d.Size()], y[:len(idx)]) {
					return
				}
			}
		}}
	return TrainWith(rt, m, src, eval, cfg, progress)
}

// TrainWith is Train over batches from src (augmented ones, say).
func TrainWith(rt *ort.Runtime, m *Model, src EpochBatches, eval *Data, cfg TrainConfig, progress func(EpochResult)) ([]EpochResult, error) {
	if eval != nil {
		if err := eval.Check(m); err != nil {
			return nil, err
		}
	}
	if cfg.Epochs < 1 {
		return nil, usererr.Errorf("epochs %d: want >= 1", cfg.Epochs)
	}
	if err := cfg.Schedule.Validate(); err != nil {
		return nil, err
	}
	tr, err := NewTrainer(rt, m, cfg.Optimizer, cfg.Loss, cfg.Seed)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	var ev *Evaluator
	if eval != nil {
		if ev, err = NewEvaluator(rt, m, max(cfg.BatchSize, 1)); err != nil {
			return nil, err
		}
		defer ev.Close()
	}
	total := src.Steps * cfg.Epochs
	var hist []EpochResult
	for ep := 0; ep < cfg.Epochs; ep++ {
		res := EpochResult{Epoch: ep + 1}
		var lossSum float64
		correct, seen := 0, 0
		var stepErr error
		src.Epoch(ep, func(x []float32, y []int64) bool {
			sr, err := tr.ComputeBatch(x, y)
			if err != nil {
				stepErr = err
				return false
			}
			if math.IsNaN(sr.Loss) || math.IsInf(sr.Loss, 0) || !tr.GradsFinite() {
				stepErr = usererr.Wrap(&NonFiniteError{Epoch: ep + 1, Step: res.Steps + 1, Loss: sr.Loss})
				return false
			}
			lr := cfg.Schedule.LR(cfg.Optimizer.LR, tr.Step, ep, total)
			tr.Apply(lr)
			res.LR = lr
			lossSum += sr.Loss * float64(len(y))
			correct += sr.Correct
			seen += len(y)
			res.Steps++
			return true
		})
		if stepErr != nil {
			return hist, stepErr
		}
		if seen == 0 {
			return hist, usererr.Errorf("epoch %d: no training batches", ep+1)
		}
		res.TrainLoss = lossSum / float64(seen)
		res.TrainAcc = float64(correct) / float64(seen)
		if ev != nil {
			mt, err := ev.Evaluate(eval)
			if err != nil {
				return hist, err
			}
			res.Eval = &mt
		}
		hist = append(hist, res)
		if progress != nil {
			progress(res)
		}
	}
	return hist, nil
}
