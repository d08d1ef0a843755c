package cli

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"unlearnbench/datasets"
	"unlearnbench/internal/progress"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
)

func init() { subcommands = append(subcommands, newTrainCmd) }

// trainSettings is what train needs besides the data flags; a --config YAML
// file sets the same keys, and flags given on the command line win.
type trainSettings struct {
	Model          string `yaml:"model"`
	Out            string `yaml:"out"`
	Part           string `yaml:"part"`
	Normalize      string `yaml:"normalize"`
	AugmentPad     int    `yaml:"augment_pad"`
	AugmentFlip    bool   `yaml:"augment_flip"`
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

Every flag can also be set in a YAML --config file under the same name with
underscores (epochs, batch_size, seed, model, optimizer: {name, lr,
momentum, nesterov, weight_decay}, schedule: {name, step_epochs, gamma,
warmup_steps}, loss: {label_smoothing, class_weights}, ...).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "YAML file with the settings below (flags given override it)")
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
	fl.IntVar(&s.AugmentPad, "augment-pad", 0, "random crop after padding by N pixels (torchvision RandomCrop(padding=N))")
	fl.BoolVar(&s.AugmentFlip, "augment-flip", false, "random horizontal flips")
	fl.IntVar(&s.Epochs, "epochs", 10, "passes over the training examples")
	fl.IntVar(&s.BatchSize, "batch-size", 128, "examples per step")
	fl.Uint64Var(&s.Seed, "seed", 0, "seed of the initialisation, the batch order, augmentation and dropout")
	fl.StringVar(&s.Optimizer.Name, "optimizer", "sgd", "sgd or adam")
	fl.Float64Var(&s.Optimizer.LR, "lr", 0.05, "learning rate")
	fl.Float64Var(&s.Optimizer.Momentum, "momentum", 0.9, "SGD momentum")
	fl.BoolVar(&s.Optimizer.Nesterov, "nesterov", false, "SGD with Nesterov momentum")
	fl.Float64Var(&s.Optimizer.WeightDecay, "weight-decay", 5e-4, "L2 weight decay")
	fl.StringVar(&s.Schedule.Name, "schedule", "cosine", "learning-rate schedule: constant, step or cosine")
	fl.IntVar(&s.Schedule.StepEpochs, "step-epochs", 0, "step schedule: epochs between decays")
	fl.Float64Var(&s.Schedule.Gamma, "gamma", 0.1, "step schedule: decay factor")
	fl.IntVar(&s.Schedule.WarmupSteps, "warmup-steps", 0, "linear warm-up over the first N steps")
	fl.Float64Var(&s.Loss.LabelSmoothing, "label-smoothing", 0, "cross-entropy label smoothing")
	return cmd
}

