package evaluate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"unlearnbench/attack/suite"
	"unlearnbench/internal/usererr"
	"unlearnbench/population"
	"unlearnbench/result"
	"unlearnbench/scoring"
)

// Options say what to evaluate and how.
type Options struct {
	// Method names the unlearning method in tables and the result.
	Method string
	// Attacks, when set, runs the attack suite with these options besides
	// the competition's score (what attack does); nil scores only (what
	// score does). Zero Workers and a nil Progress take Options' own.
	Attacks *suite.Options
	// Original holds the original models' values on the forget set,
	// LiRA's "in" population; optional.
	Original *population.Values
	// Workers bounds the parallelism (0: one per core).
	Workers int
	// Strict fails on a forget example whose every rule was discarded, as
	// the competition's evaluation does (scoring.Options.Strict); it also
	// sets Attacks.Strict.
	Strict bool
	// Warnings about the inputs that the caller found (say, two sources
	// of the same accuracies) go first among the method's warnings.
	Warnings []string
	// Bootstrap, when set, puts a bootstrap interval on F (and on the
	// final score with accuracies) and records it in the result; nil
	// computes none (scoring.BootstrapF: it costs Resamples scores).
	// Zero Workers take Options' own.
	Bootstrap *scoring.BootstrapOptions
	// ScoreProgress and AttackProgress, when set, are called with the work
	// done and its total while scoring and while attacking; ScoreProgress
	// may be called from several goroutines.
	ScoreProgress, AttackProgress func(done, total int)
}

// Examples whose confidences a method's result keeps for the report's plots.
const (
	PlotWorst   = 3
	PlotTypical = 3
)

// side is one population with what scoring reads from it.
type side struct {
	role string
	p    *population.Population
	pop  *scoring.Population
	// forgetAcc is each model's forget accuracy (nil for confidences).
	forgetAcc []float64
}

// Method evaluates an unlearned population u against a retrained one r: the
// competition's score, each population's per-model accuracies, seeds and
// times, the confidences of the examples a report plots, and with
// opt.Attacks every attack. Inputs that do not fit each other (sizes,
// labels, missing accuracies of one side) are user errors naming the file.
// Neither population is modified.
//
// A done ctx stops it between two examples of the score or of an attack,
// or between two attacks, with ctx's error.
func Method(ctx context.Context, u, r *population.Population, labels *population.Labels, opt Options) (*result.Method, error) {
	if strings.TrimSpace(opt.Method) == "" {
		return nil, usererr.Errorf("the method's name is empty; it labels tables and the result")
	}
	sides, warnings, err := prepare(u, r, labels)
	if err != nil {
		return nil, err
	}
	var in *suite.Inputs
	if opt.Attacks != nil {
		if in, err = attackInputs(sides, labels, opt.Original); err != nil {
			return nil, err
		}
	}
	su, sr := sides[0], sides[1]
	var progress func(int)
	if opt.ScoreProgress != nil {
		progress = func(done int) { opt.ScoreProgress(done, su.pop.E) }
	}
	res, err := scoring.Score(su.pop, sr.pop, scoring.Options{Workers: opt.Workers, Progress: progress, Strict: opt.Strict, Context: ctx})
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("scoring %s against %s: %w", u.Forget.Name, r.Forget.Name, err))
	}
	m := result.NewMethod(opt.Method, res)
	if opt.Bootstrap != nil {
		bopt := *opt.Bootstrap
		if bopt.Workers == 0 {
			bopt.Workers = opt.Workers
		}
		bopt.Strict = opt.Strict
		if err := scoring.CheckBootstrap(bopt); err != nil {
			return nil, usererr.Wrap(err)
		}
		if m.Score.Interval, err = scoring.BootstrapF(su.pop, sr.pop, bopt); err != nil {
			return nil, usererr.Wrap(fmt.Errorf("bootstrapping F of %s against %s: %w", u.Forget.Name, r.Forget.Name, err))
		}
	}
	if w := append(slices.Clone(opt.Warnings), warnings...); len(w) > 0 {
		m.Warnings = append(w, m.Warnings...)
	}
	for _, s := range sides {
		p := result.NewPopulation(s.role, s.pop)
		p.ForgetAcc = s.forgetAcc
		p.Seeds, p.Seconds = s.p.Seeds, s.p.Seconds
		m.Populations = append(m.Populations, p)
	}
	m.KeepDistributions(su.pop, sr.pop, PlotWorst, PlotTypical)
	if in != nil {
		in.Score = res
		// ToW reads the accuracies the result reports, whether they came
		// from logits or from an accuracies file.
		for _, x := range []struct {
			s   *side
			dst *suite.Population
		}{{su, &in.Unlearned}, {sr, &in.Retrained}} {
			x.dst.ForgetAcc, x.dst.RetainAcc, x.dst.TestAcc = x.s.forgetAcc, x.s.pop.RetainAcc, x.s.pop.TestAcc
		}
		aopt := *opt.Attacks
		if aopt.Workers == 0 {
			aopt.Workers = opt.Workers
		}
		if aopt.Progress == nil {
			aopt.Progress = opt.AttackProgress
		}
		if m.Attacks, err = suite.Run(ctx, in, aopt); err != nil {
			if errors.Is(err, suite.ErrOptions) {
				return nil, usererr.Wrap(err)
			}
			return nil, err
		}
	}
	// A result file holds finite numbers only; values that overflowed
	// float64 somewhere are the inputs' fault, said before any output.
	if _, err := json.Marshal(&m); err != nil {
		return nil, usererr.Errorf("scoring %s against %s: the result holds a number that is not finite (%w): the inputs' values overflow float64 arithmetic", u.Forget.Name, r.Forget.Name, err)
	}
	return &m, nil
}

