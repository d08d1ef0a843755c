package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/training"
	"unlearnbench/unlearners"
)

func init() { subcommands = append(subcommands, newUnlearnCmd) }

type unlearnFlags struct {
	data      dataFlags
	rt        runtimeFlags
	method    string
	model     string
	out       string
	params    []string
	paramFile string
	recipe    string
	seed      uint64
	cache     string
	normalize string
}

func newUnlearnCmd() *cobra.Command {
	var f unlearnFlags
	cmd := &cobra.Command{
		Use:   "unlearn --method NAME --model ORIGINAL.onnx --split DIR --out UNLEARNED.onnx [flags]",
		Short: "Run one unlearning method on an original model and write the unlearned model as ONNX",
		Long: `Run one unlearning method (unlearnbench methods lists them) on the original
model, trained on the split's retain and forget sets, and write the
unlearned model as a self-contained ONNX file. The method reads the split's
retain, forget and validation sets; the original is never modified.

Parameters come from --params FILE.yaml (a map of parameter to value) and
--param KEY=VALUE (repeatable, values read as YAML: 0.5, 10, true, cosine),
which win over the file; every other parameter takes its default. The
resolved parameters are printed. An unknown method or parameter, or a value
of the wrong type or out of range, is an error naming the method, the
parameter and the value (exit 2), before any data is read.

retrain repeats the original's training recipe on the retain set:
--recipe is the YAML file train read with --config (its epochs, batch_size,
optimizer, schedule, loss, augment_pad and augment_flip; train's defaults
for what it leaves out; its model, out and part keys are ignored). The
other methods take their batch size from it unless their batch_size
parameter is set.

--seed seeds every random choice of the run (batch order, noise, random
labels, re-initialisation): the same seed gives the same model. --cache DIR
keeps what runs of the same original share (the Fisher diagonal of fisher
and ssd, in DIR/fisher/); a damaged or foreign cache file is recomputed with
a warning. The output is written only once the method has finished, and
atomically; Ctrl-C stops the method between two steps without writing it
(exit 130).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUnlearn(cmd, &f) },
	}
	fl := cmd.Flags()
	f.data.add(fl)
	f.rt.add(fl)
	fl.StringVar(&f.method, "method", "", "unlearning method (see unlearnbench methods; required)")
	fl.StringVar(&f.model, "model", "", "the original ONNX `MODEL` (required)")
	fl.StringVarP(&f.out, "out", "o", "", "ONNX `FILE` to write the unlearned model to (required)")
	fl.StringArrayVar(&f.params, "param", nil, "method parameter `KEY=VALUE` (repeatable; wins over --params)")
	fl.StringVar(&f.paramFile, "params", "", "YAML `FILE` mapping method parameters to values")
	fl.StringVar(&f.recipe, "recipe", "", "the original's training recipe: the YAML `FILE` train read with --config (default: train's defaults)")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of every random choice of the run")
	fl.StringVar(&f.cache, "cache", "", "`DIR` for what runs of the same original share (Fisher diagonals)")
	fl.StringVar(&f.normalize, "normalize", "", "imported models: none or MEAN,.../STD,... per channel (zoo models normalise themselves)")
	return cmd
}

func runUnlearn(cmd *cobra.Command, f *unlearnFlags) error {
	for _, req := range []struct{ flag, v string }{{"--method NAME", f.method}, {"--model ORIGINAL.onnx", f.model}, {"--split DIR", f.data.split}, {"--out UNLEARNED.onnx", f.out}} {
		if req.v == "" {
			return usererr.Errorf("unlearn: %s is required", req.flag)
		}
	}
	// The method may run for hours: an --out it could not write is refused
	// before it starts.
	if err := checkOutputs(output{flag: "--out", path: f.out}); err != nil {
		return err
	}
	given, err := unlearnParams(f)
	if err != nil {
		return err
	}
	u, resolved, err := unlearners.New(f.method, given)
	if err != nil {
		return err
	}
	defer func() {
		if err := u.(io.Closer).Close(); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "unlearnbench: warning: %v\n", err)
		}
	}()
	recipe, err := training.ReadRecipe(f.recipe)
	if err != nil {
		return err
	}
	src, split, err := f.data.open()
	if err != nil {
		return err
	}
	sets := map[string]*nn.Data{}
	for _, part := range []string{"retain", "forget", "validation"} {
		ds, idx, err := f.data.part(src, split, part)
		if err != nil {
			return err
		}
		norm, err := parseNormalize(f.normalize, ds.C)
		if err != nil {
			return err
		}
		if sets[part], err = loadNN(ds, idx, norm); err != nil {
			return err
		}
	}
	orig, err := nn.Import(f.model)
	if err != nil {
		return err
	}
	for part, d := range sets {
		if err := d.Check(orig); err != nil {
			return fmt.Errorf("%s set of split %s, model %s: %w", part, f.data.split, f.model, err)
		}
	}
	rt, err := f.rt.open()
	if err != nil {
		return err
	}
	defer rt.Close()

	ctx, stop := interruptible(cmd)
	defer stop()
	bar := newLazyBar(cmd.ErrOrStderr(), f.method)
	in := &unlearners.Inputs{Original: orig, Retain: sets["retain"], Forget: sets["forget"], Validation: sets["validation"],
		Recipe: recipe, Runtime: rt, Seed: f.seed, Cache: f.cache, Progress: bar.set,
		Warn: func(s string) { fmt.Fprintf(cmd.ErrOrStderr(), "unlearnbench: warning: %s\n", s) }}
	res, err := unlearners.Apply(ctx, u, in)
	bar.done()
	if err != nil {
		if ctx.Err() != nil {
			return &exitCodeError{code: exitInterrupted, err: fmt.Errorf("%w; %s not written", err, f.out)}
		}
		return err
	}
	// The run's description comes after it, so that an error is the only
	// line a failed run prints.
	w := cmd.OutOrStdout()
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(resolved)) {
		kv = append(kv, fmt.Sprintf("%s=%s", k, formatDefault(resolved[k])))
	}
	fmt.Fprintf(w, "%s on %s (%d retain, %d forget examples), seed %d", f.method, f.model, sets["retain"].Len(), sets["forget"].Len(), f.seed)
	if len(kv) > 0 {
		fmt.Fprintf(w, ": %s", strings.Join(kv, " "))
	}
	fmt.Fprintln(w)
	for _, a := range res.Accuracy {
		fmt.Fprintf(w, "%s accuracy: %.2f%% -> %.2f%%\n", a.Part, 100*a.Before, 100*a.After)
	}
	if err := res.Model.Save(f.out); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", f.out)
	return nil
}
