package unlearners

import (
	"context"

	"unlearnbench/nn"
)

// The unlearn command's pipeline: one method on one original, and what it
// did to the accuracy on the sets it was asked to keep and to forget.

// PartAccuracy is the accuracy on one set of the original and of the
// unlearned model.
type PartAccuracy struct {
	Part          string // "retain" or "forget"
	Before, After float64
}

// Outcome is what Apply returns.
type Outcome struct {
	Model *nn.Model // the unlearned model
	// Accuracy holds the retain then the forget set's accuracies, an empty
	// set left out.
	Accuracy []PartAccuracy
}

// Apply runs u on in and measures the original and the unlearned model on
// in's retain and forget sets. A done ctx stops the method between two
// steps with an error that wraps ctx's.
func Apply(ctx context.Context, u Unlearner, in *Inputs) (*Outcome, error) {
	m, err := u.Unlearn(ctx, in)
	if err != nil {
		return nil, err
	}
	out := &Outcome{Model: m}
	for _, p := range []struct {
		name string
		d    *nn.Data
	}{{"retain", in.Retain}, {"forget", in.Forget}} {
		if p.d == nil || p.d.Len() == 0 {
			continue
		}
		a := PartAccuracy{Part: p.name}
		if a.Before, err = accuracyOf(in, in.Original, p.d); err != nil {
			return nil, err
		}
		if a.After, err = accuracyOf(in, m, p.d); err != nil {
			return nil, err
		}
		out.Accuracy = append(out.Accuracy, a)
	}
	return out, nil
}

// accuracyOf evaluates m on d with in's runtime.
func accuracyOf(in *Inputs, m *nn.Model, d *nn.Data) (float64, error) {
	ev, err := nn.NewEvaluator(in.Runtime, m, 256)
	if err != nil {
		return 0, err
	}
	defer ev.Close()
	mt, err := ev.Evaluate(d)
	return mt.Accuracy, err
}
