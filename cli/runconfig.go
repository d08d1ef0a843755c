package cli

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"unlearnbench/attack/suite"
	"unlearnbench/datasets"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/unlearners"
)

// The run command's configuration file. Every field has a default (see
// defaultRunConfig); the resolved config, defaults written out and each
// method's parameters resolved, is what the run directory keeps.

// DefaultConfig is the config `unlearnbench run` uses without -c, the one
// `make demo` runs.
//
//go:embed default.yaml
var DefaultConfig []byte

type runConfig struct {
	// Name names the run directory: <runs>/<name>.
	Name string `yaml:"name"`
	// Seed seeds every member's seed (with the population's name and the
	// member's index).
	Seed  uint64         `yaml:"seed"`
	Cache string         `yaml:"cache"`
	Runs  string         `yaml:"runs"`
	Data  runDataConfig  `yaml:"data"`
	Split runSplitConfig `yaml:"split"`
	// Model is the zoo architecture of the original; Original an ONNX file
	// imported instead of training one (with Normalize for its input).
	Model     string         `yaml:"model"`
	Original  string         `yaml:"original"`
	Normalize string         `yaml:"normalize"`
	Recipe    nn.TrainConfig `yaml:"recipe"`
	// N is the number of members of every population.
	N          int         `yaml:"n"`
	KeepModels bool        `yaml:"keep_models"`
	Reference  runMethod   `yaml:"reference"`
	Methods    []runMethod `yaml:"methods"`
	Attacks    runAttacks  `yaml:"attacks"`
	Runtime    runRuntime  `yaml:"runtime"`
}

type runDataConfig struct {
	Dataset     string `yaml:"dataset"`
	Path        string `yaml:"path"`
	ImageSize   string `yaml:"image_size"`
	Channels    int    `yaml:"channels"`
	Mapping     string `yaml:"mapping"`
	LabelColumn string `yaml:"label_column"`
	GroupColumn string `yaml:"group_column"`
	Groups      string `yaml:"groups"`
	// TrainExamples and TestExamples keep only the first examples of each
	// part (0: all), for runs that fit a small machine.
	TrainExamples int `yaml:"train_examples"`
	TestExamples  int `yaml:"test_examples"`
}

type runSplitConfig struct {
	Seed       uint64          `yaml:"seed"`
	Test       string          `yaml:"test"`
	Validation string          `yaml:"validation"`
	Forget     runForgetConfig `yaml:"forget"`
}

type runForgetConfig struct {
	Random       string   `yaml:"random"`
	Stratified   bool     `yaml:"stratified"`
	Classes      []string `yaml:"classes"`
	Groups       []string `yaml:"groups"`
	RandomGroups int      `yaml:"random_groups"`
	Indices      string   `yaml:"indices"`
}

type runMethod struct {
	Name   string         `yaml:"name"`
	Method string         `yaml:"method"`
	Params map[string]any `yaml:"params"`
}

type runAttacks struct {
	Enabled        bool     `yaml:"enabled"`
	Seed           uint64   `yaml:"seed"`
	Folds          int      `yaml:"folds"`
	Classifiers    []string `yaml:"classifiers"`
	Pooled         []string `yaml:"pooled"`
	Features       []string `yaml:"features"`
	KnnK           int      `yaml:"knn_k"`
	Trees          int      `yaml:"trees"`
	PooledMaxTrain int      `yaml:"pooled_max_train"`
	MIASplits      int      `yaml:"mia_splits"`
}

type runRuntime struct {
	Device string `yaml:"device"`
	// Workers is how many members run at once (0: one per core on a CPU,
	// one on a GPU).
	Workers int    `yaml:"workers"`
	OrtLib  string `yaml:"ort_lib"`
}

