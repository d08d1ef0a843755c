package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"unlearnbench/result"
	"unlearnbench/unlearners"
)

// A run whose exec method fails every member scores the other method,
// marks the failed one in the table, writes its result and labels, and
// exits 4 with one line naming the method.
func TestRunIncompleteExit(t *testing.T) {
	for _, name := range []string{"finetune", "retrain", "exec"} {
		if _, ok := unlearners.Lookup(name); !ok {
			t.Skipf("method %s is not registered in this tree", name)
		}
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "run.yaml")
	text := `name: t
cache: ` + filepath.Join(dir, "cache") + `
runs: ` + filepath.Join(dir, "runs") + `
data: {train_examples: 600, test_examples: 200}
split: {forget: {random: "30"}}
recipe: {epochs: 2}
n: 3
methods:
  - {method: finetune, params: {epochs: 1}}
  - {name: broken, method: exec, params: {command: "sh -c 'echo no GPU here >&2; exit 3'"}}
attacks: {enabled: false}
`
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"run", "-c", cfg}, &out, &errb)
	if code != exitIncomplete {
		t.Fatalf("exit %d; want %d:\n%s%s", code, exitIncomplete, out.String(), errb.String())
	}
	for _, re := range []string{
		`(?m)^failed: population broken, member 0 \(seed \d+\), command "sh -c .*": exit status 3; stderr: no GPU here; the run goes on without it$`,
		`(?m)^\| 1 +\| finetune +\| +\d\.\d{4} \|`,
		`(?m)^\| - +\| broken +\| incomplete: 0/3 members \| +- \|`,
		`(?m)^wrote `,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Fatalf("output lacks %s:\n%s", re, out.String())
		}
	}
	if e := strings.TrimSpace(errb.String()); !strings.HasSuffix(e, "unlearnbench: members failed: broken incomplete: 0/3 members; every member that succeeded is cached: rerun to compute the failed ones") {
		t.Fatalf("stderr:\n%s", e)
	}
	runDir := filepath.Join(dir, "runs", "t")
	res, err := result.Read(filepath.Join(runDir, "result.json"))
	if err != nil || len(res.Incomplete) != 1 || res.Incomplete[0].Name != "broken" || len(res.Methods) != 1 {
		t.Fatalf("result.json: %v %+v", err, res)
	}
	// score re-scores finetune from the cache's member files with the run
	// directory's labels, as docs/commands/run.md shows: the same final
	// score as the run's.
	members := map[string][]string{}
	manifests, _ := filepath.Glob(filepath.Join(dir, "cache", "populations", "*", "manifest.json"))
	for _, m := range manifests {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		name := regexp.MustCompile(`"name": "([^"]+)"`).FindSubmatch(b)
		files, _ := filepath.Glob(filepath.Join(filepath.Dir(m), "member-*.npz"))
		members[string(name[1])] = files
	}
	if len(members["finetune"]) != 3 || len(members["reference"]) != 3 {
		t.Fatalf("cached members: %v", members)
	}
	rescored := filepath.Join(dir, "rescored.json")
	args := append([]string{"score", "--method", "finetune", "--json", rescored, "--unlearned"}, members["finetune"]...)
	args = append(append(args, "--retrained"), members["reference"]...)
	args = append(args, "--labels", filepath.Join(runDir, "forget-labels.npy"), "--retain-labels", filepath.Join(runDir, "retain-labels.npy"),
		"--test-labels", filepath.Join(runDir, "test-labels.npy"))
	out.Reset()
	if code := run(args, &out, &out); code != 0 {
		t.Fatalf("score from the cache: exit %d\n%s", code, out.String())
	}
	back, err := result.Read(rescored)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := back.Methods[0].Score, res.Methods[0].Score; want.F == 0 || got.F != want.F || got.Final == nil || *got.Final != *want.Final {
		t.Fatalf("re-scored from the cache: F %v final %v; the run's F %v final %v", got.F, got.Final, want.F, *want.Final)
	}
}
