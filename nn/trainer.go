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

// LossConfig configures the training loss: PyTorch's CrossEntropyLoss, with
// per-example factors from Batch.Weights, plus, with Distill, a
// distillation term toward a teacher's logits (Batch.Teacher): the loss of
// a batch of N is (1/N) Σ_i (w_i·CE_i + k_i·T²·KL(softmax(t_i/T) ‖
// softmax(z_i/T))), w and k the batch's Weights and KLWeights (1 when nil).
// With class weights the cross-entropy part is divided by Σ_i c_{y_i}
// instead of N, as PyTorch's weighted mean is.
type LossConfig struct {
	LabelSmoothing float64   `yaml:"label_smoothing"`
	ClassWeights   []float32 `yaml:"class_weights"`
	Distill        bool      `yaml:"distill"`
	Temperature    float64   `yaml:"temperature"` // of the distillation term; 0 means 1
	// InverseFrequency asks for ClassWeights of 1/count of each class in
	// the original's training set (InverseFrequencyWeights), as the
	// NeurIPS 2023 competition's surf.py computes them; the owner of the
	// data (run) fills ClassWeights from it before training, for the
	// original and for every retrained model alike (surf.py computes them
	// once, from the whole training set, retain and forget). Off, it is
	// left out of the JSON, so recipes without it keep their cache keys.
	InverseFrequency bool `yaml:"inverse_frequency,omitempty" json:"InverseFrequency,omitempty"`
}

// InverseFrequencyWeights are the class weights of the NeurIPS 2023
// competition's surf.py: 1/count of each class among labels (the
// training set), for classes 0..classes-1.
//
// surf.py lists its weights in the order of each age group's first-seen
// age (its _get_age_group_counts sorts the groups by the age of the first
// example of each group it meets), not by group index, and lists only the
// groups the training set holds. Reproduced: its age groups are
// consecutive age intervals (numpy.digitize over increasing bin edges),
// so any age of group g is below any age of group g+1 and that order is
// the order of the labels, which is what this list follows; a class
// absent from the training set drops out of surf.py's list, shifting the
// later weights down one class, and the shorter list is then refused by
// PyTorch's CrossEntropyLoss for a 10-class model. Here too such a class
// is an error, naming it, rather than a silently shifted weight.
func InverseFrequencyWeights(labels []int64, classes int) ([]float32, error) {
	counts := make([]int, classes)
	for i, y := range labels {
		if y < 0 || y >= int64(classes) {
			return nil, usererr.Errorf("inverse-frequency class weights: label %d of training example %d is outside the %d classes", y, i, classes)
		}
		counts[y]++
	}
	w := make([]float32, classes)
	for c, n := range counts {
		if n == 0 {
			return nil, usererr.Errorf("inverse-frequency class weights: class %d has no training example, so the competition's weight list (one per class the training set holds) would be shorter than the %d classes", c, classes)
		}
		// torch.FloatTensor of the Python float 1.0/n: float32 of the
		// float64 quotient.
		w[c] = float32(1.0 / float64(n))
	}
	return w, nil
}

// Batch is one training batch for ComputeBatchOf.
type Batch struct {
	X []float32 // NCHW, len(Y) examples
	Y []int64
	// Weights are per-example factors on the cross-entropy (negative ones
	// ascend it; 0 drops it); nil means 1 for every example.
	Weights []float32
	// Teacher holds a teacher's logits [N*C], required when
	// LossConfig.Distill and refused otherwise.
	Teacher []float32
	// KLWeights are per-example factors on the distillation term (negative
	// ones maximise the divergence, as SCRUB's max steps do); nil means 1.
	KLWeights []float32
}