// defaultRunConfig holds every default; a config file is decoded onto it.
func defaultRunConfig() runConfig {
	return runConfig{
		Name: "run", Cache: "cache", Runs: "runs",
		Data:  runDataConfig{Dataset: "fashion-mnist", ImageSize: "32x32", Channels: 3, LabelColumn: "label"},
		Split: runSplitConfig{Validation: "0", Forget: runForgetConfig{Random: "0.1"}},
		Model: nn.ArchMLP,
		Recipe: nn.TrainConfig{Epochs: 10, BatchSize: 128,
			Optimizer: nn.OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4},
			Schedule:  nn.Schedule{Name: "cosine", Gamma: 0.1}},
		N:         32,
		Reference: runMethod{Name: "reference", Method: "retrain"},
		Attacks: runAttacks{Enabled: true, Folds: 5, Classifiers: slices.Clone(suite.DefaultPerExample), Pooled: slices.Clone(suite.DefaultPooled),
			KnnK: 5, Trees: 20, PooledMaxTrain: 4000, MIASplits: 10},
		Runtime: runRuntime{Device: "cpu"},
	}
}

// parseRunConfig reads a config (name for messages): unknown fields (named
// with the closest known one) and values of the wrong type are refused
// with the line, before anything else is looked at.
func parseRunConfig(name string, b []byte) (*runConfig, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, usererr.Errorf("config %s: %v", name, err)
	}
	cfg := defaultRunConfig()
	if len(root.Content) == 0 {
		return &cfg, nil
	}
	if err := checkConfigNode(name, root.Content[0], reflect.TypeOf(cfg), ""); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// Lists, and the forget set's strategy, replace the defaults rather
	// than merge into them.
	cfg.Attacks.Classifiers, cfg.Attacks.Pooled = nil, nil
	if mentions(&root, "split", "forget") {
		cfg.Split.Forget = runForgetConfig{}
	}
	if err := dec.Decode(&cfg); err != nil {
		return nil, usererr.Errorf("config %s: %v", name, strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "))
	}
	// An empty list means none, as an absent one does (the resolved
	// config writes absent lists as []; read back, it must be the same run).
	if len(cfg.Recipe.Loss.ClassWeights) == 0 {
		cfg.Recipe.Loss.ClassWeights = nil
	}
	if len(cfg.Attacks.Features) == 0 {
		cfg.Attacks.Features = nil
	}
	def := defaultRunConfig()
	if !mentions(&root, "attacks", "classifiers") {
		cfg.Attacks.Classifiers = def.Attacks.Classifiers
	}
	if !mentions(&root, "attacks", "pooled") {
		cfg.Attacks.Pooled = def.Attacks.Pooled
	}
	return &cfg, nil
}

// mentions reports whether the document sets the nested key path.
func mentions(root *yaml.Node, path ...string) bool {
	n := root.Content[0]
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return false
		}
		n = next
	}
	return true
}

// resolvedMethod is one population of the run with its method built.
type resolvedMethod struct {
	runMethod
	spec *unlearners.PopulationSpec
}

