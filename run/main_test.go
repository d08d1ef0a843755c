package run

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/nn"
	"unlearnbench/unlearners"
)

// The tests read configs/ and find third_party/ by paths relative to the
// repository root, where users run unlearnbench.
func TestMain(m *testing.M) {
	if err := os.Chdir(".."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// Two small, real methods for the run tests, registered in the test
// binary only, so that these tests do not depend on which methods the
// unlearners package ships: test-copy returns the original unchanged
// (what noop does), test-scratch trains the original's architecture from
// scratch on the retain set with the recipe (what retrain does).
func init() {
	unlearners.Register(&unlearners.Spec{Name: "test-copy", Summary: "test: the original, copied",
		Build: func(unlearners.Params) (unlearners.Unlearner, error) { return copyMethod{}, nil }})
	unlearners.Register(&unlearners.Spec{Name: "test-scratch", Summary: "test: trained from scratch on the retain set",
		Params: []unlearners.Param{{Key: "epochs", Default: 0, Meaning: "0: the recipe's"}},
		Build: func(p unlearners.Params) (unlearners.Unlearner, error) {
			return scratchMethod{epochs: p.Int("epochs")}, nil
		}})
}

type copyMethod struct{}

func (copyMethod) Unlearn(_ context.Context, in *unlearners.Inputs) (*nn.Model, error) {
	return in.Original.Clone(), nil
}

type scratchMethod struct{ epochs int }

func (s scratchMethod) Unlearn(ctx context.Context, in *unlearners.Inputs) (*nn.Model, error) {
	m := in.Original.Clone()
	z, err := nn.New(nn.ArchMLP, m.Shape, m.Classes, in.Seed)
	if err != nil {
		return nil, err
	}
	if err := m.CopyWeightsFrom(z); err != nil {
		return nil, err
	}
	cfg := in.Recipe
	cfg.Seed = in.Seed
	if s.epochs > 0 {
		cfg.Epochs = s.epochs
	}
	src, err := nn.DataBatches(m, in.Retain, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := nn.Train(in.Runtime, m, src, nil, cfg, nn.Options{}); err != nil {
		return nil, err
	}
	return m, ctx.Err()
}

// testConfig writes a run small enough for a test: 600 Fashion-MNIST
// training images, an MLP, N = 4, in a temporary directory with its own
// cache and runs; extra is appended to the YAML.
func testConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := `name: t
cache: ` + filepath.Join(dir, "cache") + `
runs: ` + filepath.Join(dir, "runs") + `
data: {train_examples: 600, test_examples: 200}
split: {forget: {random: "40"}}
recipe: {epochs: 2, batch_size: 64}
n: 4
reference: {method: test-scratch}
methods:
  - method: test-copy
  - {name: scratch, method: test-scratch}
attacks: {classifiers: [logreg], pooled: [logreg], folds: 2, mia_splits: 2}
` + extra
	p := filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// execute loads the config file and runs it with opt, returning the
// outcome, the status lines and the warnings.
func execute(t *testing.T, file string, opt Options) (*Outcome, string, string, error) {
	t.Helper()
	var out, warn bytes.Buffer
	cfg, err := Load(file)
	if err != nil {
		return nil, "", "", err
	}
	opt.Out = &out
	opt.Warn = func(s string) { fmt.Fprintln(&warn, s) }
	o, err := Execute(context.Background(), cfg, opt)
	return o, out.String(), warn.String(), err
}

// mustExecute is execute of a run that must succeed.
func mustExecute(t *testing.T, file string, opt Options) (*Outcome, string, string) {
	t.Helper()
	o, out, warn, err := execute(t, file, opt)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, warn)
	}
	return o, out, warn
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// setLine replaces the config's line starting with key+":" by line.
func setLine(t *testing.T, file, key, line string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(readFile(t, file), "\n") {
		if !strings.HasPrefix(l, key+":") {
			lines = append(lines, l)
		}
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+line), 0o644); err != nil {
		t.Fatal(err)
	}
}
