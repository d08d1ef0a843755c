package ort

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

// The plugin execution-provider calls that onnxruntime_go v1.27.0 does not
// wrap, reached through ONNX Runtime's C API table (OrtApi, version 24). The
// table is append-only and its layout frozen per version, so the slots below
// (counted in onnxruntime_c_api.h of API version 24) never move.
enum {
	UB_GET_ERROR_MESSAGE = 2,
	UB_CREATE_ENV = 3,
	UB_RELEASE_ENV = 92,
	UB_RELEASE_STATUS = 93,
	UB_GET_EP_DEVICES = 303,
	UB_APPEND_EP_V2 = 304,
	UB_EP_DEVICE_EP_NAME = 312,
};

typedef struct {
	void *(*GetApi)(unsigned int version);
	const char *(*GetVersionString)(void);
} ub_api_base;

static void **ub_api;

static char *ub_load_api(const char *lib) {
	void *h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
	if (!h) {
		const char *e = dlerror();
		return strdup(e ? e : "library not loaded");
	}
	ub_api_base *(*get_base)(void) = (ub_api_base * (*)(void)) dlsym(h, "OrtGetApiBase");
	if (!get_base) return strdup("OrtGetApiBase not found");
	ub_api = (void **)get_base()->GetApi(24);
	if (!ub_api) return strdup("the library does not offer ONNX Runtime C API version 24");
	return NULL;
}

static char *ub_status(void *st) {
	if (!st) return NULL;
	const char *(*msg)(const void *) = (const char *(*)(const void *))ub_api[UB_GET_ERROR_MESSAGE];
	char *s = strdup(msg(st));
	void (*rel)(void *) = (void (*)(void *))ub_api[UB_RELEASE_STATUS];
	rel(st);
	return s;
}

// ub_can_load reports whether the dynamic loader finds and loads name by its
// own search. The library stays loaded: the provider loads it anyway.
static int ub_can_load(const char *name) {
	return dlopen(name, RTLD_LAZY | RTLD_GLOBAL) != NULL;
}

// ub_append_ep appends the ordinal-th device of execution provider ep_name
// to the session options, with n provider options keys[i] = values[i].
static char *ub_append_ep(void *so, const char *ep_name, int ordinal,
		const char *const *keys, const char *const *values, size_t n_opts) {
	void *env = NULL;
	void *(*create_env)(int, const char *, void **) = (void *(*)(int, const char *, void **))ub_api[UB_CREATE_ENV];
	void (*release_env)(void *) = (void (*)(void *))ub_api[UB_RELEASE_ENV];
	// The environment is a process singleton: this returns the one
	// onnxruntime_go created, with one more reference.
	char *err = ub_status(create_env(3, "unlearnbench", &env));
	if (err) return err;
	const void *const *devs = NULL;
	size_t n = 0;
	void *(*get_devs)(const void *, const void *const **, size_t *) =
		(void *(*)(const void *, const void *const **, size_t *))ub_api[UB_GET_EP_DEVICES];
	err = ub_status(get_devs(env, &devs, &n));
	if (err) {
		release_env(env);
		return err;
	}
	const char *(*ep_of)(const void *) = (const char *(*)(const void *))ub_api[UB_EP_DEVICE_EP_NAME];
	const void *chosen = NULL;
	int seen = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ep_of(devs[i]), ep_name) == 0) {
			if (seen == ordinal) {
				chosen = devs[i];
				break;
			}
			seen++;
		}
	}
	if (!chosen) {
		release_env(env);
		char buf[256];
		snprintf(buf, sizeof buf, "%s has %d device(s); device %d does not exist", ep_name, seen, ordinal);
		return strdup(buf);
	}
	void *(*append)(void *, void *, const void *const *, size_t, const char *const *, const char *const *, size_t) =
		(void *(*)(void *, void *, const void *const *, size_t, const char *const *, const char *const *, size_t))ub_api[UB_APPEND_EP_V2];
	err = ub_status(append(so, env, &chosen, 1, keys, values, n_opts));
	release_env(env);
	return err;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	ortgo "github.com/yalue/onnxruntime_go"
)

