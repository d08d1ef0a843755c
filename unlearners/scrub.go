package unlearners

import (
	"context"

	"unlearnbench/nn"
)

func init() {
	Register(&Spec{
		Name:        "scrub",
		Summary:     "SCRUB: the original as teacher; max steps on the forget set's KL to it, min steps on gamma*CE + alpha*KL on the retain set",
		Source:      "Kurmanji, Triantafillou, Hayes, Triantafillou, Towards Unbounded Machine Unlearning, NeurIPS 2023 (SCRUB's repository, SGD settings)",
		NeedsForget: true,
		Params: append(sgdParams(3, 5e-4, "SCRUB's: 3 epochs at 5e-4"),
			Param{Key: "max_epochs", Default: 2, Meaning: "the first epochs, each beginning with a max-step pass over the forget set", Source: "SCRUB's msteps 2", Check: nonNegative},
			Param{Key: "gamma", Default: 0.99, Meaning: "weight of the retain cross-entropy in the min steps", Source: "SCRUB's 0.99", Check: nonNegative},
			Param{Key: "alpha", Default: 0.001, Meaning: "weight of the retain KL to the teacher in the min steps", Source: "SCRUB's 0.001", Check: nonNegative},
			Param{Key: "temperature", Default: 4.0, Meaning: "distillation temperature T: the KL terms are T^2*KL(softmax(teacher/T) || softmax(student/T))", Source: "SCRUB's 4", Check: positive},
		),
		Build: func(p Params) (Unlearner, error) { return &scrub{p: p}, nil },
	})
}

// scrub is SCRUB (Kurmanji et al., NeurIPS 2023) with its SGD defaults:
// the teacher is the original model (its logits in inference mode,
// computed once); every epoch begins, in the first max_epochs epochs,
// with a pass of max steps over the forget set (loss −T²·KL(teacher ‖
// student)), then a pass of min steps over the retain set (gamma·CE +
// alpha·T²·KL), as the authors' train_distill "maximize" and "minimize"
// splits do.
type scrub struct{ p Params }

func (u *scrub) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	epochs, maxEpochs, bs := u.p.Int("epochs"), min(u.p.Int("max_epochs"), u.p.Int("epochs")), batchSize(u.p, in)
	nr, nf := in.Retain.Len(), in.Forget.Len()
	teacherR, err := logitsOf(in, in.Retain)
	if err != nil {
		return nil, err
	}
	teacherF, err := logitsOf(in, in.Forget)
	if err != nil {
		return nil, err
	}
	total := epochs*steps(nr, bs) + maxEpochs*steps(nf, bs)
	r, err := startRun(ctx, in, u.p, nn.LossConfig{Distill: true, Temperature: u.p.Float("temperature")}, total)
	if err != nil {
		return nil, err
	}
	defer r.close()
	c := in.Original.Classes
	size := in.Retain.Size()
	buf := min(bs, max(nr, nf, 1)) // no batch larger than the data
	x := make([]float32, buf*size)
	y := make([]int64, buf)
	teach := make([]float32, buf*c)
	fill := func(v float32) []float32 {
		w := make([]float32, buf)
		for i := range w {
			w[i] = v
		}
		return w
	}
	zero, minusOne := fill(0), fill(-1)
	gamma, alpha := fill(float32(u.p.Float("gamma"))), fill(float32(u.p.Float("alpha")))
	pass := func(d *nn.Data, teacher []float32, ord []int, ce, kl []float32) error {
		for _, idx := range batchesOf(ord, bs) {
			if err := r.alive(); err != nil {
				return err
			}
			gatherTo(d, nil, idx, x, y)
			for j, i := range idx {
				copy(teach[j*c:(j+1)*c], teacher[i*c:(i+1)*c])
			}
			k := len(idx)
			sr, err := r.tr.ComputeBatchOf(nn.Batch{X: x[:k*size], Y: y[:k], Weights: ce[:k], Teacher: teach[:k*c], KLWeights: kl[:k]})
			if err != nil {
				return err
			}
			if err := r.apply(sr.Loss); err != nil {
				return err
			}
		}
		return nil
	}
	for ep := 0; ep < epochs; ep++ {
		r.epoch = ep
		if ep < maxEpochs {
			if err := pass(in.Forget, teacherF, order(in.Seed, streamOrder2, ep, nf), zero, minusOne); err != nil {
				return nil, err
			}
		}
		if err := pass(in.Retain, teacherR, order(in.Seed, streamOrder, ep, nr), gamma, alpha); err != nil {
			return nil, err
		}
	}
	return r.m, nil
}

// logitsOf is the original's logits on d in inference mode.
func logitsOf(in *Inputs, d *nn.Data) ([]float32, error) {
	ev, err := nn.NewEvaluator(in.Runtime, in.Original, 256)
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	return ev.Logits(d)
}
