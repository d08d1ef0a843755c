// Package nn owns unlearnbench's models: classifiers as ONNX graphs (a zoo of
// MLP, small CNN and ResNet-18, or imported from PyTorch's ONNX export),
// trained and evaluated in ONNX Runtime with gradients from graph.Gradients,
// per-example squared-gradient (Fisher) statistics, epoch checkpoints from
// which a run resumes byte-identically, and ONNX export.
package nn
