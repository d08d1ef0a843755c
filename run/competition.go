package run

import (
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
)

// What the NeurIPS 2023 competition's protocol (configs/competition.yaml)
// adds to a run: raw pixels, inverse-frequency class weights and the
// best validation epoch.

// checkCompetitionFields checks the fields that need no data.
func (c *Config) checkCompetitionFields() error {
	bad := func(format string, args ...any) error {
		return usererr.Errorf("config %s: "+format, append([]any{c.File}, args...)...)
	}
	switch c.Data.PixelScale {
	case "":
	case "raw":
		if c.Normalize != "" && c.Normalize != "none" {
			return bad("data.pixel_scale raw feeds pixels 0-255 unnormalised; normalize %q contradicts it", c.Normalize)
		}
	default:
		return bad("data.pixel_scale %q: want raw, or leave it out (value/255)", c.Data.PixelScale)
	}
	if c.Recipe.Loss.InverseFrequency && c.Recipe.Loss.ClassWeights != nil {
		return bad("recipe.loss: give inverse_frequency or class_weights, not both")
	}
	if err := c.Recipe.BestValidation.Validate(c.Recipe.Epochs); err != nil {
		return bad("recipe.%v", err)
	}
	return nil
}

// trainingRecipe is the recipe the original and retrain train with: the
// config's, with the inverse-frequency class weights computed from the
// original's training set (retain and forget: surf.py computes them once
// from train_ds and retrains with the same weights).
func trainingRecipe(cfg *Config, s *sets) (nn.TrainConfig, error) {
	r := cfg.Recipe
	if !r.Loss.InverseFrequency {
		return r, nil
	}
	w, err := nn.InverseFrequencyWeights(s.train.Y, s.src.Train.Classes)
	if err != nil {
		return r, usererr.Errorf("config %s: recipe.loss.inverse_frequency: %v", cfg.File, err)
	}
	r.Loss.ClassWeights = w
	return r, nil
}
