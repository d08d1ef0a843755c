package cli

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/spf13/cobra"

	"unlearnbench/attack"
	"unlearnbench/attack/suite"
	"unlearnbench/datasets"
	"unlearnbench/evaluate"
	"unlearnbench/internal/atomicfile"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
	"unlearnbench/population"
	"unlearnbench/reports"
	"unlearnbench/scoring"
	"unlearnbench/unlearners"
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

// shardSpec is --shard: member i belongs to shard i mod M.
type shardSpec struct{ K, M int }

func (s shardSpec) has(i int) bool { return s.M == 0 || i%s.M == s.K }

func parseShard(s string, env func(string) string) (shardSpec, error) {
	if s == "" {
		return shardSpec{}, nil
	}
	envInt := func(name string) (int, error) {
		v := env(name)
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, usererr.Errorf("--shard %s: $%s is %q; want an integer", s, name, v)
		}
		return n, nil
	}
	var k, m int
	var err error
	switch {
	case s == "slurm":
		if k, err = envInt("SLURM_ARRAY_TASK_ID"); err != nil {
			return shardSpec{}, err
		}
		lo := 0
		if env("SLURM_ARRAY_TASK_MIN") != "" {
			if lo, err = envInt("SLURM_ARRAY_TASK_MIN"); err != nil {
				return shardSpec{}, err
			}
		}
		k -= lo
		if m, err = envInt("SLURM_ARRAY_TASK_COUNT"); err != nil {
			return shardSpec{}, err
		}
	case strings.HasPrefix(s, "k8s/"):
		if m, err = strconv.Atoi(s[4:]); err != nil {
			return shardSpec{}, usererr.Errorf("--shard %s: want k8s/M with M the Job's completions", s)
		}
		if k, err = envInt("JOB_COMPLETION_INDEX"); err != nil {
			return shardSpec{}, err
		}
	default:
		a, b, ok := strings.Cut(s, "/")
		k, err1 := strconv.Atoi(a)
		m2, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil {
			return shardSpec{}, usererr.Errorf("--shard %q: want K/M (e.g. 0/4), k8s/M or slurm", s)
		}
		return checkShard(s, k, m2)
	}
	return checkShard(s, k, m)
}

func checkShard(s string, k, m int) (shardSpec, error) {
	if m < 1 || k < 0 || k >= m {
		return shardSpec{}, usererr.Errorf("--shard %s: shard index %d is outside 0..%d (of %d shards)", s, k, m-1, m)
	}
	return shardSpec{K: k, M: m}, nil
}

// runSets are the split's sets as the models see them.
type runSets struct {
	train, retain, forget, validation, test *nn.Data
	labels                                  *population.Labels
	split                                   *datasets.Split
	src                                     *datasets.Source
	trainIdx                                []int
}

// truncated keeps the first k examples of d (k <= 0 or >= N: d itself).
func truncated(d *datasets.Dataset, k int) *datasets.Dataset {
	if d == nil || k <= 0 || k >= d.N {
		return d
	}
	c := *d
	c.Name = fmt.Sprintf("%s[:%d]", d.Name, k)
	c.N = k
	c.Labels = d.Labels[:k]
	if d.Groups != nil {
		c.Groups = d.Groups[:k]
	}
	if d.Pixels != nil {
		c.Pixels = d.Pixels[:k*d.Size()]
	}
	if d.Values != nil {
		c.Values = d.Values[:k*d.Size()]
	}
	return &c
}

