// Package orttest starts ONNX Runtime for the tests of a package: its
// TestMain calls Main, and the tests use the Runtime it returns.
package orttest

import (
	"fmt"
	"os"
	"testing"

	"unlearnbench/nn/ort"
)

// Main is a package's TestMain around a CPU runtime: it initialises ONNX
// Runtime, stores it in *rt for the tests, runs them, closes it and exits
// with their code. Without a runtime no test could run, so a failure to
// start one fails the whole binary, naming pkg.
func Main(m *testing.M, pkg string, rt **ort.Runtime) {
	r, err := ort.Init(ort.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, pkg+" tests:", err)
		os.Exit(1)
	}
	*rt = r
	code := m.Run()
	r.Close()
	os.Exit(code)
}