// prepare checks that the populations fit each other and computes their
// confidences and accuracies; it warns about inputs that fit but do less
// than their giver may think.
func prepare(u, r *population.Population, labels *population.Labels) (sides [2]*side, warnings []string, err error) {
	sides = [2]*side{{role: scoring.Unlearned, p: u}, {role: scoring.Retrained, p: r}}
	for i, s := range sides {
		if s.p == nil || s.p.Forget == nil {
			return sides, nil, fmt.Errorf("evaluate: the %s population has no values on the forget set", s.role)
		}
		v := s.p.Forget
		if i == 1 {
			first := u.Forget
			if first.N != v.N {
				return sides, nil, usererr.Errorf("%s has N = %d models but %s has N = %d; the score compares populations of the same size", first.Name, first.N, v.Name, v.N)
			}
			if first.E != v.E {
				return sides, nil, usererr.Errorf("%s has E = %d forget examples but %s has E = %d", first.Name, first.E, v.Name, v.E)
			}
			// Confidences keep the class count of the logits they
			// came from (population.Compact), so this holds for both.
			if first.C != 0 && v.C != 0 && first.C != v.C {
				return sides, nil, usererr.Errorf("%s has %d classes but %s has %d; both populations must be the same task's models", first.Name, first.C, v.Name, v.C)
			}
		}
		if v.N < 3 {
			return sides, nil, usererr.Errorf("%s: N = %d models; the score needs at least 3 per population", v.Name, v.N)
		}
		s.pop = &scoring.Population{N: v.N, E: v.E}
		if s.pop.Conf, err = s.p.Confidences(labels); err != nil {
			return sides, nil, err
		}
		if s.forgetAcc, err = s.p.ForgetAccuracies(labels); err != nil {
			return sides, nil, err
		}
	}
	if slices.Equal(sides[0].pop.Conf, sides[1].pop.Conf) {
		return sides, nil, usererr.Errorf("%s and %s hold the same values: a population scored against itself has F = 1 and says nothing; give the retrained population as --retrained", u.Forget.Name, r.Forget.Name)
	}
	if l, _ := labelsOf(labels); l != nil && u.Forget.C == 0 && r.Forget.C == 0 {
		if len(l) != u.Forget.E {
			return sides, nil, usererr.Errorf("%s: %d labels, but the populations have E = %d forget examples", labels.ForgetName, len(l), u.Forget.E)
		}
		warnings = append(warnings, fmt.Sprintf("%s: both populations hold confidences, so the labels compute nothing; they only identify the forget set (forget_digest)", labels.ForgetName))
	}
	for _, s := range sides {
		if err := s.p.CheckSizes(s.role); err != nil {
			return sides, nil, err
		}
		if s.pop.RetainAcc, s.pop.TestAcc, err = s.p.HeldOutAccuracies(labels); err != nil {
			return sides, nil, err
		}
		if len(s.pop.RetainAcc) != len(s.pop.TestAcc) {
			return sides, nil, usererr.Errorf("%d retain accuracies but %d test accuracies for the %s population", len(s.pop.RetainAcc), len(s.pop.TestAcc), s.role)
		}
	}
	if su, sr := sides[0].pop, sides[1].pop; (su.RetainAcc == nil) != (sr.RetainAcc == nil) {
		missing := scoring.Retrained
		if su.RetainAcc == nil {
			missing = scoring.Unlearned
		}
		return sides, nil, usererr.Errorf("accuracies were given for one population only; give the %s population's too", missing)
	}
	return sides, warnings, nil
}