func loadRunData(cfg *runConfig, file string) (*runSets, error) {
	sf := sourceFlags{spec: datasets.Spec{Name: cfg.Data.Dataset, Data: cfg.Data.Path, Channels: cfg.Data.Channels, Mapping: cfg.Data.Mapping,
		LabelColumn: cfg.Data.LabelColumn, GroupColumn: cfg.Data.GroupColumn, GroupsFile: cfg.Data.Groups}, imageSize: cfg.Data.ImageSize}
	src, err := sf.open()
	if err != nil {
		return nil, err
	}
	src.Train = truncated(src.Train, cfg.Data.TrainExamples)
	src.Test = truncated(src.Test, cfg.Data.TestExamples)
	fc, err := cfg.Split.Forget.config(file)
	if err != nil {
		return nil, err
	}
	sc := datasets.SplitConfig{Seed: cfg.Split.Seed, Forget: fc}
	if sc.Validation, err = datasets.ParseAmount(cfg.Split.Validation); err != nil {
		return nil, usererr.Errorf("config %s: split.validation: %v", file, err)
	}
	switch {
	case cfg.Split.Test != "":
		if sc.Test, err = datasets.ParseAmount(cfg.Split.Test); err != nil {
			return nil, usererr.Errorf("config %s: split.test: %v", file, err)
		}
	case src.Test == nil:
		sc.Test = datasets.Amount{Fraction: 0.1}
	}
	split, err := datasets.MakeSplit(src, sc)
	if err != nil {
		return nil, usererr.Errorf("config %s: split: %v", file, err)
	}
	var norm *datasets.Normalization
	if cfg.Original != "" {
		if norm, err = parseNormalize(cfg.Normalize, src.Train.C); err != nil {
			return nil, err
		}
	} else if cfg.Normalize != "" {
		return nil, usererr.Errorf("config %s: normalize is for imported originals; zoo models normalise their own input", file)
	}
	s := &runSets{split: split, src: src, trainIdx: split.Train()}
	for _, p := range []struct {
		dst **nn.Data
		ds  *datasets.Dataset
		idx []int
	}{{&s.train, src.Train, s.trainIdx}, {&s.retain, src.Train, split.Retain}, {&s.forget, src.Train, split.Forget},
		{&s.validation, src.Train, split.Validation}, {&s.test, split.TestSet(src), split.Test}} {
		if *p.dst, err = loadNN(p.ds, p.idx, norm); err != nil {
			return nil, err
		}
	}
	ints := func(d *nn.Data) []int {
		out := make([]int, len(d.Y))
		for i, y := range d.Y {
			out[i] = int(y)
		}
		return out
	}
	s.labels = &population.Labels{Forget: ints(s.forget), Retain: ints(s.retain), Test: ints(s.test),
		ForgetName: "forget labels", RetainName: "retain labels", TestName: "test labels"}
	return s, nil
}

// originalKey identifies a trained original by everything its weights
// depend on.
func originalKey(cfg *runConfig, sets *runSets) string {
	recipe, _ := json.Marshal(cfg.Recipe)
	h := sha256.New()
	fmt.Fprintf(h, "unlearnbench original\x00layout %d\x00arch %s\x00recipe %s\x00train %s\x00device %s\x00threads %d\x00",
		population.Layout, cfg.Model, recipe, sets.train.Digest(), cfg.Runtime.Device, unlearners.MemberThreads)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// loadOriginal imports an original model file. A zoo model written by run
// carries its input normalisation as initialisers, which the importer
// takes for parameters when they have more than one value (several
// channels); they are constants, and are made so again, so that methods
// never train or re-draw them.
func loadOriginal(path string, zoo bool) (*nn.Model, error) {
	m, err := nn.Import(path)
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("original: %w", err))
	}
	if zoo {
		m.Params = slices.DeleteFunc(m.Params, func(p string) bool {
			return p == m.Input+".norm_mean" || p == m.Input+".norm_inv_std"
		})
	}
	return m, nil
}