// applyConfig reads --config into f.s, then re-applies the flags given on
// the command line so that they win.
func applyConfig(cmd *cobra.Command, f *trainFlags) error {
	if f.config == "" {
		return nil
	}
	given := map[string]string{}
	cmd.Flags().Visit(func(fl *pflag.Flag) { given[fl.Name] = fl.Value.String() })
	b, err := os.ReadFile(f.config)
	if err != nil {
		return usererr.Wrap(fmt.Errorf("reading --config: %w", err))
	}
	if err := decodeConfig(f.config, b, &f.s); err != nil {
		return err
	}
	for name, v := range given {
		if err := cmd.Flags().Set(name, v); err != nil {
			return usererr.Errorf("--%s %q: %v", name, v, err)
		}
	}
	return nil
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
	switch _, err := os.Stat(ckpt); {
	case f.resume && errors.Is(err, fs.ErrNotExist):
		return usererr.Errorf("--resume: no checkpoint %s (train writes it after every epoch and removes it once the model is written)", ckpt)
	case !f.resume && err == nil:
		return usererr.Errorf("checkpoint %s exists: pass --resume to continue that run, or remove it to start over", ckpt)
	}
	src, split, err := f.data.open()
	if err != nil {
		return err
	}
	if s.Part == "test" {
		return usererr.Errorf("--part test: train on train, retain, forget or validation")
	}
	trainDS, trainIdx, err := f.data.part(src, split, s.Part)
	if err != nil {
		return err
	}
	if len(trainIdx) == 0 {
		return usererr.Errorf("no training examples in %s (--part %s)", trainDS.Name, s.Part)
	}
	var evalDS *datasets.Dataset
	var evalIdx []int
	if split != nil || src.Test != nil {
		if evalDS, evalIdx, err = f.data.part(src, split, "test"); err != nil {
			return err
		}
	}
	shape := []int64{int64(trainDS.C), int64(trainDS.H), int64(trainDS.W)}

	var m *nn.Model
	var norm *datasets.Normalization
	modelDigest := ""
	if strings.HasSuffix(strings.ToLower(s.Model), ".onnx") {
		if m, err = nn.Import(s.Model); err != nil {
			return err
		}
		if modelDigest, err = fileDigest(s.Model); err != nil {
			return err
		}
		if m.Classes != trainDS.Classes {
			return usererr.Errorf("model %s has %d classes, %s has %d", s.Model, m.Classes, trainDS.Name, trainDS.Classes)
		}
		if norm, err = parseNormalize(s.Normalize, trainDS.C); err != nil {
			return err
		}
		if err := selfNormalizing(norm, m, s.Model); err != nil {
			return err
		}
	} else {
		if s.Normalize != "" {
			return usererr.Errorf("--normalize is for imported models; zoo models normalise their own input")
		}
		if m, err = nn.New(s.Model, shape, trainDS.Classes, s.Seed); err != nil {
			return err
		}
		st := datasets.ChannelStats(trainDS, trainIdx)
		if err := m.PrependNormalization(st.Mean, st.Std); err != nil {
			return err
		}
	}
	probe := &nn.Data{Shape: shape}
	if err := probe.Check(m); err != nil {
		return err
	}
	batches, err := datasets.NewBatches(trainDS, trainIdx, datasets.BatchOptions{
		Size: s.BatchSize, Shuffle: true, Seed: s.Seed, Norm: norm,
		Augment: datasets.Augment{Pad: s.AugmentPad, Flip: s.AugmentFlip}})
	if err != nil {
		return err
	}
	epochs := nn.EpochBatches{Steps: batches.Len(), Examples: len(trainIdx),
		Epoch: func(e int, yield func(x []float32, y []int64) bool) {
			bar := progress.New(cmd.ErrOrStderr(), fmt.Sprintf("epoch %d/%d", e+1, s.Epochs), batches.Len())
			defer bar.Done()
			step := 0
			for b := range batches.Epoch(e) {
				if !yield(b.X, b.Y) {
					return
				}
				step++
				bar.Set(step)
			}
		}}
	var eval *nn.Data
	if evalDS != nil {
		if eval, err = loadNN(evalDS, evalIdx, norm); err != nil {
			return err
		}
	}
	// The checkpoint is checked before the runtime is loaded: a resume
	// on another device is refused whether or not that device works.
	run := f.fingerprint(len(trainIdx), modelDigest)
	var resume *nn.TrainState
	if f.resume {
		if resume, err = restoreCheckpoint(ckpt, m, run, s.Epochs, batches.Len()); err != nil {
			return err
		}
	}
	rt, err := f.rt.open()
	if err != nil {
		return err
	}
	defer rt.Close()

	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "training %s (%d parameters) on %d examples of %s for %d epochs\n", m.Graph.Name, m.NumParams(), len(trainIdx), trainDS.Name, s.Epochs)
	if resume != nil {
		fmt.Fprintf(w, "resuming from %s after epoch %d\n", ckpt, resume.Epochs)
		for _, r := range resume.History {
			fmt.Fprintln(w, epochLine(r, s.Epochs))
		}
	}
	// The first SIGINT or SIGTERM cancels ctx, and training stops between
	// two steps; stop() then restores the default handling, so a second
	// signal kills at once.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()
	_, err = nn.Train(rt, m, epochs, eval, s.TrainConfig, nn.Options{
		Context:    ctx,
		Resume:     resume,
		Progress:   func(r nn.EpochResult) { fmt.Fprintln(w, epochLine(r, s.Epochs)) },
		Checkpoint: func(st *nn.TrainState) error { return nn.SaveCheckpoint(ckpt, m, st, run) },
	})
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
		if err := os.Remove(ckpt); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing checkpoint %s after writing %s: %w", ckpt, s.Out, err)
		}
	}
	return nil
}

// checkFloats refuses a NaN, infinite or out-of-range number among the
// settings before any data is read, naming the flag, or the config field
// when the value came from --config: a NaN weight decay used to pass and
// surface only as a diverged loss after step 1.
func (f *trainFlags) checkFloats(cmd *cobra.Command) error {
	s := &f.s
	name := func(flag, field string) string {
		if f.config != "" && (flag == "" || !cmd.Flags().Changed(flag)) {
			return fmt.Sprintf("config %s: %s", f.config, field)
		}
		return "--" + flag
	}
	for _, c := range []struct {
		flag, field string
		v           float64
		r           floatRange
	}{
		{"lr", "optimizer.lr", s.Optimizer.LR, positive},
		{"momentum", "optimizer.momentum", s.Optimizer.Momentum, unitHalf},
		{"weight-decay", "optimizer.weight_decay", s.Optimizer.WeightDecay, nonNegative},
		{"", "optimizer.beta1", s.Optimizer.Beta1, unitHalf},
		{"", "optimizer.beta2", s.Optimizer.Beta2, unitHalf},
		{"", "optimizer.eps", s.Optimizer.Eps, nonNegative},
		{"gamma", "schedule.gamma", s.Schedule.Gamma, positive},
		{"label-smoothing", "loss.label_smoothing", s.Loss.LabelSmoothing, unitHalf},
	} {
		if err := checkFloat(name(c.flag, c.field), c.v, c.r); err != nil {
			return err
		}
	}
	for i, w := range s.Loss.ClassWeights {
		if err := checkFloat(name("", fmt.Sprintf("loss.class_weights[%d]", i)), float64(w), nonNegative); err != nil {
			return err
		}
	}
	_, err := parseNormalize(s.Normalize, 0)
	return err
}

