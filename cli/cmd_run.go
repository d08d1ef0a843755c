package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"unlearnbench/reports"
	"unlearnbench/result"
	benchrun "unlearnbench/run" // cli has a func run of its own
)

func init() { subcommands = append(subcommands, newRunCmd) }

type runFlags struct {
	config string
	dryRun bool
	shard  string
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [-c CONFIG.yaml] [--dry-run] [--shard K/M]",
		Short: "Produce, cache, attack and score populations of unlearned and retrained models from one config",
		Long: `run does the whole job from one YAML config: the data and its split (as
split does), the original model (trained with the config's recipe and cached
in CACHE/originals by its settings, or imported with original: FILE.onnx),
the reference population of retrained models, one population per method,
the attack suite and the competition's score of every method, written to
RUNS/NAME/: config.yaml (the resolved config, every default written out),
result.json, report.md and report.html. Without -c it runs the embedded
default config (what make demo runs).

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
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the resolved config, what is cached and what would be computed, and a time estimate; compute nothing")
	fl.StringVar(&f.shard, "shard", "", "compute one slice of every population: K/M (K from 0), k8s/M or slurm")
	return cmd
}

func runRun(cmd *cobra.Command, f *runFlags) error {
	cfg, err := benchrun.Load(f.config)
	if err != nil {
		return err
	}
	if err := cfg.Resolve(); err != nil {
		return err
	}
	shard, err := benchrun.ParseShard(f.shard, os.Getenv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()
	w, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	out, err := benchrun.Execute(ctx, cfg, benchrun.Options{Shard: shard, DryRun: f.dryRun, Out: w,
		Warn: func(s string) { fmt.Fprintf(errw, "warning: %s\n", s) },
		Progress: func(label string) (func(done, total int), func()) {
			bar := newLazyBar(errw, label)
			return bar.set, bar.done
		},
		Reports: func(r *result.Result, dir string) error {
			_, err := reports.WriteDir(r, dir)
			return err
		}})
	var interrupted *benchrun.InterruptedError
	switch {
	case errors.As(err, &interrupted) && cmd.Context().Err() == nil:
		return &exitCodeError{code: exitInterrupted, err: err}
	case err != nil:
		return err
	case out.Plan != nil:
		return reports.WritePlan(w, out.Plan)
	case out.Result == nil: // a shard: its status line said it all
		return nil
	}
	if err := reports.WriteRanking(w, out.Result, cfg.Reference.Method); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s (config.yaml, result.json, report.md, report.html)\n", out.Dir)
	fmt.Fprintln(w, out.Timing)
	return nil
}
