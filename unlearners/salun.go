package unlearners

import (
	"cmp"
	"context"
	"math"
	"slices"

	"unlearnbench/nn"
)

func init() {
	Register(&Spec{
		Name:        "salun",
		Summary:     "saliency unlearning: random labels (randlabel) restricted to the weights with the largest |gradient of the forget loss|; the others frozen exactly",
		Source:      "Fan et al., SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency, ICLR 2024 (generate_mask.py, RL with --mask)",
		NeedsForget: true,
		Params: append(sgdParams(10, 0.013, "SalUn's CIFAR-10 setting: 10 epochs at 0.013"),
			Param{Key: "ratio", Default: 0.5, Meaning: "share of all weights in the saliency mask: those with the largest |gradient of CE(forget)|", Source: "SalUn's 0.5", Check: unitOpenLow}),
		Build: func(p Params) (Unlearner, error) { return &salun{p: p}, nil },
	})
}

// salun is SalUn (Fan et al., ICLR 2024): the gradient of the forget
// set's cross-entropy (a sum of batch-mean gradients over the forget set
// in a fixed order, as generate_mask.py accumulates them) ranks every
// weight of the model by its magnitude; the top ratio of them form the
// mask, and randlabel runs with every other weight frozen exactly
// (nn.Trainer.SetUpdateMask with factor 0: no gradient, no weight decay,
// no momentum, so its bits stay the original's; SalUn's public code let
// decay and momentum move them, its issue #32).
type salun struct{ p Params }

func (u *salun) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	return randLabelRun(ctx, in, u.p, in.Original.Clone(), func(tr *nn.Trainer) error {
		masks, err := saliencyMask(tr, in, batchSize(u.p, in), u.p.Float("ratio"))
		if err != nil {
			return err
		}
		for _, name := range in.Original.Params {
			if err := tr.SetUpdateMask(name, masks[name]); err != nil {
				return err
			}
		}
		return nil
	})
}

// dataGrad returns, per parameter, Σ over the batches of d (in order, of
// bs examples) of scale(batch size) × the batch-mean gradient of the
// cross-entropy, computed by tr in training mode without a step.
func dataGrad(tr *nn.Trainer, m *nn.Model, d *nn.Data, bs int, scale func(n int) float64, into map[string][]float64) error {
	idx := make([]int, d.Len())
	for i := range idx {
		idx[i] = i
	}
	for _, b := range batchesOf(idx, bs) {
		if _, err := tr.Compute(d, b); err != nil {
			return err
		}
		s := scale(len(b))
		for _, name := range m.Params {
			acc := into[name]
			if acc == nil {
				acc = make([]float64, m.ParamLen(name))
				into[name] = acc
			}
			for i, v := range tr.Grad(name) {
				acc[i] += s * float64(v)
			}
		}
	}
	return nil
}

// saliencyMask is SalUn's hard mask: 1 for the int(ratio × all weights)
// weights of largest |gradient of CE(forget)| over every parameter of the
// model, 0 for the rest (ties broken by parameter order, then element).
func saliencyMask(tr *nn.Trainer, in *Inputs, bs int, ratio float64) (map[string][]float32, error) {
	m := in.Original
	g := map[string][]float64{}
	if err := dataGrad(tr, m, in.Forget, bs, func(int) float64 { return 1 }, g); err != nil {
		return nil, err
	}
	return topMask(m.Params, g, ratio, true), nil
}

// topMask marks the int(share × total) elements of the named tensors of
// g with the largest (largest true) or smallest |value|, across tensors.
func topMask(names []string, g map[string][]float64, share float64, largest bool) map[string][]float32 {
	type ref struct {
		t, i int
		a    float64
	}
	var all []ref
	for t, name := range names {
		for i, v := range g[name] {
			all = append(all, ref{t, i, math.Abs(v)})
		}
	}
	slices.SortStableFunc(all, func(x, y ref) int {
		if largest {
			return cmp.Compare(y.a, x.a)
		}
		return cmp.Compare(x.a, y.a)
	})
	out := map[string][]float32{}
	for _, name := range names {
		out[name] = make([]float32, len(g[name]))
	}
	for _, r := range all[:int(share*float64(len(all)))] {
		out[names[r.t]][r.i] = 1
	}
	return out
}
