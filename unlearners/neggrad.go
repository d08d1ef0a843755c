package unlearners

import (
	"context"

	"unlearnbench/nn"
)

func init() {
	Register(&Spec{
		Name:        "neggrad",
		Summary:     "gradient ascent on the forget set: maximises its cross-entropy",
		Source:      "Golatkar et al., Eternal Sunshine of the Spotless Net, CVPR 2020 (NegGrad); GA in Unlearn-Sparse and SalUn",
		NeedsForget: true,
		Params:      sgdParams(5, 1e-4, "Unlearn-Sparse and SalUn GA: 5 epochs at 1e-4"),
		Build:       func(p Params) (Unlearner, error) { return &neggrad{p: p}, nil },
	})
	Register(&Spec{
		Name:        "neggrad+",
		Summary:     "minimises alpha*CE(retain) - (1 - alpha)*CE(forget): one retain and one forget batch per step",
		Source:      "Kurmanji et al., Towards Unbounded Machine Unlearning, NeurIPS 2023 (NegGrad+, SCRUB's repository)",
		NeedsForget: true,
		Params: append(sgdParams(10, 0.01, "SCRUB's repository: 10 epochs at 0.01"),
			Param{Key: "alpha", Default: 0.95, Meaning: "weight of the retain loss; the forget loss gets 1 - alpha", Source: "SCRUB's repository (0.95)", Check: unitClosed}),
		Build: func(p Params) (Unlearner, error) { return &neggradPlus{p: p}, nil },
	})
	Register(&Spec{
		Name:        "randlabel",
		Summary:     "fine-tunes on the retain set mixed with the forget set under uniformly random labels, redrawn every epoch",
		Source:      "Golatkar et al. 2020 (random labels); RL as Unlearn-Sparse and SalUn (Fan et al., ICLR 2024) run it",
		NeedsForget: true,
		Params:      sgdParams(10, 0.01, "as FT: 10 epochs at 0.01"),
		Build:       func(p Params) (Unlearner, error) { return &randlabel{p: p}, nil },
	})
}

// neggrad is gradient ascent on the forget set's cross-entropy (NegGrad,
// Golatkar et al., CVPR 2020; GA with Unlearn-Sparse's and SalUn's
// defaults): the gradient is negated before the optimiser, whose weight
// decay still pulls toward zero.
type neggrad struct{ p Params }

func (u *neggrad) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	epochs, bs, n := u.p.Int("epochs"), batchSize(u.p, in), in.Forget.Len()
	r, err := startRun(ctx, in, u.p, nn.LossConfig{}, epochs*steps(n, bs))
	if err != nil {
		return nil, err
	}
	defer r.close()
	for ep := 0; ep < epochs; ep++ {
		r.epoch = ep
		for _, idx := range batchesOf(order(in.Seed, streamOrder, ep, n), bs) {
			sr, err := r.compute(in.Forget, idx)
			if err != nil {
				return nil, err
			}
			r.editGrads(func(_ string, _, g []float32) {
				for i := range g {
					g[i] = -g[i]
				}
			})
			if err := r.apply(-sr.Loss); err != nil {
				return nil, err
			}
		}
	}
	return r.m, nil
}

// neggradPlus is NegGrad+ (Kurmanji et al., NeurIPS 2023): each step
// descends alpha*CE(retain batch) - (1 - alpha)*CE(forget batch). An
// epoch is one pass over the retain set; the forget set is cycled in its
// own seeded order. The forget batch is computed first so that the
// running batch-norm statistics the step commits are the retain batch's.
type neggradPlus struct{ p Params }

func (u *neggradPlus) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	epochs, bs, n := u.p.Int("epochs"), batchSize(u.p, in), in.Retain.Len()
	a := u.p.Float("alpha")
	r, err := startRun(ctx, in, u.p, nn.LossConfig{}, epochs*steps(n, bs))
	if err != nil {
		return nil, err
	}
	defer r.close()
	var forget [][]int
	fEpoch, fNext := 0, 0
	for ep := 0; ep < epochs; ep++ {
		r.epoch = ep
		for _, idx := range batchesOf(order(in.Seed, streamOrder, ep, n), bs) {
			if fNext == len(forget) {
				forget = batchesOf(order(in.Seed, streamOrder2, fEpoch, in.Forget.Len()), bs)
				fEpoch, fNext = fEpoch+1, 0
			}
			fr, err := r.compute(in.Forget, forget[fNext])
			fNext++
			if err != nil {
				return nil, err
			}
			if err := r.finite(fr.Loss); err != nil {
				return nil, err
			}
			if err := r.tr.Accumulate(-(1 - a)); err != nil {
				return nil, err
			}
			rr, err := r.compute(in.Retain, idx)
			if err != nil {
				return nil, err
			}
			if err := r.finite(rr.Loss); err != nil {
				return nil, err
			}
			if err := r.tr.Accumulate(a); err != nil {
				return nil, err
			}
			if err := r.applyAccumulated(); err != nil {
				return nil, err
			}
		}
	}
	return r.m, nil
}

// randlabel is RL (Golatkar et al. 2020; as Unlearn-Sparse and SalUn, Fan
// et al., ICLR 2024, run it): each epoch, the forget set's labels are
// drawn uniformly from all classes, the forget set is concatenated with
// the retain set and the model trained one epoch on the mixture.
type randlabel struct{ p Params }

func (u *randlabel) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	return randLabelRun(ctx, in, u.p, in.Original.Clone(), nil)
}

// randLabelRun trains m (a copy of the original) as randlabel does; setup,
// when set, runs on the trainer before the first step.
func randLabelRun(ctx context.Context, in *Inputs, p Params, m *nn.Model, setup func(*nn.Trainer) error) (*nn.Model, error) {
	epochs, bs := p.Int("epochs"), batchSize(p, in)
	nf, nr := in.Forget.Len(), in.Retain.Len()
	n := nf + nr
	r, err := startRunOn(ctx, in, m, p, nn.LossConfig{}, epochs*steps(n, bs))
	if err != nil {
		return nil, err
	}
	defer r.close()
	if setup != nil {
		if err := setup(r.tr); err != nil {
			return nil, err
		}
	}
	c := int64(in.Original.Classes)
	size := in.Retain.Size()
	buf := min(bs, max(n, 1)) // no batch larger than the data
	x := make([]float32, buf*size)
	y := make([]int64, buf)
	labels := make([]int64, nf)
	for ep := 0; ep < epochs; ep++ {
		r.epoch = ep
		rng := rngFor(in.Seed^uint64(ep)*0x9e3779b97f4a7c15, streamLabels)
		for i := range labels {
			labels[i] = rng.Int64N(c)
		}
		for _, idx := range batchesOf(order(in.Seed, streamOrder, ep, n), bs) {
			// Indices below nf are forget examples, the rest retain ones.
			for j, i := range idx {
				if i < nf {
					gatherTo(in.Forget, labels, []int{i}, x[j*size:(j+1)*size], y[j:j+1])
				} else {
					gatherTo(in.Retain, nil, []int{i - nf}, x[j*size:(j+1)*size], y[j:j+1])
				}
			}
			if err := r.alive(); err != nil {
				return nil, err
			}
			sr, err := r.tr.ComputeBatch(x[:len(idx)*size], y[:len(idx)])
			if err != nil {
				return nil, err
			}
			if err := r.apply(sr.Loss); err != nil {
				return nil, err
			}
		}
	}
	return r.m, nil
}
