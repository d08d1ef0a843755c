package datasets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/atomicfile"
	"unlearnbench/internal/usererr"
)

// SplitFormat names the version of the split.json layout.
const SplitFormat = "unlearnbench-split/1"

// SplitJSON is the name of a saved split's description.
const SplitJSON = "split.json"

// splitSets lists a split's index files in the order they are written.
var splitSets = []string{"retain", "forget", "validation", "test"}

type splitFile struct {
	Format string `json:"format"`
	*Split
	Counts map[string]int    `json:"counts"`
	Files  map[string]string `json:"files"`  // set name -> file name in the split folder
	SHA256 map[string]string `json:"sha256"` // set name -> hash of its file
}

func (s *Split) set(name string) *[]int {
	switch name {
	case "retain":
		return &s.Retain
	case "forget":
		return &s.Forget
	case "validation":
		return &s.Validation
	default:
		return &s.Test
	}
}

// Save writes the split into dir: retain.npy, forget.npy, validation.npy and
// test.npy (int64 indices, see Split for what they index) and split.json,
// which records the data set, its fingerprint, the seed and strategy, the
// counts and each file's SHA-256. Each file is written atomically, split.json
// last.
func (s *Split) Save(dir string) error {
	if err := s.verify(); err != nil {
		return fmt.Errorf("saving split: %w", err)
	}
	sf := splitFile{Format: SplitFormat, Split: s, Counts: map[string]int{}, Files: map[string]string{}, SHA256: map[string]string{}}
	for _, name := range splitSets {
		idx := *s.set(name)
		data := make([]int64, len(idx))
		for i, v := range idx {
			data[i] = int64(v)
		}
		var buf bytes.Buffer
		if err := arrays.Encode(&buf, arrays.Tensor[int64]{Shape: []int{len(data)}, Data: data}); err != nil {
			return fmt.Errorf("encoding %s indices: %w", name, err)
		}
		file := name + ".npy"
		if err := atomicfile.WriteBytes(filepath.Join(dir, file), buf.Bytes()); err != nil {
			return err
		}
		sum := sha256.Sum256(buf.Bytes())
		sf.Counts[name] = len(idx)
		sf.Files[name] = file
		sf.SHA256[name] = hex.EncodeToString(sum[:])
	}
	js, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", SplitJSON, err)
	}
	return atomicfile.WriteBytes(filepath.Join(dir, SplitJSON), append(js, '\n'))
}

// LoadSplit reads a split saved by Save and checks it: the format version,
// each file's hash and count, and the invariants of Split.
func LoadSplit(dir string) (*Split, error) {
	p := filepath.Join(dir, SplitJSON)
	js, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, usererr.Errorf("%s: no saved split here (make one with `unlearnbench split`)", p)
		}
		return nil, usererr.Wrap(fmt.Errorf("reading split: %w", err))
	}
	sf := splitFile{Split: &Split{}}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sf); err != nil {
		return nil, usererr.Errorf("%s: %v", p, err)
	}
	if sf.Format != SplitFormat {
		return nil, usererr.Errorf("%s: format %q; want %q", p, sf.Format, SplitFormat)
	}
	s := sf.Split
	for _, name := range splitSets {
		file, ok := sf.Files[name]
		if !ok || file != filepath.Base(file) {
			return nil, usererr.Errorf("%s: files.%s is %q; want a file name in the split folder", p, name, file)
		}
		fp := filepath.Join(dir, file)
		data, err := os.ReadFile(fp)
		if err != nil {
			return nil, usererr.Wrap(fmt.Errorf("reading split: %w", err))
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != sf.SHA256[name] {
			return nil, usererr.Errorf("%s: SHA-256 %s does not match sha256.%s %q in %s (a file from another split?)", fp, got, name, sf.SHA256[name], p)
		}
		a, err := arrays.Decode(bytes.NewReader(data), int64(len(data)), fp)
		if err != nil {
			return nil, err
		}
		if len(a.Shape) != 1 {
			return nil, usererr.Errorf("%s: shape %s; want a 1-D array of indices", fp, a.ShapeString())
		}
		vals, err := a.Ints()
		if err != nil {
			return nil, err
		}
		if len(vals) != sf.Counts[name] {
			return nil, usererr.Errorf("%s: %d indices; counts.%s in %s says %d", fp, len(vals), name, p, sf.Counts[name])
		}
		idx := make([]int, len(vals))
		for i, v := range vals {
			idx[i] = int(v)
		}
		*s.set(name) = idx
	}
	if err := s.verify(); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return s, nil
}