// original returns the original model: imported, from the cache, or
// trained and cached (nil with dryRun when it would be trained).
func runOriginal(cmd *cobra.Command, cfg *runConfig, sets *runSets, rt *ort.Runtime, dryRun bool) (*nn.Model, string, error) {
	w := cmd.OutOrStdout()
	if cfg.Original != "" {
		m, err := loadOriginal(cfg.Original, false)
		if err != nil {
			return nil, "", err
		}
		if m.Classes != sets.src.Train.Classes {
			return nil, "", usererr.Errorf("original %s has %d classes, the data %d", cfg.Original, m.Classes, sets.src.Train.Classes)
		}
		if err := sets.train.Check(m); err != nil {
			return nil, "", usererr.Wrap(fmt.Errorf("original %s: %w", cfg.Original, err))
		}
		return m, "imported " + cfg.Original, nil
	}
	path := filepath.Join(cfg.Cache, "originals", originalKey(cfg, sets)+".onnx")
	if _, err := os.Stat(path); err == nil {
		m, err := loadOriginal(path, true)
		return m, "cached " + path, err
	}
	if dryRun {
		return nil, "to train: " + path, nil
	}
	src := sets.src.Train
	m, err := nn.New(cfg.Model, []int64{int64(src.C), int64(src.H), int64(src.W)}, src.Classes, cfg.Recipe.Seed)
	if err != nil {
		return nil, "", err
	}
	st := datasets.ChannelStats(src, sets.trainIdx)
	if err := m.PrependNormalization(st.Mean, st.Std); err != nil {
		return nil, "", err
	}
	fmt.Fprintf(w, "training the original %s on %d examples for %d epochs\n", cfg.Model, sets.train.Len(), cfg.Recipe.Epochs)
	start := time.Now()
	batches, err := nn.DataBatches(m, sets.train, cfg.Recipe)
	if err == nil {
		_, err = nn.Train(rt, m, batches, nil, cfg.Recipe, nn.Options{})
	}
	if err != nil {
		return nil, "", fmt.Errorf("training the original: %w", err)
	}
	// Saved, then linked into place: when shards race, the first one's
	// file wins and every process reads the same bytes back.
	tmp := atomicfile.TempName(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, "", err
	}
	if err := m.Save(tmp); err != nil {
		return nil, "", err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, "", fmt.Errorf("caching the original: %w", err)
	}
	m, err = loadOriginal(path, true)
	return m, fmt.Sprintf("trained in %.1f s, cached %s", time.Since(start).Seconds(), path), err
}

// runPop is one population of the run with its cache directory.
type runPop struct {
	*resolvedMethod
	dir     *population.Dir
	have    []int
	missing []int // of this shard
}

