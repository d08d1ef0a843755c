package ort

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The calls a device store needs that onnxruntime_go v1.27.0 does not wrap
// for values it did not create (it has IoBinding, but binds only its own
// Go-backed tensors, and has no device memory info or allocator), reached
// through ONNX Runtime's C API table (OrtApi, version 24) as cuda.go does.
// Each slot was counted in onnxruntime_c_api.h of onnxruntime_go v1.27.0
// (ORT_API_VERSION 24); the table is append-only, so they never move.
enum {
	UBDS_GET_ERROR_MESSAGE = 2,
	UBDS_CREATE_ENV = 3,
	UBDS_CREATE_TENSOR_AS_VALUE = 48,
	UBDS_CREATE_TENSOR_WITH_DATA = 49,
	UBDS_GET_TENSOR_MUTABLE_DATA = 51,
	UBDS_CREATE_MEMORY_INFO = 68,
	UBDS_RELEASE_ENV = 92,
	UBDS_RELEASE_STATUS = 93,
	UBDS_RELEASE_MEMORY_INFO = 94,
	UBDS_RELEASE_VALUE = 96,
	UBDS_CREATE_ALLOCATOR = 131,
	UBDS_RELEASE_ALLOCATOR = 132,
	UBDS_RUN_WITH_BINDING = 133,
	UBDS_CREATE_IO_BINDING = 134,
	UBDS_RELEASE_IO_BINDING = 135,
	UBDS_BIND_INPUT = 136,
	UBDS_BIND_OUTPUT = 137,
};

enum { UBDS_FLOAT = 1 }; // ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT

typedef struct {
	void *(*GetApi)(unsigned int version);
	const char *(*GetVersionString)(void);
} ubds_api_base;

static void **ubds_api;

static char *ubds_load(const char *lib) {
	if (ubds_api) return NULL;
	void *h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
	if (!h) {
		const char *e = dlerror();
		return strdup(e ? e : "library not loaded");
	}
	ubds_api_base *(*get_base)(void) = (ubds_api_base * (*)(void)) dlsym(h, "OrtGetApiBase");
	if (!get_base) return strdup("OrtGetApiBase not found");
	ubds_api = (void **)get_base()->GetApi(24);
	if (!ubds_api) return strdup("the library does not offer ONNX Runtime C API version 24");
	return NULL;
}

static char *ubds_status(void *st) {
	if (!st) return NULL;
	const char *(*msg)(const void *) = (const char *(*)(const void *))ubds_api[UBDS_GET_ERROR_MESSAGE];
	char *s = strdup(msg(st));
	((void (*)(void *))ubds_api[UBDS_RELEASE_STATUS])(st);
	return s;
}

static void ubds_release(int slot, void *p) {
	if (p) ((void (*)(void *))ubds_api[slot])(p);
}

// ubds_memory_info: OrtDeviceAllocator (0) memory of device id named name
// ("Cpu", "Cuda"), OrtMemTypeDefault (0).
static char *ubds_memory_info(const char *name, int id, void **out) {
	void *(*f)(const char *, int, int, int, void **) = (void *(*)(const char *, int, int, int, void **))ubds_api[UBDS_CREATE_MEMORY_INFO];
	return ubds_status(f(name, 0, id, 0, out));
}

static char *ubds_allocator(void *session, void *info, void **out) {
	void *(*f)(void *, void *, void **) = (void *(*)(void *, void *, void **))ubds_api[UBDS_CREATE_ALLOCATOR];
	return ubds_status(f(session, info, out));
}

static char *ubds_tensor(void *alloc, const int64_t *shape, size_t rank, void **out) {
	void *(*f)(void *, const int64_t *, size_t, int, void **) = (void *(*)(void *, const int64_t *, size_t, int, void **))ubds_api[UBDS_CREATE_TENSOR_AS_VALUE];
	return ubds_status(f(alloc, shape, rank, UBDS_FLOAT, out));
}

static char *ubds_data(void *value, void **out) {
	void *(*f)(void *, void **) = (void *(*)(void *, void **))ubds_api[UBDS_GET_TENSOR_MUTABLE_DATA];
	return ubds_status(f(value, out));
}

