package unlearners

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
)

// Inputs are what an unlearning method reads. The data are ready for the
// model (normalised as it expects). Unlearn modifies none of them, so one
// Inputs may serve several runs at once (the members of a population,
// each with its own Seed); New's methods refuse an empty retain set, and
// an empty forget set where Spec.NeedsForget.
type Inputs struct {
	// Original is the model trained on retain ∪ forget. Unlearn never
	// modifies it.
	Original *nn.Model
	// Retain, Forget and Validation are the split's sets; Validation may
	// be empty.
	Retain, Forget, Validation *nn.Data
	// Recipe is how the original was trained: retrain repeats it on the
	// retain set (with Seed in place of Recipe.Seed), and the training
	// methods take their batch size from it unless their batch_size
	// parameter is set (128 when neither is).
	Recipe nn.TrainConfig
	// Runtime runs the models (CPU or CUDA).
	Runtime *ort.Runtime
	// Seed seeds every random choice of this run: batch order, noise,
	// random labels, initialisation.
	Seed uint64
	// Cache is a directory for what several runs share (Fisher diagonals
	// of the original model, in Cache/fisher/, see Fisher); "" keeps them
	// in this process's memory only.
	Cache string
	// Progress, when set, receives the steps done of the run's total,
	// from the goroutine that runs Unlearn.
	Progress func(done, total int)
	// Warn, when set, receives warnings the user must see.
	Warn func(string)
	// SplitDir is the folder of the split saved by `unlearnbench split`
	// that Retain, Forget and Validation come from (its index files are
	// handed to exec methods); "" when the split is not on disk.
	SplitDir string
}

// Unlearner is one configured unlearning method.
type Unlearner interface {
	// Unlearn returns the unlearned model, a new one; in.Original is left
	// as it was. A done ctx stops it between two steps with ctx's error.
	Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error)
}

// Param documents one hyper-parameter of a method.
type Param struct {
	Key     string
	Default any // float64, int, bool or string: the value's type
	Meaning string
	// Source says where the default comes from ("SalUn's 0.5"; "ours"
	// where no source fixes it).
	Source string
	// Check, when set, validates a value of the right type; its error
	// says what is wanted ("want (0, 1]").
	Check func(v any) error
}

// Spec describes a method: its name, what it does, its source, its
// parameters and how to build it from resolved parameters.
type Spec struct {
	Name    string
	Summary string
	Source  string
	// NeedsForget: the method reads the forget set, and an empty one is
	// an error.
	NeedsForget bool
	Params      []Param
	Build       func(p Params) (Unlearner, error)
}

// Params are resolved hyper-parameters: every key of the method's Spec,
// defaults filled in, values of the declared types.
type Params map[string]any

// Float returns parameter key as a float64.
func (p Params) Float(key string) float64 { return p[key].(float64) }

// Int returns parameter key as an int.
func (p Params) Int(key string) int { return p[key].(int) }

// Bool returns parameter key as a bool.
func (p Params) Bool(key string) bool { return p[key].(bool) }

// String returns parameter key as a string.
func (p Params) String(key string) string { return p[key].(string) }

var registry = map[string]*Spec{}

// Register adds a method; methods register themselves in init.
func Register(s *Spec) {
	if _, dup := registry[s.Name]; dup {
		panic("unlearners: method " + s.Name + " registered twice")
	}
	registry[s.Name] = s
}

// Lookup returns the method called name.
func Lookup(name string) (*Spec, bool) {
	s, ok := registry[name]
	return s, ok
}

// Names lists the registered methods, sorted.
func Names() []string { return slices.Sorted(maps.Keys(registry)) }

// New builds method name from user-given parameters (as decoded from
// YAML; missing keys take their defaults) and returns it with the
// resolved parameters, every default written out. An unknown method or
// key, a value of the wrong type or out of range is a user error naming
// the method, the key and the value. The method is an io.Closer: close it
// once its runs are done (exec removes the data folders it wrote without
// a cache).
func New(name string, given map[string]any) (Unlearner, Params, error) {
	s, ok := registry[name]
	if !ok {
		return nil, nil, usererr.Errorf("unknown method %q: want one of %s", name, strings.Join(Names(), ", "))
	}
	p, err := s.Resolve(given)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.Build(p)
	if err != nil {
		return nil, nil, err
	}
	return &checked{spec: s, u: u}, p, nil
}

// checked is what New returns: the method behind the checks every method
// shares, so that each reports bad inputs the same way.
type checked struct {
	spec *Spec
	u    Unlearner
}

