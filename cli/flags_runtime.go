package cli

import (
	"github.com/spf13/pflag"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn/ort"
)

// Flags of the commands that run models (train, logits): the ONNX Runtime
// library, the device and the threads.

// runtimeFlags choose the ONNX Runtime library, device and threads.
type runtimeFlags struct {
	lib     string
	device  string
	threads int
}

func (r *runtimeFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&r.lib, "ort-lib", "", "ONNX Runtime `FILE` (default: $"+ort.EnvLib+", then third_party/onnxruntime from make setup)")
	fl.StringVar(&r.device, "device", "cpu", "cpu, cuda or cuda:N (cuda needs scripts/install-ort-cuda.sh)")
	fl.IntVar(&r.threads, "threads", 0, "ONNX Runtime intra-op threads (0: one per core)")
}

func (r *runtimeFlags) open() (*ort.Runtime, error) {
	dev, err := ort.ParseDevice(r.device)
	if err != nil {
		return nil, err
	}
	if r.threads < 0 {
		return nil, usererr.Errorf("--threads %d: want >= 0", r.threads)
	}
	return ort.Init(ort.Options{Lib: r.lib, Device: dev, IntraOpThreads: r.threads})
}