// Trainer runs a model's training step: forward in training mode (batch
// statistics, dropout on with masks drawn from the seed and step), the loss
// LossConfig describes (mean cross-entropy by default), and the gradients of
// every parameter, in one ONNX Runtime session compiled once, reading the
// model's memory. Compute (or ComputeBatchOf, with per-example factors and
// a teacher) fills the gradients, which stay in that session's output
// tensors (Grad reads and edits them in place), and returns the loss and
// the count of correct predictions, both computed in the graph (the logits
// stay behind unless Logits asks). Apply steps the optimiser, or Accumulate
// and ApplyAccumulated combine several batches into one step; SetUpdateMask
// scales or freezes chosen elements. The optimiser update, the
// accumulation and the commit of the batch-norm running statistics run as
// graph nodes in small sessions of their own (stepper, accumulator), on the
// session's device and its intra-op threads; after every Apply the model's
// memory holds the new weights, so Evaluators, the Fisher computer,
// checkpoints and Save see them. On a device-resident runtime (CUDA, or
// ort.Options.DeviceResident on the CPU) the weights, optimiser state and
// gradients stay in ONNX Runtime memory on the device instead, and come
// back to the model's memory only when something reads the model
// (devtrain.go); Close brings them back for good. Methods that need more
// than these read (and may change) Grad between Compute and Apply.
type Trainer struct {
	m       *Model
	r       *runner
	ups     []graph.RunningUpdate
	gradOf  map[string]string
	params  [][]float32
	grads   [][]float32
	opt     *stepper
	cur     *batchIO
	lossOut string
	// correctOut is the graph's count of correctly classified examples.
	correctOut string
	masks      []graph.DropoutMask
	seed       uint64
	// update holds SetUpdateMask's factors per parameter (nil: none).
	update [][]float32
	// accN counts the Accumulate calls since the last ApplyAccumulated
	// (the sum itself lives in the optimiser's accumulator session).
	accN int
	// distill: the graph has the teacher's logits and KL factors as inputs.
	distill bool
	// dev holds the device side of a device-resident trainer (devtrain.go);
	// finiteOut is then the graph's flag for non-finite gradients.
	dev       *devTrainer
	finiteOut string
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
	if loss.InverseFrequency && loss.ClassWeights == nil {
		return nil, usererr.Errorf("loss.inverse_frequency: the class weights are computed from the original's training set by whoever holds it (run does); none were filled in")
	}
	if loss.ClassWeights != nil && len(loss.ClassWeights) != m.Classes {
		return nil, usererr.Errorf("%d class weights for %d classes", len(loss.ClassWeights), m.Classes)
	}
	temp := loss.Temperature
	if temp == 0 {
		temp = 1
	}
	if loss.Distill && !(temp > 0 && !math.IsInf(temp, 0)) {
		return nil, usererr.Errorf("distillation temperature %v: want > 0", loss.Temperature)
	}
	g := m.inferenceGraph()
	ups, err := g.LowerBatchNormTraining()
	if err != nil {
		return nil, err
	}
	masks, err := g.FeedDropoutMasks()
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", m.Graph.Name, err)
	}
	labels := g.AddInput("labels", graph.Int64, -1)
	ioNames := []string{m.Input, labels, g.AddInput("example_weights", graph.Float, -1)}
	ce := graph.CrossEntropy{LabelSmoothing: loss.LabelSmoothing, ExampleWeights: "example_weights"}
	if loss.ClassWeights != nil {
		ce.Weights = g.AddInit("class_weights", &graph.Tensor{DType: graph.Float, Dims: []int64{int64(m.Classes)}, F32: slices.Clone(loss.ClassWeights)})
	}
	_, mean := g.CrossEntropyLoss(m.Output, labels, ce)
	if loss.Distill {
		teacher := g.AddInput("teacher_logits", graph.Float, -1, int64(m.Classes))
		klw := g.AddInput("kl_weights", graph.Float, -1)
		ioNames = append(ioNames, teacher, klw)
		kl := g.DistillKL(m.Output, teacher, temp)
		klMean := g.Op1("ReduceMean", []string{g.Op1("Mul", []string{kl, klw})}, graph.AInt("keepdims", 0))
		mean = g.Op1("Add", []string{mean, klMean})
	}
	grads, err := g.Gradients(mean, m.Params, graph.GradOptions{})
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", m.Graph.Name, err)
	}
	lossOut := vec1(g, mean)
	// The count of correct predictions is computed in the graph (ArgMax
	// against the labels, the first maximum winning as slices.Index of
	// the maximum did), so that a step needs only two numbers out.
	am := g.Op1("ArgMax", []string{m.Output}, graph.AInt("axis", 1), graph.AInt("keepdims", 0))
	g.SetInfo(am, graph.Info{DType: graph.Int64, Shape: []int64{-1}})
	hits := g.Op1("Cast", []string{g.Op1("Equal", []string{am, labels})}, graph.AInt("to", int64(graph.Float)))
	correctOut := vec1(g, g.Op1("ReduceSum", []string{hits}, graph.AInt("keepdims", 0)))
	outs := []string{lossOut, correctOut, m.Output}
	var gradNames []string
	for _, p := range m.Params {
		outs = append(outs, grads[p])
		gradNames = append(gradNames, grads[p])
	}
	finiteOut := ""
	if rt.DeviceResident() {
		finiteOut = finiteFlag(g, gradNames)
		outs = append(outs, finiteOut)
	}
	for _, u := range ups {
		outs = append(outs, u.NewMean, u.NewVar)
	}
	for _, mk := range masks {
		ioNames = append(ioNames, mk.Input)
	}
	// The step alternates between this session and the optimiser's:
	// neither may spin on the cores the other needs (ort.NoSpin).
	r, err := newRunner(rt, m, g, ioNames, m.fixedNames(), outs, ort.NoSpin)
	if err != nil {
		return nil, err
	}
	t := &Trainer{m: m, r: r, ups: ups, gradOf: grads, lossOut: lossOut, correctOut: correctOut, masks: masks, seed: seed, distill: loss.Distill, finiteOut: finiteOut}
	for _, p := range m.Params {
		t.params = append(t.params, m.Param(p))
	}
	if t.opt, err = newStepper(rt, m, opt, ups); err != nil {
		r.close()
		return nil, err
	}
	if rt.DeviceResident() {
		err := t.startDevice()
		if err == nil {
			t.opt.dev, err = newStepDev(t.opt, t.dev)
		}
		if err != nil {
			t.Close()
			return nil, err
		}
	}
	t.update = make([][]float32, len(t.params))
	return t, nil
}

