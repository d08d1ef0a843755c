package cli

import (
	"maps"
	"strings"

	"go.yaml.in/yaml/v3"

	"unlearnbench/internal/usererr"
	"unlearnbench/internal/yamlcheck"
)

// unlearn's method parameters (--params, --param), read into what
// unlearners takes (its --recipe is training.ReadRecipe).

// unlearnParams merges --params and --param into one map.
func unlearnParams(f *unlearnFlags) (map[string]any, error) {
	given := map[string]any{}
	if f.paramFile != "" {
		b, err := yamlcheck.ReadFile("--params", f.paramFile)
		if err != nil {
			return nil, err
		}
		if err := yamlcheck.OneDocument(f.paramFile, b); err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, usererr.Errorf("--params %s: %v", f.paramFile, yamlcheck.OneLine(err.Error()))
		}
		maps.Copy(given, m)
	}
	// A key given twice with two values is a contradiction, not an
	// override (--param wins over --params, which is one).
	first := map[string]string{}
	for _, kv := range f.params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usererr.Errorf("--param %q: want KEY=VALUE", kv)
		}
		if prev, dup := first[strings.TrimSpace(k)]; dup && prev != kv {
			return nil, usererr.Errorf("--param %s given twice with different values: %q, then %q; give it once", strings.TrimSpace(k), prev, kv)
		}
		first[strings.TrimSpace(k)] = kv
		var val any
		if err := yaml.Unmarshal([]byte(v), &val); err != nil {
			return nil, usererr.Errorf("--param %q: the value is not YAML: %v", kv, yamlcheck.OneLine(err.Error()))
		}
		if val == nil {
			return nil, usererr.Errorf("--param %q: no value", kv)
		}
		given[strings.TrimSpace(k)] = val
	}
	return given, nil
}
