package cli

import (
	"math"
	"os"

	"github.com/spf13/cobra"

	"unlearnbench/internal/usererr"
	"unlearnbench/reports"
	"unlearnbench/result"
)

func init() { subcommands = append(subcommands, newCompareCmd) }

func newCompareCmd() *cobra.Command {
	opt := reports.DefaultCompareOptions
	var format string
	cmd := &cobra.Command{
		Use:   "compare BASELINE.json CURRENT.json",
		Short: "Compare two results with bootstrap intervals; exit 3 on a significant regression",
		Long: `compare puts two result files side by side, per method and metric, in the
manner of benchstat: the change from BASELINE to CURRENT, a bootstrap interval
of the change that resamples the forget examples (paired: both results are
resampled at the same examples) and, where the results hold per-model values,
each population's models, and a verdict: better, worse, or ~ (no significant
change: the interval contains 0). Rows with one value per result (an attack's
AUC) get no interval (n/a).

A significant drop of F, the final score or an attack's F larger than
--max-drop-score is a regression: compare then exits 3, so a CI job can gate
on it. Results of different forget sets are refused; results whose
populations differ in size are refused unless --allow-different-n. The same
inputs and --seed give the same output. With --format markdown the table is
GitHub-flavoured Markdown; when $GITHUB_STEP_SUMMARY is set the Markdown is
appended to it either way.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "markdown" {
				return usererr.Errorf("--format is %q; want table or markdown", format)
			}
			if err := checkGate(opt); err != nil {
				return err
			}
			if err := checkOutputs(output{flag: "$GITHUB_STEP_SUMMARY", path: os.Getenv("GITHUB_STEP_SUMMARY")}); err != nil {
				return err
			}
			base, err := result.Read(args[0])
			if err != nil {
				return err
			}
			cur, err := result.Read(args[1])
			if err != nil {
				return err
			}
			c, err := reports.Compare(args[0], base, args[1], cur, opt)
			if err != nil {
				return err
			}
			if format == "markdown" {
				err = c.WriteMarkdown(cmd.OutOrStdout())
			} else {
				err = c.WriteTable(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if summary := os.Getenv("GITHUB_STEP_SUMMARY"); summary != "" {
				if err := c.AppendMarkdown(summary); err != nil {
					return err
				}
			}
			if err := c.RegressionError(); err != nil {
				return &exitCodeError{code: exitRegression, err: err}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.Float64Var(&opt.Alpha, "alpha", opt.Alpha, "significance level: a change is significant when the (1 - alpha) interval excludes 0")
	fl.Float64Var(&opt.MaxDropScore, "max-drop-score", opt.MaxDropScore, "largest significant drop of F, the final score or an attack's F that is not a regression")
	fl.IntVar(&opt.Resamples, "resamples", opt.Resamples, "bootstrap resamples")
	fl.Uint64Var(&opt.Seed, "seed", opt.Seed, "seed of the bootstrap")
	fl.BoolVar(&opt.AllowDifferentN, "allow-different-n", false, "compare methods whose populations differ in size (with a warning) instead of refusing")
	fl.BoolVar(&opt.RequireAttacks, "require-attacks", false, "fail (exit 3) when an attack that ran in the baseline did not run in the current result, instead of warning")
	fl.StringVar(&format, "format", "table", "output format: table or markdown")
	return cmd
}

// maxResamples bounds --resamples.
const maxResamples = 1_000_000

// checkGate refuses, before any file is read, gate settings that could let
// a regression pass unseen: a NaN or infinite level or tolerance (a NaN
// --max-drop-score made every drop tolerated), a tolerance of 1 or more
// (scores lie in [0, 1], so no drop could exceed it), and fewer resamples
// than a tail of the interval needs (its ends would be the extreme
// resamples, not the (1 - alpha) interval the table claims).
func checkGate(opt reports.CompareOptions) error {
	if err := checkFloat("--alpha", opt.Alpha, unitOpen); err != nil {
		return err
	}
	if err := checkFloat("--max-drop-score", opt.MaxDropScore, unitHalf); err != nil {
		return err
	}
	// A million resamples already pin a 99.9% interval's ends; more
	// only hold the gate for hours.
	if opt.Resamples > maxResamples {
		return usererr.Errorf("--resamples is %d; want at most %d", opt.Resamples, maxResamples)
	}
	if need := math.Ceil(2 / opt.Alpha); float64(opt.Resamples) < need {
		return usererr.Errorf("--resamples is %d; --alpha %v needs at least %.0f, so that each tail of the interval holds a resample", opt.Resamples, opt.Alpha, need)
	}
	return nil
}