// paramIndex is the position of parameter name in the model's Params.
func (t *Trainer) paramIndex(name string) (int, error) {
	k := slices.Index(t.m.Params, name)
	if k < 0 {
		return 0, usererr.Errorf("model %q has no trainable parameter %q", t.m.Graph.Name, name)
	}
	return k, nil
}

// SetUpdateMask sets a per-element factor on parameter param's gradient for
// every later Apply and ApplyAccumulated: the optimiser sees
// scale[i]·(gradient + weight decay) instead of the plain sum. An element
// whose factor is 0 is frozen exactly: the optimiser skips it, so that
// neither weight decay nor its momentum or Adam moments move it, and its
// bits never change (SalUn's public code let momentum and decay move its
// masked weights: its issue #32). 1 is the plain update. scale is copied;
// nil removes the mask.
func (t *Trainer) SetUpdateMask(param string, scale []float32) error {
	k, err := t.paramIndex(param)
	if err != nil {
		return err
	}
	if scale == nil {
		t.update[k] = nil
		return nil
	}
	if len(scale) != len(t.params[k]) {
		return usererr.Errorf("update mask of %q has %d factors, the parameter has %d elements", param, len(scale), len(t.params[k]))
	}
	for i, v := range scale {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return usererr.Errorf("update mask of %q: factor %v at element %d is not finite", param, v, i)
		}
	}
	t.update[k] = slices.Clone(scale)
	return nil
}

// Close releases the sessions and their tensors.
func (t *Trainer) Close() error {
	var err error
	if t.dev != nil {
		err = t.devClose()
		t.dev = nil
	}
	if e := t.opt.close(); err == nil {
		err = e
	}
	if e := t.r.close(); err == nil {
		err = e
	}
	return err
}

// StepResult is what one training step computed. The logits stay with the
// trainer (Logits) until a caller asks for them.
type StepResult struct {
	Loss    float64 // mean loss of the batch
	Correct int     // examples classified correctly (training mode)
}

// Logits returns the logits [N, classes] of the latest Compute, in training
// mode (valid until the next Compute).
func (t *Trainer) Logits() []float32 {
	if t.cur == nil {
		return nil
	}
	if t.dev != nil {
		if err := t.dev.ds.st.Download(t.cur.out[t.m.Output], t.dev.logits[t.dev.curN]); err != nil && t.dev.ds.err == nil {
			t.dev.ds.err = err
		}
	}
	return t.cur.out[t.m.Output]
}

// Compute runs forward and backward on examples idx of d. The gradients
// (Grad) and the batch's running statistics stay pending until Apply.
func (t *Trainer) Compute(d *Data, idx []int) (StepResult, error) {
	if t.distill {
		return StepResult{}, usererr.Errorf("model %q: a distillation loss needs the teacher's logits (ComputeBatchOf)", t.m.Graph.Name)
	}
	b, err := t.r.io(len(idx))
	if err != nil {
		return StepResult{}, err
	}
	d.gather(idx, b.inF[t.m.Input], b.inI["labels"])
	fill(b.inF["example_weights"], 1)
	return t.compute(b)
}

