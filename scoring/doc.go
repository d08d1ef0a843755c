// Package scoring turns attacks' error rates into the NeurIPS 2023 Machine
// Unlearning competition's numbers, exactly as its evaluation computes them
// (docs/metric.md; google-deepmind/unlearning_evaluation metric.py):
// logit-scaled confidence, an epsilon per forget example from any attack's
// rules, bucket points, the forgetting quality F and the utility-adjusted
// final score; and F's bootstrap interval over models with the N a target
// width needs (bootstrap.go). It computes; it draws nothing and reads no
// files, and its one random choice, the bootstrap's, comes from a seed.
package scoring

// Version names the arithmetic of a scored method: scoring's and the
// attacks' numbers as evaluate puts them together. Cached scores record
// it (population.Cache.WriteScore) and are computed again when it
// differs, so a change that moves any number of a scored method must bump
// it, or a cached run would keep showing the old numbers. 2: NumPy's
// float32 exp and float64 log in step 1, F's bootstrap interval.
const Version = 2
