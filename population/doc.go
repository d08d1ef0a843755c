// Package population owns a population of models on disk and in memory: the
// Population and Labels types that evaluate reads, and readers of what
// populations produced as PyTorch users save it: confidences ([N, E]) or
// logits ([N, E, C]) in .npy/.npz files, integer labels, and per-model
// retain/test accuracies in CSV or JSON. Every value is validated, and
// errors name the file, the field, the model and the example.
//
// It also owns the cache tree (cache.go: Cache, whose doc carries the tree)
// and its one key type, Key, that names every entry: originals, scores,
// Fisher diagonals and exec data by Key.Sum, populations by Key.Digest.
// Of the entries it writes the populations itself (member.go, store.go):
// one member file per model (its logits on the split's sets, accuracies,
// seed, wall time and a checksum, written atomically) and a directory per
// population, named by the digest of its key, with a manifest of what the
// key was made of.
package population
