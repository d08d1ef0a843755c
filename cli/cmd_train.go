package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"unlearnbench/internal/progress"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/training"
)

func init() { subcommands = append(subcommands, newTrainCmd) }

// trainSettings is what train needs besides the data flags; a --config YAML
// file sets the same keys, and flags given on the command line win.
type trainSettings struct {
	Model          string `yaml:"model"`
	Out            string `yaml:"out"`
	Part           string `yaml:"part"`
	Normalize      string `yaml:"normalize"`
	nn.TrainConfig `yaml:",inline"`
}

type trainFlags struct {
	config     string
	data       dataFlags
	rt         runtimeFlags
	s          trainSettings
	checkpoint string // default: --out + ".ckpt"
	resume     bool
	keepCkpt   bool
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train --out MODEL.onnx [--model ARCH|FILE.onnx] [flags]",
		Short: "Train a zoo model, or fine-tune an imported ONNX classifier, and write it as ONNX",
		Long: `Train a classifier on a data set and write it as a self-contained ONNX file
that ONNX Runtime, Netron and logits open.

--model is a zoo architecture (` + strings.Join(nn.Archs, ", ") + `), He-initialised
from --seed, or an ONNX classifier file (PyTorch's torch.onnx.export at
opset 13-17) whose weights are fine-tuned. Zoo models learn the training
part's per-channel mean and deviation and normalise their own input, so the
file takes data as read (pixels in [0, 1]); an imported model gets the data
normalised by --normalize, and logits must be given the same flag.

The training examples are the data's training part, or with --split the
split's --part (train = retain + forget); after every epoch the model is
evaluated on the test part (the split's test set with --split), and one line
reports loss and accuracy. A loss that turns NaN or infinite stops training
with the epoch and step named; the model is then not written.

After every epoch the run is saved to a checkpoint (--checkpoint, default
MODEL.onnx.ckpt): weights, batch-norm statistics, optimiser state and the
settings that determine the run. Ctrl-C or SIGTERM stops training between
two steps without writing the model (exit 130); --resume continues from the
last completed epoch, refusing if a setting differs, and ends with the same
model file as an uninterrupted run. Once the model is written the checkpoint
is removed, unless --keep-checkpoint; a run without --resume refuses to
overwrite an existing checkpoint.

Every flag can also be set in a YAML --config (-c) file under the same name with
underscores (epochs, batch_size, seed, model, optimizer: {name, lr,
momentum, nesterov, weight_decay}, schedule: {name, step_epochs, gamma,
warmup_steps}, loss: {label_smoothing, class_weights}, ...).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "YAML config `FILE` with the settings below (flags given override it)")
	f.data.add(fl)
	f.rt.add(fl)
	s := &f.s
	fl.StringVar(&s.Model, "model", nn.ArchCNN, "zoo architecture ("+strings.Join(nn.Archs, ", ")+") or ONNX file to fine-tune")
	fl.StringVarP(&s.Out, "out", "o", "", "ONNX file to write (required)")
	fl.StringVar(&f.checkpoint, "checkpoint", "", "checkpoint file written after every epoch (default: --out with .ckpt appended)")
	fl.BoolVar(&f.resume, "resume", false, "continue an interrupted run from its checkpoint")
	fl.BoolVar(&f.keepCkpt, "keep-checkpoint", false, "keep the checkpoint after the model is written")
	fl.StringVar(&s.Part, "part", "train", "with --split: the examples to train on: train, retain, forget or validation")
	fl.StringVar(&s.Normalize, "normalize", "", "imported models: none or MEAN,.../STD,... per channel (zoo models normalise themselves)")
	fl.IntVar(&s.Augment.Pad, "augment-pad", 0, "random crop after padding by N pixels (torchvision RandomCrop(padding=N))")
	fl.BoolVar(&s.Augment.Flip, "augment-flip", false, "random horizontal flips")
	fl.IntVar(&s.Epochs, "epochs", 10, "passes over the training examples")
	fl.IntVar(&s.BatchSize, "batch-size", 128, "examples per step")
	fl.Uint64Var(&s.Seed, "seed", 0, "seed of the initialisation, the batch order, augmentation and dropout")
	fl.StringVar(&s.Optimizer.Name, "optimizer", "sgd", "sgd, adam or adamw")
	fl.Float64Var(&s.Optimizer.LR, "lr", 0.05, "learning rate")
	fl.Float64Var(&s.Optimizer.Momentum, "momentum", 0.9, "SGD momentum")
	fl.BoolVar(&s.Optimizer.Nesterov, "nesterov", false, "SGD with Nesterov momentum")
	fl.Float64Var(&s.Optimizer.WeightDecay, "weight-decay", 5e-4, "L2 weight decay")
	fl.StringVar(&s.Schedule.Name, "schedule", "cosine", "learning-rate schedule: constant, step, cosine or cosine_epochs (cosine in whole epochs)")
	fl.IntVar(&s.Schedule.StepEpochs, "step-epochs", 0, "step schedule: epochs between decays")
	fl.Float64Var(&s.Schedule.Gamma, "gamma", 0.1, "step schedule: decay factor")
	fl.IntVar(&s.Schedule.WarmupSteps, "warmup-steps", 0, "linear warm-up over the first N steps")
	fl.Float64Var(&s.Loss.LabelSmoothing, "label-smoothing", 0, "cross-entropy label smoothing")
	return cmd
}

func runTrain(cmd *cobra.Command, f *trainFlags) error {
	if err := applyConfig(cmd, f); err != nil {
		return err
	}
	s := &f.s
	if s.Out == "" {
		return usererr.Errorf("train: --out MODEL.onnx is required")
	}
	if err := f.checkFloats(cmd); err != nil {
		return err
	}
	ckpt := f.checkpoint
	if ckpt == "" {
		ckpt = s.Out + ".ckpt"
	}
	if err := checkOutputs(output{flag: "--out", path: s.Out}, output{flag: "--checkpoint", path: ckpt}); err != nil {
		return err
	}
	if err := training.CheckCheckpoint(ckpt, f.resume); err != nil {
		return err
	}
	src, split, err := f.data.open()
	if err != nil {
		return err
	}
	if s.Part == "test" {
		return usererr.Errorf("--part test: train on train, retain, forget or validation")
	}
	job := training.Job{Config: s.TrainConfig, Checkpoint: ckpt, ModelName: s.Model, Normalize: s.Normalize}
	if job.Data, job.Idx, err = f.data.part(src, split, s.Part); err != nil {
		return err
	}
	if len(job.Idx) == 0 {
		return usererr.Errorf("no training examples in %s (--part %s)", job.Data.Name, s.Part)
	}
	if split != nil || src.Test != nil {
		if job.Eval, job.EvalIdx, err = f.data.part(src, split, "test"); err != nil {
			return err
		}
	}
	if err := f.model(&job); err != nil {
		return err
	}
	job.DataSettings, job.RuntimeSettings = f.settings()
	run, err := training.Prepare(job)
	if err != nil {
		return err
	}
	// The checkpoint is checked before the runtime is loaded: a resume
	// on another device is refused whether or not that device works.
	var resume *nn.TrainState
	if f.resume {
		if resume, err = run.Resume(); err != nil {
			return err
		}
	}
	rt, err := f.rt.open()
	if err != nil {
		return err
	}
	defer rt.Close()

	m, w := job.Model, cmd.OutOrStdout()
	fmt.Fprintf(w, "training %s (%d parameters) on %d examples of %s for %d epochs\n", m.Graph.Name, m.NumParams(), len(job.Idx), job.Data.Name, s.Epochs)
	if resume != nil {
		fmt.Fprintf(w, "resuming from %s after epoch %d\n", ckpt, resume.Epochs)
		for _, r := range resume.History {
			fmt.Fprintln(w, epochLine(r, s.Epochs))
		}
	}
	ctx, stop := interruptible(cmd)
	defer stop()
	err = run.Train(rt, training.Hooks{Context: ctx, Resume: resume,
		Progress: func(r nn.EpochResult) { fmt.Fprintln(w, epochLine(r, s.Epochs)) },
		Epoch: func(e int) (func(int), func()) {
			bar := progress.New(cmd.ErrOrStderr(), fmt.Sprintf("epoch %d/%d", e+1, s.Epochs), run.Steps())
			return bar.Set, bar.Done
		}})
	if ie := (*nn.InterruptedError)(nil); errors.As(err, &ie) {
		next := fmt.Sprintf("rerun with --resume to continue from epoch %d", ie.Epoch)
		if _, serr := os.Stat(ckpt); serr != nil {
			next = "no epoch was completed, so there is no checkpoint to resume from"
		}
		return &exitCodeError{code: exitInterrupted, err: fmt.Errorf("%w; %s", err, next)}
	}
	if err != nil {
		return err
	}
	if err := m.Save(s.Out); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", s.Out)
	if !f.keepCkpt {
		return run.RemoveCheckpoint(s.Out)
	}
	return nil
}

func epochLine(r nn.EpochResult, epochs int) string {
	line := fmt.Sprintf("epoch %d/%d: lr %.4g, train loss %.4f, accuracy %.2f%%", r.Epoch, epochs, r.LR, r.TrainLoss, 100*r.TrainAcc)
	if r.Eval != nil {
		line += fmt.Sprintf("; test loss %.4f, accuracy %.2f%%", r.Eval.Loss, 100*r.Eval.Accuracy)
	}
	return line
}
