package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"

	"unlearnbench/internal/usererr"
)

// EnvLib is the environment variable that names the ONNX Runtime library when
// no --ort-lib flag is given.
const EnvLib = "UNLEARNBENCH_ORT_LIB"

// Library locations relative to the module root, as installed by
// scripts/install-ort.sh and scripts/install-ort-cuda.sh.
const (
	CPULibRel  = "third_party/onnxruntime/cpu/libonnxruntime.so.1"
	CUDALibRel = "third_party/onnxruntime/cuda/libonnxruntime.so"
)

// Device is an execution provider choice: the CPU, or one CUDA GPU.
type Device struct {
	CUDA bool
	ID   int // CUDA device ordinal
}

func (d Device) String() string {
	if d.CUDA {
		return fmt.Sprintf("cuda:%d", d.ID)
	}
	return "cpu"
}

// ParseDevice reads "cpu", "cuda" or "cuda:N".
func ParseDevice(s string) (Device, error) {
	switch {
	case s == "" || s == "cpu":
		return Device{}, nil
	case s == "cuda":
		return Device{CUDA: true}, nil
	case strings.HasPrefix(s, "cuda:"):
		n, err := strconv.Atoi(s[len("cuda:"):])
		if err != nil || n < 0 {
			return Device{}, usererr.Errorf("device %q: want cpu, cuda or cuda:N with N a device number", s)
		}
		return Device{CUDA: true, ID: n}, nil
	}
	return Device{}, usererr.Errorf("device %q: want cpu, cuda or cuda:N", s)
}

// Options configure the runtime. Zero values mean: library found as described
// at ResolveLibrary, CPU, and ONNX Runtime's default thread counts.
type Options struct {
	Lib            string // --ort-lib; empty: environment variable, then third_party
	Device         Device
	IntraOpThreads int // 0: ONNX Runtime's default (one per core)
	InterOpThreads int // 0: ONNX Runtime's default
	// ProfilePrefix, when set, makes every session write ONNX Runtime's
	// per-node profile (JSON) to files starting with it.
	ProfilePrefix string
	// CUDA configures the CUDA provider; ignored on the CPU.
	CUDA CUDAOptions
	// DeviceResident keeps a Trainer's weights, optimiser state and
	// gradients in ONNX Runtime memory (Store) across steps on the CPU
	// too; on CUDA they always are. On the CPU the default, Go memory
	// read in place, is the faster choice: this exists so that the
	// device-resident path, whose only difference on CUDA is the memory
	// it allocates, runs and is tested without a GPU.
	DeviceResident bool
}

// DeviceResident reports whether trainers keep their state in ONNX
// Runtime memory on the device (Options.DeviceResident, or CUDA).
func (r *Runtime) DeviceResident() bool { return r.opts.DeviceResident || r.opts.Device.CUDA }

// ResolveLibrary returns the ONNX Runtime library to load: flag, then the
// UNLEARNBENCH_ORT_LIB environment variable, then the project's install
// folder (third_party/onnxruntime/cpu, or .../cuda for a CUDA device) found by
// walking up from the executable and from the working directory to the module
// root. A missing library is a user error that says how to install one.
func ResolveLibrary(flag string, dev Device) (string, error) {
	hint := "run `make setup` (or scripts/install-ort.sh) or set " + EnvLib + " to a libonnxruntime.so"
	rel := CPULibRel
	if dev.CUDA {
		rel = CUDALibRel
		hint = "run scripts/install-ort-cuda.sh, or set " + EnvLib + " to a CUDA build of libonnxruntime.so"
	}
	for _, c := range []struct{ path, from string }{{flag, "--ort-lib"}, {os.Getenv(EnvLib), EnvLib}} {
		if c.path == "" {
			continue
		}
		if st, err := os.Stat(c.path); err != nil || st.IsDir() {
			return "", usererr.Errorf("ONNX Runtime library %s (from %s) not found; %s", c.path, c.from, hint)
		}
		return c.path, nil
	}
	var starts []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		starts = append(starts, filepath.Dir(exe))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		if p := findUp(dir, rel); p != "" {
			return p, nil
		}
	}
	return "", usererr.Errorf("ONNX Runtime library not found (no %s, no %s, no --ort-lib); %s", rel, EnvLib, hint)
}

