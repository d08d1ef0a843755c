package nn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn/ort"
)

// TrainConfig configures Train.
type TrainConfig struct {
	Epochs    int             `yaml:"epochs"`
	BatchSize int             `yaml:"batch_size"`
	Seed      uint64          `yaml:"seed"`
	Optimizer OptimizerConfig `yaml:"optimizer"`
	Schedule  Schedule        `yaml:"schedule"`
	Loss      LossConfig      `yaml:"loss"`
	// Augment is the recipe's augmentation of the training examples
	// (augment_pad, augment_flip; none by default). DataBatches applies
	// it, and so does retrain when it repeats a recipe; Train trains on the
	// batches it is given.
	Augment Augment `yaml:",inline" json:"Augment,omitzero"`
	// BestValidation, when set, keeps the weights of the epoch with the
	// best validation accuracy instead of the last epoch's (Train then
	// needs evaluation data). Nil, the default, is left out of the JSON
	// and YAML, so recipes without it keep their cache keys.
	BestValidation *BestValidation `yaml:"best_validation,omitempty" json:"BestValidation,omitempty"`
}

// BestValidation is the checkpoint selection of the NeurIPS 2023
// competition's train_lib.py: after every epoch the model is evaluated on
// the validation data, and an epoch's weights are saved when its accuracy
// beats every earlier epoch's (strictly, starting from 0) and the epoch
// (from 0) is at least the first eligible one. The best accuracy is
// tracked from epoch 0 even before that epoch, so an eligible epoch must
// also beat the ineligible ones: when none does, nothing was saved and the
// model keeps its last epoch's weights (train_lib.py then returns the
// last epoch's model too). main.py trains the original with
// min_save_epoch 0 and every retrained model with 20.
type BestValidation struct {
	// MinEpoch is the first epoch, counted from 0 as train_lib.py's
	// min_save_epoch is, whose weights may be kept when this recipe
	// trains the original.
	MinEpoch int `yaml:"min_epoch"`
	// RetrainMinEpoch is MinEpoch for the models retrain trains from
	// scratch with this recipe.
	RetrainMinEpoch int `yaml:"retrain_min_epoch"`
}

// Validate checks the first eligible epochs against the run's epochs.
func (b *BestValidation) Validate(epochs int) error {
	if b == nil {
		return nil
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"min_epoch", b.MinEpoch}, {"retrain_min_epoch", b.RetrainMinEpoch}} {
		if c.v < 0 || c.v >= epochs {
			return usererr.Errorf("best_validation.%s %d: want an epoch from 0 to %d (epochs counted from 0)", c.name, c.v, epochs-1)
		}
	}
	return nil
}

