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
//
// A training step moves the batch in and the loss and accuracy out: the
// gradients stay in the training session's output tensors, and the
// optimiser (SGD with momentum and Nesterov, Adam, AdamW, with weight decay
// and update masks), gradient accumulation and the batch-norm statistics'
// commit run as ONNX nodes in sessions of their own (optgraph.go), so that
// ONNX Runtime runs them on its threads and on the session's device. On a
// device-resident runtime (CUDA; on request on the CPU) the weights,
// buffers, optimiser state and gradients live in ONNX Runtime memory on the
// device across steps (devtrain.go, over nn/ort's Store) and come back to
// the model's Go memory only when the model is read (Model.hostRead, the
// pull hook). The Go optimiser that ran before is kept in
// optim_ref_test.go as the reference the in-graph update is tested
// against.
package nn
