package unlearners

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"unlearnbench/internal/arrays"
	"unlearnbench/nn"
	"unlearnbench/population"
)

// FisherSums is a model's diagonal Fisher over a data set, as sums over
// its N examples of the (label-weighted) squared per-example gradients of
// the cross-entropy, per parameter; Mean divides by N. Fisher shares one
// value among its callers: read it, never modify it.
type FisherSums struct {
	N   int
	Sum map[string][]float64
}

// Mean returns the per-example mean of parameter name's sums.
func (f *FisherSums) Mean(name string) []float64 {
	s := f.Sum[name]
	out := make([]float64, len(s))
	if f.N == 0 {
		return out
	}
	for i, v := range s {
		out[i] = v / float64(f.N)
	}
	return out
}

// FisherEstimator says how labels weight the squared gradients: "true"
// (every class by the model's softmax: the notebook's), "mc" (Samples
// labels drawn from the softmax per example, mean over them) or
// "empirical" (the data's labels).
type FisherEstimator struct {
	Kind    string
	Samples int // mc only; >= 1
}

func (e FisherEstimator) String() string {
	if e.Kind == "mc" {
		return fmt.Sprintf("mc%d", e.Samples)
	}
	return e.Kind
}

// fisherSeed draws the MC labels. It is fixed so that one Fisher per
// (model, data, estimator) serves every member of a population, each of
// which only draws its own noise.
const fisherSeed = 0x4669736865724d43

const fisherFormat = "unlearnbench-fisher/1"

// fisherMeta is the JSON member "meta" of a cached Fisher file.
type fisherMeta struct {
	Format    string   `json:"format"`
	Digest    string   `json:"digest"`
	Model     string   `json:"model_digest"`
	Data      string   `json:"data_digest"`
	Estimator string   `json:"estimator"`
	N         int      `json:"n"`
	Params    []string `json:"params"`
}

// FisherKey is the cache key of the Fisher of model m over data d with
// estimator e: the format, the model's digest, the data's digest and the
// estimator (population.Key.Sum, the bytes of every earlier version); the
// cache file is population.Cache.Fisher(key).
func FisherKey(m *nn.Model, d *nn.Data, e FisherEstimator) (key, modelDigest, dataDigest string, err error) {
	md, err := m.Digest()
	if err != nil {
		return "", "", "", fmt.Errorf("digest of model %q: %w", m.Graph.Name, err)
	}
	dd := d.Digest()
	var k population.Key
	for _, v := range []string{fisherFormat, md, dd, e.String()} {
		k.Add("", v)
	}
	// The arithmetic of a model with convolutions changed with issue 22
	// (nn.Arithmetic); other models keep their keys.
	if a := nn.Arithmetic(m); a != "" {
		k.Add("", a)
	}
	return k.Sum("\n", false), md, dd, nil
}

// fisherMemo holds the Fisher diagonals computed in this process, by key,
// so that the members of a population computed here share one; at most
// fisherMemoMax are kept (a ResNet-18's takes 90 MB).
var fisherMemo = struct {
	sync.Mutex
	entries map[string]*fisherEntry
	order   []string
}{entries: map[string]*fisherEntry{}}

const fisherMemoMax = 4

type fisherEntry struct {
	once sync.Once
	f    *FisherSums
	err  error
}

// Fisher returns the diagonal Fisher of m over d with estimator e (in
// inference mode, batch examples per pass), using in.Runtime, in.Cache and
// in.Warn,
// computing it at most once per process and key and, when in.Cache is
// set, once per cache directory: it is read from and written (atomically)
// to <in.Cache>/fisher/<key>.npz. A cache file that cannot be read, or
// that belongs to another model, data set or estimator (its recorded
// digest differs), is recomputed and replaced, with a warning through
// in.Warn.
func Fisher(in *Inputs, m *nn.Model, d *nn.Data, e FisherEstimator, batch int) (*FisherSums, error) {
	key, md, dd, err := FisherKey(m, d, e)
	if err != nil {
		return nil, err
	}
	fisherMemo.Lock()
	ent, ok := fisherMemo.entries[key]
	if !ok {
		ent = &fisherEntry{}
		fisherMemo.entries[key] = ent
		fisherMemo.order = append(fisherMemo.order, key)
		if len(fisherMemo.order) > fisherMemoMax {
			delete(fisherMemo.entries, fisherMemo.order[0])
			fisherMemo.order = fisherMemo.order[1:]
		}
	}
	fisherMemo.Unlock()
	ent.once.Do(func() {
		meta := fisherMeta{Format: fisherFormat, Digest: key, Model: md, Data: dd, Estimator: e.String(), N: d.Len(), Params: m.Params}
		ent.f, ent.err = fisherCached(in, m, d, e, batch, meta)
	})
	if ent.err != nil {
		// Failures are not remembered: the next call tries again.
		fisherMemo.Lock()
		if fisherMemo.entries[key] == ent {
			delete(fisherMemo.entries, key)
			fisherMemo.order = slices.DeleteFunc(fisherMemo.order, func(k string) bool { return k == key })
		}
		fisherMemo.Unlock()
	}
	return ent.f, ent.err
}

