package run

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
	"unlearnbench/result"
)

// methodsJSON is a result's methods as the result file has them.
func methodsJSON(t *testing.T, r *result.Result) string {
	t.Helper()
	if r == nil {
		t.Fatal("no result")
	}
	b, err := json.Marshal(r.Methods)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunSmallAndCachedRerun(t *testing.T) {
	cfg := testConfig(t, "")
	o, out, _ := mustExecute(t, cfg, Options{})
	t.Log(out)
	r := o.Result
	if r == nil || len(r.Methods) != 2 || r.Methods[0].Name != "test-copy" || r.Methods[1].Name != "scratch" {
		t.Fatalf("want a result of test-copy and scratch, got %+v", r)
	}
	for _, m := range r.Methods {
		if m.N != 4 || m.Score.Final == nil || len(m.Attacks) == 0 {
			t.Fatalf("%s: N %d, final %v, %d attacks; want 4 members, a final score and attacks", m.Name, m.N, m.Score.Final, len(m.Attacks))
		}
	}
	if o.Timing.Computed != 12 || o.Timing.Scored != 2 || !strings.Contains(out, "training the original") {
		t.Fatalf("first run computed %d members and scored %d methods; want 12 and 2:\n%s", o.Timing.Computed, o.Timing.Scored, out)
	}
	first := methodsJSON(t, r)
	o2, out2, _ := mustExecute(t, cfg, Options{})
	if o2.Timing.Computed != 0 || o2.Timing.Scored != 0 || strings.Contains(out2, "training the original") || !strings.Contains(out2, "original: cached") {
		t.Fatalf("rerun recomputed something (%d members, %d methods):\n%s", o2.Timing.Computed, o2.Timing.Scored, out2)
	}
	if methodsJSON(t, o2.Result) != first {
		t.Fatal("the rerun's methods differ from the first run's")
	}
	// A truncated member is recomputed with a warning, and its method
	// scored again (with the new member's wall time).
	pops := filepath.Join(filepath.Dir(cfg), "cache", "populations")
	members, _ := filepath.Glob(filepath.Join(pops, "*", "member-0002.npz"))
	if len(members) != 3 {
		t.Fatalf("%d member-0002 files; want one per population", len(members))
	}
	b0, _ := os.ReadFile(members[0])
	os.WriteFile(members[0], b0[:len(b0)/3], 0o644)
	o5, out5, warn5 := mustExecute(t, cfg, Options{})
	if !strings.Contains(warn5, "population") || !strings.Contains(warn5, "recomputing that member") ||
		!strings.Contains(out5, "3 of 4 cached, computing 1") || o5.Timing.Computed != 1 || o5.Timing.Scored == 0 {
		t.Fatalf("after truncating a member: computed %d, scored %d:\n%s%s", o5.Timing.Computed, o5.Timing.Scored, out5, warn5)
	}
	// A population directory of another layout is refused, a user error.
	mf := filepath.Join(filepath.Dir(members[0]), "manifest.json")
	mb, _ := os.ReadFile(mf)
	os.WriteFile(mf, bytes.Replace(mb, []byte(`"layout": 1`), []byte(`"layout": 99`), 1), 0o644)
	if _, _, _, err := execute(t, cfg, Options{}); !usererr.Is(err) || !strings.Contains(err.Error(), "layout") {
		t.Fatalf("another layout: %v", err)
	}
	os.WriteFile(mf, mb, 0o644)
	// The run directory has the resolved config, every default written.
	dir := filepath.Join(filepath.Dir(cfg), "runs", "t")
	if o5.Dir != dir {
		t.Fatalf("run directory %s; want %s", o5.Dir, dir)
	}
	b := readFile(t, filepath.Join(dir, "config.yaml"))
	for _, want := range []string{"weight_decay: 0.0005", "epochs: 0", "knn_k: 5", "workers: 0"} {
		if !strings.Contains(b, want) {
			t.Fatalf("resolved config lacks %q:\n%s", want, b)
		}
	}
	written, err := result.Read(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if methodsJSON(t, written) != methodsJSON(t, o5.Result) {
		t.Fatal("result.json differs from the returned result")
	}
	// The run directory's config is the same run: served from the cache.
	o6, out6, _ := mustExecute(t, filepath.Join(dir, "config.yaml"), Options{})
	if o6.Timing.Computed != 0 || o6.Timing.Scored != 0 || strings.Contains(out6, "training the original") || methodsJSON(t, o6.Result) != methodsJSON(t, o5.Result) {
		t.Fatalf("rerun from the resolved config: computed %d, scored %d:\n%s", o6.Timing.Computed, o6.Timing.Scored, out6)
	}
	// Growing N computes only the new members.
	if err := os.WriteFile(cfg, []byte(strings.Replace(readFile(t, cfg), "n: 4", "n: 6", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The run directory holds the run of n: 4: the same experiment, which
	// the run of n: 6 replaces without --replace.
	o3, out3, _ := mustExecute(t, cfg, Options{DryRun: true})
	if o3.Result != nil || o3.Plan == nil || o3.Plan.Original != nil || len(o3.Plan.Populations) != 3 {
		t.Fatalf("dry run after growing N: %+v\n%s", o3, out3)
	}
	if ref := o3.Plan.Populations[0]; ref.Name != "reference" || ref.Method != "test-scratch" || ref.Cached != 4 || ref.N != 6 || ref.Missing != 2 || ref.Bound {
		t.Fatalf("dry run after growing N: reference %+v; want 4/6 cached, 2 to compute, measured", ref)
	}
	o4, out4, _ := mustExecute(t, cfg, Options{})
	if o4.Timing.Computed != 6 || strings.Count(out4, "4 of 6 cached, computing 2") != 3 {
		t.Fatalf("growing N from 4 to 6 computed %d:\n%s", o4.Timing.Computed, out4)
	}
}

func TestRunConfigErrors(t *testing.T) {
	cases := []struct{ extra, want string }{
		{"epochz: 3\n", `unknown field "epochz"; did you mean "recipe.epochs"?`},
		{"original: go.mod\n", "original: ONNX model go.mod"},
		{"recipe: {epoch: 3}\n", `did you mean "recipe.epochs"`},
		{"attacks: {folds: many}\n", "attacks.folds: want an integer"},
		{"keep_models: 3\n", "keep_models: want true or false"},
		{"n: 2\n", "at least 3"},
		{"original: /nonexistent.onnx\n", "original"},
		{"split: {forget: {random: \"700\"}}\n", "split"},
		{"data: {image_size: big}\n", `data.image_size "big": want HxW`},
	}
	for _, c := range cases {
		cfg := testConfig(t, "")
		// Later keys of the same name would be a YAML error; replace the
		// line the case overrides instead.
		setLine(t, cfg, strings.SplitN(c.extra, ":", 2)[0], c.extra)
		_, out, _, err := execute(t, cfg, Options{})
		t.Logf("%q: %v", c.extra, err)
		if !usererr.Is(err) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v; want a one-line user error with %q\n%s", c.extra, err, c.want, out)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "runs", "t", "result.json")); err == nil {
			t.Errorf("%q: a result was written", c.extra)
		}
	}
	cfg := testConfig(t, "")
	text := strings.Replace(readFile(t, cfg), "  - {name: scratch, method: test-scratch}", "  - {name: test-copy, method: test-scratch}", 1)
	os.WriteFile(cfg, []byte(text), 0o644)
	if _, _, _, err := execute(t, cfg, Options{}); !usererr.Is(err) || !strings.Contains(err.Error(), `name "test-copy" is also methods[0]'s`) {
		t.Errorf("a method twice under one name: %v", err)
	}
	if _, _, _, err := execute(t, cfg, Options{DryRun: true, Shard: ShardSpec{0, 2}}); !usererr.Is(err) {
		t.Errorf("a dry run of a shard: %v; want a user error", err)
	}
}

// The embedded default config is a valid run, and Load without a file
// reads it.
func TestDefaultConfigResolves(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != DefaultName {
		t.Errorf("File %q; want %q", cfg.File, DefaultName)
	}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	d1, err := cfg.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// Resolving twice changes nothing.
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	if d2, _ := cfg.Digest(); d2 != d1 {
		t.Error("resolving the config twice changed its digest")
	}
}
