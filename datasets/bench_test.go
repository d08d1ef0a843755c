package datasets

import "testing"

// BenchmarkLoadFashionMNIST reads and validates all four gzipped IDX files
// (60,000 + 10,000 images).
func BenchmarkLoadFashionMNIST(b *testing.B) {
	b.SetBytes(70000 * 784)
	for b.Loop() {
		if _, err := LoadFashionMNIST(""); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEpoch produces one epoch of shuffled, normalised batches of 128 over
// the 60,000 training images.
func benchEpoch(b *testing.B, aug Augment) {
	src := loadFashion(b)
	all := seq(src.Train.N)
	nrm := ChannelStats(src.Train, all)
	bt, err := NewBatches(src.Train, all, BatchOptions{Size: 128, Shuffle: true, Seed: 1, Norm: &nrm, Augment: aug})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(all)) * 784 * 4)
	e := 0
	for b.Loop() {
		for range bt.Epoch(e) {
		}
		e++
	}
}

func BenchmarkEpoch(b *testing.B)        { benchEpoch(b, Augment{}) }
func BenchmarkEpochAugment(b *testing.B) { benchEpoch(b, Augment{Pad: 4, Flip: true}) }

// BenchmarkLoadAndEpoch is the whole measurement: load Fashion-MNIST,
// compute the training statistics, and produce one epoch of batches of 128.
func BenchmarkLoadAndEpoch(b *testing.B) {
	for b.Loop() {
		src, err := LoadFashionMNIST("")
		if err != nil {
			b.Fatal(err)
		}
		all := seq(src.Train.N)
		nrm := ChannelStats(src.Train, all)
		bt, err := NewBatches(src.Train, all, BatchOptions{Size: 128, Shuffle: true, Seed: 1, Norm: &nrm})
		if err != nil {
			b.Fatal(err)
		}
		for range bt.Epoch(0) {
		}
	}
}

// BenchmarkChannelStats computes the per-channel statistics of the training part.
func BenchmarkChannelStats(b *testing.B) {
	src := loadFashion(b)
	all := seq(src.Train.N)
	for b.Loop() {
		ChannelStats(src.Train, all)
	}
}

// BenchmarkMakeSplit builds a stratified random split with validation.
func BenchmarkMakeSplit(b *testing.B) {
	src := loadFashion(b)
	cfg := SplitConfig{Seed: 1, Validation: Amount{Fraction: 0.1}, Forget: ForgetConfig{Strategy: ForgetRandom, Amount: Amount{Count: 600}, Stratified: true}}
	for b.Loop() {
		if _, err := MakeSplit(src, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
