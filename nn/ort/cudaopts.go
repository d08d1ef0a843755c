package ort

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"unlearnbench/internal/usererr"
)

// CUDAOptions are the CUDA execution provider's settings that change speed
// or arithmetic. The zero value is what unlearnbench runs with: cuDNN picks
// convolution algorithms by its heuristics, TF32 is off, the arena grows by
// what is asked.
type CUDAOptions struct {
	// ConvAlgoSearch is cuDNN's convolution algorithm search: HEURISTIC
	// (default when empty), EXHAUSTIVE or DEFAULT. EXHAUSTIVE, ONNX
	// Runtime's own default, benchmarks every algorithm for every new input
	// shape: seconds per shape, paid again by every population member's
	// new session, and the algorithm it picks can differ run to run.
	ConvAlgoSearch string
	// TF32 lets cuBLAS and cuDNN round float32 products to TF32 (10-bit
	// mantissa) on Ampere and later. Off by default so that a GPU run
	// computes the same float32 arithmetic as the CPU, up to summation order.
	TF32 bool
	// MemLimit caps the provider's arena in bytes; 0: no cap.
	MemLimit int64
}

// convAlgoSearches are the values ONNX Runtime's CUDA provider accepts.
var convAlgoSearches = []string{"HEURISTIC", "EXHAUSTIVE", "DEFAULT"}

// Validate reports a setting the provider would refuse, as a user error.
func (c CUDAOptions) Validate() error {
	if c.ConvAlgoSearch != "" && !slices.Contains(convAlgoSearches, c.ConvAlgoSearch) {
		return usererr.Errorf("CUDA conv algorithm search %q: want one of %v", c.ConvAlgoSearch, convAlgoSearches)
	}
	if c.MemLimit < 0 {
		return usererr.Errorf("CUDA memory limit %d bytes: want >= 0 (0: no limit)", c.MemLimit)
	}
	return nil
}

// providerOptions are the key/value pairs, in the CUDA provider's own
// names, for device id, sorted by key so that sessions are set up the same
// way every time. Both routes take the same names: the classic
// UpdateCUDAProviderOptions, and the plugin route, which stores them as
// session configuration under "ep.cuda." and parses them with the same code.
// device_id is passed on the plugin route too because its device choice
// (an OrtEpDevice) does not reach the provider's own device_id in ONNX
// Runtime 1.29's bridge, which would otherwise stay 0.
func (c CUDAOptions) providerOptions(id int) (keys, values []string) {
	search := c.ConvAlgoSearch
	if search == "" {
		search = "HEURISTIC"
	}
	tf32 := "0"
	if c.TF32 {
		tf32 = "1"
	}
	m := map[string]string{
		"device_id":              fmt.Sprint(id),
		"cudnn_conv_algo_search": search,
		"use_tf32":               tf32,
		// The default, kNextPowerOfTwo, doubles the arena on each
		// extension: a ResNet-18 step that needs 5 GB can hold 8, which
		// limits how many population members share one GPU.
		"arena_extend_strategy": "kSameAsRequested",
	}
	if c.MemLimit > 0 {
		m["gpu_mem_limit"] = fmt.Sprint(c.MemLimit)
	}
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		values = append(values, m[k])
	}
	return keys, values
}

// cudaLibs are the libraries that the pinned CUDA provider (ONNX Runtime
// 1.29, CUDA 13, cuDNN 9: scripts/install-ort-cuda.sh) loads: cudart,
// cublas, cublasLt and curand as ELF dependencies, cufft and cudnn with
// dlopen when the first kernel needs them, which is why a missing one would
// otherwise surface in the middle of a run. libcuda.so.1 is the driver's.
var cudaLibs = []string{
	"libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10",
	"libcufft.so.12", "libcudnn.so.9", "libcuda.so.1",
}

// cudaLibDirs are the folders searched for cudaLibs before the loader's own
// search: LD_LIBRARY_PATH's, then the ONNX Runtime library's own folder.
func cudaLibDirs(ortLib string) []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if d != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	if d := filepath.Dir(ortLib); !slices.Contains(dirs, d) {
		dirs = append(dirs, d)
	}
	return dirs
}

