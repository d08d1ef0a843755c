package training

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"unlearnbench/datasets"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
)

// Setting is one setting that determines the weights a run ends with, as
// its flag name and value; a checkpoint records them all so that a resume
// can name the one that changed.
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Job is one training run.
type Job struct {
	Model *nn.Model
	// Data and Idx are the training examples; Eval and EvalIdx, when
	// Eval is not nil, the examples evaluated after every epoch.
	Data    *datasets.Dataset
	Idx     []int
	Eval    *datasets.Dataset
	EvalIdx []int
	// Norm normalises the data for an imported model (nil: as read; a
	// zoo model normalises its own input).
	Norm *datasets.Normalization
	// Config is the run's recipe, its augmentation (Config.Augment) done
	// by datasets.Batches on the data as read.
	Config nn.TrainConfig
	// Checkpoint is the file written after every epoch.
	Checkpoint string
	// ModelName (the zoo architecture or the imported file), ModelDigest
	// (the imported file's SHA-256, "" for a zoo model) and Normalize (the
	// normalisation as the user gave it) describe the model for the
	// checkpoint's settings.
	ModelName, ModelDigest, Normalize string
	// DataSettings and RuntimeSettings are the caller's settings that
	// determine the run besides the model and training ones: where the
	// examples come from (recorded first) and the device and threads that
	// run the steps (recorded last).
	DataSettings, RuntimeSettings []Setting
}

// Run is a job prepared to train: its batches, evaluation data and
// settings are ready.
type Run struct {
	job      Job
	batches  *datasets.Batches
	eval     *nn.Data
	settings []Setting
}

// Prepare checks the model against the data and builds the job's batches
// and evaluation data.
func Prepare(job Job) (*Run, error) {
	ds := job.Data
	probe := &nn.Data{Shape: []int64{int64(ds.C), int64(ds.H), int64(ds.W)}}
	if err := probe.Check(job.Model); err != nil {
		return nil, err
	}
	s := job.Config
	batches, err := datasets.NewBatches(ds, job.Idx, datasets.BatchOptions{
		Size: s.BatchSize, Shuffle: true, Seed: s.Seed, Norm: job.Norm,
		Augment: datasets.Augment{Pad: s.Augment.Pad, Flip: s.Augment.Flip}})
	if err != nil {
		return nil, err
	}
	r := &Run{job: job, batches: batches}
	if job.Eval != nil {
		if r.eval, err = Load(job.Eval, job.EvalIdx, job.Norm); err != nil {
			return nil, err
		}
	}
	r.settings = r.fingerprint()
	return r, nil
}

// Steps is the number of batches per epoch.
func (r *Run) Steps() int { return r.batches.Len() }

// fingerprint lists the resolved settings that determine the weights the
// run ends with: the data, the number of training examples, the model
// (with the file's digest when fine-tuning), every training setting, and
// the runtime's, which change how reductions are split and so the last
// bits of every step.
func (r *Run) fingerprint() []Setting {
	j, c := &r.job, r.job.Config
	out := append([]Setting(nil), j.DataSettings...)
	add := func(name string, v any) { out = append(out, Setting{name, fmt.Sprint(v)}) }
	add("training examples", len(j.Idx))
	add("model", j.ModelName)
	add("model digest", j.ModelDigest)
	add("normalize", j.Normalize)
	add("augment-pad", c.Augment.Pad)
	add("augment-flip", c.Augment.Flip)
	add("epochs", c.Epochs)
	add("batch-size", c.BatchSize)
	add("seed", c.Seed)
	add("optimizer", c.Optimizer.Name)
	add("lr", c.Optimizer.LR)
	add("momentum", c.Optimizer.Momentum)
	add("nesterov", c.Optimizer.Nesterov)
	add("weight-decay", c.Optimizer.WeightDecay)
	add("beta1", c.Optimizer.Beta1)
	add("beta2", c.Optimizer.Beta2)
	add("eps", c.Optimizer.Eps)
	add("schedule", c.Schedule.Name)
	add("step-epochs", c.Schedule.StepEpochs)
	add("gamma", c.Schedule.Gamma)
	add("warmup-steps", c.Schedule.WarmupSteps)
	add("label-smoothing", c.Loss.LabelSmoothing)
	add("class-weights", c.Loss.ClassWeights)
	return append(out, j.RuntimeSettings...)
}

