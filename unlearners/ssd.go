package unlearners

import (
	"context"

	"unlearnbench/nn"
)

func init() {
	Register(&Spec{
		Name:        "ssd",
		Summary:     "Selective Synaptic Dampening: shrinks the weights far more important to the forget set than to the training data (no training)",
		Source:      "Foster, Schoepf, Brintrup, Fast Machine Unlearning Without Retraining Through Selective Synaptic Dampening, AAAI 2024",
		NeedsForget: true,
		Params: []Param{
			{Key: "alpha", Default: 10.0, Meaning: "selection weighting: a parameter is dampened where I_forget > alpha*I_train; since I_forget <= I_train/share for a forget set that is that share of the training data, alpha must be below 1/share to dampen anything", Source: "the paper's 10", Check: positive},
			{Key: "lambda", Default: 1.0, Meaning: "dampening constant: the factor is min(lambda*I_train/I_forget, 1)", Source: "the paper's 1 (a public port uses 10)", Check: positive},
			{Key: "estimator", Default: "empirical", Meaning: "Fisher labels for the importances: empirical (the true label), true or mc", Source: "empirical: the paper's", Check: oneOf("empirical", "true", "mc")},
			{Key: "samples", Default: 1, Meaning: "mc: labels drawn per example", Source: "ours", Check: positive},
			{Key: "batch_size", Default: 64, Meaning: "examples per batched pass of per-example gradients (speed only)", Source: "ours", Check: positive},
		},
		Build: func(p Params) (Unlearner, error) { return &ssd{p: p}, nil },
	})
}

// ssd is Selective Synaptic Dampening (Foster, Schoepf, Brintrup, AAAI
// 2024): the importances are diagonal Fishers in inference mode, means
// over the examples of squared per-example gradients (the paper's
// estimator: the true labels), I_f on the forget set and I_D on the
// original's training data (retain ∪ forget, from the two sets' cached
// sums); every parameter with I_f > alpha*I_D is multiplied by
// min(lambda*I_D/I_f, 1). The authors' code squares mini-batch gradients
// instead of per-example ones; the per-example form is the Fisher the
// paper defines and the one the fisher method shares.
type ssd struct{ p Params }

func (u *ssd) Unlearn(ctx context.Context, in *Inputs) (*nn.Model, error) {
	e := FisherEstimator{Kind: u.p.String("estimator")}
	if e.Kind == "mc" {
		e.Samples = u.p.Int("samples")
	}
	m, bs := in.Original, u.p.Int("batch_size")
	fr, err := Fisher(in, m, in.Retain, e, bs)
	if err != nil {
		return nil, err
	}
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	ff, err := Fisher(in, m, in.Forget, e, bs)
	if err != nil {
		return nil, err
	}
	alpha, lambda := u.p.Float("alpha"), u.p.Float("lambda")
	out := m.Clone()
	nd := float64(fr.N + ff.N)
	for _, name := range m.Params {
		w := out.Param(name)
		sr, sf := fr.Sum[name], ff.Sum[name]
		for i := range w {
			iD := (sr[i] + sf[i]) / nd
			iF := sf[i] / float64(ff.N)
			if iF > alpha*iD {
				w[i] *= float32(min(lambda*iD/iF, 1))
			}
		}
	}
	return out, nil
}
