package training

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"

	"unlearnbench/datasets"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
)

// IsImport reports whether model names an ONNX file to fine-tune rather
// than a zoo architecture.
func IsImport(model string) bool { return strings.HasSuffix(strings.ToLower(model), ".onnx") }

// Import reads the ONNX classifier at path to fine-tune it on ds: the model
// and the file's SHA-256 in hex, which the run's settings record (a resume
// with another file of the same name is refused).
func Import(path string, ds *datasets.Dataset) (*nn.Model, string, error) {
	m, err := nn.Import(path)
	if err != nil {
		return nil, "", err
	}
	digest, err := fileDigest(path)
	if err != nil {
		return nil, "", err
	}
	if m.Classes != ds.Classes {
		return nil, "", usererr.Errorf("model %s has %d classes, %s has %d", path, m.Classes, ds.Name, ds.Classes)
	}
	return m, digest, nil
}

// Zoo builds the zoo architecture arch for the examples idx of ds,
// He-initialised from seed, with their per-channel mean and deviation
// prepended as the model's input normalisation: the model file then takes
// the data as read.
func Zoo(arch string, ds *datasets.Dataset, idx []int, seed uint64) (*nn.Model, error) {
	m, err := nn.New(arch, []int64{int64(ds.C), int64(ds.H), int64(ds.W)}, ds.Classes, seed)
	if err != nil {
		return nil, err
	}
	st := datasets.ChannelStats(ds, idx)
	if err := m.PrependNormalization(st.Mean, st.Std); err != nil {
		return nil, err
	}
	return m, nil
}

// Load copies the examples idx of ds, normalised by norm (nil: as read),
// into an nn.Data.
func Load(ds *datasets.Dataset, idx []int, norm *datasets.Normalization) (*nn.Data, error) {
	x, y, err := datasets.Gather(ds, idx, norm)
	if err != nil {
		return nil, err
	}
	return &nn.Data{Shape: []int64{int64(ds.C), int64(ds.H), int64(ds.W)}, X: x, Y: y}, nil
}

// fileDigest is the SHA-256 of a file, in hex.
func fileDigest(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usererr.Wrap(fmt.Errorf("reading %s: %w", path, err))
	}
	return fmt.Sprintf("%x", sha256.Sum256(b)), nil
}
