package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/progress"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
)

func init() { subcommands = append(subcommands, newLogitsCmd) }

type logitsFlags struct {
	data      dataFlags
	rt        runtimeFlags
	part      string
	normalize string
	batch     int
	out       string
}

func newLogitsCmd() *cobra.Command {
	var f logitsFlags
	cmd := &cobra.Command{
		Use:   "logits --out LOGITS.npy [flags] MODEL.onnx...",
		Short: "Run ONNX classifiers over a data split and write their logits as one .npy [models, examples, classes]",
		Long: `Run one or many ONNX classifiers (from train, or exported from PyTorch at
opset 13-17) over one part of a data set, in the order of that part, and
write their logits as one float32 .npy of shape [models, examples, classes],
as score and attack read them. Each model's accuracy on the part is printed.

--part is test (default) or train without --split; with --split also
retain, forget or validation. Models exported by PyTorch usually expect
normalised input: give the same --normalize as in training (models trained
by unlearnbench's zoo normalise their own input).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runLogits(cmd, &f, args) },
	}
	fl := cmd.Flags()
	f.data.add(fl)
	f.rt.add(fl)
	fl.StringVar(&f.part, "part", "test", "examples to run: "+strings.Join(partNames, ", "))
	fl.StringVar(&f.normalize, "normalize", "", "none or MEAN,.../STD,... per channel, applied to the data")
	fl.IntVar(&f.batch, "batch-size", 256, "examples per run")
	fl.StringVarP(&f.out, "out", "o", "", ".npy file to write (required)")
	return cmd
}

func runLogits(cmd *cobra.Command, f *logitsFlags, paths []string) error {
	if f.out == "" {
		return usererr.Errorf("logits: --out LOGITS.npy is required")
	}
	if f.batch < 1 {
		return usererr.Errorf("--batch-size %d: want >= 1", f.batch)
	}
	if _, err := parseNormalize(f.normalize, 0); err != nil {
		return err
	}
	if err := checkOutputs(output{flag: "--out", path: f.out}); err != nil {
		return err
	}
	src, split, err := f.data.open()
	if err != nil {
		return err
	}
	ds, idx, err := f.data.part(src, split, f.part)
	if err != nil {
		return err
	}
	norm, err := parseNormalize(f.normalize, ds.C)
	if err != nil {
		return err
	}
	data, err := loadNN(ds, idx, norm)
	if err != nil {
		return err
	}
	models := make([]*nn.Model, len(paths))
	for i, p := range paths {
		if models[i], err = nn.Import(p); err != nil {
			return err
		}
		if models[i].Classes != models[0].Classes {
			return usererr.Errorf("%s has %d classes but %s has %d; one logits array needs the same classes", p, models[i].Classes, paths[0], models[0].Classes)
		}
		if err := selfNormalizing(norm, models[i], p); err != nil {
			return err
		}
		if err := data.Check(models[i]); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	rt, err := f.rt.open()
	if err != nil {
		return err
	}
	defer rt.Close()
	c := models[0].Classes
	all := make([]float32, 0, len(models)*data.Len()*c)
	w := cmd.OutOrStdout()
	bar := progress.New(cmd.ErrOrStderr(), "models", len(models))
	defer bar.Done()
	for i, m := range models {
		ev, err := nn.NewEvaluator(rt, m, f.batch)
		if err != nil {
			return fmt.Errorf("%s: %w", paths[i], err)
		}
		lg, err := ev.Logits(data)
		ev.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", paths[i], err)
		}
		all = append(all, lg...)
		mt := nn.MetricsOf(lg, data.Y, c)
		fmt.Fprintf(w, "%s: accuracy %.2f%%, loss %.4f on %d examples (%s)\n", paths[i], 100*mt.Accuracy, mt.Loss, data.Len(), f.part)
		bar.Set(i + 1)
	}
	shape := []int{len(models), data.Len(), c}
	if err := arrays.WriteNPY(f.out, arrays.Tensor[float32]{Shape: shape, Data: all}); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s %s\n", f.out, arrays.FormatShape(shape))
	return nil
}