// checkCUDALibs returns a user error naming every library of cudaLibs found
// neither as a file in dirs nor, when loader is set, by the dynamic loader
// (ld.so's cache and system folders, dlopen), with the folders tried and any
// other major version of a missing library seen in them.
func checkCUDALibs(dirs []string, loader func(string) bool) error {
	var missing, others []string
	for _, lib := range cudaLibs {
		found := false
		for _, d := range dirs {
			if st, err := os.Stat(filepath.Join(d, lib)); err == nil && !st.IsDir() {
				found = true
				break
			}
		}
		if !found && loader != nil {
			found = loader(lib)
		}
		if found {
			continue
		}
		missing = append(missing, lib)
		stem := lib[:strings.Index(lib, ".so.")+len(".so.")]
		for _, d := range dirs {
			m, _ := filepath.Glob(filepath.Join(d, stem+"*"))
			for _, p := range m {
				others = append(others, p)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	where := "folders " + strings.Join(dirs, ", ")
	if loader != nil {
		where += " and the dynamic loader's (ld.so cache, /lib, /usr/lib)"
	}
	msg := fmt.Sprintf("CUDA libraries not found: %s (looked in %s)", strings.Join(missing, ", "), where)
	if len(others) > 0 {
		msg += fmt.Sprintf("; other versions seen, of the wrong major: %s", strings.Join(others, ", "))
	}
	return usererr.Errorf("%s; the CUDA provider needs CUDA 13, cuDNN 9 and the NVIDIA driver: put their folders on LD_LIBRARY_PATH", msg)
}

// releaseRe matches an ONNX Runtime release string, 1.MM.P.
var releaseRe = regexp.MustCompile(`^1\.[0-9]{2}\.[0-9]+$`)

// providerVersion reads the ONNX Runtime release a provider library was
// built from: the one NUL-terminated "1.MM.P" string in its .rodata (ORT's
// ORT_VERSION, which the provider reports as its version; the library has no
// exported function that returns it). Empty when there is not exactly one.
func providerVersion(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".rodata")
	if sec == nil {
		return "", nil
	}
	data, err := sec.Data()
	if err != nil {
		return "", fmt.Errorf("reading .rodata of %s: %w", path, err)
	}
	var found []string
	for s := range bytes.SplitSeq(data, []byte{0}) {
		if len(s) >= 6 && len(s) <= 8 && s[0] == '1' && releaseRe.Match(s) && !slices.Contains(found, string(s)) {
			found = append(found, string(s))
		}
	}
	if len(found) != 1 {
		return "", nil
	}
	return found[0], nil
}

// sameRelease reports whether two ONNX Runtime versions share major and
// minor: the provider bridge between the base library and a provider
// library is a C++ interface that changes between minor releases.
func sameRelease(a, b string) bool {
	majMin := func(v string) string {
		p := strings.SplitN(v, ".", 3)
		if len(p) < 2 {
			return v
		}
		return p[0] + "." + p[1]
	}
	return majMin(a) == majMin(b)
}

// checkCUDAProvider checks, before any session, what the plugin route needs
// beside base library lib (version base): a provider of the same release and
// the CUDA libraries it loads. A library without a provider beside it is
// left to the classic route.
func checkCUDAProvider(lib, base string, loader func(string) bool) error {
	plugin := filepath.Join(filepath.Dir(lib), cudaProviderLib)
	if _, err := os.Stat(plugin); err != nil {
		return nil
	}
	v, err := providerVersion(plugin)
	if err != nil {
		return usererr.Wrap(err)
	}
	if v != "" && !sameRelease(v, base) {
		return usererr.Errorf("CUDA provider %s is ONNX Runtime %s but the library %s is %s: they must be the same release; reinstall both with scripts/install-ort-cuda.sh", plugin, v, lib, base)
	}
	return checkCUDALibs(cudaLibDirs(lib), loader)
}
