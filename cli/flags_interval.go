package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"unlearnbench/evaluate"
	"unlearnbench/internal/usererr"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

// intervalFlags are score's and attack's flags for F's bootstrap interval.
// The interval is off by default: it costs --resamples scores (a few
// seconds on examples/finetune, against a fraction of a second for the
// score itself).
type intervalFlags struct {
	resamples int
	level     float64
	target    float64
	cmd       *cobra.Command
}

func (f *intervalFlags) register(cmd *cobra.Command) {
	f.cmd = cmd
	fl := cmd.Flags()
	fl.IntVar(&f.resamples, "resamples", 0, fmt.Sprintf("put a bootstrap interval on F from this many resamples of the models (0: none; %d is a good choice)", scoring.DefaultResamples))
	fl.Float64Var(&f.level, "level", scoring.DefaultLevel, "coverage of F's interval")
	fl.Float64Var(&f.target, "target-width", 0, "state the N that an interval of F this wide needs, from how the interval narrows between N/4, N/2 and N models (three bootstraps; implies --resamples "+fmt.Sprint(scoring.DefaultResamples)+" unless given)")
}

// options checks the flags before any work and returns the bootstrap's
// options, nil when no interval was asked for.
func (f *intervalFlags) options(seed uint64) (*scoring.BootstrapOptions, error) {
	fl := f.cmd.Flags()
	if fl.Changed("target-width") {
		if err := evaluate.CheckTargetWidth("--target-width", f.target); err != nil {
			return nil, err
		}
		if !fl.Changed("resamples") {
			f.resamples = scoring.DefaultResamples
		}
	}
	switch {
	case f.resamples < 0 || f.resamples == 1:
		return nil, usererr.Errorf("--resamples is %d; want 0 (no interval) or 2 or more", f.resamples)
	case f.resamples > 1_000_000:
		return nil, usererr.Errorf("--resamples is %d; want at most 1000000", f.resamples)
	case !(f.level > 0 && f.level < 1):
		return nil, usererr.Errorf("--level is %v; want a coverage strictly between 0 and 1 (e.g. 0.95)", f.level)
	case f.resamples == 0:
		if fl.Changed("level") {
			return nil, usererr.Errorf("--level %v without --resamples: no interval is computed", f.level)
		}
		return nil, nil
	}
	// The N a width needs rests on how the width shrinks with N, which
	// is measured rather than assumed (three bootstraps instead of one).
	return &scoring.BootstrapOptions{Resamples: f.resamples, Level: f.level, Seed: seed, MeasureExponent: fl.Changed("target-width")}, nil
}

// record puts the target width into the method's interval, for reports.
func (f *intervalFlags) record(m *result.Method) {
	if f.cmd.Flags().Changed("target-width") && m.Score.Interval != nil {
		w := f.target
		m.Score.Interval.TargetWidth = &w
	}
}

// writeNeeded prints the N the target width needs, when one was given.
func (f *intervalFlags) writeNeeded(w io.Writer, m *result.Method) {
	if !f.cmd.Flags().Changed("target-width") {
		return
	}
	_, s := evaluate.NeededN(m.N, m.Score.Interval, f.target)
	fmt.Fprintf(w, "N needed: %s\n", s)
}