// ubds_copy copies between host memory (n floats at host, valid for this
// call only) and device tensor dev, in the direction to_device says, by
// running copy_session (y = Identity(x), x and y float [-1]) with x and y
// bound to flat views of the two: ONNX Runtime moves the data between the
// devices as its providers do for any bound input and output.
// (CopyTensors, slot 386, copies only between plugin providers' devices.)
static char *ubds_copy(void *copy_session, void *cpu_info, void *dev_info, float *host, size_t n, void *dev, int to_device) {
	void *(*mk)(void *, void *, size_t, const int64_t *, size_t, int, void **) =
		(void *(*)(void *, void *, size_t, const int64_t *, size_t, int, void **))ubds_api[UBDS_CREATE_TENSOR_WITH_DATA];
	int64_t shape[1] = {(int64_t)n};
	void *dev_data = NULL, *host_val = NULL, *dev_val = NULL, *binding = NULL;
	char *err = ubds_data(dev, &dev_data);
	if (!err) err = ubds_status(mk(cpu_info, host, n * sizeof(float), shape, 1, UBDS_FLOAT, &host_val));
	if (!err) err = ubds_status(mk(dev_info, dev_data, n * sizeof(float), shape, 1, UBDS_FLOAT, &dev_val));
	if (!err) {
		void *(*f)(void *, void **) = (void *(*)(void *, void **))ubds_api[UBDS_CREATE_IO_BINDING];
		err = ubds_status(f(copy_session, &binding));
	}
	if (!err) {
		void *(*bind_in)(void *, const char *, const void *) = (void *(*)(void *, const char *, const void *))ubds_api[UBDS_BIND_INPUT];
		void *(*bind_out)(void *, const char *, const void *) = (void *(*)(void *, const char *, const void *))ubds_api[UBDS_BIND_OUTPUT];
		err = ubds_status(bind_in(binding, "x", to_device ? host_val : dev_val));
		if (!err) err = ubds_status(bind_out(binding, "y", to_device ? dev_val : host_val));
	}
	if (!err) {
		void *(*run)(void *, const void *, const void *) = (void *(*)(void *, const void *, const void *))ubds_api[UBDS_RUN_WITH_BINDING];
		err = ubds_status(run(copy_session, NULL, binding));
	}
	ubds_release(UBDS_RELEASE_IO_BINDING, binding);
	ubds_release(UBDS_RELEASE_VALUE, dev_val);
	ubds_release(UBDS_RELEASE_VALUE, host_val);
	return err;
}

static char *ubds_binding(void *session, void **out) {
	void *(*f)(void *, void **) = (void *(*)(void *, void **))ubds_api[UBDS_CREATE_IO_BINDING];
	return ubds_status(f(session, out));
}

static char *ubds_bind(void *binding, const char *name, void *value, int output) {
	void *(*f)(void *, const char *, const void *) = (void *(*)(void *, const char *, const void *))ubds_api[output ? UBDS_BIND_OUTPUT : UBDS_BIND_INPUT];
	return ubds_status(f(binding, name, value));
}

static char *ubds_run(void *session, void *binding) {
	void *(*f)(void *, const void *, const void *) = (void *(*)(void *, const void *, const void *))ubds_api[UBDS_RUN_WITH_BINDING];
	return ubds_status(f(session, NULL, binding));
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	ortgo "github.com/yalue/onnxruntime_go"
)

// A Store keeps float32 tensors in ONNX Runtime memory on a session's
// device, so that values that live across runs (weights, optimiser state,
// gradients) stay there and are bound to a session's inputs and outputs by
// a Binding instead of being copied from and to Go memory at every run.
// Host copies happen only through Upload and Download.
//
// The device is the runtime's: "Cuda" memory of device Device.ID on a CUDA
// runtime, "Cpu" memory otherwise. The CPU variant runs the very same C
// calls (only the memory-info name differs), which is how the store is
// tested here. The CUDA variant has never run on a GPU: no GPU was
// available when it was written.
type Store struct {
	mem, cpu unsafe.Pointer // OrtMemoryInfo of the device and of the host
	alloc    unsafe.Pointer // OrtAllocator of mem, created for one session
	tensors  []*DeviceTensor
	bindings []*Binding
	own      Owner
	copier   *Session // y = Identity(x): Upload and Download run it
}

// DeviceTensor is a float32 tensor in a Store's device memory.
type DeviceTensor struct {
	v     unsafe.Pointer // OrtValue
	Shape []int64
	n     int
}

// Len is the number of elements.
func (t *DeviceTensor) Len() int { return t.n }

func cerr(msg *C.char) error {
	if msg == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(msg))
	return errors.New(C.GoString(msg))
}

