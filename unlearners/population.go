package unlearners

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"unlearnbench/nn"
	"unlearnbench/population"
)

// MemberSeed is the seed of member i of the population labelled label
// (its name in the run, "reference" for the retrained reference) in a run
// seeded by runSeed: a SHA-256 of the three, so that members, populations
// and runs draw independent streams, and a member's seed does not depend
// on N, on the shard computing it or on the order members finish. Seeds
// are below 2^63 so that NumPy reads them back as non-negative int64.
func MemberSeed(runSeed uint64, label string, i int) uint64 {
	h := sha256.New()
	var b [8]byte
	h.Write([]byte("unlearnbench member seed\x00"))
	binary.LittleEndian.PutUint64(b[:], runSeed)
	h.Write(b[:])
	h.Write([]byte(label))
	h.Write([]byte{0})
	binary.LittleEndian.PutUint64(b[:], uint64(i))
	h.Write(b[:])
	return binary.LittleEndian.Uint64(h.Sum(nil)[:8]) >> 1
}

// MemberThreads is the ONNX Runtime intra-op thread count every member is
// computed with. Results depend on it (reductions split differently), so
// it is fixed rather than chosen per machine: shards on machines with
// different core counts then compute the same members. Cores are used by
// running members in parallel instead (MemberWorkers), which for the
// models a population is made of scales better than threads within one.
const MemberThreads = 1

