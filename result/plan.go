package result

// Plan is what a dry run of `run` found (package run computes it, package
// reports draws it): per population what is cached and what
// would be computed, with an estimate of the time.
type Plan struct {
	// Original is the original's row when it would be trained (then no
	// population can be looked up yet: their keys depend on it); nil when
	// it is imported or cached.
	Original *PlanRow
	// Populations are the reference, then the methods.
	Populations []PlanRow
	// Workers is how many members would run at once.
	Workers int
	// Seconds is the estimated time of every member to compute (not the
	// scoring and attacks).
	Seconds float64
	// ScoreMethods is how many methods would be scored and attacked (not
	// served from the score cache), in about ScoreSeconds; ScoreHow says
	// from which rate.
	ScoreMethods int
	ScoreSeconds float64
	ScoreHow     string
	// Needed is what the last result's intervals of F say about the N a
	// target width needs; nil when the config sets no target width.
	Needed *PlanNeeded
}

// PlanNeeded is the N that F's interval of width Target needs, estimated
// from the widest interval of the run's last result (evaluate.NeededN).
type PlanNeeded struct {
	Target float64
	// N is the estimate; 0 when there is none (no earlier result, no
	// interval in it, or more models would not narrow it), and Why says
	// which.
	N   int
	Why string
}

// PlanRow is one population of a Plan (or the original).
type PlanRow struct {
	Name, Method string
	// Cached of N members are cached, Missing would be computed.
	Cached, N, Missing int
	// Seconds is the estimate of computing the Missing members; Bound
	// marks it an upper bound from retraining's cost, as opposed to a
	// cached member's measured time.
	Seconds float64
	Bound   bool
	// Guess, when set, says that the estimate is another population's
	// last measured member time (the same method and parameters, other
	// data, seeds or name), and which.
	Guess string
}
