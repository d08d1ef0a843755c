package unlearners

import (
	"context"

	"unlearnbench/nn"
)

func init() {
	Register(&Spec{
		Name:    "noop",
		Summary: "returns a copy of the original model: the lower bound every method must beat",
		Source:  "the baseline of every unlearning benchmark (NeurIPS 2023 Machine Unlearning competition's starting kit scores it)",
		Build:   func(Params) (Unlearner, error) { return noop{}, nil },
	})
	Register(&Spec{
		Name:    "finetune",
		Summary: "fine-tunes on the retain set only, with weight decay and an optional L2 pull toward the original weights",
		Source:  "FT of Golatkar et al. 2020 and of the competition's starting kit; the pull is the seed project's third strategy",
		Params: append(sgdParams(10, 0.01, "public CIFAR-10 repositories: 10 epochs at 0.01"),
			Param{Key: "l2_pull", Default: 0.0, Meaning: "mu: adds mu*(w - w_original) to every gradient, an L2 pull toward the original weights; 0 turns it off", Source: "the seed project's third strategy", Check: nonNegative}),
		Build: func(p Params) (Unlearner, error) { return &finetune{p: p, pull: p.Float("l2_pull")}, nil },
	})
	Register(&Spec{
		Name:    "l1sparse",
		Summary: "fine-tunes on the retain set with an added gamma_t*||w||_1, gamma_t decaying linearly to 0 over the epochs",
		Source:  "Jia et al., Model Sparsity Can Simplify Machine Unlearning, NeurIPS 2023 (Unlearn-Sparse, FT_prune / FT_l1)",
		Params: append(sgdParams(10, 0.01, "Unlearn-Sparse: 10 epochs at 0.01"),
			Param{Key: "gamma", Default: 1e-4, Meaning: "L1 weight gamma_t = gamma*(1 - epoch/epochs) on ||w||_1, decaying linearly to 0", Source: "SalUn's CIFAR-10 script (--alpha 0.0001); methods.md's 0.2 is not what the scripts run", Check: nonNegative}),
		Build: func(p Params) (Unlearner, error) { return &finetune{p: p, gamma: p.Float("gamma")}, nil },
	})
}

// noop is the original model, unchanged: the lower bound.
type noop struct{}

func (noop) Unlearn(_ context.Context, in *Inputs) (*nn.Model, error) {
	return in.Original.Clone(), nil
}

// finetune is FT (cross-entropy on the retain set, SGD with momentum and
// weight decay; Golatkar et al., CVPR 2020, and the NeurIPS 2023
// competition's starting kit) with two optional terms added to the
// gradient: the seed project's L2 pull mu*(w - w_original) toward the
// original weights (l2_pull), and l1sparse's gamma_t*sign(w), the gradient
// of gamma_t*||w||_1 with gamma_t = gamma*(1 - epoch/epochs) (Jia et al.,
// NeurIPS 2023, Unlearn-Sparse's FT_l1). It never reads the forget set.
type finetune struct {
	p           Params
	pull, gamma float64
}

func (f *finetune) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	epochs, bs, n := f.p.Int("epochs"), batchSize(f.p, in), in.Retain.Len()
	r, err := startRun(ctx, in, f.p, nn.LossConfig{}, epochs*steps(n, bs))
	if err != nil {
		return nil, err
	}
	defer r.close()
	for ep := 0; ep < epochs; ep++ {
		r.epoch = ep
		l1 := float32(f.gamma * (1 - float64(ep)/float64(epochs)))
		for _, idx := range batchesOf(order(in.Seed, streamOrder, ep, n), bs) {
			sr, err := r.compute(in.Retain, idx)
			if err != nil {
				return nil, err
			}
			if f.pull > 0 {
				mu := float32(f.pull)
				r.editGrads(func(name string, w, g []float32) {
					w0 := in.Original.ParamRead(name)
					for i := range g {
						g[i] += mu * (w[i] - w0[i])
					}
				})
			}
			if l1 > 0 {
				r.editGrads(func(_ string, w, g []float32) {
					for i := range g {
						switch {
						case w[i] > 0:
							g[i] += l1
						case w[i] < 0:
							g[i] -= l1
						}
					}
				})
			}
			if err := r.apply(sr.Loss); err != nil {
				return nil, err
			}
		}
	}
	return r.m, nil
}
