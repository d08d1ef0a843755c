package nn

import (
	"encoding/json"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"unlearnbench/datasets"
)

// TestAugmenterMatchesDatasets: nn's augmentation of float data is
// datasets.Batches' of the same pixels (torchvision's RandomCrop with
// padding and RandomHorizontalFlip), crop for crop and flip for flip,
// given the same random stream: Batches without shuffling draws from
// PCG(seed, epoch), an Augmenter from PCG(seed^augmentSeed, epoch).
func TestAugmenterMatchesDatasets(t *testing.T) {
	src, err := datasets.LoadFashionMNIST("")
	if err != nil {
		t.Fatal(err)
	}
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	const seed = 7
	plain, err := datasets.NewBatches(src.Train, idx, datasets.BatchOptions{Size: len(idx)})
	if err != nil {
		t.Fatal(err)
	}
	var x0 []float32
	for bt := range plain.Epoch(0) {
		x0 = slices.Clone(bt.X)
	}
	for _, a := range []Augment{{Pad: 4}, {Flip: true}, {Pad: 2, Flip: true}} {
		b, err := datasets.NewBatches(src.Train, idx, datasets.BatchOptions{Size: len(idx), Seed: seed,
			Augment: datasets.Augment{Pad: a.Pad, Flip: a.Flip}})
		if err != nil {
			t.Fatal(err)
		}
		for e := range 2 {
			var want []float32
			for bt := range b.Epoch(e) {
				want = slices.Clone(bt.X)
			}
			x := slices.Clone(x0)
			NewAugmenter(a, []int64{1, 28, 28}, seed^augmentSeed, e).Batch(x)
			if !slices.Equal(x, want) {
				t.Errorf("%+v epoch %d: nn's augmentation differs from datasets'", a, e)
			}
			if slices.Equal(x, x0) {
				t.Errorf("%+v epoch %d: nothing augmented", a, e)
			}
		}
	}
}

// TestDataBatchesAugment: with cfg.Augment on, DataBatches yields the same
// batch order (labels) as without, other pixels, the same ones again for
// the same epoch; a padding larger than the images is a user error.
func TestDataBatchesAugment(t *testing.T) {
	m := MLP([]int64{1, 6, 6}, []int64{4}, 3, 1)
	d := randomData(3, 20, m.Shape, 3)
	cfg := TrainConfig{BatchSize: 8, Seed: 5}
	collect := func(cfg TrainConfig, ep int) (x []float32, y []int64) {
		src, err := DataBatches(m, d, cfg)
		if err != nil {
			t.Fatal(err)
		}
		src.Epoch(ep, func(bx []float32, by []int64) bool {
			x, y = append(x, bx...), append(y, by...)
			return true
		})
		return x, y
	}
	x, y := collect(cfg, 1)
	cfg.Augment = Augment{Pad: 2, Flip: true}
	ax, ay := collect(cfg, 1)
	if !slices.Equal(y, ay) {
		t.Error("augmentation changed the batch order")
	}
	if slices.Equal(x, ax) {
		t.Error("augmentation changed no pixel")
	}
	if again, _ := collect(cfg, 1); !slices.Equal(again, ax) {
		t.Error("epoch 1 replayed differently")
	}
	cfg.Augment.Pad = 7
	if _, err := DataBatches(m, d, cfg); err == nil {
		t.Error("padding 7 for 6x6 images: no error")
	}
}

// TestTrainConfigWithoutAugmentMarshalsAsBefore: a recipe without
// augmentation has the JSON (population and original cache keys) and YAML
// (run's resolved config) it had before TrainConfig carried Augment, so
// that cached results keep their keys; one with augmentation shows it.
func TestTrainConfigWithoutAugmentMarshalsAsBefore(t *testing.T) {
	type before struct {
		Epochs    int             `yaml:"epochs"`
		BatchSize int             `yaml:"batch_size"`
		Seed      uint64          `yaml:"seed"`
		Optimizer OptimizerConfig `yaml:"optimizer"`
		Schedule  Schedule        `yaml:"schedule"`
		Loss      LossConfig      `yaml:"loss"`
	}
	c := TrainConfig{Epochs: 3, BatchSize: 64, Seed: 2, Optimizer: OptimizerConfig{Name: "sgd", LR: 0.1, Momentum: 0.9},
		Schedule: Schedule{Name: "cosine"}, Loss: LossConfig{LabelSmoothing: 0.1}}
	b := before{c.Epochs, c.BatchSize, c.Seed, c.Optimizer, c.Schedule, c.Loss}
	for _, f := range []struct {
		name    string
		marshal func(any) ([]byte, error)
	}{{"JSON", json.Marshal}, {"YAML", yaml.Marshal}} {
		got, err1 := f.marshal(c)
		want, err2 := f.marshal(b)
		if err1 != nil || err2 != nil || string(got) != string(want) {
			t.Errorf("%s: %s (%v), before: %s (%v)", f.name, got, err1, want, err2)
		}
		c2 := c
		c2.Augment = Augment{Pad: 4}
		if aug, _ := f.marshal(c2); string(aug) == string(got) {
			t.Errorf("%s: the augmentation is not written", f.name)
		}
	}
	var back TrainConfig
	if err := yaml.Unmarshal([]byte("epochs: 2\naugment_pad: 4\naugment_flip: true\n"), &back); err != nil || back.Augment != (Augment{Pad: 4, Flip: true}) {
		t.Errorf("augment_pad and augment_flip read as %+v (%v)", back.Augment, err)
	}
}
