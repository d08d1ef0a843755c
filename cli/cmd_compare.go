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
	// The tolerances as typed, parsed in RunE so that a bad one is a
	// one-line user error naming its flag.
	tol := map[string]*string{}
	for gate, t := range map[string]reports.Tolerance{
		reports.GateF: opt.Tolerances.F, reports.GateAttackF: opt.Tolerances.AttackF, reports.GateFinal: opt.Tolerances.Final,
		reports.GateToW: opt.Tolerances.ToW, reports.GateKLoM: opt.Tolerances.KLoM,
	} {
		s := t.String()
		tol[gate] = &s
	}
	var maxDropScore string
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

The output opens with what regressed (method, metric, by how much, against
which tolerance), then lists only the rows that changed significantly (--all
lists every row). A significant worsening of a gated metric beyond its
tolerance is a regression, and compare exits 3, so a CI job can gate on it.
Each tolerance is an amount in the metric's unit (0.01) or a percentage of
the baseline (10%): --max-drop-f (F and each attack's F, default 10%),
--max-drop-final (the final score, 10%), --max-drop-tow (ToW, 0.01) and
--max-rise-klom (the forget set's mean KLoM, lower is better, 10%).
Epsilons at the cap of 50 are counted, not averaged.

Results of different forget sets are refused; results whose populations
differ in size are refused unless --allow-different-n. The same inputs and
--seed give the same output. With --format markdown the output is
GitHub-flavoured Markdown; when $GITHUB_STEP_SUMMARY is set the Markdown is
appended to it either way.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "markdown" {
				return usererr.Errorf("--format is %q; want table or markdown", format)
			}
			if err := parseTolerances(cmd, tol, maxDropScore, &opt.Tolerances); err != nil {
				return err
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
	fl.StringVar(tol[reports.GateF], reports.ToleranceFlags[reports.GateF][2:], *tol[reports.GateF], "largest significant drop of F that is not a regression: an amount (0.01) or a percentage of the baseline (10%)")
	fl.StringVar(tol[reports.GateAttackF], reports.ToleranceFlags[reports.GateAttackF][2:], *tol[reports.GateAttackF], "largest significant drop of each attack's F that is not a regression (amount or percentage)")
	fl.StringVar(tol[reports.GateFinal], reports.ToleranceFlags[reports.GateFinal][2:], *tol[reports.GateFinal], "largest significant drop of the final score that is not a regression (amount or percentage)")
	fl.StringVar(tol[reports.GateToW], reports.ToleranceFlags[reports.GateToW][2:], *tol[reports.GateToW], "largest significant drop of ToW that is not a regression (amount or percentage)")
	fl.StringVar(tol[reports.GateKLoM], reports.ToleranceFlags[reports.GateKLoM][2:], *tol[reports.GateKLoM], "largest significant rise of the forget set's mean KLoM that is not a regression (amount or percentage)")
	fl.StringVar(&maxDropScore, "max-drop-score", "", "the tolerance of F, each attack's F and the final score at once (older name; the --max-drop-* flags set each)")
	fl.IntVar(&opt.Resamples, "resamples", opt.Resamples, "bootstrap resamples")
	fl.Uint64Var(&opt.Seed, "seed", opt.Seed, "seed of the bootstrap")
	fl.BoolVar(&opt.AllowDifferentN, "allow-different-n", false, "compare methods whose populations differ in size (with a warning) instead of refusing")
	fl.BoolVar(&opt.RequireAttacks, "require-attacks", false, "fail (exit 3) when an attack that ran in the baseline did not run in the current result, instead of warning")
	fl.BoolVar(&opt.All, "all", false, "list every row, not only those that changed significantly")
	fl.StringVar(&format, "format", "table", "output format: table or markdown")
	return cmd
}

// parseTolerances reads the tolerance flags into ts; --max-drop-score, the
// one tolerance of older releases, sets F's and the final score's where
// their own flags were not given.
func parseTolerances(cmd *cobra.Command, tol map[string]*string, maxDropScore string, ts *reports.Tolerances) error {
	parse := func(flag, s string) (reports.Tolerance, error) {
		t, err := reports.ParseTolerance(s)
		if err != nil {
			return t, usererr.Errorf("%s is %q; want an amount (like 0.01) or a percentage of the baseline (like 10%%)", flag, s)
		}
		return t, nil
	}
	// In the order of --help, so that of several bad flags the same one
	// is named every time.
	for _, g := range []struct {
		gate string
		dst  *reports.Tolerance
	}{{reports.GateF, &ts.F}, {reports.GateAttackF, &ts.AttackF}, {reports.GateFinal, &ts.Final}, {reports.GateToW, &ts.ToW}, {reports.GateKLoM, &ts.KLoM}} {
		t, err := parse(reports.ToleranceFlags[g.gate], *tol[g.gate])
		if err != nil {
			return err
		}
		*g.dst = t
	}
	if cmd.Flags().Changed("max-drop-score") {
		t, err := parse("--max-drop-score", maxDropScore)
		if err != nil {
			return err
		}
		if err := (reports.Tolerances{F: t, AttackF: t, Final: t}).Check(); err != nil {
			// Named as typed, not as the flag it stands for.
			return usererr.Errorf("--max-drop-score is %s; want a finite amount in [0, 1) or a percentage under 100%%", t)
		}
		if !cmd.Flags().Changed("max-drop-f") {
			ts.F = t
		}
		if !cmd.Flags().Changed("max-drop-attack-f") {
			ts.AttackF = t
		}
		if !cmd.Flags().Changed("max-drop-final") {
			ts.Final = t
		}
	}
	return ts.Check()
}

// maxResamples bounds --resamples.
const maxResamples = 1_000_000

// checkGate refuses, before any file is read, gate settings that could let
// a regression pass unseen: a NaN or infinite level, and fewer resamples
// than a tail of the interval needs (its ends would be the extreme
// resamples, not the (1 - alpha) interval the table claims). The
// tolerances are checked as they are parsed (parseTolerances).
func checkGate(opt reports.CompareOptions) error {
	if err := checkFloat("--alpha", opt.Alpha, unitOpen); err != nil {
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
