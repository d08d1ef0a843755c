package ort

import (
	"fmt"
	"strings"

	ortgo "github.com/yalue/onnxruntime_go"

	"unlearnbench/internal/usererr"
)

// Value is an ONNX Runtime value (a tensor) passed to or returned by Run.
type Value = ortgo.Value

// Tensor is a typed ONNX Runtime tensor whose data is a Go slice: writing the
// slice changes what the next Run reads, and outputs are written into it.
type Tensor[T ortgo.TensorData] = ortgo.Tensor[T]

// Owner collects C-side objects (tensors, sessions) so that one Close
// releases all of them. Use one Owner per long-lived user (a trainer, an
// evaluator) and `defer owner.Close()`.
type Owner struct {
	objs []interface{ Destroy() error }
}

// Close destroys everything the owner holds, newest first, and forgets it.
func (o *Owner) Close() error {
	var first error
	for i := len(o.objs) - 1; i >= 0; i-- {
		if err := o.objs[i].Destroy(); err != nil && first == nil {
			first = err
		}
	}
	o.objs = nil
	return first
}

func (o *Owner) add(x interface{ Destroy() error }) { o.objs = append(o.objs, x) }

// NewTensor creates a tensor of the given shape over data (not copied; len(data)
// must be at least the shape's size), owned by o.
func NewTensor[T ortgo.TensorData](o *Owner, shape []int64, data []T) (*Tensor[T], error) {
	t, err := ortgo.NewTensor(ortgo.NewShape(shape...), data)
	if err != nil {
		return nil, fmt.Errorf("creating tensor of shape %v: %w", shape, err)
	}
	o.add(t)
	return t, nil
}

// ZeroTensor creates a zero-filled tensor of the given shape, owned by o.
func ZeroTensor[T ortgo.TensorData](o *Owner, shape []int64) (*Tensor[T], error) {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return NewTensor(o, shape, make([]T, n))
}

// Session runs one ONNX graph with fixed input and output names. Create it
// once and call Run for every batch: creating sessions is expensive.
type Session struct {
	s       *ortgo.DynamicAdvancedSession
	Inputs  []string
	Outputs []string
}

// SessionOption adjusts the options of one session.
type SessionOption func(*ortgo.SessionOptions) error

// NoSpin keeps the session's intra-op threads from spinning for work once
// a run ends. Spinning is ONNX Runtime's default and pays off for a session
// run back to back (an Evaluator: 5% of wall time on ResNet-18 at two
// threads), but each session has its own pool, and a training step runs
// several in turn (forward and backward, then the optimiser's update):
// the pool that just finished spun on the cores the next one needed. At
// two threads on two cores the cnn's step took more wall time than at one
// (0.42 against 0.41 s for 10 steps) and 0.30 s without spinning; CPU time
// halved (0.85 to 0.47 s), the mlp's step 0.58 to 0.42 s of wall.
func NoSpin(so *ortgo.SessionOptions) error {
	if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		return fmt.Errorf("turning off the intra-op threads' spinning: %w", err)
	}
	return nil
}

// NewSession compiles an ONNX model (serialised ModelProto) for this runtime's
// device, owned by o.
func (r *Runtime) NewSession(o *Owner, model []byte, inputs, outputs []string, opts ...SessionOption) (*Session, error) {
	so, err := r.sessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	for _, opt := range opts {
		if err := opt(so); err != nil {
			return nil, err
		}
	}
	s, err := ortgo.NewDynamicAdvancedSessionWithONNXData(model, inputs, outputs, so)
	if err != nil {
		return nil, fmt.Errorf("creating ONNX Runtime session (inputs %v, outputs %v): %w", inputs, outputs, err)
	}
	o.add(s)
	return &Session{s: s, Inputs: inputs, Outputs: outputs}, nil
}

// Run executes the graph. Outputs are preallocated tensors of the right
// shape; a nil output is allocated by ONNX Runtime and then owned by o.
func (s *Session) Run(o *Owner, inputs, outputs []Value) error {
	var nils []int
	for i, v := range outputs {
		if v == nil {
			nils = append(nils, i)
		}
	}
	if err := s.s.Run(inputs, outputs); err != nil {
		return runError("running graph (outputs "+outputList(s.Outputs)+")", err)
	}
	for _, i := range nils {
		if outputs[i] != nil {
			o.add(outputs[i])
		}
	}
	return nil
}

// outOfMemory holds the phrases of ONNX Runtime's allocation failures: its
// arena's ("Failed to allocate memory for requested buffer of size N"),
// CUDA's ("CUDA failure 2: out of memory", cudaErrorMemoryAllocation) and
// a C++ std::bad_alloc on the CPU.
var outOfMemory = []string{"Failed to allocate memory", "out of memory", "cudaErrorMemoryAllocation", "bad_alloc", "bad allocation"}

// runError wraps a failed run. A run that did not fit the device's memory
// is the user's to fix (a smaller batch, a smaller model, another device):
// it becomes a one-line user error (exit 2) naming the allocation that
// failed, rather than an internal failure; the caller caches nothing of a
// failed run.
func runError(what string, err error) error {
	msg := err.Error()
	for _, p := range outOfMemory {
		i := strings.Index(msg, p)
		if i < 0 {
			continue
		}
		// From the phrase to the end of its line: ONNX Runtime prefixes
		// its source file and function, which say nothing to a user.
		short, _, _ := strings.Cut(msg[i:], "\n")
		return usererr.Errorf("the batch does not fit the device's memory (ONNX Runtime: %s): lower the batch size, or use a device with more memory", short)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// outputList names a session's outputs for an error message: the first
// few, then how many more (a training graph has hundreds).
func outputList(names []string) string {
	if len(names) <= 4 {
		return fmt.Sprint(names)
	}
	return fmt.Sprintf("%v and %d more", names[:4], len(names)-4)
}
