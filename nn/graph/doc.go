// Package graph builds ONNX graphs in Go as real ONNX protobuf (the gonnx
// generated types), tracks element types and shapes at build time, reads and
// writes .onnx files, and differentiates graphs in reverse mode by appending
// standard ONNX operators (see Gradients), and rewrites Convs on small maps
// into GEMMs over the batch that ONNX Runtime runs faster than its Conv
// (see ConvsAsGEMM).
package graph
