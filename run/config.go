package run

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"unlearnbench/attack/suite"
	"unlearnbench/datasets"
	"unlearnbench/internal/usererr"
	"unlearnbench/internal/yamlcheck"
	"unlearnbench/nn"
	"unlearnbench/population"
	"unlearnbench/unlearners"
)

// A run's configuration file. Every field has a default (see Defaults);
// the resolved config, defaults written out and each method's parameters
// resolved, is what the run directory keeps.

// DefaultYAML is the config `unlearnbench run` uses without -c, the one
// `make demo` runs.
//
//go:embed default.yaml
var DefaultYAML []byte

// DefaultName is the name Load gives the embedded default in messages.
const DefaultName = "(default)"

// Config is a run's configuration, as its YAML file spells it.
type Config struct {
	// File is where the config was read from (DefaultName for the
	// embedded one), for messages; it is not part of the config.
	File string `yaml:"-"`
	// Name names the run directory: <runs>/<name>.
	Name string `yaml:"name"`
	// Seed seeds every member's seed (with the population's name and the
	// member's index).
	Seed  uint64      `yaml:"seed"`
	Cache string      `yaml:"cache"`
	Runs  string      `yaml:"runs"`
	Data  DataConfig  `yaml:"data"`
	Split SplitConfig `yaml:"split"`
	// Model is the zoo architecture of the original; Original an ONNX file
	// imported instead of training one (with Normalize for its input).
	Model     string         `yaml:"model"`
	Original  string         `yaml:"original"`
	Normalize string         `yaml:"normalize"`
	Recipe    nn.TrainConfig `yaml:"recipe"`
	// N is the number of members of every population.
	N          int            `yaml:"n"`
	KeepModels bool           `yaml:"keep_models"`
	Reference  MethodConfig   `yaml:"reference"`
	Methods    []MethodConfig `yaml:"methods"`
	Attacks    AttacksConfig  `yaml:"attacks"`
	Runtime    RuntimeConfig  `yaml:"runtime"`

	// methods are the reference and the methods, built by Resolve.
	methods []*resolvedMethod
}

