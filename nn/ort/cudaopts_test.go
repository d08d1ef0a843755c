package ort

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
)

func TestCUDAProviderOptions(t *testing.T) {
	keys, values := CUDAOptions{}.providerOptions(2)
	want := []string{"arena_extend_strategy=kSameAsRequested", "cudnn_conv_algo_search=HEURISTIC", "device_id=2", "use_tf32=0"}
	var got []string
	for i, k := range keys {
		got = append(got, k+"="+values[i])
	}
	if !slices.Equal(got, want) {
		t.Fatalf("defaults: %v, want %v", got, want)
	}
	keys, values = CUDAOptions{ConvAlgoSearch: "EXHAUSTIVE", TF32: true, MemLimit: 1 << 30}.providerOptions(0)
	got = got[:0]
	for i, k := range keys {
		got = append(got, k+"="+values[i])
	}
	want = []string{"arena_extend_strategy=kSameAsRequested", "cudnn_conv_algo_search=EXHAUSTIVE", "device_id=0", "gpu_mem_limit=1073741824", "use_tf32=1"}
	if !slices.Equal(got, want) {
		t.Fatalf("set: %v, want %v", got, want)
	}
}

func TestCUDAOptionsValidate(t *testing.T) {
	for _, ok := range []CUDAOptions{{}, {ConvAlgoSearch: "DEFAULT"}, {MemLimit: 1}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, bad := range []CUDAOptions{{ConvAlgoSearch: "heuristic"}, {MemLimit: -1}} {
		if err := bad.Validate(); err == nil || !usererr.Is(err) {
			t.Errorf("%+v: error %v, want a user error", bad, err)
		}
	}
	// Init refuses them before loading anything.
	if _, err := Init(Options{CUDA: CUDAOptions{ConvAlgoSearch: "FAST"}}); err == nil || !strings.Contains(err.Error(), `"FAST"`) {
		t.Errorf("Init: error %v, want one naming FAST", err)
	}
}

func TestCheckCUDALibs(t *testing.T) {
	empty := t.TempDir()
	err := checkCUDALibs([]string{empty}, nil)
	if err == nil || !usererr.Is(err) {
		t.Fatalf("empty folder: error %v, want a user error", err)
	}
	msg := err.Error()
	for _, lib := range cudaLibs {
		if !strings.Contains(msg, lib) {
			t.Errorf("error does not name %s: %s", lib, msg)
		}
	}
	if !strings.Contains(msg, empty) || strings.Contains(msg, "\n") {
		t.Errorf("error is not one line naming the folder %s: %s", empty, msg)
	}
	// Another major of cudart beside the ones wanted is named as such.
	dir := t.TempDir()
	for _, lib := range cudaLibs[1:] {
		os.WriteFile(filepath.Join(dir, lib), nil, 0o644)
	}
	old := filepath.Join(dir, "libcudart.so.12")
	os.WriteFile(old, nil, 0o644)
	err = checkCUDALibs([]string{empty, dir}, nil)
	if err == nil || !strings.Contains(err.Error(), "libcudart.so.13") || !strings.Contains(err.Error(), "wrong major: "+old) || strings.Contains(err.Error(), "libcublas") {
		t.Fatalf("cudart 12 only: error %v", err)
	}
	// The loader's search counts.
	if err := checkCUDALibs([]string{empty, dir}, func(lib string) bool { return lib == "libcudart.so.13" }); err != nil {
		t.Fatalf("all found: %v", err)
	}
}

func TestCUDALibDirs(t *testing.T) {
	t.Setenv("LD_LIBRARY_PATH", "/a::/b:/a")
	if got := cudaLibDirs("/x/libonnxruntime.so"); !slices.Equal(got, []string{"/a", "/b", "/x"}) {
		t.Fatalf("got %v", got)
	}
}

func TestSameRelease(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{{"1.29.0", "1.29.2", true}, {"1.29.0", "1.30.0", false}, {"1.3.0", "1.30.0", false}} {
		if sameRelease(c.a, c.b) != c.same {
			t.Errorf("sameRelease(%s, %s) != %v", c.a, c.b, c.same)
		}
	}
}

// cpuLib is the project's CPU library (make setup), whose .rodata holds its
// own release string as the CUDA provider's does: a real ELF file to read.
func cpuLib(t *testing.T) string {
	t.Setenv(EnvLib, "")
	lib, err := ResolveLibrary("", Device{})
	if err != nil {
		t.Skipf("CPU library not installed: %v", err)
	}
	return lib
}

func TestProviderVersion(t *testing.T) {
	lib := cpuLib(t)
	v, err := providerVersion(lib)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Init(Options{Lib: lib})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if v != rt.Version() {
		t.Fatalf("version read from %s: %q; the library says %q", lib, v, rt.Version())
	}
	if _, err := providerVersion(filepath.Join(t.TempDir(), "none.so")); err == nil {
		t.Fatal("missing file: no error")
	}
}

// pluginDir is a folder laid out as scripts/install-ort-cuda.sh installs,
// with the CPU library standing in for both libraries.
func pluginDir(t *testing.T) string {
	lib := cpuLib(t)
	dir := t.TempDir()
	for _, name := range []string{"libonnxruntime.so", cudaProviderLib} {
		if err := os.Symlink(lib, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCheckCUDAProviderVersion(t *testing.T) {
	dir := pluginDir(t)
	v, _ := providerVersion(filepath.Join(dir, cudaProviderLib))
	err := checkCUDAProvider(filepath.Join(dir, "libonnxruntime.so"), "1.2.0", nil)
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "is ONNX Runtime "+v+" but the library") {
		t.Fatalf("mismatched release: error %v", err)
	}
	// Without a provider beside it the library is left to the classic route.
	if err := checkCUDAProvider(filepath.Join(t.TempDir(), "libonnxruntime.so"), "1.2.0", nil); err != nil {
		t.Fatal(err)
	}
}

// TestInitCUDAMissingLibraries is the error a user without CUDA sees: Init
// for a CUDA device names every missing library and the folders tried, and
// leaves no environment behind.
func TestInitCUDAMissingLibraries(t *testing.T) {
	if dlopenable("libcudart.so.13") {
		t.Skip("this machine has the CUDA runtime")
	}
	dir := pluginDir(t)
	t.Setenv("LD_LIBRARY_PATH", "")
	_, err := Init(Options{Lib: filepath.Join(dir, "libonnxruntime.so"), Device: Device{CUDA: true}})
	if err == nil || !usererr.Is(err) {
		t.Fatalf("error %v, want a user error", err)
	}
	for _, lib := range cudaLibs[:6] {
		if !strings.Contains(err.Error(), lib) {
			t.Errorf("error does not name %s: %v", lib, err)
		}
	}
	if !strings.Contains(err.Error(), "folders "+dir+" and the dynamic loader's") {
		t.Errorf("error does not name the folders tried: %v", err)
	}
	rt, err := Init(Options{Lib: cpuLib(t)})
	if err != nil {
		t.Fatalf("a CPU runtime after the failed CUDA one: %v", err)
	}
	rt.Close()
}
