package unlearners

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/atomicfile"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/population"
)

// The data folder exec programs read: the original model and the three
// sets, written once per set of inputs and shared by every member (and,
// under a cache directory, by every run and shard).

// execDataFormat versions the layout of the shared data folder; a change
// of layout changes every folder's name, so old ones are never misread.
const execDataFormat = "unlearnbench-exec-data/1"

// Files of the shared data folder, by placeholder.
var execDataFiles = map[string]string{
	"model":        "model.onnx",
	"retain_x":     "retain_x.npy",
	"retain_y":     "retain_y.npy",
	"forget_x":     "forget_x.npy",
	"forget_y":     "forget_y.npy",
	"validation_x": "validation_x.npy",
	"validation_y": "validation_y.npy",
}

// execKey identifies one set of inputs by identity: the members of a
// population share the same model and data values, so their data folder
// is found without hashing hundreds of megabytes again.
type execKey struct {
	orig                       *nn.Model
	retain, forget, validation *nn.Data
	cache                      string
}

type execData struct {
	once sync.Once
	dir  string
	err  error
}

// data returns the folder holding the inputs' model and data files,
// writing it the first time these inputs are seen.
func (m *execMethod) data(in *Inputs) (string, error) {
	key := execKey{in.Original, in.Retain, in.Forget, in.Validation, in.Cache}
	m.mu.Lock()
	d, ok := m.prepared[key]
	if !ok {
		d = &execData{}
		m.prepared[key] = d
	}
	m.mu.Unlock()
	d.once.Do(func() {
		if in.Cache == "" {
			d.dir, d.err = os.MkdirTemp("", "unlearnbench-exec-data-")
			if d.err != nil {
				return
			}
			m.mu.Lock()
			m.temps = append(m.temps, d.dir)
			m.mu.Unlock()
			d.err = writeExecData(d.dir, in)
			return
		}
		d.dir, d.err = cachedExecData(in)
	})
	return d.dir, d.err
}

// cachedExecData returns <cache>/exec/<digest>, the folder of the inputs'
// files named by their digest, writing it if no process has yet. It is
// written under a temporary name and renamed into place, so a folder under
// its final name is complete, and of two processes writing it at once one
// rename wins and the other's copy is dropped.
func cachedExecData(in *Inputs) (string, error) {
	digest, err := execDigest(in)
	if err != nil {
		return "", err
	}
	root := population.Cache{Root: in.Cache}.Exec()
	dir := filepath.Join(root, digest)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", usererr.Wrap(fmt.Errorf("cache: %w", err))
	}
	removeStaleTemps(root)
	tmp, err := os.MkdirTemp(root, ".tmp-"+digest[:8]+"-")
	if err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	if err := writeExecData(tmp, in); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(dir); serr == nil {
			return dir, nil // another process got there first
		}
		return "", fmt.Errorf("cache: %w", err)
	}
	return dir, nil
}

// staleAfter is how old a temporary data folder must be to be taken for
// the leftover of a writer that was killed: writing one takes seconds, and
// a younger one may be another shard's, being written now.
const staleAfter = time.Hour

// removeStaleTemps removes the temporary folders under root that killed
// writers left behind, each as large as the data.
func removeStaleTemps(root string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleAfter {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

// execDigest names the inputs: the layout's version and the digests of
// the original model and the three sets (population.Key.Sum, the bytes of
// every earlier version).
func execDigest(in *Inputs) (string, error) {
	md, err := in.Original.Digest()
	if err != nil {
		return "", fmt.Errorf("model digest: %w", err)
	}
	var k population.Key
	k.Add("", execDataFormat)
	k.Add("model", md)
	for _, s := range []struct {
		name string
		d    *nn.Data
	}{{"retain", in.Retain}, {"forget", in.Forget}, {"validation", in.Validation}} {
		k.Add(s.name, orEmpty(s.d, in.Original).Digest())
	}
	// Half the digest keeps the folder's paths short; 128 bits still
	// never collide by chance.
	return k.Sum("\n", true)[:32], nil
}

// orEmpty is d, or an empty set of the model's input shape when d is nil.
func orEmpty(d *nn.Data, m *nn.Model) *nn.Data {
	if d != nil {
		return d
	}
	return &nn.Data{Shape: m.Shape}
}

// writeExecData writes the model, the three sets and a description
// (inputs.json) into dir.
func writeExecData(dir string, in *Inputs) error {
	if err := in.Original.Save(filepath.Join(dir, execDataFiles["model"])); err != nil {
		return fmt.Errorf("saving the original model: %w", err)
	}
	desc := map[string]any{"format": execDataFormat, "classes": in.Original.Classes, "input_shape": in.Original.Shape}
	for _, s := range []struct {
		name string
		d    *nn.Data
	}{{"retain", in.Retain}, {"forget", in.Forget}, {"validation", in.Validation}} {
		d := orEmpty(s.d, in.Original)
		if err := d.Check(in.Original); err != nil {
			return fmt.Errorf("%s set: %w", s.name, err)
		}
		shape := []int{d.Len()}
		for _, v := range d.Shape {
			shape = append(shape, int(v))
		}
		if err := arrays.WriteNPY(filepath.Join(dir, execDataFiles[s.name+"_x"]), arrays.Tensor[float32]{Shape: shape, Data: d.X}); err != nil {
			return fmt.Errorf("%s set: %w", s.name, err)
		}
		if err := arrays.WriteNPY(filepath.Join(dir, execDataFiles[s.name+"_y"]), arrays.Tensor[int64]{Shape: shape[:1], Data: d.Y}); err != nil {
			return fmt.Errorf("%s set: %w", s.name, err)
		}
		desc[s.name] = d.Len()
	}
	js, err := json.MarshalIndent(desc, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, "inputs.json"), append(js, '\n')); err != nil {
		return err
	}
	// Every member of every later run reads these files: a program that
	// opens one for writing by mistake fails instead of corrupting them.
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.Chmod(filepath.Join(dir, e.Name()), 0o444); err != nil {
			return err
		}
	}
	return nil
}
