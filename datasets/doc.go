// Package datasets owns the data: reading real data sets (IDX for MNIST and
// Fashion-MNIST, CIFAR-10/100 binary batches, image folders, .npy/.npz, CSV),
// reproducible retain/forget/validation/test splits, and the float32 NCHW
// batches (normalised, augmented, shuffled by seed) that nn trains on.
//
// # Loading
//
// Open(Spec{Name: "fashion-mnist"}) (or LoadFashionMNIST, LoadMNIST,
// LoadCIFAR, LoadFolder, LoadArrays, LoadCSV) returns a *Source: the
// training part and, when the data defines one, the test part, each a
// *Dataset held in memory as read:
//
//	d.N, d.C, d.H, d.W   examples and their shape (tabular: C features, H = W = 1)
//	d.Classes            labels lie in [0, Classes); d.ClassName(c) names one
//	d.Labels []int64     one per example
//	d.Groups []int64     group (person, patient) of each example, or nil
//	d.Pixels []uint8     N*C*H*W bytes read as value/255, or nil
//	d.Values []float32   N*C*H*W floats used as they are, or nil
//
// Readers validate what they read and fail with one-line errors marked as
// the user's (usererr) that name the file, the byte offset and the field;
// a missing Fashion-MNIST names FashionMNISTInstall and --data DIR.
//
// # Splits
//
// MakeSplit(src, SplitConfig{Seed, Test, Validation, Forget}) returns a
// *Split with sorted index slices Retain, Forget and Validation into
// src.Train, and Test into s.TestSet(src) (src.Test, or src.Train for data
// without a test part, carved by SplitConfig.Test). The forget set is chosen
// by ForgetRandom (count or fraction, optionally stratified by class),
// ForgetClasses, ForgetGroups (listed, k random groups, or the first k
// groups: LeavePGroupsOut's first split) or ForgetIndices (a .npy of
// training indices); validation is drawn from what is not forgotten;
// Retain is the rest. With SplitConfig.PythonShuffle the NeurIPS 2023
// competition's surf.py split is made instead: test, validation and the
// training set cut from Python's random.Random(seed).shuffle
// (PythonShuffle reproduces it), the forget set from the training set. s.Train() is Retain ∪ Forget, the original
// model's training set. Each decision draws from its own PCG stream of the
// seed. s.Save(dir) writes retain/forget/validation/test.npy (int64) and
// split.json; LoadSplit(dir) reads them back identically and verifies
// hashes, counts and disjointness; s.Check(src) refuses data other than the
// split was made for.
//
// # Batches
//
//	nrm := datasets.ChannelStats(src.Train, s.Train())   // per-channel mean, std
//	b, err := datasets.NewBatches(src.Train, s.Retain, datasets.BatchOptions{
//		Size: 128, Shuffle: true, Seed: seed, Norm: &nrm,
//		Augment: datasets.Augment{Pad: 4, Flip: true}, // RandomCrop(padding=4), RandomHorizontalFlip
//	})
//	for epoch := range epochs {
//		for batch := range b.Epoch(epoch) {
//			// batch.X: batch.Size×C×H×W float32, NCHW; batch.Y: int64 labels;
//			// batch.Index: dataset positions. Valid until the next batch.
//		}
//	}
//
// Batches reuses one set of buffers and never copies the data set; epoch e's
// order and augmentation depend only on (Seed, e), so any epoch can be
// replayed. Without Shuffle and Augment it yields the examples in the order
// given, for evaluation.
package datasets
