package run

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"unlearnbench/attack/suite"
	"unlearnbench/datasets"
	"unlearnbench/internal/usererr"
	"unlearnbench/internal/yamlcheck"
	"unlearnbench/nn"
	"unlearnbench/population"
	"unlearnbench/training"
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

	// Scoring sets the strict stop and F's interval (interval.go); a
	// zero section (Digest's) is left out of the YAML.
	Scoring ScoringConfig `yaml:"scoring,omitempty"`

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
	// PixelScale is "" (pixels read as value/255, and a trained original
	// normalises its input by the training set's channel statistics) or
	// "raw": pixels as the floats 0 to 255 with no normalisation at all,
	// as the NeurIPS 2023 competition's surf.py feeds its images. Left
	// out of the written config when "", so older configs keep their
	// digest.
	PixelScale string `yaml:"pixel_scale,omitempty"`
}

// SplitConfig is the split of the data: its seed, test and validation
// parts and the forget set.
type SplitConfig struct {
	Seed       uint64       `yaml:"seed"`
	Test       string       `yaml:"test"`
	Validation string       `yaml:"validation"`
	Forget     ForgetConfig `yaml:"forget"`
	// PythonShuffle, when set, cuts test, validation and training set
	// from Python's random.Random(python_shuffle).shuffle of the data in
	// its order, as the competition's surf.py does
	// (datasets.SplitConfig.PythonShuffle).
	PythonShuffle *uint64 `yaml:"python_shuffle,omitempty"`
}

// ForgetConfig chooses the forget set: exactly one strategy is given.
type ForgetConfig struct {
	Random       string   `yaml:"random"`
	Stratified   bool     `yaml:"stratified"`
	Classes      []string `yaml:"classes"`
	Groups       []string `yaml:"groups"`
	RandomGroups int      `yaml:"random_groups"`
	Indices      string   `yaml:"indices"`
	// FirstGroups forgets the groups with the smallest ids, the first
	// split of scikit-learn's LeavePGroupsOut (the competition's 15 people).
	FirstGroups int `yaml:"first_groups,omitempty"`
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
		Scoring: defaultScoring(),
	}
}

// Parse reads a config (name for messages): unknown fields (named
// with the closest known one) and values of the wrong type are refused
// with the line, before anything else is looked at. sets are --set
// overrides (key.path=value), applied over the file and checked as its
// keys are; File then says they were given.
func Parse(name string, b []byte, sets ...string) (*Config, error) {
	if err := yamlcheck.OneDocument(name, b); err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, usererr.Errorf("config %s: %v", name, yamlcheck.OneLine(strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	cfg := Defaults()
	cfg.File = name
	if len(root.Content) > 0 {
		if err := yamlcheck.CheckNode(name, root.Content[0], reflect.TypeOf(cfg), ""); err != nil {
			return nil, err
		}
	}
	for _, kv := range sets {
		if err := yamlcheck.Set(&root, reflect.TypeOf(cfg), kv); err != nil {
			return nil, err
		}
	}
	if len(sets) > 0 {
		// Later errors name a field the file may not hold.
		shown := make([]string, len(sets))
		for i, kv := range sets {
			shown[i] = yamlcheck.Shown(kv)
		}
		cfg.File = fmt.Sprintf("%s (with --set %s)", name, strings.Join(shown, " --set "))
	}
	if len(root.Content) == 0 {
		return &cfg, nil
	}
	// Lists, and the forget set's strategy, replace the defaults rather
	// than merge into them.
	cfg.Attacks.Classifiers, cfg.Attacks.Pooled = nil, nil
	if mentions(&root, "split", "forget") {
		cfg.Split.Forget = ForgetConfig{}
	}
	if err := root.Content[0].Decode(&cfg); err != nil {
		return nil, usererr.Errorf("config %s: %v", name, yamlcheck.OneLine(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:")))
	}
	// An imported original has its own architecture: a model: beside it
	// was dropped without a word. The resolved config writes model: ""
	// with original:, which is no contradiction.
	if cfg.Original != "" && cfg.Model != "" && mentions(&root, "model") {
		return nil, usererr.Errorf("config %s: original: %s and model: %s both given; an imported original has its own architecture: remove model: (or --set model=)", cfg.File, cfg.Original, cfg.Model)
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
	case CheckName(c.Name) != nil:
		return nil, bad("name %q: %v", c.Name, CheckName(c.Name))
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
	if err := c.Scoring.check(c.File, c.N); err != nil {
		return nil, err
	}
	if err := training.CheckRecipe(c.Recipe); err != nil {
		return nil, bad("recipe.%v", err)
	}
	// The attack settings are checked with attack's own Check, before any
	// member is computed (they were refused only when scoring began).
	n := 0
	if c.Attacks.Enabled {
		n = c.N
	}
	if err := c.Attacks.settings().Check(n); err != nil {
		var se *suite.SettingError
		if errors.As(err, &se) {
			return nil, bad("%s", se.Named("attacks."+se.Key))
		}
		return nil, bad("attacks: %v", err)
	}
	if err := c.checkCompetitionFields(); err != nil {
		return nil, err
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
		// A name labels tables, reports and a cache directory: a control
		// character would garble every one of them.
		if hasControl(m.Name) || strings.TrimSpace(m.Name) == "" {
			return nil, bad("%s: name %q: want a printable name", field, m.Name)
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

// CheckName refuses a run name that is not a plain directory name.
func CheckName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." || hasControl(name) {
		return errors.New("want a plain directory name")
	}
	return nil
}

// hasControl reports whether s holds a control character (a newline, an
// escape sequence).
func hasControl(s string) bool { return strings.ContainsFunc(s, unicode.IsControl) }

// settings are the attack suite's settings of the config.
func (a AttacksConfig) settings() suite.Settings {
	return suite.Settings{Folds: a.Folds, Seed: a.Seed, PerExample: a.Classifiers, Pooled: a.Pooled, Features: a.Features,
		KnnK: a.KnnK, Trees: a.Trees, PooledMaxTrain: a.PooledMaxTrain, MIASplits: a.MIASplits}
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
	if f.FirstGroups > 0 {
		given = append(given, "first_groups")
	}
	if f.Indices != "" {
		given = append(given, "indices")
	}
	if len(given) != 1 {
		return datasets.ForgetConfig{}, usererr.Errorf("config %s: split.forget: give exactly one of random, classes, groups, random_groups, first_groups, indices (got %d: %s)", file, len(given), strings.Join(given, ", "))
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
	case "first_groups":
		return datasets.ForgetConfig{Strategy: datasets.ForgetGroups, FirstGroups: f.FirstGroups}, nil
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
// out, so that shards on differently set-up machines agree. The scoring
// section is left out the same way (and with it out of the YAML, the
// digests of configs written before it existed).
func (c *Config) Digest() (string, error) {
	d := *c
	d.Name, d.Cache, d.Runs, d.methods = "", "", "", nil
	d.Runtime.Workers, d.Runtime.OrtLib = 0, ""
	d.Attacks = AttacksConfig{}
	d.Scoring = ScoringConfig{}
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

// Load reads the config file, or the embedded default when file is "",
// with the --set overrides sets.
func Load(file string, sets ...string) (*Config, error) {
	if file == "" {
		return Parse(DefaultName, DefaultYAML, sets...)
	}
	b, err := yamlcheck.ReadFile("config", file)
	if err != nil {
		return nil, err
	}
	return Parse(file, b, sets...)
}

// cache is the config's cache tree.
func (c *Config) cache() population.Cache { return population.Cache{Root: c.Cache} }