func epochLine(r nn.EpochResult, epochs int) string {
	line := fmt.Sprintf("epoch %d/%d: lr %.4g, train loss %.4f, accuracy %.2f%%", r.Epoch, epochs, r.LR, r.TrainLoss, 100*r.TrainAcc)
	if r.Eval != nil {
		line += fmt.Sprintf("; test loss %.4f, accuracy %.2f%%", r.Eval.Loss, 100*r.Eval.Accuracy)
	}
	return line
}

// runSetting is one setting that determines a training run, as its flag
// name and value; a checkpoint records them all so that --resume can name
// the one that changed.
type runSetting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// fingerprint lists the resolved settings that determine the weights a run
// ends with: the data, the model (with the file's digest when fine-tuning),
// the number of training examples, every training setting, and the device
// and ONNX Runtime's intra-op thread count, which change how reductions are
// split and so the last bits of every step (a resume with other --threads
// ended with another model). --threads 0 is recorded with the core count it
// resolves to, so a resume on a machine of other cores is refused too.
func (f *trainFlags) fingerprint(examples int, modelDigest string) []runSetting {
	s, d := &f.s, &f.data
	c := s.TrainConfig
	var out []runSetting
	add := func(name string, v any) { out = append(out, runSetting{name, fmt.Sprint(v)}) }
	add("dataset", d.source.spec.Name)
	add("data", d.source.spec.Data)
	add("image-size", d.source.imageSize)
	add("channels", d.source.spec.Channels)
	add("mapping", d.source.spec.Mapping)
	add("label-column", d.source.spec.LabelColumn)
	add("split", d.split)
	add("part", s.Part)
	add("limit", d.limit)
	add("training examples", examples)
	add("model", s.Model)
	add("model digest", modelDigest)
	add("normalize", s.Normalize)
	add("augment-pad", s.AugmentPad)
	add("augment-flip", s.AugmentFlip)
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
	// cuda and cuda:0 are one device; an unparsable name fails later.
	if d, err := ort.ParseDevice(f.rt.device); err == nil {
		add("device", d)
	} else {
		add("device", f.rt.device)
	}
	threads := strconv.Itoa(f.rt.threads)
	if f.rt.threads == 0 {
		threads = fmt.Sprintf("0 (one per core: %d cores)", runtime.NumCPU())
	}
	add("threads", threads)
	return out
}

// restoreCheckpoint reads the checkpoint at path, refuses it when a setting
// of run differs from the one it was written with or when its recorded
// epochs and step do not fit a run of epochs epochs of steps steps, and
// loads its weights into m.
func restoreCheckpoint(path string, m *nn.Model, run []runSetting, epochs, steps int) (*nn.TrainState, error) {
	c, err := nn.ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	var was []runSetting
	if err := json.Unmarshal(c.Run, &was); err != nil {
		return nil, usererr.Errorf("--resume: checkpoint %s: run settings: %v", path, err)
	}
	old := map[string]string{}
	for _, r := range was {
		old[r.Name] = r.Value
	}
	shown := func(v string) string {
		if v == "" {
			return "(none)"
		}
		return v
	}
	for _, r := range run {
		if v, ok := old[r.Name]; !ok || v != r.Value {
			return nil, usererr.Errorf("--resume: checkpoint %s was written with %s %s, this run has %s %s", path, r.Name, shown(v), r.Name, shown(r.Value))
		}
	}
	st, err := c.Restore(m)
	if err != nil {
		return nil, err
	}
	// A checkpoint is written after whole epochs only.
	if st.Epochs < 1 || st.Epochs > epochs || st.Step != st.Epochs*steps || len(st.History) != st.Epochs {
		return nil, usererr.Errorf("--resume: checkpoint %s records step %d after %d epochs (%d results), which does not fit this run of %d epochs of %d steps", path, st.Step, st.Epochs, len(st.History), epochs, steps)
	}
	return st, nil
}

// fileDigest is the SHA-256 of a file, in hex.
func fileDigest(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usererr.Wrap(fmt.Errorf("reading %s: %w", path, err))
	}
	return fmt.Sprintf("%x", sha256.Sum256(b)), nil
}
