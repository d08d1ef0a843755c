package nn

import (
	"math"

	"unlearnbench/internal/usererr"
)

// OptimizerConfig chooses and configures the optimiser, with PyTorch's
// semantics: weight decay as an L2 term added to the gradient for sgd and
// adam, decoupled for adamw (torch.optim.AdamW: p ← p·(1 − lr·wd), then
// Adam's step without the decay in the gradient). The update runs as ONNX
// nodes (stepper).
type OptimizerConfig struct {
	Name        string  `yaml:"name"` // "sgd", "adam" or "adamw"
	LR          float64 `yaml:"lr"`
	Momentum    float64 `yaml:"momentum"`
	Nesterov    bool    `yaml:"nesterov"`
	WeightDecay float64 `yaml:"weight_decay"`
	Beta1       float64 `yaml:"beta1"` // Adam; 0 means 0.9
	Beta2       float64 `yaml:"beta2"` // Adam; 0 means 0.999
	Eps         float64 `yaml:"eps"`   // Adam; 0 means 1e-8
}

// Validate checks the configuration.
func (c OptimizerConfig) Validate() error {
	switch c.Name {
	case "sgd", "adam", "adamw":
	default:
		return usererr.Errorf("optimizer %q: the in-graph update offers sgd, adam or adamw", c.Name)
	}
	if c.Nesterov && c.Name != "sgd" {
		// PyTorch's Adam has no Nesterov variant (NAdam is another
		// optimiser, not offered): refused rather than silently ignored.
		return usererr.Errorf("optimizer %s: nesterov applies to sgd's momentum only", c.Name)
	}
	for _, b := range []struct {
		name string
		v    float64
	}{{"beta1", c.Beta1}, {"beta2", c.Beta2}} {
		if !(b.v >= 0 && b.v < 1) {
			return usererr.Errorf("optimizer %s %v: want [0, 1)", b.name, b.v)
		}
	}
	if !(c.Eps >= 0) || math.IsInf(c.Eps, 0) {
		return usererr.Errorf("optimizer eps %v: want a finite number >= 0 (0 means 1e-8)", c.Eps)
	}
	if !(c.LR > 0) || math.IsInf(c.LR, 0) {
		return usererr.Errorf("optimizer learning rate %v: want > 0", c.LR)
	}
	if !(c.Momentum >= 0 && c.Momentum < 1) {
		return usererr.Errorf("optimizer momentum %v: want [0, 1)", c.Momentum)
	}
	if c.Nesterov && c.Momentum == 0 {
		return usererr.Errorf("optimizer: Nesterov needs momentum > 0")
	}
	if !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0) {
		return usererr.Errorf("optimizer weight decay %v: want >= 0", c.WeightDecay)
	}
	return nil
}

// Schedule is a learning-rate schedule over training steps: a linear
// warm-up over WarmupSteps, then constant, step (multiply by Gamma every
// StepEpochs epochs), cosine (from the base rate to 0 over the remaining
// steps) or cosine_epochs (cosine in whole epochs: the rate is
// base*(1+cos(pi*e/E))/2 throughout epoch e of E, what PyTorch's
// CosineAnnealingLR(T_max=E) gives when scheduler.step() is called once
// after each epoch, as the NeurIPS 2023 competition's train_lib.py does).
type Schedule struct {
	Name        string  `yaml:"name"` // constant, step, cosine, cosine_epochs
	StepEpochs  int     `yaml:"step_epochs"`
	Gamma       float64 `yaml:"gamma"`
	WarmupSteps int     `yaml:"warmup_steps"`
}

// Validate checks the schedule.
func (s Schedule) Validate() error {
	switch s.Name {
	case "", "constant", "cosine", "cosine_epochs":
	case "step":
		if s.StepEpochs < 1 || !(s.Gamma > 0) {
			return usererr.Errorf("step schedule: want step_epochs >= 1 and gamma > 0, got %d and %v", s.StepEpochs, s.Gamma)
		}
	default:
		return usererr.Errorf("schedule %q: want constant, step, cosine or cosine_epochs", s.Name)
	}
	if s.WarmupSteps < 0 {
		return usererr.Errorf("warm-up steps %d: want >= 0", s.WarmupSteps)
	}
	return nil
}

// EpochLR is LR for a run of epochs epochs: the same rate, except that
// cosine_epochs, which counts whole epochs, needs their number (LR alone
// cannot tell it from totalSteps).
func (s Schedule) EpochLR(base float64, step, epoch, epochs, totalSteps int) float64 {
	if s.Name == "cosine_epochs" && step >= s.WarmupSteps && epochs > 0 {
		return base * 0.5 * (1 + math.Cos(math.Pi*float64(epoch)/float64(epochs)))
	}
	return s.LR(base, step, epoch, totalSteps)
}

// LR is the learning rate at global step (from 0) in epoch (from 0), of
// totalSteps, for base rate base. cosine_epochs needs the number of
// epochs: use EpochLR (LR gives the base rate for it).
func (s Schedule) LR(base float64, step, epoch, totalSteps int) float64 {
	if step < s.WarmupSteps {
		return base * float64(step+1) / float64(s.WarmupSteps)
	}
	switch s.Name {
	case "step":
		return base * math.Pow(s.Gamma, float64(epoch/s.StepEpochs))
	case "cosine":
		span := totalSteps - s.WarmupSteps
		if span <= 0 {
			return base
		}
		t := float64(step-s.WarmupSteps) / float64(span)
		return base * 0.5 * (1 + math.Cos(math.Pi*t))
	}
	return base
}