func warn(in *Inputs, format string, args ...any) {
	if in.Warn != nil {
		in.Warn(fmt.Sprintf(format, args...))
	}
}

// FisherFile is where the Fisher with key lives under cache directory dir.
func FisherFile(dir, key string) string { return population.Cache{Root: dir}.Fisher(key) }

func fisherCached(in *Inputs, m *nn.Model, d *nn.Data, e FisherEstimator, batch int, meta fisherMeta) (*FisherSums, error) {
	var path string
	if in.Cache != "" {
		path = FisherFile(in.Cache, meta.Digest)
		f, err := readFisher(path, m, meta)
		switch {
		case err == nil:
			return f, nil
		case errors.Is(err, fs.ErrNotExist):
		default:
			warn(in, "Fisher cache %s: %v; recomputing it", path, err)
		}
	}
	f, err := computeFisher(in, m, d, e, batch)
	if err != nil {
		return nil, err
	}
	if path != "" {
		// The cache only saves time: a cache that cannot be written (a
		// full disk, a read-only folder) costs a recomputation next time,
		// not this command.
		if err := writeFisher(path, f, meta); err != nil {
			warn(in, "Fisher cache: %v; not cached (computed again next time)", err)
		}
	}
	return f, nil
}

// fisherComputed counts the Fisher computations of this process (tests
// check that concurrent members share one).
var fisherComputed atomic.Int64

func computeFisher(in *Inputs, m *nn.Model, d *nn.Data, e FisherEstimator, batch int) (*FisherSums, error) {
	fisherComputed.Add(1)
	fc, err := nn.NewFisherComputer(in.Runtime, m, batch)
	if err != nil {
		return nil, err
	}
	defer fc.Close()
	var sum map[string][]float64
	switch e.Kind {
	case "true":
		sum, err = fc.Compute(d, nn.FisherTrue, fisherSeed)
	case "empirical":
		sum, err = fc.Compute(d, nn.FisherEmpirical, fisherSeed)
	case "mc":
		// Per example, the mean over its K sampled labels of the squared
		// gradient.
		sum, err = fc.ComputeK(d, nn.FisherMC, e.Samples, fisherSeed)
	default:
		return nil, fmt.Errorf("Fisher estimator %q", e.Kind)
	}
	if err != nil {
		return nil, err
	}
	return &FisherSums{N: d.Len(), Sum: sum}, nil
}

func writeFisher(path string, f *FisherSums, meta fisherMeta) error {
	mb, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	z := arrays.NPZ{}
	if err := arrays.Add(z, "meta", arrays.Tensor[uint8]{Shape: []int{len(mb)}, Data: mb}); err != nil {
		return err
	}
	for k, p := range meta.Params {
		if err := arrays.Add(z, fmt.Sprintf("f%04d", k), arrays.Tensor[float64]{Shape: []int{len(f.Sum[p])}, Data: f.Sum[p]}); err != nil {
			return err
		}
	}
	return arrays.WriteNPZ(path, z)
}

// readFisher reads a cached Fisher and checks that it is the one meta
// describes: same digest, model, data, estimator and parameters, each
// array of its parameter's size, every value finite and >= 0.
func readFisher(path string, m *nn.Model, want fisherMeta) (*FisherSums, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	a, err := arrays.ReadNPZ(path, "meta")
	if err != nil {
		return nil, err
	}
	mb, err := a.Uint8s()
	if err != nil {
		return nil, err
	}
	var got fisherMeta
	if err := json.Unmarshal(mb, &got); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	if got.Format != want.Format || got.Digest != want.Digest || got.Model != want.Model || got.Data != want.Data ||
		got.Estimator != want.Estimator || got.N != want.N || !slices.Equal(got.Params, want.Params) {
		return nil, fmt.Errorf("it holds the Fisher of another model, data set or estimator (digest %s, model %.12s, data %.12s, estimator %s; want %s, %.12s, %.12s, %s)",
			got.Digest, got.Model, got.Data, got.Estimator, want.Digest, want.Model, want.Data, want.Estimator)
	}
	f := &FisherSums{N: got.N, Sum: map[string][]float64{}}
	for k, p := range got.Params {
		a, err := arrays.ReadNPZ(path, fmt.Sprintf("f%04d", k))
		if err != nil {
			return nil, err
		}
		v, err := a.Float64s()
		if err != nil {
			return nil, err
		}
		if len(v) != m.ParamLen(p) {
			return nil, fmt.Errorf("parameter %s: %d values, the model has %d", p, len(v), m.ParamLen(p))
		}
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
				return nil, fmt.Errorf("parameter %s: value %d is %v", p, i, x)
			}
		}
		f.Sum[p] = v
	}
	return f, nil
}
