package run

import (
	"strings"

	"unlearnbench/nn"
	"unlearnbench/result"
)

// plan estimates what a run would compute (orig nil: the original is not
// trained yet, and neither are the populations looked up).
func (e *execution) plan(orig *nn.Model) (*result.Plan, error) {
	cfg, s := e.cfg, e.sets
	workers := e.out.Timing.Workers
	// Retraining one member costs about epochs x retain examples x a
	// training step's cost per example; a step costs about three forward
	// passes. The rates are this machine's order of magnitude for the
	// zoo's models on one thread (BENCHMARKS.md), a rough guide only.
	src := s.src.Train
	probe := orig
	if probe == nil {
		model := cfg.Model
		if model == "" {
			model = nn.ArchMLP
		}
		var err error
		if probe, err = nn.New(model, []int64{int64(src.C), int64(src.H), int64(src.W)}, src.Classes, 0); err != nil {
			return nil, err
		}
	}
	flopsPerSecond := 20e9 // per worker, training, one CPU thread
	if strings.HasPrefix(cfg.Runtime.Device, "cuda") {
		flopsPerSecond = 5e12 // one member on a data-centre GPU, small batches
	}
	retrain := float64(cfg.Recipe.Epochs) * float64(s.retain.Len()) * 3 * probe.ForwardFLOPs() / flopsPerSecond
	if e.pops != nil {
		ref := e.pops[0]
		if ms, err := ref.dir.Members(len(ref.have)); err == nil && len(ref.have) == cfg.N && len(ms) > 0 {
			var sum float64
			for _, m := range ms {
				sum += m.Seconds
			}
			retrain = sum / float64(len(ms))
		}
	}
	p := &result.Plan{Workers: workers}
	if e.pops == nil {
		orig := float64(cfg.Recipe.Epochs) * float64(s.train.Len()) * 3 * probe.ForwardFLOPs() / flopsPerSecond
		p.Original = &result.PlanRow{Name: "original", Method: cfg.Model, N: 1, Missing: 1, Seconds: orig}
		p.Seconds += orig
		for _, m := range cfg.methods {
			est := float64(cfg.N) * retrain / float64(workers)
			p.Seconds += est
			p.Populations = append(p.Populations, result.PlanRow{Name: m.Name, Method: m.Method, N: cfg.N, Missing: cfg.N, Seconds: est, Bound: true})
		}
		p.ScoreMethods, p.ScoreSeconds, p.ScoreHow = e.scoringPlan()
		return p, nil
	}
	for _, q := range e.pops {
		per, bound := retrain, true
		guess := ""
		if len(q.have) > 0 {
			if ms, err := q.dir.Members(1); err == nil {
				per, bound = ms[0].Seconds, false
			}
		} else if secs, from, ok := lastMeasured(cfg.cache().Populations(), q.dir); ok {
			per, bound, guess = secs, false, from
		}
		est := float64(len(q.missing)) * per / float64(workers)
		p.Seconds += est
		p.Populations = append(p.Populations, result.PlanRow{Name: q.Name, Method: q.Method, Cached: len(q.have), N: cfg.N, Missing: len(q.missing), Seconds: est, Bound: bound, Guess: guess})
	}
	p.ScoreMethods, p.ScoreSeconds, p.ScoreHow = e.scoringPlan()
	return p, nil
}
