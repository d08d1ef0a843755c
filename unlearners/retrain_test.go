package unlearners

import (
	"testing"

	"unlearnbench/nn"
)

// TestRetrainRepeatsTheAugmentation: with a recipe that augments, retrain
// trains as run trains the original (nn.DataBatches over the retain set,
// its order and its augmentation, the run's seed) from the fresh
// initialisation, bit for bit, and ends elsewhere than without the
// augmentation.
func TestRetrainRepeatsTheAugmentation(t *testing.T) {
	w := getWorld(t)
	const seed = 4
	in := w.inputs(seed)
	in.Recipe.Epochs = 2
	plain := unlearn(t, "retrain", nil, in)
	in.Recipe.Augment = nn.Augment{Pad: 2, Flip: true}
	got := unlearn(t, "retrain", nil, in)
	if sameWeights(got, plain) {
		t.Fatal("retrain with an augmenting recipe ends with the weights it has without augmentation")
	}

	// The original's training path, by hand.
	want := w.original.Clone()
	if err := freshInit(want, seed); err != nil {
		t.Fatal(err)
	}
	cfg := in.Recipe
	cfg.Seed = seed
	src, err := nn.DataBatches(want, w.retain, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nn.Train(rt, want, src, nil, cfg, nn.Options{}); err != nil {
		t.Fatal(err)
	}
	if !sameWeights(got, want) {
		t.Error("retrain with an augmenting recipe differs from the original's training path with the same seed")
	}
}
