package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"unlearnbench/nn"
	"unlearnbench/population"
	"unlearnbench/unlearners"
)

// Two small, real methods for the run command's tests, registered in the
// test binary only, so that these tests do not depend on which methods
// the unlearners package ships: test-copy returns the original unchanged
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

// testRunConfig is a run small enough for a test: 600 Fashion-MNIST
// training images, an MLP, N = 4.
func testRunConfig(t *testing.T, extra string) string {
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

func runSplitOut(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// tableOf is the ranked table and the reference line of run's output.
func tableOf(out string) string {
	i := strings.Index(out, "| rank")
	j := strings.Index(out, "\nwrote ")
	if i < 0 || j < i {
		return ""
	}
	return out[strings.LastIndex(out[:i], "\n")+1 : j]
}

func TestRunSmallAndCachedRerun(t *testing.T) {
	cfg := testRunConfig(t, "")
	out, errs, code := runSplitOut(t, "run", "-c", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	t.Log(out)
	table := tableOf(out)
	if table == "" || !strings.Contains(table, "test-copy") || !strings.Contains(table, "scratch") {
		t.Fatalf("no table of both methods in:\n%s", out)
	}
	if !strings.Contains(out, "computing 4") {
		t.Fatalf("first run computed nothing:\n%s", out)
	}
	out2, errs2, code := runSplitOut(t, "run", "-c", cfg)
	if code != 0 {
		t.Fatalf("rerun: exit %d: %s%s", code, out2, errs2)
	}
	if strings.Contains(out2, "computing") || strings.Contains(out2, "training the original") || !strings.Contains(out2, "original: cached") || !strings.Contains(out2, "scoring and attacks of 0 methods") {
		t.Fatalf("rerun recomputed something:\n%s", out2)
	}
	if tableOf(out2) != table {
		t.Fatalf("rerun's table differs:\n%s\nvs\n%s", tableOf(out2), table)
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
	out5, errs5, code := runSplitOut(t, "run", "-c", cfg)
	if code != 0 || !strings.Contains(errs5, "warning: population") || !strings.Contains(errs5, "recomputing that member") ||
		!strings.Contains(out5, "3 of 4 cached, computing 1") || strings.Contains(out5, "scoring and attacks of 0 methods") {
		t.Fatalf("after truncating a member: exit %d:\n%s%s", code, out5, errs5)
	}
	// A population directory of another layout is refused, exit 2.
	mf := filepath.Join(filepath.Dir(members[0]), "manifest.json")
	mb, _ := os.ReadFile(mf)
	os.WriteFile(mf, bytes.Replace(mb, []byte(`"layout": 1`), []byte(`"layout": 99`), 1), 0o644)
	if _, errs, code := runSplitOut(t, "run", "-c", cfg); code != 2 || !strings.Contains(errs, "layout") {
		t.Fatalf("another layout: exit %d, %s", code, errs)
	}
	os.WriteFile(mf, mb, 0o644)
	// The run directory has the resolved config, every default written.
	dir := filepath.Join(filepath.Dir(cfg), "runs", "t")
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"weight_decay: 0.0005", "epochs: 0", "knn_k: 5", "workers: 0"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("resolved config lacks %q:\n%s", want, b)
		}
	}
	for _, f := range []string{"result.json", "report.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	// The run directory's config is the same run: served from the cache.
	out6, errs6, code := runSplitOut(t, "run", "-c", filepath.Join(dir, "config.yaml"))
	if code != 0 || strings.Contains(out6, "computing") || strings.Contains(out6, "training the original") || tableOf(out6) != tableOf(out5) {
		t.Fatalf("rerun from the resolved config: exit %d:\n%s%s", code, out6, errs6)
	}
	// Growing N computes only the new members.
	cfg6 := strings.Replace(readFile(t, cfg), "n: 4", "n: 6", 1)
	if err := os.WriteFile(cfg, []byte(cfg6), 0o644); err != nil {
		t.Fatal(err)
	}
	out3, errs3, code := runSplitOut(t, "run", "-c", cfg, "--dry-run")
	if code != 0 || !regexp.MustCompile(`reference +\| test-scratch +\| +4/6 \| +2 \|`).MatchString(out3) || strings.Contains(out3, "| rank") {
		t.Fatalf("dry run after growing N: exit %d:\n%s%s", code, out3, errs3)
	}
	out4, errs4, code := runSplitOut(t, "run", "-c", cfg)
	if code != 0 || strings.Count(out4, "4 of 6 cached, computing 2") != 3 {
		t.Fatalf("growing N from 4 to 6: exit %d:\n%s%s", code, out4, errs4)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunHelperProcess is not a test: the shard test starts the test
// binary as separate unlearnbench processes through it.
func TestRunHelperProcess(t *testing.T) {
	args := os.Getenv("UNLEARNBENCH_HELPER_ARGS")
	if args == "" {
		t.Skip("only a helper process")
	}
	os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
}

func helperCmd(args ...string) *exec.Cmd {
	c := exec.Command(os.Args[0], "-test.run=^TestRunHelperProcess$")
	c.Dir = "cli" // TestMain changes to the parent directory, the repository root
	c.Env = append(os.Environ(), "UNLEARNBENCH_HELPER_ARGS="+strings.Join(args, "\x1f"))
	return c
}

// Two shards run as separate processes into one cache, then the scoring
// run, give what one unsharded run gives: bit-identical members and the
// same result file once the measured wall times are left out (they are
// measurements, and the time column and the competition's cut-off need
// them, so the result keeps them).
func TestRunShardsMergeToUnsharded(t *testing.T) {
	sharded := testRunConfig(t, "")
	var procs []*exec.Cmd
	var outs []*bytes.Buffer
	for k := range 2 {
		c := helperCmd("run", "-c", sharded, "--shard", []string{"0/2", "1/2"}[k])
		var b bytes.Buffer
		c.Stdout, c.Stderr = &b, &b
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		procs, outs = append(procs, c), append(outs, &b)
	}
	for k, c := range procs {
		if err := c.Wait(); err != nil {
			t.Fatalf("shard %d: %v\n%s", k, err, outs[k])
		}
		if !strings.Contains(outs[k].String(), "computed 6 members") {
			t.Fatalf("shard %d did not compute its slice (2 of 4 members of 3 populations):\n%s", k, outs[k])
		}
	}
	out, errs, code := runSplitOut(t, "run", "-c", sharded)
	if code != 0 || strings.Contains(out, "computing") {
		t.Fatalf("scoring after the shards: exit %d, or it computed members:\n%s%s", code, out, errs)
	}
	single := testRunConfig(t, "")
	if out, errs, code := runSplitOut(t, "run", "-c", single); code != 0 {
		t.Fatalf("unsharded: exit %d:\n%s%s", code, out, errs)
	}
	// Every member file's logits, bit for bit.
	a, b := filepath.Join(filepath.Dir(sharded), "cache", "populations"), filepath.Join(filepath.Dir(single), "cache", "populations")
	files, _ := filepath.Glob(filepath.Join(a, "*", "member-*.npz"))
	if len(files) != 12 {
		t.Fatalf("%d member files after the shards; want 3 populations x 4", len(files))
	}
	for _, f := range files {
		rel, _ := filepath.Rel(a, f)
		ma, err := readMemberLogits(f)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := readMemberLogits(filepath.Join(b, rel))
		if err != nil {
			t.Fatalf("the unsharded run has no %s: %v", rel, err)
		}
		if !slices.Equal(ma, mb) {
			t.Fatalf("%s: logits differ between sharded and unsharded runs", rel)
		}
	}
	ra := withoutSeconds(t, filepath.Join(filepath.Dir(sharded), "runs", "t", "result.json"))
	rb := withoutSeconds(t, filepath.Join(filepath.Dir(single), "runs", "t", "result.json"))
	// The config's cache and runs paths differ between the two runs.
	ra = strings.ReplaceAll(ra, filepath.Dir(sharded), "DIR")
	rb = strings.ReplaceAll(rb, filepath.Dir(single), "DIR")
	if len(ra) < 1000 || !strings.Contains(ra, `"retain_acc"`) {
		t.Fatalf("result too small to compare: %.200s", ra)
	}
	if ra != rb {
		t.Fatal("the sharded run's result differs from the unsharded one's beyond wall times")
	}
	// A third shard of another config is refused while the population is
	// being computed by other shards... once complete, it may take over;
	// so grow N, start one shard, then another config's shard.
	grown := strings.Replace(readFile(t, sharded), "n: 4", "n: 8", 1)
	os.WriteFile(sharded, []byte(grown), 0o644)
	if out, errs, code := runSplitOut(t, "run", "-c", sharded, "--shard", "0/2"); code != 0 {
		t.Fatalf("shard 0/2 of n 8: exit %d\n%s%s", code, out, errs)
	}
	other := strings.Replace(grown, "n: 8", "n: 10", 1)
	os.WriteFile(sharded, []byte(other), 0o644)
	_, errs, code = runSplitOut(t, "run", "-c", sharded, "--shard", "1/2")
	if code != 2 || !strings.Contains(errs, "another config") {
		t.Fatalf("a shard of another config: exit %d, %s", code, errs)
	}
	_, errs, code = runSplitOut(t, "run", "-c", sharded, "--shard", "2/2")
	if code != 2 || !strings.Contains(errs, "outside 0..1") {
		t.Fatalf("shard index out of range: exit %d, %s", code, errs)
	}
}

func readMemberLogits(p string) ([]float32, error) {
	m, err := population.ReadMember(p)
	if err != nil {
		return nil, err
	}
	return slices.Concat(m.Forget, m.Retain, m.Test), nil
}

// withoutSeconds reads a result file with every "seconds" field removed.
func withoutSeconds(t *testing.T, p string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(readFile(t, p)), &v); err != nil {
		t.Fatal(err)
	}
	var strip func(any)
	strip = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			delete(x, "seconds")
			for _, e := range x {
				strip(e)
			}
		case []any:
			for _, e := range x {
				strip(e)
			}
		}
	}
	strip(v)
	b, _ := json.Marshal(v)
	return string(b)
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
	}
	for _, c := range cases {
		cfg := testRunConfig(t, "")
		text := readFile(t, cfg)
		// Later keys of the same name would be a YAML error; replace the
		// line the case overrides instead.
		key := strings.SplitN(c.extra, ":", 2)[0]
		var lines []string
		for _, l := range strings.Split(text, "\n") {
			if !strings.HasPrefix(l, key+":") {
				lines = append(lines, l)
			}
		}
		os.WriteFile(cfg, []byte(strings.Join(lines, "\n")+c.extra), 0o644)
		out, errs, code := runSplitOut(t, "run", "-c", cfg)
		t.Logf("%q: %s", c.extra, errs)
		if code != 2 || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line with %q\n%s", c.extra, code, errs, c.want, out)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "runs", "t", "result.json")); err == nil {
			t.Errorf("%q: a result was written", c.extra)
		}
	}
	cfg := testRunConfig(t, "")
	text := strings.Replace(readFile(t, cfg), "  - {name: scratch, method: test-scratch}", "  - {name: test-copy, method: test-scratch}", 1)
	os.WriteFile(cfg, []byte(text), 0o644)
	if _, errs, code := runSplitOut(t, "run", "-c", cfg); code != 2 || !strings.Contains(errs, `name "test-copy" is also methods[0]'s`) {
		t.Errorf("a method twice under one name: exit %d, %s", code, errs)
	}
}

