package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"unlearnbench/evaluate"
	"unlearnbench/internal/atomicfile"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn/ort"
	"unlearnbench/population"
	"unlearnbench/result"
	"unlearnbench/unlearners"
)

// Options are how a run is carried out, as opposed to what it computes
// (the Config).
type Options struct {
	// Shard, when set, computes only its slice of every population and
	// scores nothing.
	Shard ShardSpec
	// DryRun computes nothing: it reports what is cached and what would
	// be computed, as a Plan.
	DryRun bool
	// Replace lets the run replace a run directory that holds the run of
	// another config (refused otherwise, before any work).
	Replace bool
	// Out receives the status lines (the data and split, the original,
	// each population computed, the shard's summary); nil discards them.
	Out io.Writer
	// Warn receives warnings (a damaged cache file, recomputed); nil
	// discards them.
	Warn func(string)
	// Progress, when set, is called as each stage starts (a population's
	// members, a method's scoring, its attacks) and returns the stage's
	// progress callback and the function that ends it.
	Progress func(Stage) (update func(done, total int), end func())

	// growing marks one step of grow's, which Execute must not grow again.
	growing bool
	// Reports, when set, writes the run's reports into dir beside
	// config.yaml and result.json, before the run directory is put in
	// place: the directory is replaced as a whole, so a run directory
	// never mixes the files of two runs.
	Reports func(r *result.Result, dir string) error
}

// Outcome is what a run produced.
type Outcome struct {
	// Result is the scored run; nil for a shard or a dry run.
	Result *result.Result
	// Dir is the run directory, holding config.yaml, result.json and
	// what Options.Reports wrote; "" when nothing was scored.
	Dir string
	// Plan is what a dry run found; nil otherwise.
	Plan *result.Plan
	// Timing is where the time went.
	Timing Timing
	// Growth is each decision of a run that grew N (scoring.n_max): the
	// N reached and why it stopped last.
	Growth []evaluate.Step
	// Incomplete are the populations with failed members (failures.go);
	// a run with any returns them here and, where some method was scored,
	// in Result.Incomplete.
	Incomplete []result.Incomplete
	// Startups are the worker-mode methods' process start-ups, which the
	// members' seconds leave out.
	Startups []Startup
}

// Timing is where a run's time went.
type Timing struct {
	Start time.Time
	// Original is the seconds spent getting the original (importing,
	// reading or training it).
	Original float64
	// Computed members took Members seconds, MethodSeconds of them in the
	// methods themselves, summed over Workers workers.
	Computed      int
	Members       float64
	MethodSeconds float64
	Workers       int
	// Scored methods (not served from the score cache) took Scoring
	// seconds.
	Scored  int
	Scoring float64
}

// String is the run's closing time line, with the total up to now.
func (t Timing) String() string {
	return fmt.Sprintf("time: %.1f s in all: original %.1f s; %d members %.1f s (%.1f s of it in the methods, summed over %d workers; the rest logits and files); scoring and attacks of %d methods %.1f s",
		time.Since(t.Start).Seconds(), t.Original, t.Computed, t.Members, t.MethodSeconds, t.Workers, t.Scored, t.Scoring)
}

// InterruptedError is a run stopped by its context (a signal): every
// member and score completed before it is cached, and a rerun continues.
type InterruptedError struct{ Err error }

func (e *InterruptedError) Error() string { return e.Err.Error() }
func (e *InterruptedError) Unwrap() error { return e.Err }

// interrupted is err as an *InterruptedError of stage when ctx is done
// (err then comes from the stop, or from a stage that ended meanwhile),
// else err itself.
func interrupted(ctx context.Context, stage string, err error) error {
	if ctx.Err() == nil {
		return err
	}
	if err == nil || !errors.Is(err, ctx.Err()) {
		err = ctx.Err()
	}
	return &InterruptedError{Err: fmt.Errorf("interrupted while %s (%w): nothing is half-written; every completed member and score, and every completed epoch of the original, is cached: rerun to continue", stage, err)}
}

// Execute runs cfg: the data and its split, the original, every
// population (computing the members its cache lacks), the scores of every
// method against the reference, and the run directory's config.yaml and
// result.json. It resolves cfg first. A canceled ctx stops it with an
// *InterruptedError. With scoring.n_max it grows cfg.N step by step
// (grow, interval.go).
func Execute(ctx context.Context, cfg *Config, opt Options) (*Outcome, error) {
	if cfg.Scoring.NMax > 0 && !opt.growing && !opt.DryRun && opt.Shard.M == 0 {
		return grow(ctx, cfg, opt)
	}
	e := &execution{cfg: cfg, opt: opt, out: &Outcome{Timing: Timing{Start: time.Now()}}}
	if e.opt.Out == nil {
		e.opt.Out = io.Discard
	}
	if e.opt.Warn == nil {
		e.opt.Warn = func(string) {}
	}
	if err := e.run(ctx); err != nil {
		return nil, err
	}
	if e.out.Plan != nil {
		e.out.Plan.Needed = e.needed()
	}
	return e.out, nil
}

