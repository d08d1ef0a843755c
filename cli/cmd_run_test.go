package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"unlearnbench/unlearners"
)

// The run command end to end (package run tests the pipeline itself): a
// small run prints the ranked table, the reference, where it wrote and
// the time line, and writes the reports; the rerun is served from the
// cache; a dry run prints the plan; bad shards exit 2.
func TestRunCommand(t *testing.T) {
	for _, name := range []string{"noop", "retrain"} {
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
methods: [{method: noop}]
attacks: {enabled: false}
`
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(append([]string{"run", "-c", cfg}, args...), &out, &errb)
		return out.String(), errb.String(), code
	}
	// In a GitHub Actions job run appends its report to the job's summary,
	// as score --report and report do.
	summary := filepath.Join(dir, "step-summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	out, errs, code := runCmd()
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errs)
	}
	if b, err := os.ReadFile(summary); err != nil || !strings.HasPrefix(string(b), "# unlearnbench report\n") || !strings.Contains(string(b), "| 1    | noop ") {
		t.Fatalf("run did not append its report to $GITHUB_STEP_SUMMARY (%v):\n%.300s", err, b)
	}
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	for _, re := range []string{
		`(?m)^fashion-mnist: 600 training, 200 test; .* split: 570 retain, 30 forget`,
		`(?m)^training the original mlp on 600 examples for 2 epochs$`,
		`(?m)^population reference \(retrain\): 0 of 3 cached, computing 3 with \d+ workers$`,
		`(?m)^\| rank \| method +\| F +\| F interval +\| RA_U/RA_R \|`,
		`(?m)^\| 1 +\| noop +\| \d\.\d{4} \| \[\d\.\d{4}, \d\.\d{4}\] \|`,
		`(?m)^F interval: 95% bootstrap interval over models \(200 resamples, seed 0\), F's spread at N = 3`,
		`(?m)^reference: retrain, N = 3, .* per member; forget .*%, retain .*%, test .*% accuracy$`,
		`(?m)^wrote ` + regexp.QuoteMeta(filepath.Join(dir, "runs", "t")) + ` \(config.yaml, result.json, report.md, report.html\)$`,
		`(?m)^time: .* s in all: original .* s; 6 members .* scoring and attacks of 1 methods .* s$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("output lacks %s:\n%s", re, out)
		}
	}
	for _, f := range []string{"config.yaml", "result.json", "report.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(dir, "runs", "t", f)); err != nil {
			t.Fatal(err)
		}
	}
	table := out[strings.Index(out, "+-"):strings.Index(out, "\nwrote ")]
	out2, errs2, code := runCmd()
	if code != 0 || strings.Contains(out2, "computing") || !strings.Contains(out2, table) || !strings.Contains(out2, "scoring and attacks of 0 methods") {
		t.Fatalf("rerun: exit %d, or it computed something, or its table differs:\n%s%s", code, out2, errs2)
	}
	out3, errs3, code := runCmd("--dry-run")
	if code != 0 || !strings.HasPrefix(out3, "# resolved config ("+cfg+")\nname: t\n") ||
		!regexp.MustCompile(`(?m)^\| reference  \| retrain \| +3/3 \| +0 \| +~`).MatchString(out3) || !strings.Contains(out3, "\nestimate: ") {
		t.Fatalf("dry run: exit %d:\n%s%s", code, out3, errs3)
	}
	// A target width: the dry run states the N it needs from the last
	// result; a bad one is refused in one line, exit 2.
	os.WriteFile(cfg, []byte(text+"scoring: {target_width: 0.05}\n"), 0o644)
	out4, errs4, code := runCmd("--dry-run")
	if code != 0 || !regexp.MustCompile(`(?m)^N needed for F's interval 0.05 wide: from noop's interval, the widest in .*result.json: F's 95% interval is`).MatchString(out4) {
		t.Fatalf("dry run with a target width: exit %d:\n%s%s", code, out4, errs4)
	}
	os.WriteFile(cfg, []byte(text+"scoring: {target_width: 0, n_max: 8}\n"), 0o644)
	if out, errs, code := runCmd(); code != 2 || !strings.Contains(errs, "scoring.target_width is 0") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("target_width: 0: exit %d, %q; want exit 2 and one line\n%s", code, errs, out)
	}
	os.WriteFile(cfg, []byte(text), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--shard", "2/2"}, "outside 0..1"},
		{[]string{"--shard", "x"}, "want K/M"},
		{[]string{"--shard", "0/2", "--dry-run"}, "--dry-run and --shard"},
	} {
		out, errs, code := runCmd(c.args...)
		if code != 2 || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: exit %d, %q; want exit 2 and one line with %q\n%s", c.args, code, errs, c.want, out)
		}
	}
}