// ComputeBatch is Compute on a batch given as NCHW floats x and labels y
// (len(y) examples), such as datasets.Batches yields.
func (t *Trainer) ComputeBatch(x []float32, y []int64) (StepResult, error) {
	return t.ComputeBatchOf(Batch{X: x, Y: y})
}

// ComputeBatchOf is ComputeBatch with per-example factors and, when the
// loss distils, the teacher's logits (Batch, LossConfig). With Weights,
// Teacher and KLWeights nil and Distill off it computes what ComputeBatch
// always did, bit for bit.
func (t *Trainer) ComputeBatchOf(bt Batch) (StepResult, error) {
	n, c := len(bt.Y), t.m.Classes
	b, err := t.r.io(n)
	if err != nil {
		return StepResult{}, err
	}
	if len(bt.X) != len(b.inF[t.m.Input]) {
		return StepResult{}, usererr.Errorf("batch of %d examples has %d values, model %q wants %d (shape %v)", n, len(bt.X), t.m.Graph.Name, len(b.inF[t.m.Input]), t.m.Shape)
	}
	for i, l := range bt.Y {
		if l < 0 || l >= int64(c) {
			return StepResult{}, usererr.Errorf("label %d of batch example %d is outside the model's %d classes", l, i, c)
		}
	}
	if err := checkFactors("weights", bt.Weights, n); err != nil {
		return StepResult{}, err
	}
	switch {
	case t.distill && bt.Teacher == nil:
		return StepResult{}, usererr.Errorf("model %q: the distillation loss needs the teacher's logits", t.m.Graph.Name)
	case !t.distill && (bt.Teacher != nil || bt.KLWeights != nil):
		return StepResult{}, usererr.Errorf("model %q: teacher logits or KL weights given, but the loss does not distil (LossConfig.Distill)", t.m.Graph.Name)
	case t.distill:
		if len(bt.Teacher) != n*c {
			return StepResult{}, usererr.Errorf("teacher logits: %d values for %d examples of %d classes", len(bt.Teacher), n, c)
		}
		for i, v := range bt.Teacher {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return StepResult{}, usererr.Errorf("teacher logit %v of batch example %d is not finite", v, i/c)
			}
		}
		if err := checkFactors("KL weights", bt.KLWeights, n); err != nil {
			return StepResult{}, err
		}
		copy(b.inF["teacher_logits"], bt.Teacher)
		setFactors(b.inF["kl_weights"], bt.KLWeights)
	}
	copy(b.inF[t.m.Input], bt.X)
	copy(b.inI["labels"], bt.Y)
	setFactors(b.inF["example_weights"], bt.Weights)
	return t.compute(b)
}

// checkFactors accepts nil or n finite per-example factors.
func checkFactors(what string, w []float32, n int) error {
	if w == nil {
		return nil
	}
	if len(w) != n {
		return usererr.Errorf("%d per-example %s for a batch of %d", len(w), what, n)
	}
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return usererr.Errorf("per-example %s: %v for batch example %d is not finite", what, v, i)
		}
	}
	return nil
}

// setFactors copies w into dst, or fills dst with 1 when w is nil.
func setFactors(dst, w []float32) {
	if w == nil {
		fill(dst, 1)
		return
	}
	copy(dst, w)
}

func fill(dst []float32, v float32) {
	for i := range dst {
		dst[i] = v
	}
}

// drawMasks fills the dropout masks of batch b from the seed and the step
// alone, so that a resumed run draws what an uninterrupted one does (every
// Compute before the same Apply draws the same masks).
func (t *Trainer) drawMasks(b *batchIO) {
	if len(t.masks) == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(t.seed^0x64726f706f7574, uint64(t.Step)))
	for _, mk := range t.masks {
		keep := float32(1 / (1 - mk.Ratio))
		buf := b.inF[mk.Input]
		for i := range buf {
			if rng.Float64() < mk.Ratio {
				buf[i] = 0
			} else {
				buf[i] = keep
			}
		}
	}
}