// execution is one Execute call's state.
type execution struct {
	cfg  *Config
	opt  Options
	out  *Outcome
	sets *sets
	rt   *ort.Runtime
	// shared are the inputs every member of every population shares.
	shared *unlearners.Shared
	// pops are the reference, then the methods.
	pops []*pop
	// mu serialises the failure reports of a population's workers.
	mu sync.Mutex
}

// pop is one population of the run with its cache directory.
type pop struct {
	*resolvedMethod
	dir     *population.Dir
	have    []int
	missing []int // of this shard
	// failed are the members that failed in this run (failures.go).
	failed []result.MemberFailure
}

func (e *execution) printf(format string, args ...any) { fmt.Fprintf(e.opt.Out, format, args...) }

// Stage is a stage of a run, for progress reports.
type Stage struct {
	// Label says what is done ("computing reference", "scoring
	// finetune", "attacking finetune").
	Label string
	// Unit names what is counted ("members", "forget examples",
	// "attacks").
	Unit string
}

// stage starts a progress report; the returned functions are never nil.
func (e *execution) stage(s Stage) (func(done, total int), func()) {
	if e.opt.Progress == nil {
		return func(int, int) {}, func() {}
	}
	return e.opt.Progress(s)
}

func (e *execution) run(ctx context.Context) error {
	cfg, opt := e.cfg, e.opt
	if err := cfg.Resolve(); err != nil {
		return err
	}
	// A method may hold resources until it is closed (exec's temporary
	// data folder when there is no cache).
	defer func() {
		for _, m := range cfg.methods {
			if c, ok := m.spec.Unlearner.(io.Closer); ok {
				c.Close()
			}
		}
	}()
	if opt.DryRun && opt.Shard.M > 0 {
		return usererr.Errorf("--dry-run and --shard: give one")
	}
	if err := cfg.checkOutputs(opt.Replace); err != nil {
		return err
	}
	// Before any work: every scan lists the members 0..n-1 it lacks.
	if err := population.CheckN(fmt.Sprintf("config %s: n", cfg.File), cfg.N); err != nil {
		return err
	}
	dev, err := ort.ParseDevice(cfg.Runtime.Device)
	if err != nil {
		return err
	}
	if e.sets, err = loadData(ctx, cfg); err != nil {
		return interrupted(ctx, "loading the data", err)
	}
	cfgDigest, err := cfg.Digest()
	if err != nil {
		return err
	}
	// A dry run computes nothing, so it needs no runtime (nor the CUDA
	// library a GPU config names).
	if !opt.DryRun {
		if e.rt, err = ort.Init(ort.Options{Lib: cfg.Runtime.OrtLib, Device: dev, IntraOpThreads: unlearners.MemberThreads, InterOpThreads: 1}); err != nil {
			return err
		}
		defer e.rt.Close()
	}
	resolvedYAML, err := cfg.YAML()
	if err != nil {
		return err
	}
	if opt.DryRun {
		e.printf("# resolved config (%s)\n%s\n", cfg.File, resolvedYAML)
	}
	s := e.sets
	e.printf("%s; split: %d retain, %d forget, %d validation, %d test (forget: %s)\n", s.src, len(s.split.Retain), len(s.split.Forget), len(s.split.Validation), len(s.split.Test), s.split.Config.Forget)
	if !opt.DryRun {
		cfg.cache().RemoveStale()
	}
	t0 := time.Now()
	orig, how, err := original(ctx, cfg, s, e.rt, opt.DryRun, e.printf, opt.Warn)
	if err != nil {
		return interrupted(ctx, "getting the original", err)
	}
	e.out.Timing.Original = time.Since(t0).Seconds()
	e.printf("original: %s\n", how)

	workers := cfg.Runtime.Workers
	if workers == 0 {
		workers = unlearners.MemberWorkers(dev.CUDA)
	}
	e.out.Timing.Workers = workers
	e.shared = &unlearners.Shared{
		Inputs: unlearners.Inputs{Original: orig, Retain: s.retain, Forget: s.forget, Validation: s.validation,
			Recipe: s.recipe, Runtime: e.rt, Cache: cfg.Cache, Warn: opt.Warn},
		Test: s.test, RunSeed: cfg.Seed, Device: dev.String(), KeepModels: cfg.KeepModels,
	}
	if orig == nil {
		e.out.Plan, err = e.plan(orig)
		return err
	}
	if err := e.shared.Digests(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return interrupted(ctx, "opening the cache", err)
	}
	if err := e.openPopulations(ctx, cfgDigest); err != nil {
		return err
	}
	if opt.DryRun {
		e.out.Plan, err = e.plan(orig)
		return err
	}
	if err := e.compute(ctx); err != nil {
		return err
	}
	if opt.Shard.M > 0 {
		t := e.out.Timing
		e.printf("shard %d/%d: computed %d members in %.1f s; run without --shard to score once every shard is done\n", opt.Shard.K, opt.Shard.M, t.Computed, t.Members)
		return nil
	}
	for _, p := range e.pops {
		if err := p.dir.RefreshManifest(); err != nil {
			return err
		}
	}
	result, err := e.score(ctx)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return interrupted(ctx, "scoring", err)
	}
	total := time.Since(e.out.Timing.Start).Seconds()
	result.Seconds = &total
	runDir := filepath.Join(cfg.Runs, cfg.Name)
	if err := e.writeRunDir(ctx, runDir, resolvedYAML, result); err != nil {
		return err
	}
	e.out.Result, e.out.Dir = result, runDir
	// The methods' own share of the members' time, as the member files
	// recorded it.
	for _, p := range e.pops {
		for _, i := range p.missing {
			if m, err := population.ReadMember(p.dir.MemberPath(i)); err == nil {
				e.out.Timing.MethodSeconds += m.Seconds
			}
		}
	}
	return nil
}

