package cli

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"strings"

	"go.yaml.in/yaml/v3"

	"unlearnbench/internal/usererr"
	"unlearnbench/internal/yamlcheck"
	"unlearnbench/nn"
)

// unlearn's method parameters (--params, --param) and training recipe
// (--recipe, a train config), read into what unlearners takes.

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

// defaultRecipe is what train runs without flags; cmd_unlearn_test.go
// checks it against train's flag defaults.
func defaultRecipe() nn.TrainConfig {
	return nn.TrainConfig{Epochs: 10, BatchSize: 128,
		Optimizer: nn.OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4},
		Schedule:  nn.Schedule{Name: "cosine", Gamma: 0.1}}
}

// readRecipe reads a train --config file's training settings over train's
// defaults; train's other keys are accepted and ignored.
func readRecipe(path string) (nn.TrainConfig, error) {
	cfg := defaultRecipe()
	if path == "" {
		return cfg, nil
	}
	b, err := yamlcheck.ReadFile("--recipe", path)
	if err != nil {
		return cfg, err
	}
	var doc struct {
		nn.TrainConfig `yaml:",inline"`
		// train's keys that are not part of the recipe.
		Model       any `yaml:"model"`
		Out         any `yaml:"out"`
		Part        any `yaml:"part"`
		Normalize   any `yaml:"normalize"`
		AugmentPad  any `yaml:"augment_pad"`
		AugmentFlip any `yaml:"augment_flip"`
	}
	doc.TrainConfig = cfg
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return cfg, usererr.Errorf("--recipe %s: %v", path, yamlcheck.OneLine(err.Error()))
	}
	return doc.TrainConfig, nil
}