// sessionPtr returns the C OrtSession behind s. onnxruntime_go v1.27.0
// keeps a DynamicAdvancedSession as a pointer to an AdvancedSession whose
// first field is the C pointer (checked by TestSessionLayout).
func sessionPtr(s *ortgo.DynamicAdvancedSession) unsafe.Pointer {
	adv := *(*unsafe.Pointer)(unsafe.Pointer(s))
	return *(*unsafe.Pointer)(adv)
}

// memoryName is the ONNX Runtime memory-info name of the runtime's device.
func (r *Runtime) memoryName() string {
	if r.opts.Device.CUDA {
		return "Cuda"
	}
	return "Cpu"
}

// NewStore creates a store on r's device with the allocator of session s
// (ONNX Runtime ties device allocators to a session's providers); close the
// store before s. copyModel is a serialised ONNX model y = Identity(x), x
// and y float32 of shape [-1], which Upload and Download run (built by the
// caller with nn/graph, which this package cannot import: graph's tests
// import it).
func (r *Runtime) NewStore(s *Session, copyModel []byte) (*Store, error) {
	clib := C.CString(r.lib)
	defer C.free(unsafe.Pointer(clib))
	if err := cerr(C.ubds_load(clib)); err != nil {
		return nil, fmt.Errorf("device store: %w", err)
	}
	st := &Store{}
	ok := false
	defer func() {
		if !ok {
			st.Close()
		}
	}()
	name := C.CString(r.memoryName())
	defer C.free(unsafe.Pointer(name))
	cpu := C.CString("Cpu")
	defer C.free(unsafe.Pointer(cpu))
	if err := cerr(C.ubds_memory_info(name, C.int(r.opts.Device.ID), &st.mem)); err != nil {
		return nil, fmt.Errorf("device store: memory info %s:%d: %w", r.memoryName(), r.opts.Device.ID, err)
	}
	if err := cerr(C.ubds_memory_info(cpu, 0, &st.cpu)); err != nil {
		return nil, fmt.Errorf("device store: host memory info: %w", err)
	}
	if err := cerr(C.ubds_allocator(sessionPtr(s.s), st.mem, &st.alloc)); err != nil {
		return nil, fmt.Errorf("device store: allocator for %s memory: %w", r.memoryName(), err)
	}
	var err error
	if st.copier, err = r.NewSession(&st.own, copyModel, []string{"x"}, []string{"y"}, NoSpin); err != nil {
		return nil, fmt.Errorf("device store: %w", err)
	}
	ok = true
	return st, nil
}

// Close releases the store's bindings, then its tensors (a binding holds
// references to them, released through the allocator), then the allocator.
// The session the store was made for must still be open.
func (st *Store) Close() error {
	for _, b := range st.bindings {
		b.Destroy()
	}
	st.bindings = nil
	for _, t := range st.tensors {
		C.ubds_release(C.UBDS_RELEASE_VALUE, t.v)
	}
	st.tensors = nil
	C.ubds_release(C.UBDS_RELEASE_ALLOCATOR, st.alloc)
	C.ubds_release(C.UBDS_RELEASE_MEMORY_INFO, st.mem)
	C.ubds_release(C.UBDS_RELEASE_MEMORY_INFO, st.cpu)
	st.alloc, st.mem, st.cpu = nil, nil, nil
	return st.own.Close()
}

// cShape copies shape into C memory (cgo forbids C keeping Go pointers;
// these calls keep nothing, but a C copy is as cheap as a check).
func cShape(shape []int64) (*C.int64_t, func()) {
	if len(shape) == 0 {
		return nil, func() {}
	}
	p := (*C.int64_t)(C.malloc(C.size_t(len(shape)) * 8))
	copy(unsafe.Slice((*int64)(unsafe.Pointer(p)), len(shape)), shape)
	return p, func() { C.free(unsafe.Pointer(p)) }
}

// Alloc creates a tensor of the given shape in device memory (contents
// undefined until written).
func (st *Store) Alloc(shape []int64) (*DeviceTensor, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("device store: shape %v has a negative dimension", shape)
		}
		n *= int(d)
	}
	cs, free := cShape(shape)
	defer free()
	t := &DeviceTensor{Shape: append([]int64(nil), shape...), n: n}
	if err := cerr(C.ubds_tensor(st.alloc, cs, C.size_t(len(shape)), &t.v)); err != nil {
		return nil, fmt.Errorf("device store: allocating %v floats (%d bytes): %w", shape, 4*n, err)
	}
	st.tensors = append(st.tensors, t)
	return t, nil
}

