package unlearners

import (
	"context"
	"testing"

	"unlearnbench/nn"
)

// TestApplyMeasuresBothModels: Apply returns the method's model with the
// original's and its accuracy on the retain and forget sets; finetune
// changes the model, so the accuracies after are its, measured again, and
// an empty forget set is left out.
func TestApplyMeasuresBothModels(t *testing.T) {
	w := getWorld(t)
	u, _, err := New("finetune", map[string]any{"epochs": 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Apply(context.Background(), u, w.inputs(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Accuracy) != 2 || res.Accuracy[0].Part != "retain" || res.Accuracy[1].Part != "forget" {
		t.Fatalf("accuracies %+v, want retain then forget", res.Accuracy)
	}
	for _, a := range res.Accuracy {
		d := map[string]*nn.Data{"retain": w.retain, "forget": w.forget}[a.Part]
		if want := accuracy(w.original, d); a.Before != want {
			t.Errorf("%s accuracy before %v, the original's is %v", a.Part, a.Before, want)
		}
		if want := accuracy(res.Model, d); a.After != want {
			t.Errorf("%s accuracy after %v, the unlearned model's is %v", a.Part, a.After, want)
		}
	}
	if sameWeights(res.Model, w.original) {
		t.Error("finetune returned the original's weights")
	}
	in := w.inputs(3)
	in.Forget = &nn.Data{Shape: w.forget.Shape}
	res, err = Apply(context.Background(), u, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Accuracy) != 1 || res.Accuracy[0].Part != "retain" {
		t.Errorf("accuracies with an empty forget set %+v, want retain only", res.Accuracy)
	}
}
