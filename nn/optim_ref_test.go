package nn

import "math"

// optimizer is the optimiser as it ran in Go before the update moved into
// the graph (stepper): kept as the reference that the in-graph update is
// tested against (TestInGraphOptimizerEqualsReference), with AdamW added
// as PyTorch's torch.optim.AdamW computes it.
// optimizer updates parameters in place from their gradients.
type optimizer struct {
	cfg  OptimizerConfig
	v, s [][]float32 // momentum / Adam first and second moments
	t    int
}

func newOptimizer(cfg OptimizerConfig, params [][]float32) *optimizer {
	o := &optimizer{cfg: cfg}
	if cfg.Name == "adam" || cfg.Name == "adamw" || cfg.Momentum > 0 {
		for _, p := range params {
			o.v = append(o.v, make([]float32, len(p)))
		}
	}
	if cfg.Name == "adam" || cfg.Name == "adamw" {
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
	case "adam", "adamw":
		adamw := c.Name == "adamw"
		if adamw {
			// Decoupled: the decay multiplies the weight, not the gradient.
			wd = 0
		}
		decay := float32(1 - lr*c.WeightDecay)
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
				if adamw && c.WeightDecay != 0 {
					p[i] *= decay
				}
				p[i] -= stepSize * m[i] / (float32(math.Sqrt(float64(v[i])))/sq2 + feps)
			}
		}
	}
}
