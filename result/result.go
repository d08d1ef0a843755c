package result

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"unlearnbench/attack"
	"unlearnbench/internal/atomicfile"
	"unlearnbench/internal/usererr"
	"unlearnbench/scoring"
)

// The schema this version of unlearnbench reads and writes. A change that
// renames, removes or re-means a field increments SchemaVersion; one that
// only adds fields increments SchemaMinor, and files of every earlier minor
// version of the same SchemaVersion still read (they lack the new fields).
// Minor 1 added the KLoM and ToW rows' fields (an attack's undefined,
// median, p95, ci_low and ci_high); minor 2 added F's bootstrap interval
// (score.f_interval) and the neighbours it does not separate
// (score.unseparated); minor 3 added the methods a run could not score
// because members failed (incomplete); files without "minor" are minor 0.
const (
	SchemaName    = "unlearnbench.result"
	SchemaVersion = 1
	SchemaMinor   = 3
)

// Result is one run's results: what produced them and, per method, the
// score with its per-example breakdown.
type Result struct {
	Schema  string `json:"schema"`
	Version int    `json:"version"`
	// Minor is the schema's minor version (0 when absent).
	Minor int `json:"minor,omitempty"`
	// Command is the unlearnbench command that wrote the result.
	Command string `json:"command"`
	// Inputs names the files the result was computed from.
	Inputs map[string]string `json:"inputs,omitempty"`
	// Config is the resolved configuration of the run that produced the
	// result, every default written out, as a JSON object; reports show it
	// as it is.
	Config json.RawMessage `json:"config,omitempty"`
	// Data summarises the data split, where the command knows it.
	Data *DataSplit `json:"data,omitempty"`
	// Seconds is the wall time of the whole run, when it was measured.
	Seconds *float64 `json:"seconds,omitempty"`
	Methods []Method `json:"methods"`
	// Incomplete are the methods a run could not score because some of
	// their members failed (schema 1.3): they are not in Methods.
	Incomplete []Incomplete `json:"incomplete,omitempty"`
	Warnings   []string     `json:"warnings,omitempty"`
}

// DataSplit summarises the data a run used; every field is optional.
type DataSplit struct {
	Dataset string `json:"dataset,omitempty"`
	Classes int    `json:"classes,omitempty"`
	// Sizes of the splits, in examples.
	Train      int `json:"train,omitempty"`
	Retain     int `json:"retain,omitempty"`
	Forget     int `json:"forget,omitempty"`
	Validation int `json:"validation,omitempty"`
	Test       int `json:"test,omitempty"`
	// ForgetSelection says how the forget set was chosen, in words.
	ForgetSelection string `json:"forget_selection,omitempty"`
	// ForgetDigest identifies the forget set, so that compare can refuse
	// two results of different forget sets: "ids-sha256:HEX" over the
	// examples' dataset indices where the run knows them, otherwise
	// "labels-sha256:HEX" over the forget set's labels (which tells
	// different sets apart only when their labels differ).
	ForgetDigest string `json:"forget_digest,omitempty"`
}

// Population is one population of models behind a method's score, with
// per-model values where they are known (each slice has N entries or none).
type Population struct {
	// Role is "unlearned" or "retrained".
	Role string `json:"role"`
	N    int    `json:"n"`
	// Seeds are the models' seeds, Seconds the wall time each model took
	// to produce (unlearning or retraining).
	Seeds   []uint64  `json:"seeds,omitempty"`
	Seconds []float64 `json:"seconds,omitempty"`
	// Accuracies of each model on the retain, test and forget sets.
	RetainAcc []float64 `json:"retain_acc,omitempty"`
	TestAcc   []float64 `json:"test_acc,omitempty"`
	ForgetAcc []float64 `json:"forget_acc,omitempty"`
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
	// Populations describes the unlearned and the retrained population,
	// with per-model accuracies, seeds and times where known.
	Populations []Population `json:"populations,omitempty"`
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
	// Interval is F's bootstrap interval over models (scoring.BootstrapF;
	// schema 1.2); nil when it was not computed. It is F's at this N and
	// need not hold F itself (see BootstrapF).
	Interval *scoring.Interval `json:"f_interval,omitempty"`
	// Unseparated names this method's neighbours in the ranking
	// (MarkUnseparated) whose intervals overlap its own: at this N the data
	// do not say which of them is better (schema 1.2).
	Unseparated []string `json:"unseparated,omitempty"`
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
	return &Result{Schema: SchemaName, Version: SchemaVersion, Minor: SchemaMinor, Command: command}
}