// openPopulations opens every population's cache directory, finds the
// members it has and those this shard computes, and, for a shard, claims
// the population for this config.
func (e *execution) openPopulations(ctx context.Context, cfgDigest string) error {
	cfg, opt := e.cfg, e.opt
	for _, m := range cfg.methods {
		key, err := unlearners.Key(m.spec, e.shared)
		if err != nil {
			return err
		}
		dir, err := population.OpenDir(cfg.cache().Populations(), m.Name, key)
		if err != nil {
			return err
		}
		// A member file of another population or run seed has another
		// seed, also when it is of a version that did not record its
		// population's digest.
		label, seed := m.spec.Name, cfg.Seed
		dir.Seed = func(i int) uint64 { return unlearners.MemberSeed(seed, label, i) }
		scan := dir.Scan
		if opt.DryRun {
			scan = func(ctx context.Context, n int, _ func(string)) ([]int, []int, error) { return dir.Check(ctx, n) }
		}
		have, missing, err := scan(ctx, cfg.N, opt.Warn)
		if err != nil {
			return interrupted(ctx, "scanning the cache", err)
		}
		p := &pop{resolvedMethod: m, dir: dir, have: have}
		for _, i := range missing {
			if opt.Shard.Has(i) {
				p.missing = append(p.missing, i)
			}
		}
		if opt.Shard.M > 0 {
			if err := dir.ClaimShards(cfgDigest, cfg.N, opt.Shard.M); err != nil {
				return err
			}
		}
		e.pops = append(e.pops, p)
	}
	return nil
}

// compute computes every population's missing members.
func (e *execution) compute(ctx context.Context) error {
	t1 := time.Now()
	workers := e.out.Timing.Workers
	for _, p := range e.pops {
		if len(p.missing) == 0 {
			continue
		}
		e.printf("population %s (%s): %d of %d cached, computing %d with %d workers\n", p.Name, p.Method, len(p.have), e.cfg.N, len(p.missing), min(workers, len(p.missing)))
		update, end := e.stage(Stage{"computing " + p.Name, "members"})
		err := unlearners.Compute(ctx, p.dir, p.spec, e.shared, p.missing, unlearners.ComputeOptions{Workers: workers, Progress: update, KeepGoing: e.keepGoing(p)})
		end()
		e.endPopulation(p)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return &InterruptedError{Err: fmt.Errorf("%w; every completed member is cached: rerun to continue", err)}
			}
			return err
		}
		e.out.Timing.Computed += len(p.missing) - len(p.failed)
	}
	e.out.Incomplete = e.incomplete()
	e.out.Timing.Members = time.Since(t1).Seconds()
	return nil
}

// writeRunDir writes the run directory as a whole (atomicfile.Dir): its
// files go to a temporary directory that replaces the old run directory
// only once config.yaml, result.json and the reports are all written, so
// that a failure (a full disk) or a signal leaves the old one as it was.
func (e *execution) writeRunDir(ctx context.Context, runDir string, resolvedYAML []byte, res *result.Result) error {
	d, err := atomicfile.NewDir(runDir)
	if err != nil {
		return usererr.Wrap(fmt.Errorf("run directory: %w", err))
	}
	err = os.WriteFile(filepath.Join(d.Path, "config.yaml"), resolvedYAML, 0o644)
	if err == nil {
		// The labels beside result.json, so that score and attack can
		// re-score the run's populations from the cache.
		err = e.writeLabels(d.Path)
	}
	if err == nil {
		err = res.Write(filepath.Join(d.Path, "result.json"))
	}
	if err == nil && e.opt.Reports != nil {
		err = e.opt.Reports(res, d.Path)
	}
	if err == nil && ctx.Err() != nil {
		err = &InterruptedError{Err: fmt.Errorf("interrupted while writing %s (left as it was): every population and score is cached: rerun to write it: %w", runDir, ctx.Err())}
	}
	if err != nil {
		d.Abort()
		var ie *InterruptedError
		if errors.As(err, &ie) {
			return err
		}
		return fmt.Errorf("writing run directory %s (left as it was): %w", runDir, err)
	}
	if err := d.Commit(); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	return nil
}
