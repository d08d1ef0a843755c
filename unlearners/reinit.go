package unlearners

import (
	"context"
	"fmt"
	"math"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
)

func init() {
	Register(&Spec{
		Name:    "reinit",
		Summary: "erase, then repair: re-initialises a share of the weights, scales the other weights' updates, then fine-tunes on the retain set with class weights",
		Source:  "the NeurIPS 2023 Machine Unlearning competition's top entries (public ports in the Deep Unlearn benchmark)",
		Params: append(sgdParams(5, 1e-3, "the top entry's 5 epochs at 1e-3"),
			Param{Key: "select", Default: "gradient", Meaning: "gradient: the share of target weights with the smallest |gradient of CE(retain) - CE(forget)| (reads the forget set); random-layers: that share of the target tensors, whole, drawn from the seed (does not read it)", Source: "gradient: a top-3 entry; random layers: the 8th place", Check: oneOf("gradient", "random-layers")},
			Param{Key: "share", Default: 0.3, Meaning: "share of the target weights (gradient) or tensors (random-layers, at least one) re-initialised", Source: "the top entry's 30%", Check: unitOpenLow},
			Param{Key: "target", Default: "auto", Meaning: "tensors that may be re-initialised: conv (convolution weights), weights (every parameter of rank >= 2), or auto: conv when the model has convolutions, else weights", Source: "conv: the top entry's; auto: ours, so that the defaults work on a model without convolutions", Check: oneOf("auto", "conv", "weights")},
			Param{Key: "scale", Default: 0.1, Meaning: "factor on the updates of every weight not re-initialised; 0 freezes them exactly", Source: "the top entry's 0.1", Check: unitClosed},
			Param{Key: "class_weights", Default: true, Meaning: "fine-tune with class weights n/(C*n_c) from the retain set's class counts", Source: "the entries' class-balanced fine-tuning"},
		),
		Build: func(p Params) (Unlearner, error) { return &reinit{p: p}, nil },
	})
}

// reinit is the competition's "erase, then repair" (NeurIPS 2023 Machine
// Unlearning, the top entries as the Deep Unlearn benchmark ports them):
// re-initialise (nn.Model.Reinit, the zoo's initialisers) the share of the
// target weights with the smallest |∇CE(retain) − ∇CE(forget)| (the
// gradients of the two sets' mean losses, training mode), or that share of
// the target tensors chosen at random (the 8th place's finding); scale
// the updates of every other parameter by scale (0 freezes it exactly,
// through weight decay and momentum: nn.Trainer.SetUpdateMask); then
// fine-tune on the retain set with class weights. With select
// random-layers it never reads the forget set.
type reinit struct{ p Params }

func (u *reinit) targets(m *nn.Model) ([]string, error) {
	conv := map[string]bool{}
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Conv" && len(n.Input) > 1 {
			conv[n.Input[1]] = true
		}
	}
	target := u.p.String("target")
	if target == "auto" {
		target = "weights"
		for _, name := range m.Params {
			if conv[name] {
				target = "conv"
			}
		}
	}
	var out []string
	for _, name := range m.Params {
		if (target == "conv" && conv[name]) || (target == "weights" && len(m.Graph.Inits[name].Dims) >= 2) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, paramErr("target", u.p.String("target"), "model %q has no such weights", m.Graph.Name)
	}
	return out, nil
}

func (u *reinit) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	m := in.Original.Clone()
	targets, err := u.targets(m)
	if err != nil {
		return nil, err
	}
	if u.p.String("select") == "gradient" && (in.Forget == nil || in.Forget.Len() == 0) {
		return nil, usererr.Errorf("parameter select = gradient: the forget set is empty (random-layers needs none)")
	}
	var loss nn.LossConfig
	if u.p.Bool("class_weights") {
		loss.ClassWeights = classWeights(in.Retain, m.Classes)
	}
	epochs, bs, n := u.p.Int("epochs"), batchSize(u.p, in), in.Retain.Len()
	r, err := startRunOn(ctx, in, m, u.p, loss, epochs*steps(n, bs))
	if err != nil {
		return nil, err
	}
	defer r.close()
	chosen, err := u.choose(r.tr, in, targets, bs)
	if err != nil {
		return nil, err
	}
	seed := rngFor(in.Seed, streamInit).Uint64()
	scale := float32(u.p.Float("scale"))
	for _, name := range m.Params {
		f := make([]float32, m.ParamLen(name))
		mask := chosen[name]
		for i := range f {
			f[i] = scale
			if mask != nil && mask[i] {
				f[i] = 1
			}
		}
		if mask != nil {
			if err := m.Reinit(name, mask, seed); err != nil {
				return nil, err
			}
		}
		if err := r.tr.SetUpdateMask(name, f); err != nil {
			return nil, err
		}
	}
	for ep := 0; ep < epochs; ep++ {
		r.epoch = ep
		for _, idx := range batchesOf(order(in.Seed, streamOrder, ep, n), bs) {
			sr, err := r.compute(in.Retain, idx)
			if err != nil {
				return nil, err
			}
			if err := r.apply(sr.Loss); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// choose returns, per target tensor, the elements to re-initialise.
func (u *reinit) choose(tr *nn.Trainer, in *Inputs, targets []string, bs int) (map[string][]bool, error) {
	share := u.p.Float("share")
	out := map[string][]bool{}
	if u.p.String("select") == "random-layers" {
		k := max(1, int(math.Round(share*float64(len(targets)))))
		rng := rngFor(in.Seed, streamSelect)
		for _, i := range rng.Perm(len(targets))[:k] {
			out[targets[i]] = make([]bool, in.Original.ParamLen(targets[i]))
			for j := range out[targets[i]] {
				out[targets[i]][j] = true
			}
		}
		return out, nil
	}
	g := map[string][]float64{}
	nr, nf := float64(in.Retain.Len()), float64(in.Forget.Len())
	if err := dataGrad(tr, in.Original, in.Retain, bs, func(n int) float64 { return float64(n) / nr }, g); err != nil {
		return nil, fmt.Errorf("gradient of the retain loss: %w", err)
	}
	if err := dataGrad(tr, in.Original, in.Forget, bs, func(n int) float64 { return -float64(n) / nf }, g); err != nil {
		return nil, fmt.Errorf("gradient of the forget loss: %w", err)
	}
	for name, mk := range topMask(targets, g, share, false) {
		out[name] = make([]bool, len(mk))
		for i, v := range mk {
			out[name][i] = v == 1
		}
	}
	return out, nil
}

// classWeights are n/(C·n_c) from d's class counts (0 for a class it
// lacks), the class-balanced weighting of the competition's entries.
func classWeights(d *nn.Data, classes int) []float32 {
	counts := make([]int, classes)
	for _, y := range d.Y {
		counts[y]++
	}
	w := make([]float32, classes)
	for c, k := range counts {
		if k > 0 {
			w[c] = float32(float64(d.Len()) / float64(classes*k))
		}
	}
	return w
}
