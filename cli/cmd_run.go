package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"unlearnbench/internal/progress"
	"unlearnbench/internal/usererr"
	"unlearnbench/reports"
	"unlearnbench/result"
	benchrun "unlearnbench/run" // cli has a func run of its own
)

func init() { subcommands = append(subcommands, newRunCmd) }

type runFlags struct {
	config  string
	sets    []string
	name    string
	replace bool
	dryRun  bool
	shard   string
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [-c CONFIG.yaml] [--set KEY.PATH=VALUE]... [--name NAME] [--dry-run] [--shard K/M]",
		Short: "Produce, cache, attack and score populations of unlearned and retrained models from one config",
		Long: `run does the whole job from one YAML config: the data and its split (as
split does), the original model (trained with the config's recipe and cached
in CACHE/originals by its settings, or imported with original: FILE.onnx),
the reference population of retrained models, one population per method,
the attack suite and the competition's score of every method, written to
RUNS/NAME/: config.yaml (the resolved config, every default written out),
result.json, report.md and report.html. Without -c it runs the embedded
default config (what make demo runs).

--set KEY.PATH=VALUE overrides one setting of the config (repeatable; the
value is YAML, e.g. --set recipe.epochs=3 --set methods[0].params.lr=0.01
--set attacks.enabled=false), checked as the file's keys are; --name NAME
names the run directory. RUNS/NAME/ holding the run of another config is
not replaced unless --replace: the run is refused, with a hint, before any
work. Configs are compared by their digest, not their path, so a rerun from
a copy of the same config is the same run; the cache, runs and name
settings, the workers and the library path are not part of it.

Every population is cached in CACHE/populations/DIGEST/, one file per
member, keyed by everything its members depend on (the original, the
split, the method and its resolved parameters, the run seed): a rerun
computes nothing it has, growing n computes only the new members, and a
killed run loses only the members in flight. The reference is keyed
without the methods, so every method and every later run reuses it.

--shard K/M computes only members i with i mod M = K of every population
(and does not score): start M shards on as many machines sharing CACHE,
then run without --shard to score. --shard k8s/M takes K from a
Kubernetes Indexed Job's $JOB_COMPLETION_INDEX; --shard slurm takes K and
M from a Slurm job array ($SLURM_ARRAY_TASK_ID - $SLURM_ARRAY_TASK_MIN,
$SLURM_ARRAY_TASK_COUNT).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRun(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "YAML config `FILE` (default: the embedded demo config)")
	fl.StringArrayVar(&f.sets, "set", nil, "override one setting of the config: `KEY.PATH=VALUE` (YAML value; repeatable)")
	fl.StringVar(&f.name, "name", "", "name of the run directory RUNS/`NAME` (default: the config's name)")
	fl.BoolVar(&f.replace, "replace", false, "replace RUNS/NAME even if it holds the run of another config")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the resolved config, what is cached and what would be computed, and a time estimate; compute nothing")
	fl.StringVar(&f.shard, "shard", "", "compute one slice of every population: K/M (K from 0), k8s/M or slurm")
	return cmd
}

func runRun(cmd *cobra.Command, f *runFlags) error {
	if err := checkSets(f.sets); err != nil {
		return err
	}
	cfg, err := benchrun.Load(f.config, f.sets...)
	if err != nil {
		return err
	}
	if cmd.Flags().Changed("name") {
		if err := benchrun.CheckName(f.name); err != nil {
			return usererr.Errorf("--name %q: %v", f.name, err)
		}
		cfg.Name = f.name
	}
	if err := cfg.Resolve(); err != nil {
		return err
	}
	shard, err := benchrun.ParseShard(f.shard, os.Getenv)
	if err != nil {
		return err
	}
	ctx, stop := interruptible(cmd)
	defer stop()
	w, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	out, err := benchrun.Execute(ctx, cfg, benchrun.Options{Shard: shard, DryRun: f.dryRun, Replace: f.replace, Out: w,
		Warn: func(s string) { fmt.Fprintf(errw, "warning: %s\n", s) },
		// A bar with its ETA on a terminal; in a log (CI, Slurm) a plain
		// line every few seconds.
		Progress: func(s benchrun.Stage) (func(done, total int), func()) {
			st := progress.StartStage(errw, s.Label, progress.Options{Unit: s.Unit})
			return st.Update, st.End
		},
		Reports: func(r *result.Result, dir string) error {
			_, err := reports.WriteDir(r, dir)
			return err
		}})
	var interrupted *benchrun.InterruptedError
	var incomplete *benchrun.IncompleteError
	switch {
	case errors.As(err, &interrupted) && cmd.Context().Err() == nil:
		return &exitCodeError{code: exitInterrupted, err: err}
	case errors.As(err, &incomplete):
		return &exitCodeError{code: exitIncomplete, err: err}
	case err != nil:
		return err
	case out.Plan != nil:
		return reports.WritePlan(w, out.Plan)
	case out.Result == nil: // a shard: its status line said it all
		return incompleteExit(out)
	}
	// As score --report and report do: a CI job's summary shows the run.
	if err := reports.AppendStepSummary(out.Result); err != nil {
		return err
	}
	if err := reports.WriteRanking(w, out.Result, cfg.Reference.Method); err != nil {
		return err
	}
	writeStartups(w, out.Startups)
	fmt.Fprintf(w, "wrote %s (config.yaml, result.json, report.md, report.html)\n", out.Dir)
	fmt.Fprintln(w, out.Timing)
	return incompleteExit(out)
}

// writeStartups notes under the ranking the worker-mode methods'
// per-process start-up, which their s/member leaves out.
func writeStartups(w io.Writer, startups []benchrun.Startup) {
	for _, s := range startups {
		var sum float64
		for _, x := range s.Seconds {
			sum += x
		}
		fmt.Fprintf(w, "note: %s's worker processes: %d started, %.2f s of start-up each on average, not counted in its s/member\n", s.Name, len(s.Seconds), sum/float64(len(s.Seconds)))
	}
}

// incompleteExit is the exit of a run whose members partly failed (the
// status lines named each failure): exitIncomplete, which scripts and CI
// tell from a failed run (1, 2) and from a clean one.
func incompleteExit(out *benchrun.Outcome) error {
	if len(out.Incomplete) == 0 {
		return nil
	}
	var parts []string
	for _, c := range out.Incomplete {
		parts = append(parts, fmt.Sprintf("%s %s", c.Name, c.String()))
	}
	return &exitCodeError{code: exitIncomplete, err: fmt.Errorf("members failed: %s; every member that succeeded is cached: rerun to compute the failed ones", strings.Join(parts, ", "))}
}

// checkSets refuses one setting given twice with different values, which
// would otherwise be decided by the order of the flags.
func checkSets(sets []string) error {
	first := map[string]string{}
	for _, kv := range sets {
		k, _, _ := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if prev, dup := first[k]; dup && prev != kv {
			return usererr.Errorf("--set %s given twice with different values: %q, then %q; give it once", k, prev, kv)
		}
		first[k] = kv
	}
	return nil
}
