// Package ort owns unlearnbench's use of ONNX Runtime: finding and loading the
// shared library (flag > UNLEARNBENCH_ORT_LIB > third_party/onnxruntime), the
// execution provider (cpu or cuda[:N]), thread counts, and the lifetime of every
// C object (environment, sessions, tensors), so that no caller leaks one.
package ort