func (st *Store) copy(t *DeviceTensor, host []float32, toDevice bool) error {
	if len(host) != t.n {
		return fmt.Errorf("device store: %d host values for a tensor of %d", len(host), t.n)
	}
	if t.n == 0 {
		return nil
	}
	dir := C.int(0)
	if toDevice {
		dir = 1
	}
	// The host slice is passed for the duration of the call only.
	return cerr(C.ubds_copy(sessionPtr(st.copier.s), st.cpu, st.mem, (*C.float)(unsafe.Pointer(&host[0])), C.size_t(t.n), t.v, dir))
}

// Upload copies src (host) into t (device).
func (st *Store) Upload(t *DeviceTensor, src []float32) error {
	if err := st.copy(t, src, true); err != nil {
		return fmt.Errorf("uploading to the device: %w", err)
	}
	return nil
}

// Download copies t (device) into dst (host).
func (st *Store) Download(dst []float32, t *DeviceTensor) error {
	if err := st.copy(t, dst, false); err != nil {
		return fmt.Errorf("downloading from the device: %w", err)
	}
	return nil
}

// Binding binds device tensors to a session's inputs and outputs by name;
// Run then reads and writes them where they are. Bindings persist across
// runs: bind once, run every step.
type Binding struct {
	sess unsafe.Pointer
	b    unsafe.Pointer
}

// NewBinding creates a binding for session s (which must outlive the
// store), released by the store's Close.
func (st *Store) NewBinding(s *Session) (*Binding, error) {
	b := &Binding{sess: sessionPtr(s.s)}
	if err := cerr(C.ubds_binding(b.sess, &b.b)); err != nil {
		return nil, fmt.Errorf("creating an I/O binding: %w", err)
	}
	st.bindings = append(st.bindings, b)
	return b, nil
}

// DropBinding releases b now (before the session it binds is closed).
func (st *Store) DropBinding(b *Binding) {
	for i, x := range st.bindings {
		if x == b {
			st.bindings = append(st.bindings[:i], st.bindings[i+1:]...)
			break
		}
	}
	b.Destroy()
}

// Destroy releases the binding (the bound tensors stay with their store).
func (b *Binding) Destroy() error {
	C.ubds_release(C.UBDS_RELEASE_IO_BINDING, b.b)
	b.b = nil
	return nil
}

func (b *Binding) bind(name string, t *DeviceTensor, output bool) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	out := C.int(0)
	if output {
		out = 1
	}
	return cerr(C.ubds_bind(b.b, cn, t.v, out))
}

// valuePtr returns the C OrtValue behind an onnxruntime_go value: its
// ValueInternalData holds that pointer as its only field (checked by
// TestSessionLayout).
func valuePtr(v Value) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(v.GetInternals()))
}

// BindHostInput binds a host tensor (NewTensor, over Go memory) to input
// name: ONNX Runtime reads it where it is on the CPU and copies it to the
// device on CUDA, at every run. The tensor must outlive the binding.
func (b *Binding) BindHostInput(name string, v Value) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	if err := cerr(C.ubds_bind(b.b, cn, valuePtr(v), 0)); err != nil {
		return fmt.Errorf("binding input %s: %w", name, err)
	}
	return nil
}

// BindHostOutput binds a host tensor to output name: the run writes it
// (on CUDA, through a copy from the device).
func (b *Binding) BindHostOutput(name string, v Value) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	if err := cerr(C.ubds_bind(b.b, cn, valuePtr(v), 1)); err != nil {
		return fmt.Errorf("binding output %s: %w", name, err)
	}
	return nil
}

// BindInput binds t to input name.
func (b *Binding) BindInput(name string, t *DeviceTensor) error {
	if err := b.bind(name, t, false); err != nil {
		return fmt.Errorf("binding input %s: %w", name, err)
	}
	return nil
}

// BindOutput binds t to output name: the run writes it in place.
func (b *Binding) BindOutput(name string, t *DeviceTensor) error {
	if err := b.bind(name, t, true); err != nil {
		return fmt.Errorf("binding output %s: %w", name, err)
	}
	return nil
}

// Run runs the session on the bound tensors.
func (b *Binding) Run() error {
	if err := cerr(C.ubds_run(b.sess, b.b)); err != nil {
		return runError("running with bound device tensors", err)
	}
	return nil
}
