package ort

import (
	"errors"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
)

// TestRunErrorOutOfMemory: a run that does not fit the device's memory is
// a one-line user error naming the failed allocation, without ONNX
// Runtime's source location; any other failure keeps its cause. The
// message is ONNX Runtime 1.30's, recorded from nnstep training ResNet-18
// at batch 4096 under `prlimit --as=2500000000`.
func TestRunErrorOutOfMemory(t *testing.T) {
	cause := errors.New("Error running network: Non-zero status code returned while running Sub node. Name:'n_sub_144' Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:360 void* onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*) Failed to allocate memory for requested buffer of size 268435456")
	err := runError("running graph (outputs [a b c d] and 200 more)", cause)
	want := "the batch does not fit the device's memory (ONNX Runtime: Failed to allocate memory for requested buffer of size 268435456): lower the batch size, or use a device with more memory"
	if !usererr.Is(err) || err.Error() != want {
		t.Errorf("out of memory: %v (user error %v), want %q", err, usererr.Is(err), want)
	}
	cuda := runError("x", errors.New("CUDA failure 2: out of memory ; GPU=0 ; hostname=h ; file=cuda_allocator.cc ; line=47 ; expr=cudaMalloc((void**)&p, size);\nmore"))
	if !usererr.Is(cuda) || !strings.Contains(cuda.Error(), "(ONNX Runtime: out of memory ; GPU=0") || strings.Contains(cuda.Error(), "\n") {
		t.Errorf("CUDA out of memory: %v", cuda)
	}
	other := errors.New("Non-zero status code returned while running Conv node")
	if err := runError("running graph (outputs [y])", other); usererr.Is(err) || !errors.Is(err, other) || err.Error() != "running graph (outputs [y]): Non-zero status code returned while running Conv node" {
		t.Errorf("other failure: %v", err)
	}
	if got := outputList([]string{"a", "b", "c", "d", "e", "f"}); got != "[a b c d] and 2 more" {
		t.Errorf("outputList = %q", got)
	}
}
