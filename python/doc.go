// Package python owns unlearnbench's Python package (python/unlearnbench:
// methods written in PyTorch for the exec method) and ships it inside the
// binary: Install writes it into a folder that the exec method puts on the
// program's PYTHONPATH, so `import unlearnbench` works wherever the binary
// runs, in the version that matches it. The package's own tests, run by
// `go test`, load every zoo model into torch and compare its logits with
// ONNX Runtime's.
package python