func runRun(cmd *cobra.Command, f *runFlags) error {
	start := time.Now()
	cfg, file, err := readRunConfig(f.config)
	if err != nil {
		return err
	}
	methods, err := cfg.resolve(file)
	if err != nil {
		return err
	}
	shard, err := parseShard(f.shard, os.Getenv)
	if err != nil {
		return err
	}
	if f.dryRun && shard.M > 0 {
		return usererr.Errorf("--dry-run and --shard: give one")
	}
	dev, err := ort.ParseDevice(cfg.Runtime.Device)
	if err != nil {
		return err
	}
	sets, err := loadRunData(cfg, file)
	if err != nil {
		return err
	}
	cfgDigest, err := cfg.digest()
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	// A dry run computes nothing, so it needs no runtime (nor the CUDA
	// library a GPU config names).
	var rt *ort.Runtime
	if !f.dryRun {
		if rt, err = ort.Init(ort.Options{Lib: cfg.Runtime.OrtLib, Device: dev, IntraOpThreads: unlearners.MemberThreads, InterOpThreads: 1}); err != nil {
			return err
		}
		defer rt.Close()
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()

	resolvedYAML, err := cfg.yamlText()
	if err != nil {
		return err
	}
	if f.dryRun {
		fmt.Fprintf(w, "# resolved config (%s)\n%s\n", file, resolvedYAML)
	}
	fmt.Fprintf(w, "%s; split: %d retain, %d forget, %d validation, %d test (forget: %s)\n", sets.src, len(sets.split.Retain), len(sets.split.Forget), len(sets.split.Validation), len(sets.split.Test), sets.split.Config.Forget)
	t0 := time.Now()
	orig, how, err := runOriginal(cmd, cfg, sets, rt, f.dryRun)
	if err != nil {
		return err
	}
	origSecs := time.Since(t0).Seconds()
	fmt.Fprintf(w, "original: %s\n", how)

	workers := cfg.Runtime.Workers
	if workers == 0 {
		workers = unlearners.MemberWorkers(dev.CUDA)
	}
	shared := &unlearners.Shared{
		Inputs: unlearners.Inputs{Original: orig, Retain: sets.retain, Forget: sets.forget, Validation: sets.validation,
			Recipe: cfg.Recipe, Runtime: rt, Cache: cfg.Cache},
		Test: sets.test, RunSeed: cfg.Seed, Device: dev.String(), KeepModels: cfg.KeepModels,
	}
	if orig == nil {
		return dryRunReport(w, cfg, methods, nil, sets, workers, orig)
	}
	if err := shared.Digests(); err != nil {
		return err
	}
	var pops []*runPop
	warn := func(s string) { fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", s) }
	shared.Inputs.Warn = warn
	for _, m := range methods {
		key, err := unlearners.Key(m.spec, shared)
		if err != nil {
			return err
		}
		dir, err := population.OpenDir(filepath.Join(cfg.Cache, "populations"), m.Name, key)
		if err != nil {
			return err
		}
		scan := dir.Scan
		if f.dryRun {
			scan = func(n int, _ func(string)) ([]int, []int, error) { return dir.Check(n) }
		}
		have, missing, err := scan(cfg.N, warn)
		if err != nil {
			return err
		}
		p := &runPop{resolvedMethod: m, dir: dir, have: have}
		for _, i := range missing {
			if shard.has(i) {
				p.missing = append(p.missing, i)
			}
		}
		if shard.M > 0 {
			if err := dir.ClaimShards(cfgDigest, cfg.N, shard.M); err != nil {
				return err
			}
		}
		pops = append(pops, p)
	}
	if f.dryRun {
		return dryRunReport(w, cfg, methods, pops, sets, workers, orig)
	}

	computed := 0
	t1 := time.Now()
	for _, p := range pops {
		if len(p.missing) == 0 {
			continue
		}
		label := fmt.Sprintf("%s (%s)", p.Name, p.Method)
		fmt.Fprintf(w, "population %s: %d of %d cached, computing %d with %d workers\n", label, len(p.have), cfg.N, len(p.missing), min(workers, len(p.missing)))
		bar := newLazyBar(cmd.ErrOrStderr(), p.Name)
		err := unlearners.Compute(ctx, p.dir, p.spec, shared, p.missing, unlearners.ComputeOptions{Workers: workers, Progress: bar.set})
		bar.done()
		if err != nil {
			if errors.Is(err, context.Canceled) && cmd.Context().Err() == nil {
				return &exitCodeError{code: exitInterrupted, err: fmt.Errorf("%w; every completed member is cached: rerun to continue", err)}
			}
			return err
		}
		computed += len(p.missing)
	}
	memberSecs := time.Since(t1).Seconds()
	if shard.M > 0 {
		fmt.Fprintf(w, "shard %d/%d: computed %d members in %.1f s; run without --shard to score once every shard is done\n", shard.K, shard.M, computed, memberSecs)
		return nil
	}
	for _, p := range pops {
		if err := p.dir.RefreshManifest(); err != nil {
			return err
		}
	}

	// Score every method against the reference.
	t2 := time.Now()
	result := reports.New("run")
	if result.Config, err = cfg.jsonValue(); err != nil {
		return err
	}
	result.Inputs = map[string]string{"config": file}
	result.Data = &reports.DataSplit{Dataset: sets.src.Name, Classes: sets.src.Train.Classes, Train: len(sets.trainIdx),
		Retain: len(sets.split.Retain), Forget: len(sets.split.Forget), Validation: len(sets.split.Validation), Test: len(sets.split.Test),
		ForgetSelection: sets.split.Config.Forget.String(), ForgetDigest: idsDigest(sets.split.Forget)}
	var attackOpt *suite.Options
	if cfg.Attacks.Enabled {
		a := cfg.Attacks
		attackOpt = &suite.Options{Folds: a.Folds, Seed: a.Seed, PerExample: a.Classifiers, Pooled: a.Pooled, Features: a.Features,
			Classifier: attack.ClassifierOptions{Neighbours: a.KnnK, Trees: a.Trees}, PooledMaxTrain: a.PooledMaxTrain, MIASplits: a.MIASplits}
		if a.PooledMaxTrain == 0 {
			attackOpt.PooledMaxTrain = -1
		}
	}
	// Scores are cached too, keyed by the two populations and the attack
	// settings, so that a rerun takes seconds, not the attacks' minutes.
	var ref *population.Population
	rows := []tableRow{}
	scored := 0
	for _, p := range pops[1:] {
		key := scoreKey(p.dir, pops[0].dir, cfg.N, cfg.Attacks)
		path := filepath.Join(cfg.Cache, "scores", key+".json")
		// A member computed in this run (new, or replacing a damaged
		// file) has a new wall time: score again rather than show the
		// old one.
		var m *reports.Method
		if len(p.missing) == 0 && len(pops[0].missing) == 0 {
			if m, err = readCachedMethod(path); err != nil {
				warn(fmt.Sprintf("score cache %s: %v; scoring again", path, err))
			}
		}
		if m == nil {
			// Scoring and attacking do not take a context; a signal stops
			// the run between two methods.
			if ctx.Err() != nil {
				return &exitCodeError{code: exitInterrupted, err: fmt.Errorf("interrupted while scoring: every population and %d scores are cached: rerun to continue", scored)}
			}
			if ref == nil {
				if ref, err = loadPopulation(pops[0], cfg.N); err != nil {
					return err
				}
			}
			u, err := loadPopulation(p, cfg.N)
			if err != nil {
				return err
			}
			bar := newLazyBar(cmd.ErrOrStderr(), "scoring "+p.Name)
			m, err = evaluate.Method(u, ref, sets.labels, evaluate.Options{Method: p.Name, Attacks: attackOpt, ScoreProgress: bar.set, AttackProgress: bar.set})
			bar.done()
			if err != nil {
				return fmt.Errorf("evaluating %s: %w", p.Name, err)
			}
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			if err := atomicfile.WriteBytes(path, b); err != nil {
				return err
			}
			scored++
		}
		result.Methods = append(result.Methods, *m)
		rows = append(rows, newTableRow(p.Name, m))
	}
	evalSecs := time.Since(t2).Seconds()
	total := time.Since(start).Seconds()
	result.Seconds = &total
	runDir := filepath.Join(cfg.Runs, cfg.Name)
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return usererr.Wrap(fmt.Errorf("run directory: %w", err))
	}
	if err := atomicfile.WriteBytes(filepath.Join(runDir, "config.yaml"), resolvedYAML); err != nil {
		return err
	}
	if err := result.Write(filepath.Join(runDir, "result.json")); err != nil {
		return err
	}
	if _, err := reports.WriteDir(result, runDir); err != nil {
		return err
	}
	refPop := result.Methods[0].Population(scoring.Retrained)
	refSecs := mean(refPop.Seconds)
	writeRunTable(w, rows, refSecs)
	fmt.Fprintf(w, "reference: %s, N = %d, %s per member; forget %s, retain %s, test %s accuracy\n", cfg.Reference.Method, cfg.N, fmtSecs(refSecs),
		pct(mean(refPop.ForgetAcc)), pct(mean(refPop.RetainAcc)), pct(mean(refPop.TestAcc)))
	fmt.Fprintf(w, "wrote %s (config.yaml, result.json, report.md, report.html)\n", runDir)
	var workerSecs float64
	for _, p := range pops {
		for _, i := range p.missing {
			if m, err := population.ReadMember(p.dir.MemberPath(i)); err == nil {
				workerSecs += m.Seconds
			}
		}
	}
	fmt.Fprintf(w, "time: %.1f s in all: original %.1f s; %d members %.1f s (%.1f s of it in the methods, summed over %d workers; the rest logits and files); scoring and attacks of %d methods %.1f s\n",
		time.Since(start).Seconds(), origSecs, computed, memberSecs, workerSecs, workers, scored, evalSecs)
	return nil
}

func idsDigest(idx []int) string {
	h := sha256.New()
	var b [8]byte
	for _, i := range idx {
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		h.Write(b[:])
	}
	return fmt.Sprintf("ids-sha256:%x", h.Sum(nil))
}

// loadPopulation reads a complete population from its member files.
func loadPopulation(p *runPop, n int) (*population.Population, error) {
	ms, err := p.dir.Members(n)
	if err != nil {
		return nil, err
	}
	c, e, r, t := ms[0].C, ms[0].E(), ms[0].R(), ms[0].T()
	vals := func(part string, rows int, get func(m *population.Member) []float32) *population.Values {
		l := &scoring.Logits{N: n, E: rows, C: c, F32: make([]float32, 0, n*rows*c)}
		for _, m := range ms {
			l.F32 = append(l.F32, get(m)...)
		}
		return &population.Values{Name: fmt.Sprintf("%s %s logits", p.Name, part), N: n, E: rows, C: c, Logits: l}
	}
	pop := &population.Population{
		Forget: vals("forget", e, func(m *population.Member) []float32 { return m.Forget }),
		Retain: vals("retain", r, func(m *population.Member) []float32 { return m.Retain }),
		Test:   vals("test", t, func(m *population.Member) []float32 { return m.Test }),
	}
	for _, m := range ms {
		pop.ForgetAcc = append(pop.ForgetAcc, m.ForgetAcc)
		pop.RetainAcc = append(pop.RetainAcc, m.RetainAcc)
		pop.TestAcc = append(pop.TestAcc, m.TestAcc)
		pop.Seeds = append(pop.Seeds, m.Seed)
		pop.Seconds = append(pop.Seconds, m.Seconds)
	}
	return pop, nil
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

func fmtSecs(s float64) string {
	switch {
	case s < 10:
		return fmt.Sprintf("%.2f s", s)
	case s < 600:
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%.0f min", s/60)
}

// tableRow is one method's line of the terminal table.
type tableRow struct {
	name                          string
	f, ra, ta                     float64
	final                         *float64
	forgetAcc, retainAcc, testAcc float64
	secs                          float64
}

func newTableRow(name string, m *reports.Method) tableRow {
	r := tableRow{name: name, f: m.Score.F, final: m.Score.Final, ra: math.NaN(), ta: math.NaN()}
	if u := m.Population(scoring.Unlearned); u != nil {
		r.forgetAcc, r.retainAcc, r.testAcc, r.secs = mean(u.ForgetAcc), mean(u.RetainAcc), mean(u.TestAcc), mean(u.Seconds)
	}
	if m.Utility != nil {
		r.ra, r.ta = m.Utility.RetainRatio, m.Utility.TestRatio
	}
	return r
}

// scoreKey identifies a method's evaluation: its population and the
// reference's (directories named by their keys), N and the attack settings.
func scoreKey(u, r *population.Dir, n int, attacks runAttacks) string {
	a, _ := json.Marshal(attacks)
	h := sha256.New()
	fmt.Fprintf(h, "unlearnbench score\x00layout %d\x00%s\x00%s\x00n %d\x00attacks %s", population.Layout, u.Manifest.Digest, r.Manifest.Digest, n, a)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// readCachedMethod reads a cached evaluation; nil, nil when there is none.
func readCachedMethod(path string) (*reports.Method, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m reports.Method
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// timeCutoff is the competition's limit: a method taking more than this
// fraction of retraining's time was disqualified.
const timeCutoff = 0.2

// writeRunTable prints the methods ranked by final score.
func writeRunTable(w io.Writer, rows []tableRow, refSecs float64) {
	score := func(r tableRow) float64 {
		if r.final != nil {
			return *r.final
		}
		return math.Inf(-1)
	}
	slices.SortStableFunc(rows, func(a, b tableRow) int {
		switch sa, sb := score(a), score(b); {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	t := newRunTable(w, "rank", "method", "F", "RA_U/RA_R", "TA_U/TA_R", "final", "forget acc", "retain acc", "test acc", "s/member", "of retrain")
	flagged := false
	for i, r := range rows {
		final := "-"
		if r.final != nil {
			final = fmt.Sprintf("%.4f", *r.final)
		}
		frac := r.secs / refSecs
		fs := fmt.Sprintf("%.0f%%", 100*frac)
		if frac > timeCutoff {
			fs += " !"
			flagged = true
		}
		t.Append([]string{strconv.Itoa(i + 1), r.name, fmt.Sprintf("%.4f", r.f), fmt.Sprintf("%.3f", r.ra), fmt.Sprintf("%.3f", r.ta), final,
			pct(r.forgetAcc), pct(r.retainAcc), pct(r.testAcc), fmtSecs(r.secs), fs})
	}
	t.Render()
	if flagged {
		fmt.Fprintf(w, "! more than the competition's cut-off of %.0f%% of retraining's time per member\n", 100*timeCutoff)
	}
}

// dryRunReport prints what is cached and what would be computed, with an
// estimate of the time (pops nil: the original is not trained yet).
func dryRunReport(w io.Writer, cfg *runConfig, methods []*resolvedMethod, pops []*runPop, sets *runSets, workers int, orig *nn.Model) error {
	// Retraining one member costs about epochs x retain examples x a
	// training step's cost per example; a step costs about three forward
	// passes. The rates are this machine's order of magnitude for the
	// zoo's models on one thread (BENCHMARKS.md), a rough guide only.
	src := sets.src.Train
	probe := orig
	if probe == nil {
		var err error
		if probe, err = nn.New(modelOr(cfg), []int64{int64(src.C), int64(src.H), int64(src.W)}, src.Classes, 0); err != nil {
			return err
		}
	}
	flopsPerSecond := 20e9 // per worker, training, one CPU thread
	if strings.HasPrefix(cfg.Runtime.Device, "cuda") {
		flopsPerSecond = 5e12 // one member on a data-centre GPU, small batches
	}
	retrain := float64(cfg.Recipe.Epochs) * float64(sets.retain.Len()) * 3 * probe.ForwardFLOPs() / flopsPerSecond
	var cachedRef []float64
	if pops != nil {
		if ms, err := pops[0].dir.Members(len(pops[0].have)); err == nil && len(pops[0].have) == cfg.N {
			for _, m := range ms {
				cachedRef = append(cachedRef, m.Seconds)
			}
		}
		if len(cachedRef) > 0 {
			retrain = mean(cachedRef)
		}
	}
	t := newRunTable(w, "population", "method", "cached", "to compute", "estimate")
	var total float64
	if pops == nil {
		orig := float64(cfg.Recipe.Epochs) * float64(sets.train.Len()) * 3 * probe.ForwardFLOPs() / flopsPerSecond
		total += orig
		t.Append([]string{"original", cfg.Model, "no", "1", fmtSecs(orig)})
		for _, m := range methods {
			est := float64(cfg.N) * retrain / float64(workers)
			total += est
			t.Append([]string{m.Name, m.Method, "0", strconv.Itoa(cfg.N), "<= " + fmtSecs(est)})
		}
	} else {
		for _, p := range pops {
			per, bound := retrain, "<= "
			if len(p.have) > 0 {
				if ms, err := p.dir.Members(1); err == nil {
					per, bound = ms[0].Seconds, "~"
				}
			}
			est := float64(len(p.missing)) * per / float64(workers)
			total += est
			t.Append([]string{p.Name, p.Method, fmt.Sprintf("%d/%d", len(p.have), cfg.N), strconv.Itoa(len(p.missing)), bound + fmtSecs(est)})
		}
	}
	t.Render()
	fmt.Fprintf(w, "estimate: %s of members with %d workers (methods without cached members are bounded by retraining's cost), plus scoring and attacks\n", fmtSecs(total), workers)
	return nil
}

func modelOr(cfg *runConfig) string {
	if cfg.Model == "" {
		return nn.ArchMLP
	}
	return cfg.Model
}

// newRunTable is a table laid out as split's and reports' are.
func newRunTable(w io.Writer, header ...string) *tablewriter.Table {
	t := tablewriter.NewWriter(w)
	t.SetHeader(header)
	t.SetAutoFormatHeaders(false)
	t.SetAutoWrapText(false)
	t.SetHeaderAlignment(tablewriter.ALIGN_LEFT)
	t.SetAlignment(tablewriter.ALIGN_RIGHT)
	align := make([]int, len(header))
	for i := range align {
		align[i] = tablewriter.ALIGN_RIGHT
	}
	align[0], align[1] = tablewriter.ALIGN_LEFT, tablewriter.ALIGN_LEFT
	t.SetColumnAlignment(align)
	return t
}
