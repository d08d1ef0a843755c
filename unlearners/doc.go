// Package unlearners owns the unlearning methods (the Unlearner interface,
// a registry by name with documented, validated hyper-parameters) and the
// populations they produce: N seeded runs of a method from one original
// model, cached, resumable and shardable across machines.
package unlearners