// cudaProviderLib is the CUDA provider library that ships beside the GPU
// build's libonnxruntime.so.
const cudaProviderLib = "libonnxruntime_providers_cuda.so"

// cudaRegistered is set (under envMu) once the CUDA provider library has been
// registered as a plugin execution provider with the current environment.
var cudaRegistered bool

// sessionOptionsPtr returns the C OrtSessionOptions behind so.
// onnxruntime_go v1.27.0 keeps it as the struct's only field (checked by
// TestSessionOptionsLayout).
func sessionOptionsPtr(so *ortgo.SessionOptions) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(so))
}

// dlopenable reports whether the dynamic loader finds library name.
func dlopenable(name string) bool {
	c := C.CString(name)
	defer C.free(unsafe.Pointer(c))
	return C.ub_can_load(c) != 0
}

// appendCUDA adds the CUDA execution provider for device id with options
// opts: through the classic provider call when the library was built with
// CUDA, otherwise by registering libonnxruntime_providers_cuda.so (next to
// the library) as a plugin execution provider and selecting its id-th
// device, which is how the com.github.asus4.onnxruntime GPU packages are
// meant to be used.
func appendCUDA(so *ortgo.SessionOptions, lib string, id int, opts CUDAOptions) error {
	keys, values := opts.providerOptions(id)
	co, err := ortgo.NewCUDAProviderOptions()
	if err == nil {
		defer co.Destroy()
		m := make(map[string]string, len(keys))
		for i, k := range keys {
			m[k] = values[i]
		}
		if err = co.Update(m); err == nil {
			if err = so.AppendExecutionProviderCUDA(co); err == nil {
				return nil
			}
		}
	}
	classic := err
	plugin := filepath.Join(filepath.Dir(lib), cudaProviderLib)
	if _, serr := os.Stat(plugin); serr != nil {
		return fmt.Errorf("%v (and no %s beside the library)", classic, cudaProviderLib)
	}
	envMu.Lock()
	defer envMu.Unlock()
	if !cudaRegistered {
		if err := ortgo.RegisterExecutionProviderLibrary("CUDA", plugin); err != nil {
			return fmt.Errorf("registering %s: %w", plugin, err)
		}
		cudaRegistered = true
	}
	clib := C.CString(lib)
	defer C.free(unsafe.Pointer(clib))
	if msg := C.ub_load_api(clib); msg != nil {
		defer C.free(unsafe.Pointer(msg))
		return errors.New(C.GoString(msg))
	}
	cname := C.CString("CUDAExecutionProvider")
	defer C.free(unsafe.Pointer(cname))
	// C arrays of C strings: cgo forbids passing Go memory that holds
	// pointers to Go memory, so both the arrays and the strings are malloc'd.
	n := len(keys)
	ptrSize := C.size_t(unsafe.Sizeof(uintptr(0)))
	ckeys := (*[1 << 20]*C.char)(C.malloc(C.size_t(n) * ptrSize))[:n:n]
	cvals := (*[1 << 20]*C.char)(C.malloc(C.size_t(n) * ptrSize))[:n:n]
	defer C.free(unsafe.Pointer(&ckeys[0]))
	defer C.free(unsafe.Pointer(&cvals[0]))
	for i := range keys {
		ckeys[i], cvals[i] = C.CString(keys[i]), C.CString(values[i])
		defer C.free(unsafe.Pointer(ckeys[i]))
		defer C.free(unsafe.Pointer(cvals[i]))
	}
	if msg := C.ub_append_ep(sessionOptionsPtr(so), cname, C.int(id), &ckeys[0], &cvals[0], C.size_t(n)); msg != nil {
		defer C.free(unsafe.Pointer(msg))
		return fmt.Errorf("CUDA plugin provider %s: %s", plugin, C.GoString(msg))
	}
	return nil
}
