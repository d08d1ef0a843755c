package training

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"unlearnbench/internal/usererr"
	"unlearnbench/internal/yamlcheck"
	"unlearnbench/nn"
)

// DefaultRecipe is what train runs without flags; cli's tests check it
// against train's flag defaults.
func DefaultRecipe() nn.TrainConfig {
	return nn.TrainConfig{Epochs: 10, BatchSize: 128,
		Optimizer: nn.OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4},
		Schedule:  nn.Schedule{Name: "cosine", Gamma: 0.1}}
}

// ReadRecipe reads a train --config file's training settings over train's
// defaults (DefaultRecipe; "" reads no file), its augmentation included
// (retrain repeats it); train's other keys are accepted and ignored.
// Errors name the file as unlearn's --recipe.
func ReadRecipe(path string) (nn.TrainConfig, error) {
	cfg := DefaultRecipe()
	if path == "" {
		return cfg, nil
	}
	b, err := yamlcheck.ReadFile("--recipe", path)
	if err != nil {
		return cfg, err
	}
	if err := yamlcheck.OneDocument(path, b); err != nil {
		return cfg, err
	}
	var doc struct {
		nn.TrainConfig `yaml:",inline"`
		// train's keys that are not part of the recipe.
		Model     any `yaml:"model"`
		Out       any `yaml:"out"`
		Part      any `yaml:"part"`
		Normalize any `yaml:"normalize"`
	}
	doc.TrainConfig = cfg
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return cfg, usererr.Errorf("--recipe %s: %v", path, strings.Join(strings.Fields(err.Error()), " "))
	}
	if err := CheckRecipe(doc.TrainConfig); err != nil {
		return cfg, usererr.Errorf("--recipe %s: %v", path, err)
	}
	return doc.TrainConfig, nil
}
