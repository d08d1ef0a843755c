// Package fatbin owns the one edit unlearnbench makes to NVIDIA's fat
// binaries: zeroing the code of every GPU architecture but one in the
// .nv_fatbin section of a shared library (ONNX Runtime's CUDA provider), so
// that the library compresses to what fits a GPU test machine's carry
// (scripts/pack-ort-cuda.sh). Headers, sizes and offsets are left as they
// are: the file keeps its layout and the driver still finds the kept
// architecture's entries where they were.
package fatbin
