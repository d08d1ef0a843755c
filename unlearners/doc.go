// Package unlearners owns the unlearning methods (the Unlearner interface,
// a registry by name with documented, validated hyper-parameters) and the
// populations they produce: N seeded runs of a method from one original
// model, cached, resumable and shardable across machines.
//
// New(name, params) builds a method from a YAML-style map (defaults filled
// in, every value checked) and wraps it so that Unlearn first checks its
// Inputs the same way for every method. The methods (docs/methods.md has
// their sources and every parameter): noop, retrain, finetune, l1sparse,
// neggrad, neggrad+, randlabel, salun, scrub, reinit, fisher and ssd. The
// training methods share one loop (train.go) over nn.Trainer: SGD with
// momentum, batch orders and every other random choice drawn from
// (Inputs.Seed, purpose). fisher and ssd share Fisher diagonals through
// Fisher, computed once per (model, data, estimator) in a process and,
// with Inputs.Cache, once per cache directory (fishercache.go).
package unlearners
