package unlearners

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
)

// Inputs are what an unlearning method reads. The data are ready for the
// model (normalised as it expects).
type Inputs struct {
	// Original is the model trained on retain ∪ forget. Unlearn never
	// modifies it.
	Original *nn.Model
	// Retain, Forget and Validation are the split's sets; Validation may
	// be empty.
	Retain, Forget, Validation *nn.Data
	// Recipe is how the original was trained: retrain repeats it on the
	// retain set, and methods take their batch size from it unless their
	// parameters say otherwise.
	Recipe nn.TrainConfig
	// Runtime runs the models (CPU or CUDA).
	Runtime *ort.Runtime
	// Seed seeds every random choice of this run: batch order, noise,
	// random labels, initialisation.
	Seed uint64
	// Cache is a directory for what several runs share (Fisher diagonals
	// of the original model); "" keeps it in memory only.
	Cache string
	// Progress, when set, receives the steps done of the run's total.
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
// the method, the key and the value.
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
	return u, p, nil
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
		if x, ok := v.(string); ok {
			return x, nil
		}
		return nil, fmt.Errorf("want a string, got %T", v)
	}
	return nil, fmt.Errorf("parameter of unsupported type %T", def)
}