// CheckCheckpoint refuses, before any work, a resume without a checkpoint
// at path and a fresh run that would overwrite one.
func CheckCheckpoint(path string, resume bool) error {
	switch _, err := os.Stat(path); {
	case resume && errors.Is(err, fs.ErrNotExist):
		return usererr.Errorf("--resume: no checkpoint %s (train writes it after every epoch and removes it once the model is written)", path)
	case !resume && err == nil:
		return usererr.Errorf("checkpoint %s exists: pass --resume to continue that run, or remove it to start over", path)
	}
	return nil
}

// Resume reads the run's checkpoint, refuses it when a setting differs
// from the one it was written with or when its recorded epochs and step
// do not fit this run, and loads its weights into the model.
func (r *Run) Resume() (*nn.TrainState, error) {
	path, epochs, steps := r.job.Checkpoint, r.job.Config.Epochs, r.Steps()
	c, err := nn.ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	var was []Setting
	if err := json.Unmarshal(c.Run, &was); err != nil {
		return nil, usererr.Errorf("--resume: checkpoint %s: run settings: %v", path, err)
	}
	old := map[string]string{}
	for _, s := range was {
		old[s.Name] = s.Value
	}
	shown := func(v string) string {
		if v == "" {
			return "(none)"
		}
		return v
	}
	for _, s := range r.settings {
		if v, ok := old[s.Name]; !ok || v != s.Value {
			return nil, usererr.Errorf("--resume: checkpoint %s was written with %s %s, this run has %s %s", path, s.Name, shown(v), s.Name, shown(s.Value))
		}
	}
	st, err := c.Restore(r.job.Model)
	if err != nil {
		return nil, err
	}
	// A checkpoint is written after whole epochs only.
	if st.Epochs < 1 || st.Epochs > epochs || st.Step != st.Epochs*steps || len(st.History) != st.Epochs {
		return nil, usererr.Errorf("--resume: checkpoint %s records step %d after %d epochs (%d results), which does not fit this run of %d epochs of %d steps", path, st.Step, st.Epochs, len(st.History), epochs, steps)
	}
	return st, nil
}

// Hooks are what the caller sees of a run and how it stops it; the zero
// value sees nothing and never stops early.
type Hooks struct {
	// Context, when done, stops training between two steps with an
	// *nn.InterruptedError.
	Context context.Context
	// Resume continues from a state Resume returned.
	Resume *nn.TrainState
	// Progress receives each epoch's result.
	Progress func(nn.EpochResult)
	// Epoch is called as epoch e (from 0) starts; step, when not nil, is
	// then called after each batch with the batches done, and done when
	// the epoch ends, however it ends.
	Epoch func(e int) (step func(done int), done func())
}

// Train trains the model, saving the checkpoint after every epoch.
func (r *Run) Train(rt *ort.Runtime, h Hooks) error {
	b := r.batches
	epochs := nn.EpochBatches{Steps: b.Len(), Examples: len(r.job.Idx),
		Epoch: func(e int, yield func(x []float32, y []int64) bool) {
			var step func(int)
			if h.Epoch != nil {
				var done func()
				step, done = h.Epoch(e)
				if done != nil {
					defer done()
				}
			}
			n := 0
			for bt := range b.Epoch(e) {
				if !yield(bt.X, bt.Y) {
					return
				}
				n++
				if step != nil {
					step(n)
				}
			}
		}}
	m, ckpt, run := r.job.Model, r.job.Checkpoint, r.settings
	_, err := nn.Train(rt, m, epochs, r.eval, r.job.Config, nn.Options{
		Context:    h.Context,
		Resume:     h.Resume,
		Progress:   h.Progress,
		Checkpoint: func(st *nn.TrainState) error { return nn.SaveCheckpoint(ckpt, m, st, run) },
	})
	return err
}

// RemoveCheckpoint removes the run's checkpoint once the model is written
// to out; a checkpoint already gone is fine.
func (r *Run) RemoveCheckpoint(out string) error {
	if err := os.Remove(r.job.Checkpoint); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing checkpoint %s after writing %s: %w", r.job.Checkpoint, out, err)
	}
	return nil
}
