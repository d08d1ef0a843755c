package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"unlearnbench/internal/atomicfile"
	"unlearnbench/internal/usererr"
	"unlearnbench/scoring"
)

// The schema this version of unlearnbench reads and writes. A change that
// renames, removes or re-means a field increments SchemaVersion.
const (
	SchemaName    = "unlearnbench.result"
	SchemaVersion = 1
)

// Result is one run's results: what produced them and, per method, the
// score with its per-example breakdown.
type Result struct {
	Schema  string `json:"schema"`
	Version int    `json:"version"`
	// Command is the unlearnbench command that wrote the result.
	Command string `json:"command"`
	// Inputs names the files the result was computed from.
	Inputs   map[string]string `json:"inputs,omitempty"`
	Methods  []Method          `json:"methods"`
	Warnings []string          `json:"warnings,omitempty"`
}

// Method is one unlearning method's results: its population against the
// retrained one.
type Method struct {
	Name string `json:"name"`
	// N models per population, E forget examples.
	N int `json:"n"`
	E int `json:"e"`
	// Score is the competition's score.
	Score Score `json:"score"`
	// Utility holds the accuracies; nil when they were not given.
	Utility *scoring.Utility `json:"utility,omitempty"`
	// Examples has one entry per forget example, in index order.
	Examples []scoring.Example `json:"examples"`
	// Attacks holds the membership-inference attacks run besides the
	// competition's decision rules.
	Attacks []AttackResult `json:"attacks,omitempty"`
	// Distributions keeps a few examples' confidences for plots.
	Distributions []Distribution `json:"distributions,omitempty"`
	Warnings      []string       `json:"warnings,omitempty"`
}

// Score summarises the competition's score of one method.
type Score struct {
	// F is the forgetting quality, Final the utility-adjusted score (nil
	// without accuracies).
	F          float64         `json:"f"`
	Final      *float64        `json:"final,omitempty"`
	MaxEpsilon float64         `json:"max_epsilon"`
	Buckets    []BucketSummary `json:"buckets"`
	// NoBucket counts examples whose epsilon reached past the last bucket.
	NoBucket int `json:"no_bucket"`
}

// BucketSummary is one bucket and how many examples fell in it.
type BucketSummary struct {
	scoring.Bucket
	Count int `json:"count"`
}

// NewMethod packages a score for the result file.
func NewMethod(name string, res *scoring.Result) Method {
	m := Method{
		Name: name, N: res.N, E: res.E,
		Score: Score{
			F: res.F, Final: res.Final, MaxEpsilon: res.MaxEpsilon, NoBucket: res.NoBucket,
		},
		Utility:  res.Utility,
		Examples: res.Examples,
		Warnings: res.Warnings,
	}
	for k, b := range res.Buckets {
		m.Score.Buckets = append(m.Score.Buckets, BucketSummary{Bucket: b, Count: res.BucketCounts[k]})
	}
	return m
}

// New starts a result of the current schema.
func New(command string) *Result {
	return &Result{Schema: SchemaName, Version: SchemaVersion, Command: command}
}

// Encode writes r as indented JSON.
func (r *Result) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Write saves r to path atomically: a reader never sees half a file.
func (r *Result) Write(path string) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return atomicfile.Write(path, r.Encode)
}

// Read loads a result file, refusing other schemas and versions.
func Read(path string) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("reading %s: %w", path, err))
	}
	return Decode(path, data)
}

// Decode parses a result; name is used in errors.
func Decode(name string, data []byte) (*Result, error) {
	var head struct {
		Schema  string `json:"schema"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, usererr.Errorf("%s: not a result file: %v", name, jsonErr(data, err))
	}
	if head.Schema != SchemaName {
		return nil, usererr.Errorf("%s: field \"schema\" is %q; want %q", name, head.Schema, SchemaName)
	}
	if head.Version != SchemaVersion {
		return nil, usererr.Errorf("%s: field \"version\" is %d; this unlearnbench reads version %d", name, head.Version, SchemaVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Result
	if err := dec.Decode(&r); err != nil {
		return nil, usererr.Errorf("%s: %v", name, jsonErr(data, err))
	}
	if err := r.validate(); err != nil {
		return nil, usererr.Errorf("%s: %v", name, err)
	}
	return &r, nil
}

// jsonErr adds the line of a syntax or type error.
func jsonErr(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	return fmt.Errorf("line %d: %w", line, err)
}

// validate checks what the schema cannot: counts that must agree.
func (r *Result) validate() error {
	if len(r.Methods) == 0 {
		return errors.New("field \"methods\" is empty")
	}
	for i, m := range r.Methods {
		if m.Name == "" {
			return fmt.Errorf("methods[%d]: field \"name\" is empty", i)
		}
		if len(m.Examples) != m.E {
			return fmt.Errorf("method %q: %d examples listed, field \"e\" says %d", m.Name, len(m.Examples), m.E)
		}
		total := m.Score.NoBucket
		for _, b := range m.Score.Buckets {
			total += b.Count
		}
		if total != m.E {
			return fmt.Errorf("method %q: bucket counts add up to %d, field \"e\" says %d", m.Name, total, m.E)
		}
	}
	return nil
}
