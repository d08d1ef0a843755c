package cli

import (
	"github.com/spf13/cobra"

	"unlearnbench/evaluate"
	"unlearnbench/internal/usererr"
	"unlearnbench/reports"
)

func init() { subcommands = append(subcommands, newScoreCmd) }

func newScoreCmd() *cobra.Command {
	var (
		in        populationFlags
		jsonOut   string
		reportDir string
		method    string
		worst     int
		workers   int
		seed      uint64
		interval  intervalFlags
		strict    bool
	)
	cmd := &cobra.Command{
		Use:   "score",
		Short: "Score an unlearned population against a retrained one, exactly as the NeurIPS 2023 competition",
		Long: `score computes the NeurIPS 2023 Machine Unlearning competition's score:
per forget example, the competition's decision rules try to tell the unlearned
models from the retrained ones; their error rates give an epsilon, the epsilon
a bucket and points, the points' mean the forgetting quality F, and F times
the accuracy ratios the final score.

Inputs are NumPy files as PyTorch users save them: confidences [N, E] or logits
[N, E, C] (then --labels). One .npz per population may hold members forget,
retain and test, with a labels .npz holding the same names.

An example whose every decision rule is discarded (each has a false-positive
or false-negative rate of 0: the two populations are closer together than the
threshold grid) gets epsilon 0, one point, and the result's warnings say how
many did; the competition's evaluation stops with an error there, and so does
score with --strict.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if worst < 0 {
				return usererr.Errorf("--worst is %d; want 0 or more", worst)
			}
			if err := checkMethodName(method); err != nil {
				return err
			}
			if err := checkWorkers(workers); err != nil {
				return err
			}
			if err := checkResultOutputs(jsonOut, "--report", reportDir); err != nil {
				return err
			}
			boot, err := interval.options(seed)
			if err != nil {
				return err
			}
			loaded, err := in.load()
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			bar := newLazyBar(cmd.ErrOrStderr(), "scoring")
			m, err := evaluate.Method(ctx, loaded.u, loaded.r, loaded.labels, evaluate.Options{Method: method, Workers: workers, Strict: strict, Warnings: loaded.warnings, ScoreProgress: bar.set, Bootstrap: boot})
			bar.done()
			if err != nil {
				return interruptedBy(cmd, ctx, err, "nothing written")
			}
			interval.record(m)
			result := loaded.result("score", m)
			if err := reports.WriteScore(cmd.OutOrStdout(), &result.Methods[0], worst); err != nil {
				return err
			}
			interval.writeNeeded(cmd.OutOrStdout(), &result.Methods[0])
			return writeResult(cmd, result, jsonOut, reportDir)
		},
	}
	in.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&jsonOut, "json", "", "write the full result (per-example epsilons, winning rules, buckets, warnings) to this JSON file")
	fl.StringVar(&method, "method", "unlearned", "name of the unlearning method, for tables and the result file")
	fl.IntVar(&worst, "worst", 10, "how many of the worst-forgotten examples to list")
	fl.IntVar(&workers, "workers", 0, "examples scored in parallel (0: one per core)")
	fl.Uint64Var(&seed, "seed", 1, "seed of F's bootstrap interval (--resamples)")
	interval.register(cmd)
	fl.BoolVar(&strict, "strict", false, strictUsage)
	addReportFlag(cmd, &reportDir)
	return cmd
}

// strictUsage is --strict's help, shared by score and attack.
const strictUsage = "stop with an error on a forget example whose every rule is discarded, as the competition's evaluation does (default: epsilon 0 and a warning)"
