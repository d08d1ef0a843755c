package unlearners

import (
	"context"
	"slices"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
)

func init() {
	Register(&Spec{
		Name:    "retrain",
		Summary: "trains from scratch on the retain set with the original's recipe: the reference and the upper bound",
		Source:  "exact unlearning; the NeurIPS 2023 competition's reference population (512 models retrained without the forget set)",
		Build:   func(Params) (Unlearner, error) { return retrain{}, nil },
	})
}

// retrain is exact unlearning, the reference every other method is
// compared with (the NeurIPS 2023 Machine Unlearning competition retrains
// 512 models): the original's architecture, freshly initialised from the
// run's seed, trained by Inputs.Recipe (with the run's seed for the batch
// order, augmentation and dropout) on the retain set. Nothing of the original's weights
// or running statistics is read: a zoo model (graph named after its
// architecture, with the zoo's parameters) gets exactly the zoo's
// initialisation for that seed; any other model gets the zoo's
// initialisers tensor by tensor (freshInit). The input normalisation
// nodes a zoo model carries are kept as the original has them.
type retrain struct{}

func (retrain) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	cfg := in.Recipe
	if cfg.Epochs < 1 || cfg.BatchSize < 1 || cfg.Optimizer.Name == "" {
		return nil, usererr.Errorf("no training recipe (Inputs.Recipe: epochs %d, batch size %d, optimizer %q): retrain repeats the original's training", cfg.Epochs, cfg.BatchSize, cfg.Optimizer.Name)
	}
	cfg.Seed = in.Seed
	m := in.Original.Clone()
	if err := freshInit(m, in.Seed); err != nil {
		return nil, err
	}
	src, err := retrainBatches(m, in.Retain, cfg)
	if err != nil {
		return nil, err
	}
	opt := nn.Options{Context: ctx}
	if in.Progress != nil {
		opt.Progress = func(r nn.EpochResult) { in.Progress(r.Epoch*src.Steps, cfg.Epochs*src.Steps) }
	}
	// The recipe's best-validation selection, from retrain's own first
	// eligible epoch (main.py retrains with min_save_epoch 20).
	var eval *nn.Data
	if b := cfg.BestValidation; b != nil {
		cfg.BestValidation = &nn.BestValidation{MinEpoch: b.RetrainMinEpoch, RetrainMinEpoch: b.RetrainMinEpoch}
		eval = in.Validation
	}
	if _, err := nn.Train(in.Runtime, m, src, eval, cfg, opt); err != nil {
		return nil, err
	}
	return m, nil
}

// retrainBatches is retrain's batch source. A recipe that augments is
// repeated exactly as run trains the original: nn.DataBatches, its batch
// order and its augmentation, over the retain set. One without keeps
// retrain's own order (the seed's streamOrder), which populations cached
// before augmentation was repeated were computed with: their keys (the
// recipe's JSON leaves a zero Augment out) still find them, so the order
// must stay.
func retrainBatches(m *nn.Model, d *nn.Data, cfg nn.TrainConfig) (nn.EpochBatches, error) {
	if cfg.Augment.On() {
		return nn.DataBatches(m, d, cfg)
	}
	n, bs := d.Len(), min(cfg.BatchSize, max(d.Len(), 1)) // no batch larger than the data
	x := make([]float32, bs*d.Size())
	y := make([]int64, bs)
	return nn.EpochBatches{Steps: steps(n, bs), Examples: n,
		Epoch: func(ep int, yield func(x []float32, y []int64) bool) {
			for _, idx := range batchesOf(order(cfg.Seed, streamOrder, ep, n), bs) {
				gatherTo(d, nil, idx, x, y)
				if !yield(x[:len(idx)*d.Size()], y[:len(idx)]) {
					return
				}
			}
		}}, nil
}

// zooArchs maps the graph names of the zoo's models to their
// architectures.
var zooArchs = map[string]string{"mlp": nn.ArchMLP, "cnn": nn.ArchCNN, "resnet18": nn.ArchResNet18, "resnet18_cifar": nn.ArchResNet18CIFAR}

// freshInit replaces every parameter and buffer of m by a fresh
// initialisation from seed: the zoo's own when m is a zoo model (same
// graph name, parameter names and sizes), else the zoo's initialisers per
// tensor (nn.Model.Reinit) with the batch-norm running statistics reset to
// mean 0, variance 1.
func freshInit(m *nn.Model, seed uint64) error {
	// The constants of the input normalisation a zoo model carries
	// (PrependNormalization) are data statistics, not weights: an
	// imported model lists them among its parameters when they have more
	// than one element, and they are kept.
	norm := map[string]bool{m.Input + ".norm_mean": true, m.Input + ".norm_inv_std": true}
	weights := func(v []string) []string {
		return slices.Sorted(slices.Values(slices.DeleteFunc(slices.Clone(v), func(s string) bool { return norm[s] })))
	}
	if arch, ok := zooArchs[m.Graph.Name]; ok {
		z, err := nn.New(arch, m.Shape, m.Classes, seed)
		// An imported zoo model lists its parameters in another order.
		if err == nil && slices.Equal(weights(z.Params), weights(m.Params)) && slices.Equal(weights(z.Buffers), weights(m.Buffers)) {
			names := append(slices.Clone(z.Params), z.Buffers...)
			if !slices.ContainsFunc(names, func(n string) bool { return m.ParamLen(n) != z.ParamLen(n) }) {
				for _, name := range names {
					copy(m.Param(name), z.Param(name))
				}
				return nil
			}
		}
	}
	for _, p := range weights(m.Params) {
		if err := m.Reinit(p, nil, seed); err != nil {
			return err
		}
	}
	resetRunningStats(m)
	return nil
}

// resetRunningStats sets every batch-norm running mean to 0 and running
// variance to 1, as a fresh PyTorch BatchNorm has them.
func resetRunningStats(m *nn.Model) {
	for _, n := range m.Graph.Nodes {
		if n.OpType != "BatchNormalization" || len(n.Input) < 5 {
			continue
		}
		for k, v := range map[int]float32{3: 0, 4: 1} {
			if t, ok := m.Graph.Inits[n.Input[k]]; ok && t.F32 != nil {
				for i := range t.F32 {
					t.F32[i] = v
				}
			}
		}
	}
	m.Touch() // written through Graph.Inits, not Param: evaluators must see it
}