// kill -9 in the middle of a population loses only the members in flight:
// every member file left is complete, and the rerun computes only the rest.
func TestRunKilledLosesOnlyMembersInFlight(t *testing.T) {
	cfg := testRunConfig(t, "")
	text := strings.Replace(readFile(t, cfg), "n: 4", "n: 12", 1)
	os.WriteFile(cfg, []byte(text), 0o644)
	c := helperCmd("run", "-c", cfg)
	var b bytes.Buffer
	c.Stdout, c.Stderr = &b, &b
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pops := filepath.Join(filepath.Dir(cfg), "cache", "populations")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		files, _ := filepath.Glob(filepath.Join(pops, "*", "member-*.npz"))
		if len(files) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			c.Process.Kill()
			t.Fatalf("no members after 2 minutes:\n%s", &b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	files, _ := filepath.Glob(filepath.Join(pops, "*", "member-*.npz"))
	for _, f := range files {
		if _, err := population.ReadMember(f); err != nil {
			t.Fatalf("after kill -9: %v", err)
		}
	}
	out, errs, code := runSplitOut(t, "run", "-c", cfg)
	if code != 0 || strings.Contains(errs, "warning") {
		t.Fatalf("rerun after kill -9: exit %d:\n%s%s", code, out, errs)
	}
	// Populations complete before the kill print no line; the others say
	// how many members they found.
	had := 0
	re := regexp.MustCompile(`(?m)^population .*: (\d+) of 12 cached, computing (\d+)`)
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		k, _ := strconv.Atoi(m[2])
		if n+k != 12 {
			t.Fatalf("a population had %d and computed %d of 12:\n%s", n, k, out)
		}
		had += n
	}
	complete := 12 * (3 - len(re.FindAllString(out, -1)))
	if had+complete != len(files) {
		t.Fatalf("%d complete members survived the kill, the rerun found %d:\n%s", len(files), had+complete, out)
	}
}

func TestParseShard(t *testing.T) {
	env := map[string]string{"JOB_COMPLETION_INDEX": "3", "SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "8"}
	get := func(k string) string { return env[k] }
	for _, c := range []struct {
		in   string
		want shardSpec
		err  string
	}{
		{"", shardSpec{}, ""},
		{"1/4", shardSpec{1, 4}, ""},
		{"k8s/4", shardSpec{3, 4}, ""},
		{"slurm", shardSpec{4, 8}, ""},
		{"4/4", shardSpec{}, "outside 0..3"},
		{"k8s/3", shardSpec{}, "outside 0..2"},
		{"-1/2", shardSpec{}, "outside"},
		{"a/b", shardSpec{}, "want K/M"},
	} {
		got, err := parseShard(c.in, get)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	delete(env, "JOB_COMPLETION_INDEX")
	if _, err := parseShard("k8s/4", get); err == nil || !strings.Contains(err.Error(), "JOB_COMPLETION_INDEX") {
		t.Errorf("k8s without the index: %v", err)
	}
}