func (t *Trainer) compute(b *batchIO) (StepResult, error) {
	t.drawMasks(b)
	if t.dev != nil {
		if err := t.devCompute(b, len(b.inI["labels"])); err != nil {
			return StepResult{}, err
		}
	} else if err := t.r.run(b); err != nil {
		return StepResult{}, err
	}
	t.cur = b
	t.grads = t.grads[:0]
	for _, p := range t.m.Params {
		t.grads = append(t.grads, b.out[t.gradOf[p]])
	}
	return StepResult{Loss: float64(b.out[t.lossOut][0]), Correct: int(b.out[t.correctOut][0])}, nil
}

// Grad returns the pending gradient of parameter name (valid until the next
// Compute; may be modified before Apply).
func (t *Trainer) Grad(name string) []float32 {
	if t.cur == nil {
		return nil
	}
	if t.dev != nil {
		k := slices.Index(t.m.Params, name)
		if k < 0 {
			return nil
		}
		return t.devGrad(k)
	}
	return t.cur.out[t.gradOf[name]]
}

// GradsFinite reports whether every pending gradient is finite.
func (t *Trainer) GradsFinite() bool {
	if t.dev != nil && t.cur != nil {
		return t.devGradsFinite()
	}
	for _, g := range t.grads {
		for _, v := range g {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return false
			}
		}
	}
	return true
}

// gradValues are the pending gradients as the training session's output
// tensors, which the update reads where they are (edits through Grad
// included).
func (t *Trainer) gradValues() []ort.Value {
	vs := make([]ort.Value, len(t.m.Params))
	for k, p := range t.m.Params {
		vs[k] = t.cur.outV[t.gradOf[p]]
	}
	return vs
}

// statValues are the pending running statistics (mean, var per layer).
func (t *Trainer) statValues() []ort.Value {
	var vs []ort.Value
	for _, u := range t.ups {
		vs = append(vs, t.cur.outV[u.NewMean], t.cur.outV[u.NewVar])
	}
	return vs
}

// Apply commits the pending batch statistics to the running buffers and
// steps the optimiser with learning rate lr, both in the update session
// (stepper); the model's memory then holds the new weights.
func (t *Trainer) Apply(lr float64) error {
	if t.cur == nil {
		return nil
	}
	var grads, stats []ort.Value
	if t.dev != nil {
		if err := t.devPushGrads(); err != nil {
			return err
		}
	} else {
		grads, stats = t.gradValues(), t.statValues()
	}
	if err := t.opt.step(grads, stats, t.update, lr, false); err != nil {
		return err
	}
	// The weights moved (in the model's memory, or on the device where
	// the next read pulls them): evaluators holding a compiled copy must
	// see the update.
	t.m.Touch()
	t.Step++
	return nil
}

// Accumulate adds scale × the pending gradients (of the latest Compute) to
// an accumulator, so that the gradients of several batches, each with its
// own sign and weight, make one optimiser step (ApplyAccumulated). The
// pending gradients stay as they are. The sum is computed in an ONNX
// Runtime session (acc ← acc + scale·g, in float32).
func (t *Trainer) Accumulate(scale float64) error {
	if t.cur == nil {
		return nil
	}
	if t.opt.acc == nil {
		a, err := newAccumulator(t.opt.rt, t.m, t.params, t.opt.dims)
		if err != nil {
			return err
		}
		a.dev = t.opt.dev
		t.opt.acc = a
	}
	var grads []ort.Value
	if t.dev != nil {
		if err := t.devPushGrads(); err != nil {
			return err
		}
	} else {
		grads = t.gradValues()
	}
	if err := t.opt.acc.add(grads, scale, t.accN == 0); err != nil {
		return err
	}
	t.accN++
	return nil
}

// ApplyAccumulated steps the optimiser once, with learning rate lr, on the
// gradient accumulated since the last ApplyAccumulated (update masks
// apply), commits the running batch-norm statistics of the latest Compute
// and clears the accumulator. Without an Accumulate since, it does nothing.
func (t *Trainer) ApplyAccumulated(lr float64) error {
	if t.accN == 0 || t.cur == nil {
		return nil
	}
	var grads, stats []ort.Value
	if t.dev != nil {
		if err := t.dev.ds.push(); err != nil {
			return err
		}
	} else {
		grads, stats = t.opt.acc.sum(), t.statValues()
	}
	if err := t.opt.step(grads, stats, t.update, lr, true); err != nil {
		return err
	}
	t.m.Touch()
	t.accN = 0
	t.Step++
	return nil
}