// EpochResult summarises one epoch.
type EpochResult struct {
	Epoch     int // from 1
	Steps     int
	LR        float64 // at the epoch's last step
	TrainLoss float64 // mean over the epoch's batches, training mode
	TrainAcc  float64
	Eval      *Metrics // on the evaluation data, when given
	// Kept marks the epoch whose weights the model holds after training
	// with TrainConfig.BestValidation.
	Kept bool `json:",omitempty"`
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

// DataBatches is the batch source for training on d: epoch e shuffles
// 0..n-1 with an RNG seeded by (cfg.Seed, e), so that a resumed run draws
// the same batches as an uninterrupted one; the last partial batch of an
// epoch is used too. cfg.Augment, when on, augments every batch with an
// Augmenter of (cfg.Seed, e).
func DataBatches(m *Model, d *Data, cfg TrainConfig) (EpochBatches, error) {
	if err := d.Check(m); err != nil {
		return EpochBatches{}, err
	}
	if err := cfg.Augment.Check(d.Shape); err != nil {
		return EpochBatches{}, err
	}
	if cfg.BatchSize < 1 {
		return EpochBatches{}, usererr.Errorf("batch size %d: want >= 1", cfg.BatchSize)
	}
	if d.Len() == 0 {
		return EpochBatches{}, usererr.Errorf("no training examples")
	}
	n := d.Len()
	// No batch is larger than the data: a batch size beyond n is one
	// batch of n, and the buffers are sized for what a batch can hold,
	// not for the number given (a batch size of 10^11 must not allocate).
	bs := min(cfg.BatchSize, n)
	order := make([]int, n)
	x := make([]float32, bs*d.Size())
	y := make([]int64, bs)
	return EpochBatches{Steps: (n + bs - 1) / bs, Examples: n,
		Epoch: func(ep int, yield func(x []float32, y []int64) bool) {
			for i := range order {
				order[i] = i
			}
			rng := rand.New(rand.NewPCG(cfg.Seed^0x747261696e, uint64(ep)))
			rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
			aug := NewAugmenter(cfg.Augment, d.Shape, cfg.Seed, ep)
			for s := 0; s < n; s += bs {
				idx := order[s:min(n, s+bs)]
				d.gather(idx, x, y)
				aug.Batch(x[:len(idx)*d.Size()])
				if !yield(x[:len(idx)*d.Size()], y[:len(idx)]) {
					return
				}
			}
		}}, nil
}

// Options are Train's hooks around the epochs of a run. The zero value
// (every field nil) trains from epoch 1 to the end with no reports, no
// checkpoints and no way to stop it early.
type Options struct {
	// Progress, when set, receives each epoch's result.
	Progress func(EpochResult)
	// Checkpoint, when set, receives the run's state after every epoch
	// (the model then holds that epoch's weights); an error stops training.
	Checkpoint func(*TrainState) error
	// Resume continues a run from its state after st.Epochs epochs; the
	// model must hold the weights saved with it (Checkpoint.Restore).
	Resume *TrainState
	// Context, when set and done, stops training between two steps with an
	// *InterruptedError; the model then holds a partly trained epoch.
	Context context.Context
}

// TrainState is where a run stands after its last completed epoch: with
// the model's weights and buffers, everything that continuing it needs
// (batch order and augmentation are functions of the seed and the epoch,
// dropout masks of the seed and the step).
type TrainState struct {
	Epochs  int           `json:"epochs"`   // completed epochs
	Step    int           `json:"step"`     // the trainer's global step
	OptStep int           `json:"opt_step"` // the optimiser's step count t
	History []EpochResult `json:"history"`  // the completed epochs' results
	// V and S are the optimiser's per-parameter momentum or Adam first
	// moments and Adam second moments (nil when it keeps none).
	V, S [][]float32 `json:"-"`
}

// InterruptedError reports a run stopped by Options.Context during
// Epoch (from 1) after Step of Steps steps.
type InterruptedError struct {
	Epoch, Step, Steps int
	Err                error // the context's error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted during epoch %d (step %d of %d)", e.Epoch, e.Step, e.Steps)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// state captures the trainer's part of a TrainState (copies of the moments).
func (t *Trainer) state(epochs int, hist []EpochResult) *TrainState {
	clone := func(vs [][]float32) [][]float32 {
		var out [][]float32
		for _, v := range vs {
			out = append(out, slices.Clone(v))
		}
		return out
	}
	return &TrainState{Epochs: epochs, Step: t.Step, OptStep: t.opt.t, History: slices.Clone(hist), V: clone(t.opt.moments(0)), S: clone(t.opt.moments(1))}
}

// restore sets the trainer's step and optimiser state from st.
func (t *Trainer) restore(st *TrainState) error {
	for _, c := range []struct {
		name       string
		have, want [][]float32
	}{{"momentum", st.V, t.opt.moments(0)}, {"second moments", st.S, t.opt.moments(1)}} {
		if len(c.have) != len(c.want) {
			return usererr.Errorf("resume: the state holds %d %s arrays, the optimiser keeps %d", len(c.have), c.name, len(c.want))
		}
		for k := range c.want {
			if len(c.have[k]) != len(c.want[k]) {
				return usererr.Errorf("resume: %s of parameter %s has %d values, want %d", c.name, t.m.Params[k], len(c.have[k]), len(c.want[k]))
			}
		}
	}
	for k, v := range t.opt.moments(0) {
		copy(v, st.V[k])
	}
	for k, s := range t.opt.moments(1) {
		copy(s, st.S[k])
	}
	// On a device-resident trainer moments brought the state to the host
	// and the next step uploads what was written here (stepDev.pushState).
	t.Step, t.opt.t = st.Step, st.OptStep
	return nil
}

// Train trains m for cfg.Epochs epochs over the batches of src
// (DataBatches for a Data, or augmented ones), evaluating on eval (if not
// nil) after each epoch, with opt's progress reports, checkpoints, resuming
// and interruption. It returns the results of every epoch, those of a
// resumed state's included.
func Train(rt *ort.Runtime, m *Model, src EpochBatches, eval *Data, cfg TrainConfig, opt Options) ([]EpochResult, error) {
	if eval != nil {
		if err := eval.Check(m); err != nil {
			return nil, err
		}
	}
	if cfg.Epochs < 1 {
		return nil, usererr.Errorf("epochs %d: want >= 1", cfg.Epochs)
	}
	if cfg.Loss.Distill {
		return nil, usererr.Errorf("training with a distillation loss needs a teacher's logits per batch: use a Trainer and ComputeBatchOf")
	}
	if err := cfg.Schedule.Validate(); err != nil {
		return nil, err
	}
	best, err := newBestKeeper(m, cfg, eval, opt)
	if err != nil {
		return nil, err
	}
	tr, err := NewTrainer(rt, m, cfg.Optimizer, cfg.Loss, cfg.Seed)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	first := 0
	var hist []EpochResult
	if st := opt.Resume; st != nil {
		if st.Epochs < 0 || st.Epochs > cfg.Epochs || len(st.History) != st.Epochs {
			return nil, usererr.Errorf("resume: state after %d epochs with %d results, for a run of %d epochs", st.Epochs, len(st.History), cfg.Epochs)
		}
		if err := tr.restore(st); err != nil {
			return nil, err
		}
		first, hist = st.Epochs, slices.Clone(st.History)
	}
	var ev *Evaluator
	if eval != nil {
		if ev, err = NewEvaluator(rt, m, max(cfg.BatchSize, 1)); err != nil {
			return nil, err
		}
		defer ev.Close()
	}
	total := src.Steps * cfg.Epochs
	for ep := first; ep < cfg.Epochs; ep++ {
		res := EpochResult{Epoch: ep + 1}
		var lossSum float64
		correct, seen := 0, 0
		var stepErr error
		src.Epoch(ep, func(x []float32, y []int64) bool {
			if opt.Context != nil && opt.Context.Err() != nil {
				stepErr = &InterruptedError{Epoch: ep + 1, Step: res.Steps, Steps: src.Steps, Err: opt.Context.Err()}
				return false
			}
			sr, err := tr.ComputeBatch(x, y)
			if err != nil {
				stepErr = err
				return false
			}
			if math.IsNaN(sr.Loss) || math.IsInf(sr.Loss, 0) || !tr.GradsFinite() {
				stepErr = usererr.Wrap(&NonFiniteError{Epoch: ep + 1, Step: res.Steps + 1, Loss: sr.Loss})
				return false
			}
			lr := cfg.Schedule.EpochLR(cfg.Optimizer.LR, tr.Step, ep, cfg.Epochs, total)
			if err := tr.Apply(lr); err != nil {
				stepErr = err
				return false
			}
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
		best.observe(ep, res.Eval)
		hist = append(hist, res)
		if opt.Checkpoint != nil {
			if err := opt.Checkpoint(tr.state(ep+1, hist)); err != nil {
				return hist, err
			}
		}
		if opt.Progress != nil {
			opt.Progress(res)
		}
	}
	if k := best.restore(); k >= 0 {
		hist[k].Kept = true
	}
	return hist, nil
}

// bestKeeper carries out TrainConfig.BestValidation: it copies the
// weights and buffers of every epoch that sets a new best validation
// accuracy from the first eligible epoch on, and puts the last copy back
// at the end. Accuracies of one evaluation set are correct/N, so
// comparing them compares train_lib.py's percentages exactly.
type bestKeeper struct {
	m        *Model
	minEpoch int
	acc      float64 // best so far, from 0 as train_lib.py's best_acc
	epoch    int     // of the saved weights; -1: none
	saved    [][]float32
}

func newBestKeeper(m *Model, cfg TrainConfig, eval *Data, opt Options) (*bestKeeper, error) {
	b := cfg.BestValidation
	if b == nil {
		return nil, nil
	}
	if err := b.Validate(cfg.Epochs); err != nil {
		return nil, err
	}
	if eval == nil || eval.Len() == 0 {
		return nil, usererr.Errorf("best_validation keeps the epoch with the best validation accuracy, but there are no validation examples (give the split a validation part)")
	}
	if opt.Resume != nil {
		// A TrainState holds the last epoch's weights, not the best ones.
		return nil, usererr.Errorf("best_validation: a run cannot be resumed (its checkpoints hold the last epoch's weights, not the best epoch's)")
	}
	return &bestKeeper{m: m, minEpoch: b.MinEpoch, epoch: -1}, nil
}

// observe records epoch ep (from 0) with its validation metrics.
func (b *bestKeeper) observe(ep int, mt *Metrics) {
	if b == nil || !(mt.Accuracy > b.acc) {
		return
	}
	b.acc = mt.Accuracy
	if ep < b.minEpoch {
		return
	}
	names := append(slices.Clone(b.m.Params), b.m.Buffers...)
	if b.saved == nil {
		b.saved = make([][]float32, len(names))
	}
	for i, n := range names {
		b.saved[i] = append(b.saved[i][:0], b.m.ParamRead(n)...)
	}
	b.epoch = ep
}

// restore puts the saved weights back and returns their epoch (from 0),
// or -1 when no epoch was saved and the model keeps its last weights.
func (b *bestKeeper) restore() int {
	if b == nil || b.epoch < 0 {
		return -1
	}
	for i, n := range append(slices.Clone(b.m.Params), b.m.Buffers...) {
		copy(b.m.Param(n), b.saved[i])
	}
	return b.epoch
}
