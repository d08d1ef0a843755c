package nn

import (
	"encoding/json"
	"fmt"
	"slices"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/usererr"
)

// A checkpoint file is an uncompressed .npz, so that NumPy opens it and the
// archive's CRC-32s catch corruption, holding:
//
//	meta.npy       uint8, the JSON checkpointMeta below
//	w0000.npy ...  float32, the model's parameters then buffers, in
//	               Model.Params, Model.Buffers order (names in meta)
//	v0000.npy ...  float32, the optimiser's first moments, one per parameter
//	s0000.npy ...  float32, Adam's second moments
//
// It is written whole with atomicfile (through arrays.WriteNPZ), so a crash
// leaves the previous checkpoint or the new one, never a mixture.
const (
	checkpointFormat  = "unlearnbench-checkpoint"
	checkpointVersion = 1
)

type checkpointMeta struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	Model   string          `json:"model"`    // graph name, for messages
	Weights []string        `json:"weights"`  // parameter then buffer names
	V       int             `json:"v_arrays"` // first-moment arrays
	S       int             `json:"s_arrays"` // second-moment arrays
	State   *TrainState     `json:"state"`
	Run     json.RawMessage `json:"run"`
}

// Checkpoint is a checkpoint file read back whole and checked for form;
// Run is what SaveCheckpoint was given to describe the run, for the caller
// to compare with the run it is about to continue.
type Checkpoint struct {
	Path    string
	Run     json.RawMessage
	meta    checkpointMeta
	weights [][]float32
	st      TrainState
}

// SaveCheckpoint writes m's weights and buffers, the state st and run (any
// JSON value describing the run) to path atomically.
func SaveCheckpoint(path string, m *Model, st *TrainState, run any) error {
	rb, err := json.Marshal(run)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	meta := checkpointMeta{Format: checkpointFormat, Version: checkpointVersion, Model: m.Graph.Name,
		Weights: m.fixedNames(), V: len(st.V), S: len(st.S), State: st, Run: rb}
	mb, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	z := arrays.NPZ{}
	add := func(name string, v []float32) error {
		return arrays.Add(z, name, arrays.Tensor[float32]{Shape: []int{len(v)}, Data: v})
	}
	if err := arrays.Add(z, "meta", arrays.Tensor[uint8]{Shape: []int{len(mb)}, Data: mb}); err != nil {
		return err
	}
	for k, name := range meta.Weights {
		if err := add(fmt.Sprintf("w%04d", k), m.ParamRead(name)); err != nil {
			return err
		}
	}
	for k, v := range st.V {
		if err := add(fmt.Sprintf("v%04d", k), v); err != nil {
			return err
		}
	}
	for k, s := range st.S {
		if err := add(fmt.Sprintf("s%04d", k), s); err != nil {
			return err
		}
	}
	return arrays.WriteNPZ(path, z)
}

// ReadCheckpoint reads and checks a checkpoint file; a truncated or corrupt
// one is a user error naming the file.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	c := &Checkpoint{Path: path}
	read := func(member string) ([]float32, error) {
		a, err := arrays.ReadNPZ(path, member)
		if err != nil {
			return nil, err
		}
		return a.Float32s()
	}
	a, err := arrays.ReadNPZ(path, "meta")
	if err != nil {
		return nil, err
	}
	mb, err := a.Uint8s()
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(mb, &c.meta); err != nil {
		return nil, usererr.Errorf("checkpoint %s: meta: %v", path, err)
	}
	m := &c.meta
	if m.Format != checkpointFormat || m.Version != checkpointVersion || m.State == nil {
		return nil, usererr.Errorf("checkpoint %s: meta: format %q version %d, want %q version %d", path, m.Format, m.Version, checkpointFormat, checkpointVersion)
	}
	c.Run, c.st = m.Run, *m.State
	for k := range m.Weights {
		w, err := read(fmt.Sprintf("w%04d", k))
		if err != nil {
			return nil, err
		}
		c.weights = append(c.weights, w)
	}
	for _, p := range []struct {
		prefix string
		n      int
		dst    *[][]float32
	}{{"v", m.V, &c.st.V}, {"s", m.S, &c.st.S}} {
		for k := range p.n {
			v, err := read(fmt.Sprintf("%s%04d", p.prefix, k))
			if err != nil {
				return nil, err
			}
			*p.dst = append(*p.dst, v)
		}
	}
	return c, nil
}

// Restore copies the checkpoint's weights and buffers into m (all or
// nothing) and returns the state to resume from.
func (c *Checkpoint) Restore(m *Model) (*TrainState, error) {
	names := m.fixedNames()
	if !slices.Equal(names, c.meta.Weights) {
		return nil, usererr.Errorf("checkpoint %s holds the weights of model %q (%d arrays), not of %q (%d arrays)", c.Path, c.meta.Model, len(c.meta.Weights), m.Graph.Name, len(names))
	}
	for k, name := range names {
		if len(c.weights[k]) != m.ParamLen(name) {
			return nil, usererr.Errorf("checkpoint %s: %s has %d values, the model's has %d", c.Path, name, len(c.weights[k]), m.ParamLen(name))
		}
	}
	for k, name := range names {
		copy(m.Param(name), c.weights[k])
	}
	m.Touch()
	st := c.st
	return &st, nil
}