// attackInputs gathers what the attacks read: the populations with their
// logits, the retain and test sets' logits and labels, and the original
// models' confidences.
func attackInputs(sides [2]*side, labels *population.Labels, original *population.Values) (*suite.Inputs, error) {
	if labels == nil {
		labels = &population.Labels{}
	}
	u, r := sides[0], sides[1]
	in := &suite.Inputs{
		N: u.pop.N, E: u.pop.E, Labels: labels.Forget,
		Unlearned: suite.Population{Conf: u.pop.Conf, Forget: u.p.Forget.Logits},
		Retrained: suite.Population{Conf: r.pop.Conf, Forget: r.p.Forget.Logits},
	}
	sets := []struct {
		part   string
		v      *population.Values
		labels []int
		name   string
		dst    **scoring.Logits
	}{
		{"retain", u.p.Retain, labels.Retain, labels.RetainName, &in.Unlearned.Retain},
		{"test", u.p.Test, labels.Test, labels.TestName, &in.Unlearned.Test},
		{"retain", r.p.Retain, labels.Retain, labels.RetainName, &in.Retrained.Retain},
		{"test", r.p.Test, labels.Test, labels.TestName, &in.Retrained.Test},
	}
	given := map[string]bool{}
	for _, s := range sets {
		v := s.v
		if v == nil {
			continue
		}
		given[s.part] = true
		if !v.IsLogits() {
			return nil, usererr.Errorf("%s holds %s; the single-model attacks need logits [N, %s, C]", v.Name, v.Describe(), s.part)
		}
		if s.labels == nil {
			return nil, usererr.Errorf("%s logits were given (%s) without %s labels", s.part, v.Name, s.part)
		}
		if len(s.labels) != v.E {
			return nil, usererr.Errorf("%s: %d %s labels, but %s has %d examples", s.name, len(s.labels), s.part, v.Name, v.E)
		}
		for i, y := range s.labels {
			if y >= v.C {
				return nil, usererr.Errorf("%s: label %d is %d, outside the %d classes of %s", s.name, i, y, v.C, v.Name)
			}
		}
		*s.dst = v.Logits
	}
	// Labels reach the attacks only with logits to go with them.
	if given["retain"] {
		in.RetainLabels = labels.Retain
	}
	if given["test"] {
		in.TestLabels = labels.Test
	}
	if original != nil {
		v := original
		if v.E != in.E {
			return nil, usererr.Errorf("%s has E = %d forget examples, but the populations have E = %d", v.Name, v.E, in.E)
		}
		if v.N < 2 {
			return nil, usererr.Errorf("%s: M = %d models; online LiRA needs at least 2", v.Name, v.N)
		}
		var err error
		if in.In, err = v.Confidences(labels.Forget, labels.ForgetName); err != nil {
			return nil, usererr.Wrap(err)
		}
		in.M = v.N
	}
	return in, nil
}

// labelsOf returns the forget set's labels and their name; l may be nil.
func labelsOf(l *population.Labels) ([]int, string) {
	if l == nil {
		return nil, ""
	}
	return l.Forget, l.ForgetName
}