// NewFrom starts a result of the current schema that command computed
// from inputs (what each input file was, e.g. "config" or
// "unlearned-conf", to its path) on the data split data (nil where the
// command does not know it), holding methods. Every command that writes a
// result builds it with this one call; run adds its config and wall time
// and appends its methods as it scores them.
func NewFrom(command string, inputs map[string]string, data *DataSplit, methods ...Method) *Result {
	r := New(command)
	r.Inputs, r.Data, r.Methods = inputs, data, methods
	return r
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
	if err := r.checkConsistency(); err != nil {
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
		Minor   int    `json:"minor"`
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
	if head.Minor < 0 || head.Minor > SchemaMinor {
		return nil, usererr.Errorf("%s: field \"minor\" is %d; this unlearnbench reads version %d.0 to %d.%d (a newer unlearnbench wrote it)", name, head.Minor, SchemaVersion, SchemaVersion, SchemaMinor)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Result
	if err := dec.Decode(&r); err != nil {
		return nil, usererr.Errorf("%s: %v", name, jsonErr(data, err))
	}
	if err := requireExampleFields(data); err != nil {
		return nil, usererr.Errorf("%s: %v", name, err)
	}
	if err := r.validate(); err != nil {
		return nil, usererr.Errorf("%s: %v", name, err)
	}
	if err := r.checkConsistency(); err != nil {
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

// Validate checks what the schema cannot: counts that must agree, values
// in range, the score agreeing with its examples. Renderers call it on a
// result built in memory; Decode and Write run it and, besides, check the
// score against the competition's rules (consistency.go).
func (r *Result) Validate() error { return r.validate() }

// validate checks what the schema cannot: counts that must agree, values
// in range, and the score agreeing with its examples, so that a hand-edited
// file is caught with the field that is wrong.
func (r *Result) validate() error {
	if len(r.Methods) == 0 {
		return errors.New("field \"methods\" is empty: the result holds no method")
	}
	seen := map[string]bool{}
	for i, m := range r.Methods {
		if m.Name == "" {
			return fmt.Errorf("methods[%d]: field \"name\" is empty", i)
		}
		if seen[m.Name] {
			return fmt.Errorf("methods[%d]: method %q is listed twice", i, m.Name)
		}
		seen[m.Name] = true
		if err := m.validate(); err != nil {
			return fmt.Errorf("method %q: %w", m.Name, err)
		}
	}
	for _, m := range r.Methods {
		for _, name := range m.Score.Unseparated {
			if !seen[name] || name == m.Name {
				return fmt.Errorf("method %q: field \"score.unseparated\" names %q, which is not another method of the result", m.Name, name)
			}
		}
	}
	if err := r.checkIncomplete(seen); err != nil {
		return err
	}
	if r.Seconds != nil && !(*r.Seconds >= 0) {
		return fmt.Errorf("field \"seconds\" is %v; want 0 or more", *r.Seconds)
	}
	return nil
}

func (m *Method) validate() error {
	if m.N < 3 {
		return fmt.Errorf("field \"n\" is %d; a score needs at least 3 models per population", m.N)
	}
	if len(m.Examples) != m.E {
		return fmt.Errorf("%d examples listed, field \"e\" says %d", len(m.Examples), m.E)
	}
	if m.E == 0 {
		return errors.New("field \"e\" is 0: no forget examples")
	}
	total := m.Score.NoBucket
	for _, b := range m.Score.Buckets {
		total += b.Count
	}
	if total != m.E {
		return fmt.Errorf("bucket counts add up to %d, field \"e\" says %d", total, m.E)
	}
	sum := 0.0
	for k, ex := range m.Examples {
		if ex.Index != k {
			return fmt.Errorf("examples[%d]: field \"index\" is %d; examples must be listed in index order", k, ex.Index)
		}
		if !(ex.Epsilon >= 0) {
			return fmt.Errorf("examples[%d]: field \"epsilon\" is %v; want 0 or more", k, ex.Epsilon)
		}
		if ex.Rule != nil && ex.Rule.Family == attack.FamilyDoubleThreshold && ex.Rule.Upper == nil {
			return fmt.Errorf("examples[%d]: a double-threshold rule without field \"upper\"", k)
		}
		if ex.Bucket < -1 || ex.Bucket >= len(m.Score.Buckets) {
			return fmt.Errorf("examples[%d]: field \"bucket\" is %d; the score has %d buckets", k, ex.Bucket, len(m.Score.Buckets))
		}
		sum += ex.Points
	}
	// F is the mean of the points; a hand-edited F or points disagree.
	if f := sum / float64(m.E); math.Abs(f-m.Score.F) > 1e-9*max(1, math.Abs(f)) {
		return fmt.Errorf("field \"score.f\" is %v but the examples' points average %v", m.Score.F, f)
	}
	if err := m.Score.validateInterval(); err != nil {
		return err
	}
	roles := map[string]bool{}
	for i, p := range m.Populations {
		if err := p.validate(); err != nil {
			return fmt.Errorf("populations[%d]: %w", i, err)
		}
		if roles[p.Role] {
			return fmt.Errorf("populations[%d]: role %q is listed twice", i, p.Role)
		}
		roles[p.Role] = true
	}
	for i, d := range m.Distributions {
		if d.Example < 0 || d.Example >= m.E {
			return fmt.Errorf("distributions[%d]: field \"example\" is %d; want 0 to %d", i, d.Example, m.E-1)
		}
		if len(d.Unlearned) == 0 || len(d.Retrained) == 0 {
			return fmt.Errorf("distributions[%d]: example %d: a population's values are missing", i, d.Example)
		}
	}
	for i, a := range m.Attacks {
		if a.Name == "" {
			return fmt.Errorf("attacks[%d]: field \"name\" is empty", i)
		}
		if len(a.Epsilons) != 0 && len(a.Epsilons) != m.E {
			return fmt.Errorf("attack %q: %d epsilons for %d forget examples", a.Name, len(a.Epsilons), m.E)
		}
		for j, p := range a.ROC {
			if !(p.FPR >= 0 && p.FPR <= 1 && p.TPR >= 0 && p.TPR <= 1) {
				return fmt.Errorf("attack %q: roc[%d] is (%v, %v); rates lie in [0, 1]", a.Name, j, p.FPR, p.TPR)
			}
		}
		if err := a.validateMetric(m); err != nil {
			return fmt.Errorf("attack %q: %w", a.Name, err)
		}
	}
	return nil
}

// validateMetric checks the fields of the KLoM and ToW rows: KLoM values
// are divergences (0 or more), ToW values products of fractions (in
// [0, 1]), undefined examples exist, the interval holds the value, and a
// forget set's KLoM has one value per forget example.
func (a *AttackResult) validateMetric(m *Method) error {
	for j, i := range a.Undefined {
		if i < 0 || i >= len(a.PerExample) {
			return fmt.Errorf("undefined[%d] is %d; per_example has %d values", j, i, len(a.PerExample))
		}
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"median", a.Median}, {"p95", a.P95}, {"ci_low", a.CILow}, {"ci_high", a.CIHigh}, {"value", a.Value}, {"spread", a.Spread}} {
		if f.v != nil && (math.IsNaN(*f.v) || math.IsInf(*f.v, 0)) {
			return fmt.Errorf("field %q is %v", f.name, *f.v)
		}
	}
	if (a.CILow == nil) != (a.CIHigh == nil) {
		return errors.New("fields \"ci_low\" and \"ci_high\" come together")
	}
	if a.CILow != nil && (a.Value == nil || !(*a.CILow <= *a.Value && *a.Value <= *a.CIHigh)) {
		return fmt.Errorf("the interval [ci_low, ci_high] = [%v, %v] does not hold field \"value\"", *a.CILow, *a.CIHigh)
	}
	switch a.Kind {
	case KindKLoM:
		if a.Name == "klom/forget" && len(a.PerExample) != 0 && len(a.PerExample) != m.E {
			return fmt.Errorf("%d per-example values for %d forget examples", len(a.PerExample), m.E)
		}
		for j, v := range a.PerExample {
			if !(v >= 0) || math.IsInf(v, 0) {
				return fmt.Errorf("per_example[%d] is %v; a KL divergence is 0 or more", j, v)
			}
		}
		for _, f := range []struct {
			name string
			v    *float64
		}{{"value", a.Value}, {"median", a.Median}, {"p95", a.P95}} {
			if f.v != nil && !(*f.v >= 0) {
				return fmt.Errorf("field %q is %v; a KL divergence is 0 or more", f.name, *f.v)
			}
		}
	case KindToW:
		if len(a.PerModel) != 0 && len(a.PerModel) != m.N {
			return fmt.Errorf("%d per-model values for N = %d model pairs", len(a.PerModel), m.N)
		}
		for j, v := range a.PerModel {
			if !(v >= 0 && v <= 1) {
				return fmt.Errorf("per_model[%d] is %v; ToW lies in [0, 1]", j, v)
			}
		}
		if a.Value != nil && !(*a.Value >= 0 && *a.Value <= 1) {
			return fmt.Errorf("field \"value\" is %v; ToW lies in [0, 1]", *a.Value)
		}
	}
	return nil
}

func (p *Population) validate() error {
	if p.Role != scoring.Unlearned && p.Role != scoring.Retrained {
		return fmt.Errorf("field \"role\" is %q; want %q or %q", p.Role, scoring.Unlearned, scoring.Retrained)
	}
	if p.N < 1 {
		return fmt.Errorf("%s: field \"n\" is %d", p.Role, p.N)
	}
	check := func(field string, v []float64, lo, hi float64) error {
		if len(v) != 0 && len(v) != p.N {
			return fmt.Errorf("%s: field %q has %d values for n = %d models", p.Role, field, len(v), p.N)
		}
		for i, x := range v {
			if !(x >= lo && x <= hi) {
				return fmt.Errorf("%s: %s[%d] is %v; want a value in [%g, %g]", p.Role, field, i, x, lo, hi)
			}
		}
		return nil
	}
	if len(p.Seeds) != 0 && len(p.Seeds) != p.N {
		return fmt.Errorf("%s: field \"seeds\" has %d values for n = %d models", p.Role, len(p.Seeds), p.N)
	}
	for _, c := range []struct {
		field  string
		v      []float64
		lo, hi float64
	}{{"seconds", p.Seconds, 0, math.Inf(1)}, {"retain_acc", p.RetainAcc, 0, 1}, {"test_acc", p.TestAcc, 0, 1}, {"forget_acc", p.ForgetAcc, 0, 1}} {
		if err := check(c.field, c.v, c.lo, c.hi); err != nil {
			return err
		}
	}
	return nil
}
