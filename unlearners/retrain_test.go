package unlearners

import (
	"strings"
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

// TestRetrainKeepsItsBestValidationEpoch: with a recipe that keeps the
// best validation epoch, retrain evaluates on the validation set and keeps
// from the recipe's retrain_min_epoch (main.py's min_save_epoch 20), not
// from the original's min_epoch: it ends where nn.Train with that first
// epoch ends, bit for bit.
func TestRetrainKeepsItsBestValidationEpoch(t *testing.T) {
	w := getWorld(t)
	const seed = 6
	in := w.inputs(seed)
	in.Validation = w.classForget // any labelled set the model sees as validation
	in.Recipe.Epochs = 3
	in.Recipe.BestValidation = &nn.BestValidation{MinEpoch: 0, RetrainMinEpoch: 2}
	got := unlearn(t, "retrain", nil, in)

	want := w.original.Clone()
	if err := freshInit(want, seed); err != nil {
		t.Fatal(err)
	}
	cfg := in.Recipe
	cfg.Seed = seed
	cfg.BestValidation = &nn.BestValidation{MinEpoch: 2, RetrainMinEpoch: 2}
	src, err := retrainBatches(want, w.retain, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nn.Train(rt, want, src, in.Validation, cfg, nn.Options{}); err != nil {
		t.Fatal(err)
	}
	if !sameWeights(got, want) {
		t.Error("retrain with best_validation differs from nn.Train keeping from retrain_min_epoch")
	}
	// The original's min_epoch 0 keeps another epoch here, so the test
	// tells the two apart.
	other := w.original.Clone()
	freshInit(other, seed)
	cfg.BestValidation = &nn.BestValidation{MinEpoch: 0}
	src, _ = retrainBatches(other, w.retain, cfg)
	if _, err := nn.Train(rt, other, src, in.Validation, cfg, nn.Options{}); err != nil {
		t.Fatal(err)
	}
	if sameWeights(other, want) {
		t.Error("min_epoch 0 and 2 keep the same epoch: choose data where they differ")
	}
	in.Validation = nil
	u, _, _ := New("retrain", nil)
	if _, err := u.Unlearn(t.Context(), in); err == nil || !strings.Contains(err.Error(), "no validation examples") {
		t.Errorf("best_validation without a validation set: %v", err)
	}
}