// DataConfig names the data set and how to read it.
type DataConfig struct {
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

// SplitConfig is the split of the data: its seed, test and validation
// parts and the forget set.
type SplitConfig struct {
	Seed       uint64       `yaml:"seed"`
	Test       string       `yaml:"test"`
	Validation string       `yaml:"validation"`
	Forget     ForgetConfig `yaml:"forget"`
}

// ForgetConfig chooses the forget set: exactly one strategy is given.
type ForgetConfig struct {
	Random       string   `yaml:"random"`
	Stratified   bool     `yaml:"stratified"`
	Classes      []string `yaml:"classes"`
	Groups       []string `yaml:"groups"`
	RandomGroups int      `yaml:"random_groups"`
	Indices      string   `yaml:"indices"`
}

// MethodConfig is one population's method: a registered unlearners
// method by name, with its parameters (resolved: every default written).
type MethodConfig struct {
	Name   string         `yaml:"name"`
	Method string         `yaml:"method"`
	Params map[string]any `yaml:"params"`
}

// AttacksConfig sets the attack suite run besides the competition's
// score (Enabled false: the score only).
type AttacksConfig struct {
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

// RuntimeConfig is where the members run.
type RuntimeConfig struct {
	Device string `yaml:"device"`
	// Workers is how many members run at once (0: one per core on a CPU,
	// one on a GPU).
	Workers int    `yaml:"workers"`
	OrtLib  string `yaml:"ort_lib"`
}

// Defaults holds every default; a config file is decoded onto it.
func Defaults() Config {
	return Config{
		Name: "run", Cache: "cache", Runs: "runs",
		Data:  DataConfig{Dataset: "fashion-mnist", ImageSize: "32x32", Channels: 3, LabelColumn: "label"},
		Split: SplitConfig{Validation: "0", Forget: ForgetConfig{Random: "0.1"}},
		Model: nn.ArchMLP,
		Recipe: nn.TrainConfig{Epochs: 10, BatchSize: 128,
			Optimizer: nn.OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4},
			Schedule:  nn.Schedule{Name: "cosine", Gamma: 0.1}},
		N:         32,
		Reference: MethodConfig{Name: "reference", Method: "retrain"},
		Attacks: AttacksConfig{Enabled: true, Folds: 5, Classifiers: slices.Clone(suite.DefaultPerExample), Pooled: slices.Clone(suite.DefaultPooled),
			KnnK: 5, Trees: 20, PooledMaxTrain: 4000, MIASplits: 10},
		Runtime: RuntimeConfig{Device: "cpu"},
	}
}

// Parse reads a config (name for messages): unknown fields (named
// with the closest known one) and values of the wrong type are refused
// with the line, before anything else is looked at.
func Parse(name string, b []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, usererr.Errorf("config %s: %v", name, err)
	}
	cfg := Defaults()
	cfg.File = name
	if len(root.Content) == 0 {
		return &cfg, nil
	}
	if err := yamlcheck.CheckNode(name, root.Content[0], reflect.TypeOf(cfg), ""); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// Lists, and the forget set's strategy, replace the defaults rather
	// than merge into them.
	cfg.Attacks.Classifiers, cfg.Attacks.Pooled = nil, nil
	if mentions(&root, "split", "forget") {
		cfg.Split.Forget = ForgetConfig{}
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
	def := Defaults()
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
	MethodConfig
	spec *unlearners.PopulationSpec
}

// Resolve checks what can be checked without data and builds the methods,
// resolving their parameters (so that the written config has every
// default). Execute resolves the config it is given; resolving twice
// changes nothing.
func (c *Config) Resolve() error {
	m, err := c.resolve()
	if err != nil {
		return err
	}
	c.methods = m
	return nil
}

func (c *Config) resolve() ([]*resolvedMethod, error) {
	bad := func(format string, args ...any) error {
		return usererr.Errorf("config %s: "+format, append([]any{c.File}, args...)...)
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
	all := append([]MethodConfig{c.Reference}, c.Methods...)
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
		out = append(out, &resolvedMethod{MethodConfig: m, spec: &unlearners.PopulationSpec{Name: m.Name, Method: m.Method, Params: p, Unlearner: u}})
	}
	c.Reference, c.Methods = all[0], all[1:]
	return out, nil
}

// forgetConfig turns the split's forget section into the split package's.
func (f ForgetConfig) config(file string) (datasets.ForgetConfig, error) {
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

// YAML is the resolved config as YAML, every default written out.
func (c *Config) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// Digest identifies the resolved config, for shards: shards of one
// population started with different configs are refused. Settings that
// change neither members nor which shard computes which (where the cache
// is mounted on each machine, the run's name and directory, workers, the
// library's path, the attacks that only the scoring run does) are left
// out, so that shards on differently set-up machines agree.
func (c *Config) Digest() (string, error) {
	d := *c
	d.Name, d.Cache, d.Runs, d.methods = "", "", "", nil
	d.Runtime.Workers, d.Runtime.OrtLib = 0, ""
	d.Attacks = AttacksConfig{}
	b, err := d.YAML()
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// JSON is the resolved config as JSON, for the result file.
func (c *Config) JSON() (json.RawMessage, error) {
	var v any
	b, err := c.YAML()
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// Load reads the config file, or the embedded default when file is "".
func Load(file string) (*Config, error) {
	if file == "" {
		return Parse(DefaultName, DefaultYAML)
	}
	b, err := yamlcheck.ReadFile("config", file)
	if err != nil {
		return nil, err
	}
	return Parse(file, b)
}

// cache is the config's cache tree.
func (c *Config) cache() population.Cache { return population.Cache{Root: c.Cache} }
