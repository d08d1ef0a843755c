package ort_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	ortgo "github.com/yalue/onnxruntime_go"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn/graph"
	"unlearnbench/nn/ort"
)

func TestParseDevice(t *testing.T) {
	for in, want := range map[string]ort.Device{"": {}, "cpu": {}, "cuda": {CUDA: true}, "cuda:2": {CUDA: true, ID: 2}} {
		got, err := ort.ParseDevice(in)
		if err != nil || got != want {
			t.Errorf("ParseDevice(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"gpu", "cuda:", "cuda:-1", "cuda:x"} {
		if _, err := ort.ParseDevice(bad); err == nil || !usererr.Is(err) {
			t.Errorf("ParseDevice(%q) error = %v, want a user error", bad, err)
		}
	}
}

func TestResolveLibrary(t *testing.T) {
	t.Setenv(ort.EnvLib, "")
	missing := filepath.Join(t.TempDir(), "nope.so")
	_, err := ort.ResolveLibrary(missing, ort.Device{})
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "make setup") || !strings.Contains(err.Error(), ort.EnvLib) {
		t.Fatalf("missing --ort-lib: error %v, want a user error naming make setup and %s", err, ort.EnvLib)
	}
	lib := filepath.Join(t.TempDir(), "lib.so")
	os.WriteFile(lib, nil, 0o644)
	t.Setenv(ort.EnvLib, lib)
	if got, err := ort.ResolveLibrary("", ort.Device{}); err != nil || got != lib {
		t.Fatalf("env: got %q, %v; want %q", got, err, lib)
	}
	if got, _ := ort.ResolveLibrary(lib+"x", ort.Device{}); got != "" {
		t.Fatalf("flag must win over the environment")
	}
	// Walking up from the working directory finds the project's library.
	t.Setenv(ort.EnvLib, "")
	got, err := ort.ResolveLibrary("", ort.Device{})
	if err != nil || !strings.HasSuffix(got, ort.CPULibRel) {
		t.Fatalf("walk-up: got %q, %v", got, err)
	}
	// From a directory outside the module nothing is found.
	t.Chdir(t.TempDir())
	if exe, _ := os.Executable(); !strings.Contains(exe, "go-build") {
		t.Skip("test binary lives inside the module")
	}
	if _, err := ort.ResolveLibrary("", ort.Device{}); err == nil || !strings.Contains(err.Error(), "make setup") {
		t.Fatalf("outside the module: error %v, want one naming make setup", err)
	}
}

// addGraph is y = a + b over float32 [2, 3].
func addGraph(t *testing.T) []byte {
	g := graph.New("add")
	a := g.AddInput("a", graph.Float, 2, 3)
	b := g.AddInput("b", graph.Float, 2, 3)
	g.OpNamed("Add", []string{a, b}, []string{"y"})
	g.AddOutput("y")
	m, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func runAdd(t *testing.T, rt *ort.Runtime) {
	var own ort.Owner
	defer own.Close()
	s, err := rt.NewSession(&own, addGraph(t), []string{"a", "b"}, []string{"y"})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ort.NewTensor(&own, []int64{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	b, _ := ort.NewTensor(&own, []int64{2, 3}, []float32{10, 20, 30, 40, 50, 60})
	y, _ := ort.ZeroTensor[float32](&own, []int64{2, 3})
	for range 3 { // sessions and tensors are reused across runs
		if err := s.Run(&own, []ort.Value{a, b}, []ort.Value{y}); err != nil {
			t.Fatal(err)
		}
	}
	if got := y.GetData(); got[0] != 11 || got[5] != 66 {
		t.Fatalf("y = %v", got)
	}
}

func TestSessionCPU(t *testing.T) {
	rt, err := ort.Init(ort.Options{IntraOpThreads: 1, InterOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if !strings.HasPrefix(rt.Version(), "1.") {
		t.Errorf("version %q", rt.Version())
	}
	runAdd(t, rt)
	// A second runtime must use the same library.
	other := filepath.Join(t.TempDir(), "libonnxruntime.so")
	os.WriteFile(other, nil, 0o644)
	if _, err := ort.Init(ort.Options{Lib: other}); err == nil || !usererr.Is(err) {
		t.Fatalf("second library: error %v, want a user error", err)
	}
}

func TestBrokenLibrary(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "libonnxruntime.so")
	os.WriteFile(bad, []byte("not a library"), 0o644)
	_, err := ort.Init(ort.Options{Lib: bad})
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "make setup") {
		t.Fatalf("error %v, want a user error naming make setup", err)
	}
}

// TestSessionCUDA runs on a machine with an NVIDIA GPU and the CUDA build
// installed by scripts/install-ort-cuda.sh; elsewhere it skips.
func TestSessionCUDA(t *testing.T) {
	if _, err := os.Stat("/dev/nvidia0"); err != nil {
		t.Skip("no NVIDIA GPU (/dev/nvidia0)")
	}
	// The tests may point UNLEARNBENCH_ORT_LIB at the CPU build; the CUDA
	// build is found in third_party/onnxruntime/cuda or named by
	// UNLEARNBENCH_ORT_CUDA_LIB.
	t.Setenv(ort.EnvLib, "")
	lib, err := ort.ResolveLibrary(os.Getenv("UNLEARNBENCH_ORT_CUDA_LIB"), ort.Device{CUDA: true})
	if err != nil {
		t.Skipf("CUDA build not installed: %v", err)
	}
	rt, err := ort.Init(ort.Options{Lib: lib, Device: ort.Device{CUDA: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	runAdd(t, rt)
}

// TestSessionOptionsLayout guards the one assumption the CUDA plugin path
// makes about onnxruntime_go: SessionOptions holds only the C pointer.
func TestSessionOptionsLayout(t *testing.T) {
	typ := reflect.TypeOf(ortgo.SessionOptions{})
	if typ.NumField() != 1 || typ.Field(0).Type.Kind() != reflect.Pointer || typ.Size() != unsafe.Sizeof(uintptr(0)) {
		t.Fatalf("onnxruntime_go.SessionOptions changed layout: %d fields", typ.NumField())
	}
}