// MemberWorkers is how many members run at once by default: one per core
// on a CPU (each with MemberThreads thread), one on a GPU, which a second
// member would only queue behind. Cores are counted by GOMAXPROCS, which
// follows a container's CPU limit (a Kubernetes pod's), not the host's.
func MemberWorkers(gpu bool) int {
	if gpu {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// PopulationSpec is one population: a configured method run N times.
type PopulationSpec struct {
	// Name is how the run calls the population; it labels the member
	// seeds, so two populations of one method under two names (or the
	// reference and a retrain method) draw different seeds.
	Name      string
	Method    string
	Params    Params
	Unlearner Unlearner
}

// Shared is what every member of every population of a run starts from.
type Shared struct {
	// Inputs are the method's inputs; Seed and Progress are set per
	// member.
	Inputs Inputs
	// Test is the split's test set, on which members' logits are kept.
	Test *nn.Data
	// RunSeed seeds the member seeds (MemberSeed).
	RunSeed uint64
	// Device names the device members run on ("cpu", "cuda:0"): logits
	// differ in their last bits between devices.
	Device string
	// KeepModels keeps each member's ONNX model beside its member file.
	KeepModels bool
	// OriginalDigest and DataDigest identify the original model and the
	// split's data (DataDigest of Shared.Inputs and Test); see Digests.
	OriginalDigest, DataDigest string
}

// Digests fills in OriginalDigest and DataDigest.
func (s *Shared) Digests() error {
	d, err := s.Inputs.Original.Digest()
	if err != nil {
		return fmt.Errorf("digest of the original model: %w", err)
	}
	s.OriginalDigest = d
	h := sha256.New()
	for _, x := range []*nn.Data{s.Inputs.Retain, s.Inputs.Forget, s.Inputs.Validation, s.Test} {
		if x == nil {
			h.Write([]byte("none\x00"))
			continue
		}
		h.Write([]byte(x.Digest()))
	}
	s.DataDigest = fmt.Sprintf("%x", h.Sum(nil))
	return nil
}

// Key is everything the members of population p depend on, and nothing
// that depends on N (so that growing N keeps the directory) or on how
// they are computed (workers, shards): the original model, the split's
// data, the method and its resolved parameters, the seed label and run
// seed, the original's recipe (retrain repeats it, methods take its batch
// size), the device and thread count, and whether models are kept.
func Key(p *PopulationSpec, s *Shared) (population.Key, error) {
	params, err := json.Marshal(p.Params) // maps marshal in key order
	if err != nil {
		return nil, fmt.Errorf("population %s: parameters: %w", p.Name, err)
	}
	recipe, err := json.Marshal(s.Inputs.Recipe)
	if err != nil {
		return nil, fmt.Errorf("population %s: recipe: %w", p.Name, err)
	}
	if s.OriginalDigest == "" || s.DataDigest == "" {
		return nil, errors.New("internal: Shared.Digests not computed")
	}
	var k population.Key
	k.Add("method", p.Method)
	k.Add("params", string(params))
	k.Add("seed label", p.Name)
	k.Add("run seed", s.RunSeed)
	k.Add("original", s.OriginalDigest)
	k.Add("data", s.DataDigest)
	k.Add("recipe", string(recipe))
	k.Add("device", s.Device)
	k.Add("ort threads", MemberThreads)
	k.Add("keep models", s.KeepModels)
	// Added only where it is not empty, so that the keys of models whose
	// arithmetic never changed (the MLP) stay what they were.
	if a := nn.Arithmetic(s.Inputs.Original); a != "" {
		k.Add("arithmetic", a)
	}
	return k, nil
}

// ComputeOptions say how to compute a population's members.
type ComputeOptions struct {
	// Workers is how many members run at once (0: MemberWorkers).
	Workers int
	// Progress, when set, receives members done of those asked for; its
	// calls never overlap.
	Progress func(done, total int)
	// KeepGoing, when set, is asked about each member that fails: true
	// records nothing here and lets the other members go on (the caller
	// keeps the failure: a long run reports failed exec members at the
	// end instead of losing every other member's work); false, or unset,
	// stops the population with that member's error. Workers call it
	// concurrently.
	KeepGoing func(*MemberError) bool
}

// MemberError names the member that failed.
type MemberError struct {
	Population string
	Index      int
	Seed       uint64
	Err        error
}

func (e *MemberError) Error() string {
	return fmt.Sprintf("population %s, member %d (seed %d): %v", e.Population, e.Index, e.Seed, e.Err)
}

func (e *MemberError) Unwrap() error { return e.Err }

// Compute computes members indices of population p into dir, in parallel,
// each written atomically as soon as it is done: a crash or kill loses
// only the members in flight. The first member that fails stops the
// others and is returned as a *MemberError (unless opt.KeepGoing lets the
// others go on); a done ctx stops between
// members (and a method between its steps) with ctx's error, leaving every
// completed member in place.
func Compute(ctx context.Context, dir *population.Dir, p *PopulationSpec, s *Shared, indices []int, opt ComputeOptions) error {
	if len(indices) == 0 {
		return nil
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = MemberWorkers(false)
	}
	workers = min(workers, len(indices))
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		mu    sync.Mutex
		first error
		done  int
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				seed := MemberSeed(s.RunSeed, p.Name, i)
				if err := computeMember(ctx, dir, p, s, i, seed); err != nil {
					me := &MemberError{Population: p.Name, Index: i, Seed: seed, Err: err}
					if opt.KeepGoing != nil && ctx.Err() == nil && opt.KeepGoing(me) {
						continue
					}
					fail(me)
					continue
				}
				mu.Lock()
				done++
				if opt.Progress != nil {
					opt.Progress(done, len(indices))
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, i := range indices {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if err := parent.Err(); err != nil && (first == nil || errors.Is(first, err)) {
		return fmt.Errorf("population %s: stopped after %d of %d members: %w", p.Name, done, len(indices), err)
	}
	return first
}

func computeMember(ctx context.Context, dir *population.Dir, p *PopulationSpec, s *Shared, i int, seed uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	in := s.Inputs
	in.Seed = seed
	in.Progress = nil
	start := time.Now()
	// A method's set-up shared with later members (an exec worker's
	// start-up) is not this member's work: its time is left out.
	var overhead time.Duration
	m, err := p.Unlearner.Unlearn(withOverhead(ctx, &overhead), &in)
	secs := (time.Since(start) - overhead).Seconds()
	if err != nil {
		return err
	}
	if m == in.Original {
		// The contract says a new model; a method returning the original
		// itself would let a later member see another's changes.
		return fmt.Errorf("method %s returned the original model itself, not a new one", p.Method)
	}
	ev, err := nn.NewEvaluator(in.Runtime, m, 512)
	if err != nil {
		return err
	}
	defer ev.Close()
	mem := &population.Member{Index: i, Seed: seed, Seconds: secs, C: m.Classes}
	for _, set := range []struct {
		name string
		d    *nn.Data
		lg   *[]float32
		acc  *float64
	}{{"forget", in.Forget, &mem.Forget, &mem.ForgetAcc}, {"retain", in.Retain, &mem.Retain, &mem.RetainAcc}, {"test", s.Test, &mem.Test, &mem.TestAcc}} {
		lg, err := ev.Logits(set.d)
		if err != nil {
			return err
		}
		if err := finiteLogits(lg, m.Classes, set.name); err != nil {
			// Before anything is written: a member with NaN logits would
			// fail every scoring of the cache, not this member.
			if mf, ok := unwrapMethod(p.Unlearner).(interface {
				memberFailure(seed uint64, reason string) error
			}); ok {
				return fmt.Errorf("method %s: %w", p.Method, mf.memberFailure(seed, err.Error()))
			}
			return fmt.Errorf("method %s: %w", p.Method, err)
		}
		*set.lg = lg
		*set.acc = nn.MetricsOf(lg, set.d.Y, m.Classes).Accuracy
	}
	if s.KeepModels {
		// The model first: a member file then always has its model.
		if err := m.Save(dir.ModelPath(i)); err != nil {
			return err
		}
	}
	return dir.Write(mem)
}

// finiteLogits refuses logits with a NaN or an infinity, naming the set
// and the first example that has one.
func finiteLogits(lg []float32, classes int, set string) error {
	nan, inf, first := 0, 0, -1
	for i, v := range lg {
		switch {
		case math.IsNaN(float64(v)):
			nan++
		case math.IsInf(float64(v), 0):
			inf++
		default:
			continue
		}
		if first < 0 {
			first = i
		}
	}
	if first < 0 {
		return nil
	}
	return fmt.Errorf("its model's logits on the %s set are not finite (%d NaN, %d infinite; the first in example %d)", set, nan, inf, first/max(classes, 1))
}

// unwrapMethod is the method behind New's checks.
func unwrapMethod(u Unlearner) Unlearner {
	if c, ok := u.(*checked); ok {
		return c.u
	}
	return u
}