// findUp looks for rel in dir and its parents, stopping at the first folder
// that holds a go.mod (the module root) or at the file system root.
func findUp(dir, rel string) string {
	for {
		p := filepath.Join(dir, rel)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// The ONNX Runtime environment is one per process: the first Init loads the
// library and later ones must agree with it.
var (
	envMu   sync.Mutex
	envLib  string
	envRefs int
)

// Runtime is a handle on the process's ONNX Runtime environment with one
// device and thread configuration. Close releases it; the environment itself
// is destroyed when the last Runtime is closed.
type Runtime struct {
	lib    string
	opts   Options
	closed bool
}

// Init loads the ONNX Runtime library (once per process) and returns a
// runtime for opts.Device.
func Init(opts Options) (*Runtime, error) {
	if err := opts.CUDA.Validate(); err != nil {
		return nil, err
	}
	lib, err := ResolveLibrary(opts.Lib, opts.Device)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(lib)
	if err == nil {
		lib = abs
	}
	envMu.Lock()
	defer envMu.Unlock()
	if envRefs > 0 {
		if envLib != lib {
			return nil, usererr.Errorf("ONNX Runtime library %s requested, but %s is already loaded in this process", lib, envLib)
		}
	} else {
		ortgo.SetSharedLibraryPath(lib)
		// Fatal only: every error ONNX Runtime would log comes back as the
		// failed call's status, which the caller words as one line; logged
		// as well, it printed a second, colour-coded copy before it.
		if err := ortgo.InitializeEnvironment(ortgo.WithLogLevelFatal()); err != nil {
			return nil, usererr.Errorf("loading ONNX Runtime library %s: %v; it must be ONNX Runtime 1.24 or newer (run `make setup`, or set %s)", lib, err, EnvLib)
		}
		envLib = lib
	}
	// A CUDA device is checked here, before any work, rather than at the
	// first session: a missing CUDA library otherwise surfaces as the
	// loader's message about the first one only, or, for the libraries the
	// provider loads late (cuDNN, cuFFT), in the middle of a run.
	if opts.Device.CUDA {
		if err := checkCUDAProvider(lib, ortgo.GetVersion(), dlopenable); err != nil {
			if envRefs == 0 {
				envLib = ""
				ortgo.DestroyEnvironment()
			}
			return nil, err
		}
	}
	envRefs++
	return &Runtime{lib: lib, opts: opts}, nil
}

// Close releases this runtime; the last one closed destroys the environment.
func (r *Runtime) Close() error {
	if r == nil || r.closed {
		return nil
	}
	r.closed = true
	envMu.Lock()
	defer envMu.Unlock()
	envRefs--
	if envRefs == 0 {
		envLib = ""
		if cudaRegistered {
			ortgo.UnregisterExecutionProviderLibrary("CUDA")
			cudaRegistered = false
		}
		return ortgo.DestroyEnvironment()
	}
	return nil
}

// Library is the path of the loaded library.
func (r *Runtime) Library() string { return r.lib }

// Device is the runtime's execution provider.
func (r *Runtime) Device() Device { return r.opts.Device }

// Version is the loaded ONNX Runtime's version string.
func (r *Runtime) Version() string { return ortgo.GetVersion() }

// ErrCUDA marks a CUDA provider that could not be set up.
var ErrCUDA = errors.New("CUDA execution provider unavailable")

func (r *Runtime) sessionOptions() (*ortgo.SessionOptions, error) {
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("creating ONNX Runtime session options: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			so.Destroy()
		}
	}()
	if n := r.opts.IntraOpThreads; n > 0 {
		if err := so.SetIntraOpNumThreads(n); err != nil {
			return nil, fmt.Errorf("setting intra-op threads to %d: %w", n, err)
		}
	}
	if n := r.opts.InterOpThreads; n > 0 {
		if err := so.SetInterOpNumThreads(n); err != nil {
			return nil, fmt.Errorf("setting inter-op threads to %d: %w", n, err)
		}
	}
	if err := so.SetGraphOptimizationLevel(ortgo.GraphOptimizationLevelEnableAll); err != nil {
		return nil, fmt.Errorf("setting graph optimisation level: %w", err)
	}
	if r.opts.ProfilePrefix != "" {
		if err := so.EnableProfiling(r.opts.ProfilePrefix); err != nil {
			return nil, fmt.Errorf("enabling profiling: %w", err)
		}
	}
	if r.opts.Device.CUDA {
		if err := appendCUDA(so, r.lib, r.opts.Device.ID, r.opts.CUDA); err != nil {
			return nil, usererr.Wrap(fmt.Errorf("%w on device %s with library %s: %v; install the CUDA build with scripts/install-ort-cuda.sh (or set %s to a CUDA build of libonnxruntime.so) and make CUDA 13 and cuDNN 9 libraries (libcudart.so.13, libcublas.so.13, libcudnn.so.9) findable through LD_LIBRARY_PATH",
				ErrCUDA, r.opts.Device, r.lib, err, EnvLib))
		}
	}
	ok = true
	return so, nil
}
