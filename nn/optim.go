package nn

import (
	"math"

	"unlearnbench/internal/usererr"
)

// OptimizerConfig chooses and configures the optimiser, with PyTorch's
// semantics (weight decay as an L2 term added to the gradient).
type OptimizerConfig struct {
	Name        string  `yaml:"name"` // "sgd" or "adam"
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
	case "sgd", "adam":
	default:
		return usererr.Errorf("optimizer %q: want sgd or adam", c.Name)
	}
	if !(c.LR > 0) {
		return usererr.Errorf("optimizer learning rate %v: want > 0", c.LR)
	}
	if c.Momentum < 0 || c.Momentum >= 1 {
		return usererr.Errorf("optimizer momentum %v: want [0, 1)", c.Momentum)
	}
	if c.Nesterov && c.Momentum == 0 {
		return usererr.Errorf("optimizer: Nesterov needs momentum > 0")
	}
	if c.WeightDecay < 0 {
		return usererr.Errorf("optimizer weight decay %v: want >= 0", c.WeightDecay)
	}
	return nil
}

// optimizer updates parameters in place from their gradients.
type optimizer struct {
	cfg  OptimizerConfig
	v, s [][]float32 // momentum / Adam first and second moments
	t    int
}

func newOptimizer(cfg OptimizerConfig, params [][]float32) *optimizer {
	o := &optimizer{cfg: cfg}
	if cfg.Name == "adam" || cfg.Momentum > 0 {
		for _, p := range params {
			o.v = append(o.v, make([]float32, len(p)))
		}
	}
	if cfg.Name == "adam" {
		for _, p := range params {
			o.s = append(o.s, make([]float32, len(p)))
		}
	}
	return o
}

// step applies one update with learning rate lr. masks[k], when not nil,
// is a per-element factor on parameter k's gradient and weight decay: an
// element whose factor is 0 is skipped entirely (no decay, no moment
// update), so that its bits never change.
func (o *optimizer) step(params, grads, masks [][]float32, lr float64) {
	o.t++
	c := o.cfg
	wd := float32(c.WeightDecay)
	mask := func(k int) []float32 {
		if k < len(masks) {
			return masks[k]
		}
		return nil
	}
	switch c.Name {
	case "sgd":
		mu := float32(c.Momentum)
		for k, p := range params {
			g, s := grads[k], mask(k)
			if mu == 0 {
				for i := range p {
					gi := g[i] + wd*p[i]
					if s != nil {
						if s[i] == 0 {
							continue
						}
						gi *= s[i]
					}
					p[i] -= float32(lr) * gi
				}
				continue
			}
			v := o.v[k]
			for i := range p {
				gi := g[i] + wd*p[i]
				if s != nil {
					if s[i] == 0 {
						continue
					}
					gi *= s[i]
				}
				if o.t == 1 {
					v[i] = gi // PyTorch starts the buffer at the first gradient
				} else {
					v[i] = mu*v[i] + gi
				}
				if c.Nesterov {
					gi += mu * v[i]
				} else {
					gi = v[i]
				}
				p[i] -= float32(lr) * gi
			}
		}
	case "adam":
		b1, b2, eps := c.Beta1, c.Beta2, c.Eps
		if b1 == 0 {
			b1 = 0.9
		}
		if b2 == 0 {
			b2 = 0.999
		}
		if eps == 0 {
			eps = 1e-8
		}
		bc1 := 1 - math.Pow(b1, float64(o.t))
		bc2 := 1 - math.Pow(b2, float64(o.t))
		stepSize := float32(lr / bc1)
		sq2 := float32(math.Sqrt(bc2))
		fb1, fb2, feps := float32(b1), float32(b2), float32(eps)
		for k, p := range params {
			g, m, v, s := grads[k], o.v[k], o.s[k], mask(k)
			for i := range p {
				gi := g[i] + wd*p[i]
				if s != nil {
					if s[i] == 0 {
						continue
					}
					gi *= s[i]
				}
				m[i] = fb1*m[i] + (1-fb1)*gi
				v[i] = fb2*v[i] + (1-fb2)*gi*gi
				p[i] -= stepSize * m[i] / (float32(math.Sqrt(float64(v[i])))/sq2 + feps)
			}
		}
	}
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
