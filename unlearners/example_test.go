package unlearners_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"unlearnbench/nn"
	"unlearnbench/unlearners"
)

// shrink is a toy method: the original's parameters times a factor.
type shrink struct{ factor float64 }

func (s shrink) Unlearn(ctx context.Context, in *unlearners.Inputs) (*nn.Model, error) {
	m := in.Original.Clone() // never modify the original
	for _, name := range m.Params {
		for i, v := range m.Param(name) {
			m.Param(name)[i] = v * float32(s.factor)
		}
	}
	return m, ctx.Err()
}

// A new method declares its Spec, usually in its own file's init: a name,
// what it does and where it comes from, and every parameter with its
// default (whose type is the parameter's), meaning, source and check. New
// then resolves what a user gives (from YAML: --param or a run config)
// against it: defaults filled in, types converted, values checked, and
// errors that name the method, the parameter and the value.
func ExampleRegister() {
	spec := &unlearners.Spec{
		Name:    "example-shrink",
		Summary: "multiplies every weight by a factor",
		Source:  "ours (an example)",
		Params: []unlearners.Param{
			{Key: "factor", Default: 0.9, Meaning: "what every weight is multiplied by", Source: "ours",
				Check: func(v any) error {
					if f := v.(float64); f <= 0 || f > 1 {
						return fmt.Errorf("want (0, 1]")
					}
					return nil
				}},
			{Key: "verbose", Default: false, Meaning: "unused here", Source: "ours"},
		},
		Build: func(p unlearners.Params) (unlearners.Unlearner, error) {
			return shrink{factor: p.Float("factor")}, nil
		},
	}
	// A method's init just calls Register; the Lookup only lets
	// go test -count=2 run this example twice (a name registers once).
	if _, ok := unlearners.Lookup(spec.Name); !ok {
		unlearners.Register(spec)
	}

	for _, given := range []map[string]any{nil, {"factor": "1/4"}, {"factor": 2}, {"facter": 0.5}} {
		_, p, err := unlearners.New("example-shrink", given)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(p)) {
			kv = append(kv, fmt.Sprintf("%s=%v", k, p[k]))
		}
		fmt.Println(strings.Join(kv, " "))
	}
	// Output:
	// factor=0.9 verbose=false
	// factor=0.25 verbose=false
	// error: method example-shrink: parameter factor = 2: want (0, 1]
	// error: method example-shrink: unknown parameter "facter" (its parameters: factor, verbose)
}