// resolve checks what can be checked without data and builds the methods,
// resolving their parameters (so the written config has every default).
func (c *runConfig) resolve(file string) ([]*resolvedMethod, error) {
	bad := func(format string, args ...any) error {
		return usererr.Errorf("config %s: "+format, append([]any{file}, args...)...)
	}
	switch {
	case c.N < 3:
		return nil, bad("n: %d; the score needs at least 3 models per population", c.N)
	case c.Name == "" || strings.ContainsAny(c.Name, `/\`) || c.Name == "." || c.Name == "..":
		return nil, bad("name %q: want a plain directory name", c.Name)
	case c.Cache == "" || c.Runs == "":
		return nil, bad("cache and runs must name directories")
	case c.Runtime.Workers < 0:
		return nil, bad("runtime.workers: %d; want 0 (automatic) or more", c.Runtime.Workers)
	case len(c.Methods) == 0:
		return nil, bad("methods: none given; list at least one, e.g. - method: finetune")
	case c.Original == "" && !slices.Contains(nn.Archs, c.Model):
		return nil, bad("model %q: want one of %s (or original: FILE.onnx)", c.Model, strings.Join(nn.Archs, ", "))
	}
	if c.Data.TrainExamples < 0 || c.Data.TestExamples < 0 {
		return nil, bad("data.train_examples and data.test_examples: want 0 (all) or more")
	}
	if c.Original != "" {
		c.Model = ""
	}
	all := append([]runMethod{c.Reference}, c.Methods...)
	var out []*resolvedMethod
	seen := map[string]int{}
	for i, m := range all {
		field := fmt.Sprintf("methods[%d]", i-1)
		if i == 0 {
			field = "reference"
			m.Name = "reference"
		}
		if m.Method == "" {
			return nil, bad("%s: no method given (one of %s)", field, strings.Join(unlearners.Names(), ", "))
		}
		if m.Name == "" {
			m.Name = m.Method
		}
		if j, dup := seen[m.Name]; dup {
			what := fmt.Sprintf("methods[%d]", j-1)
			if j == 0 {
				what = "the reference"
			}
			return nil, bad("%s: the name %q is also %s's; give one of them another name: (name: %s-2)", field, m.Name, what, m.Name)
		}
		seen[m.Name] = i
		u, p, err := unlearners.New(m.Method, m.Params)
		if err != nil {
			return nil, bad("%s: %v", field, err)
		}
		m.Params = p
		all[i] = m
		out = append(out, &resolvedMethod{runMethod: m, spec: &unlearners.PopulationSpec{Name: m.Name, Method: m.Method, Params: p, Unlearner: u}})
	}
	c.Reference, c.Methods = all[0], all[1:]
	return out, nil
}

// forgetConfig turns the split's forget section into the split package's.
func (f runForgetConfig) config(file string) (datasets.ForgetConfig, error) {
	var given []string
	if f.Random != "" {
		given = append(given, "random")
	}
	if len(f.Classes) > 0 {
		given = append(given, "classes")
	}
	if len(f.Groups) > 0 {
		given = append(given, "groups")
	}
	if f.RandomGroups > 0 {
		given = append(given, "random_groups")
	}
	if f.Indices != "" {
		given = append(given, "indices")
	}
	if len(given) != 1 {
		return datasets.ForgetConfig{}, usererr.Errorf("config %s: split.forget: give exactly one of random, classes, groups, random_groups, indices (got %d: %s)", file, len(given), strings.Join(given, ", "))
	}
	if f.Stratified && given[0] != "random" {
		return datasets.ForgetConfig{}, usererr.Errorf("config %s: split.forget.stratified applies only to random", file)
	}
	switch given[0] {
	case "random":
		a, err := datasets.ParseAmount(f.Random)
		if err != nil {
			return datasets.ForgetConfig{}, usererr.Errorf("config %s: split.forget.random: %v", file, err)
		}
		return datasets.ForgetConfig{Strategy: datasets.ForgetRandom, Amount: a, Stratified: f.Stratified}, nil
	case "classes":
		return datasets.ForgetConfig{Strategy: datasets.ForgetClasses, Classes: f.Classes}, nil
	case "groups":
		return datasets.ForgetConfig{Strategy: datasets.ForgetGroups, Groups: f.Groups}, nil
	case "random_groups":
		return datasets.ForgetConfig{Strategy: datasets.ForgetGroups, RandomGroups: f.RandomGroups}, nil
	}
	return datasets.ForgetConfig{Strategy: datasets.ForgetIndices, IndexFile: f.Indices}, nil
}

// yamlText is the resolved config as YAML, every default written out.
func (c *runConfig) yamlText() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// digest identifies the resolved config, for shards: shards of one
// population started with different configs are refused. Settings that
// change neither members nor which shard computes which (where the cache
// is mounted on each machine, the run's name and directory, workers, the
// library's path, the attacks that only the scoring run does) are left
// out, so that shards on differently set-up machines agree.
func (c *runConfig) digest() (string, error) {
	d := *c
	d.Name, d.Cache, d.Runs = "", "", ""
	d.Runtime.Workers, d.Runtime.OrtLib = 0, ""
	d.Attacks = runAttacks{}
	b, err := d.yamlText()
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// jsonValue is the resolved config as JSON, for the result file.
func (c *runConfig) jsonValue() (json.RawMessage, error) {
	var v any
	b, err := c.yamlText()
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// readRunConfig reads -c FILE, or the embedded default when file is "".
func readRunConfig(file string) (*runConfig, string, error) {
	if file == "" {
		cfg, err := parseRunConfig("(default)", DefaultConfig)
		return cfg, "(default)", err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, file, usererr.Wrap(fmt.Errorf("reading config: %w", err))
	}
	cfg, err := parseRunConfig(file, b)
	return cfg, file, err
}
