package run

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"unlearnbench/internal/usererr"
	"unlearnbench/population"
)

// TestRunHelperProcess is not a test: the shard and kill tests start the
// test binary as separate processes through it, each running one config
// (and shard), as separate unlearnbench processes on other machines would.
func TestRunHelperProcess(t *testing.T) {
	args := os.Getenv("UNLEARNBENCH_RUN_HELPER")
	if args == "" {
		t.Skip("only a helper process")
	}
	file, shardArg, _ := strings.Cut(args, "\x1f")
	shard, err := ParseShard(shardArg, os.Getenv)
	if err == nil {
		var cfg *Config
		if cfg, err = Load(file); err == nil {
			_, err = Execute(context.Background(), cfg, Options{Shard: shard, Out: os.Stdout})
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helperCmd(file, shard string) *exec.Cmd {
	c := exec.Command(os.Args[0], "-test.run=^TestRunHelperProcess$")
	c.Dir = "run" // TestMain changes to the parent directory, the repository root
	c.Env = append(os.Environ(), "UNLEARNBENCH_RUN_HELPER="+file+"\x1f"+shard)
	return c
}

// Two shards run as separate processes into one cache, then the scoring
// run, give what one unsharded run gives: bit-identical members and the
// same result once the measured wall times are left out (they are
// measurements, and the time column and the competition's cut-off need
// them, so the result keeps them).
func TestRunShardsMergeToUnsharded(t *testing.T) {
	sharded := testConfig(t, "")
	var procs []*exec.Cmd
	var outs []*bytes.Buffer
	for k := range 2 {
		c := helperCmd(sharded, []string{"0/2", "1/2"}[k])
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
	o, out, _ := mustExecute(t, sharded, Options{})
	if o.Timing.Computed != 0 {
		t.Fatalf("scoring after the shards computed %d members:\n%s", o.Timing.Computed, out)
	}
	single := testConfig(t, "")
	mustExecute(t, single, Options{})
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
	// A shard of another config is refused while the population is being
	// computed by other shards (once complete, another config may take
	// over): grow N, run one shard, then another config's shard.
	// (runs/t holds the run of n: 4, which a run of another n may
	// replace: the same experiment with more models.)
	grown := strings.Replace(readFile(t, sharded), "n: 4", "n: 8", 1)
	os.WriteFile(sharded, []byte(grown), 0o644)
	mustExecute(t, sharded, Options{Shard: ShardSpec{0, 2}})
	os.WriteFile(sharded, []byte(strings.Replace(grown, "n: 8", "n: 10", 1)), 0o644)
	if _, _, _, err := execute(t, sharded, Options{Shard: ShardSpec{1, 2}, Replace: true}); !usererr.Is(err) || !strings.Contains(err.Error(), "another config") || strings.Contains(err.Error(), "runs/t") {
		t.Fatalf("a shard of another config: %v", err)
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

// kill -9 in the middle of a population loses only the members in flight:
// every member file left is complete, and the rerun computes only the rest.
func TestRunKilledLosesOnlyMembersInFlight(t *testing.T) {
	cfg := testConfig(t, "")
	os.WriteFile(cfg, []byte(strings.Replace(readFile(t, cfg), "n: 4", "n: 12", 1)), 0o644)
	c := helperCmd(cfg, "")
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
	o, out, warn := mustExecute(t, cfg, Options{})
	if warn != "" {
		t.Fatalf("rerun after kill -9 warned:\n%s%s", out, warn)
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
	if had+complete != len(files) || o.Timing.Computed != 36-len(files) {
		t.Fatalf("%d complete members survived the kill, the rerun found %d and computed %d:\n%s", len(files), had+complete, o.Timing.Computed, out)
	}
}

func TestParseShard(t *testing.T) {
	env := map[string]string{"JOB_COMPLETION_INDEX": "3", "SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "8"}
	get := func(k string) string { return env[k] }
	for _, c := range []struct {
		in   string
		want ShardSpec
		err  string
	}{
		{"", ShardSpec{}, ""},
		{"1/4", ShardSpec{1, 4}, ""},
		{"k8s/4", ShardSpec{3, 4}, ""},
		{"slurm", ShardSpec{4, 8}, ""},
		{"4/4", ShardSpec{}, "outside 0..3"},
		{"2/2", ShardSpec{}, "outside 0..1"},
		{"k8s/3", ShardSpec{}, "outside 0..2"},
		{"-1/2", ShardSpec{}, "outside"},
		{"a/b", ShardSpec{}, "want K/M"},
	} {
		got, err := ParseShard(c.in, get)
		if c.err != "" {
			if !usererr.Is(err) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want a user error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	delete(env, "JOB_COMPLETION_INDEX")
	if _, err := ParseShard("k8s/4", get); err == nil || !strings.Contains(err.Error(), "JOB_COMPLETION_INDEX") {
		t.Errorf("k8s without the index: %v", err)
	}
	for i, want := range []bool{false, true, false, true} {
		if got := (ShardSpec{1, 2}).Has(i); got != want {
			t.Errorf("shard 1/2 has member %d: %v", i, got)
		}
	}
}
