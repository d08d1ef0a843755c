// Package bench holds the side-by-side comparison of unlearnbench's ONNX
// Runtime training and inference with PyTorch's on the same CPU
// (torch_compare.py, run by `make bench` when python3-torch is installed).
// The Go side is the command bench/nnstep; this package has no code.
package bench
