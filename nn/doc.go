// Package nn owns unlearnbench's models: classifiers as ONNX graphs (a zoo of
// MLP, small CNN and ResNet-18, or imported from PyTorch's ONNX export),
// trained and evaluated in ONNX Runtime with gradients from graph.Gradients,
// per-example squared-gradient (Fisher) statistics (empirical, MC and true,
// without a per-example loop), epoch checkpoints from which a run resumes
// byte-identically, and ONNX export. The training step offers what
// unlearning methods need beyond mean cross-entropy: per-example loss
// factors of either sign, a distillation term toward a teacher's logits,
// gradients of several batches combined before one step, per-element update
// masks that freeze weights exactly, and re-initialisation of chosen
// elements with the zoo's initialiser.
package nn