// Close releases what the method holds between its runs (exec's data
// folders written without a cache); a method holding nothing returns nil.
func (c *checked) Close() error {
	if cl, ok := c.u.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

func (c *checked) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	if err := c.spec.CheckInputs(in); err != nil {
		return nil, err
	}
	m, err := c.u.Unlearn(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("method %s: %w", c.spec.Name, err)
	}
	return m, nil
}

// CheckInputs verifies what every method needs: a model and a runtime,
// data that fits the model, and a forget set when the method reads one.
func (s *Spec) CheckInputs(in *Inputs) error {
	if in == nil || in.Original == nil {
		return fmt.Errorf("method %s: no original model", s.Name)
	}
	if in.Runtime == nil {
		return fmt.Errorf("method %s: no ONNX Runtime", s.Name)
	}
	for _, d := range []struct {
		name string
		d    *nn.Data
	}{{"retain", in.Retain}, {"forget", in.Forget}, {"validation", in.Validation}} {
		if d.d == nil {
			continue
		}
		if err := d.d.Check(in.Original); err != nil {
			return fmt.Errorf("method %s: %s set: %w", s.Name, d.name, err)
		}
	}
	if in.Retain == nil || in.Retain.Len() == 0 {
		return usererr.Errorf("method %s: the retain set is empty", s.Name)
	}
	if s.NeedsForget && (in.Forget == nil || in.Forget.Len() == 0) {
		return usererr.Errorf("method %s: the forget set is empty, and this method learns from it", s.Name)
	}
	return nil
}

// Resolve checks given against the method's parameters and fills in the
// defaults.
func (s *Spec) Resolve(given map[string]any) (Params, error) {
	known := map[string]*Param{}
	for i := range s.Params {
		known[s.Params[i].Key] = &s.Params[i]
	}
	keys := slices.Sorted(maps.Keys(given))
	for _, k := range keys {
		if _, ok := known[k]; !ok {
			var names []string
			for _, p := range s.Params {
				names = append(names, p.Key)
			}
			sort.Strings(names)
			return nil, usererr.Errorf("method %s: unknown parameter %q (its parameters: %s)", s.Name, k, strings.Join(names, ", "))
		}
	}
	p := Params{}
	for _, par := range s.Params {
		v, ok := given[par.Key]
		if !ok {
			p[par.Key] = par.Default
			continue
		}
		cv, err := convert(v, par.Default)
		if err != nil {
			return nil, usererr.Errorf("method %s: parameter %s = %v: %v", s.Name, par.Key, v, err)
		}
		if par.Check != nil {
			if err := par.Check(cv); err != nil {
				return nil, usererr.Errorf("method %s: parameter %s = %v: %v", s.Name, par.Key, v, err)
			}
		}
		p[par.Key] = cv
	}
	return p, nil
}

// convert turns a YAML-decoded value into the type of def.
func convert(v, def any) (any, error) {
	switch def.(type) {
	case float64:
		switch x := v.(type) {
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("want a finite number")
			}
			return x, nil
		case int:
			return float64(x), nil
		case string:
			// A fraction such as 1/4 (fisher's exponent) reads as its value.
			if p, q, ok := strings.Cut(x, "/"); ok {
				a, err1 := strconv.ParseFloat(strings.TrimSpace(p), 64)
				b, err2 := strconv.ParseFloat(strings.TrimSpace(q), 64)
				if err1 == nil && err2 == nil && b != 0 && !math.IsInf(a/b, 0) && !math.IsNaN(a/b) {
					return a / b, nil
				}
			}
		}
		return nil, fmt.Errorf("want a number, got %T", v)
	case int:
		switch x := v.(type) {
		case int:
			return x, nil
		case float64:
			if x == float64(int(x)) {
				return int(x), nil
			}
		}
		return nil, fmt.Errorf("want an integer, got %v", v)
	case bool:
		if x, ok := v.(bool); ok {
			return x, nil
		}
		return nil, fmt.Errorf("want true or false, got %T", v)
	case string:
		// YAML reads a bare true, false or number as that type, so
		// `--param estimator=true` or `estimator: true` in a config arrives
		// as a bool although the user wrote the string the method lists;
		// the value's own text is what was meant, and the parameter's
		// check still decides whether it is allowed.
		switch x := v.(type) {
		case string:
			return x, nil
		case bool:
			return strconv.FormatBool(x), nil
		case int:
			return strconv.Itoa(x), nil
		}
		return nil, fmt.Errorf("want a string, got %T", v)
	}
	return nil, fmt.Errorf("parameter of unsupported type %T", def)
}

// paramErr is a user error about parameter key's value v; the method's
// name is added by the wrapper New returns.
func paramErr(key string, v any, format string, args ...any) error {
	return usererr.Errorf("parameter %s = %v: %s", key, v, fmt.Sprintf(format, args...))
}
