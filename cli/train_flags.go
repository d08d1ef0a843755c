package cli

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"unlearnbench/datasets"
	"unlearnbench/internal/usererr"
	"unlearnbench/internal/yamlcheck"
	"unlearnbench/nn/ort"
	"unlearnbench/training"
)

// train's --config file and its checks, and the flag values that determine
// a run besides the training settings.

// applyConfig reads --config into f.s, then re-applies the flags given on
// the command line so that they win.
func applyConfig(cmd *cobra.Command, f *trainFlags) error {
	if f.config == "" {
		return nil
	}
	given := map[string]string{}
	cmd.Flags().Visit(func(fl *pflag.Flag) { given[fl.Name] = fl.Value.String() })
	b, err := yamlcheck.ReadFile("--config", f.config)
	if err != nil {
		return err
	}
	if err := yamlcheck.Decode(f.config, b, &f.s); err != nil {
		return err
	}
	for name, v := range given {
		if err := cmd.Flags().Set(name, v); err != nil {
			return usererr.Errorf("--%s %q: %v", name, v, err)
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
	// The integer and named settings, refused before any data is read
	// (epochs 0 was refused once training had begun).
	var fe *training.FieldError
	if err := training.CheckRecipe(s.TrainConfig); errors.As(err, &fe) {
		flag := map[string]string{"optimizer.name": "optimizer", "schedule.name": "schedule"}[fe.Field]
		if flag == "" {
			flag = strings.ReplaceAll(fe.Field[strings.LastIndex(fe.Field, ".")+1:], "_", "-")
		}
		if cmd.Flags().Lookup(flag) == nil {
			flag = ""
		}
		return usererr.Errorf("%s is %s; want %s", name(flag, fe.Field), fe.Value, fe.Want)
	}
	// Named as the user gave it: a config's normalize: is not a flag.
	if _, err := datasets.ParseNormalization(s.Normalize, 0); err != nil {
		return usererr.Errorf("%s %q: %v", name("normalize", "normalize"), s.Normalize, err)
	}
	if s.Normalize != "" && !training.IsImport(s.Model) {
		return usererr.Errorf("%s is for imported models; zoo models normalise their own input", name("normalize", "normalize"))
	}
	return nil
}

// settings lists the flag values that determine the weights a run ends
// with besides the model and training settings (training.Job adds those):
// where the examples come from, and the device and ONNX Runtime's intra-op
// thread count, which change how reductions are split and so the last bits
// of every step (a resume with other --threads ended with another model).
// --threads 0 is recorded with the core count it resolves to, so a resume
// on a machine of other cores is refused too.
func (f *trainFlags) settings() (data, rt []training.Setting) {
	d := &f.data
	add := func(to *[]training.Setting, name string, v any) {
		*to = append(*to, training.Setting{Name: name, Value: fmt.Sprint(v)})
	}
	add(&data, "dataset", d.source.spec.Name)
	add(&data, "data", d.source.spec.Data)
	add(&data, "image-size", d.source.imageSize)
	add(&data, "channels", d.source.spec.Channels)
	add(&data, "mapping", d.source.spec.Mapping)
	add(&data, "label-column", d.source.spec.LabelColumn)
	add(&data, "split", d.split)
	add(&data, "part", f.s.Part)
	add(&data, "limit", d.limit)
	// cuda and cuda:0 are one device; an unparsable name fails later.
	if dev, err := ort.ParseDevice(f.rt.device); err == nil {
		add(&rt, "device", dev)
	} else {
		add(&rt, "device", f.rt.device)
	}
	threads := strconv.Itoa(f.rt.threads)
	if f.rt.threads == 0 {
		threads = fmt.Sprintf("0 (one per core: %d cores)", runtime.NumCPU())
	}
	add(&rt, "threads", threads)
	return data, rt
}

// model sets j's model, with --normalize's data normalisation for an
// imported one: --model names a zoo architecture or an ONNX file.
func (f *trainFlags) model(j *training.Job) error {
	var err error
	if training.IsImport(f.s.Model) {
		if j.Model, j.ModelDigest, err = training.Import(f.s.Model, j.Data); err != nil {
			return err
		}
		if j.Norm, err = parseNormalize(f.s.Normalize, j.Data.C); err != nil {
			return err
		}
		if err := selfNormalizing(j.Norm, j.Model, f.s.Model); err != nil {
			return err
		}
	} else {
		if f.s.Normalize != "" {
			return usererr.Errorf("--normalize is for imported models; zoo models normalise their own input")
		}
		if j.Model, err = training.Zoo(f.s.Model, j.Data, j.Idx, f.s.Seed); err != nil {
			return err
		}
	}
	return nil
}
