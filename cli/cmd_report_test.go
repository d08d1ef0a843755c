package cli

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/reports"
	"unlearnbench/result"
)

// scoreExample scores the example population with extra arguments.
func scoreExample(t *testing.T, extra ...string) string {
	t.Helper()
	args := append([]string{"score",
		"--unlearned", "examples/finetune/unlearned.npz", "--retrained", "examples/finetune/retrained.npz",
		"--labels", "examples/finetune/labels.npy",
		"--unlearned-acc", "examples/finetune/unlearned_acc.csv", "--retrained-acc", "examples/finetune/retrained_acc.csv",
		"--method", "finetune", "--worst", "0"}, extra...)
	code, out := runCmd(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	return out
}

func TestScoreWritesReport(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	dir := t.TempDir()
	out := scoreExample(t, "--json", filepath.Join(dir, "r.json"), "--report", filepath.Join(dir, "report"))
	for _, f := range []string{reports.MarkdownFile, reports.HTMLFile, reports.MethodsCSV, reports.ExamplesCSV, reports.AttacksCSV} {
		path := filepath.Join(dir, "report", f)
		if !strings.Contains(out, "wrote "+path) {
			t.Errorf("output does not list %s:\n%s", path, out)
		}
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", path, err)
		}
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report", reports.HTMLFile))
	// The worst-forgotten example of the README's table is findable.
	for _, want := range []string{"finetune: worst 10 of 100", "<td>27</td><td>4.8122</td>", "finetune, example 27: epsilon 4.8122, rank 1 of 100", "accuracy-plot"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	res, err := result.Read(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Methods[0]
	if len(m.Distributions) != 6 || m.Distributions[0].Example != 27 || len(m.Distributions[0].Unlearned) != 128 {
		t.Errorf("distributions: %d, first %+v", len(m.Distributions), m.Distributions[0].Example)
	}
	u := m.Population("unlearned")
	if u == nil || len(u.RetainAcc) != 128 || len(u.ForgetAcc) != 128 || m.Population("retrained") == nil {
		t.Errorf("populations: %+v", m.Populations)
	}
	if res.Data == nil || !strings.HasPrefix(res.Data.ForgetDigest, "labels-sha256:") {
		t.Errorf("data: %+v", res.Data)
	}
}

func TestReportCommand(t *testing.T) {
	summary := filepath.Join(t.TempDir(), "summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	dir := t.TempDir()
	code, out := runCmd("report", "testdata/results/full.json", "--out", dir)
	if code != 0 || !strings.Contains(out, "| finetune |") || !strings.Contains(out, "wrote "+filepath.Join(dir, reports.HTMLFile)) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	md, err := os.ReadFile(summary)
	if err != nil || !strings.HasPrefix(string(md), "# unlearnbench report") {
		t.Fatalf("step summary: %v\n%.100s", err, md)
	}
}

func TestReportAndCompareBadInput(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	dir := t.TempDir()
	good, err := os.ReadFile("testdata/results/full.json")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	truncated := write("truncated.json", good[:len(good)/3])
	v2 := write("v2.json", []byte(strings.Replace(string(good), `"version": 1`, `"version": 2`, 1)))
	empty := write("empty.json", []byte(`{"schema": "unlearnbench.result", "version": 1, "command": "run", "methods": []}`))
	otherSet := write("other.json", []byte(strings.Replace(string(good), `"forget_digest": "labels-sha256:`, `"forget_digest": "labels-sha256:00`, 1)))
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"report", truncated, "--out", dir}, "truncated.json: not a result file"},
		{[]string{"report", v2, "--out", dir}, `field "version" is 2`},
		{[]string{"report", empty, "--out", dir}, `field "methods" is empty`},
		{[]string{"report", "testdata/results/full.json"}, "--out is required"},
		{[]string{"report", filepath.Join(dir, "missing.json"), "--out", dir}, "missing.json"},
		{[]string{"compare", "testdata/results/full.json", truncated}, "truncated.json"},
		{[]string{"compare", "testdata/results/full.json", otherSet}, "different forget sets"},
		{[]string{"compare", "testdata/results/full.json", v2}, `field "version" is 2`},
		{[]string{"compare", "testdata/results/full.json", "testdata/results/full.json", "--format", "html"}, `--format is "html"`},
		{[]string{"compare", "testdata/results/full.json"}, "accepts 2 arg(s)"},
	}
	for _, c := range cases {
		code, out := runCmd(c.args...)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(out, c.want) {
			t.Errorf("%q: exit %d, output:\n%s\nwant exit 2 and one line containing %q", c.args, code, out, c.want)
		}
	}
}

// TestCompareGatesInjectedRegression scores a population, then the same
// population after an injected regression (the unlearned models remember
// the forget set), and checks that compare exits 3 on it and 0 otherwise.
func TestCompareGatesInjectedRegression(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	dir := t.TempDir()
	const n, e = 24, 30
	noise := func(i, j int, phase float64) float64 { return math.Sin(float64(i*7+j*13) + phase) }
	retrained := writeConf(t, filepath.Join(dir, "r.npy"), n, e, func(i, j int) float64 { return noise(i, j, 0) + 0.05*float64(j) })
	good := writeConf(t, filepath.Join(dir, "good.npy"), n, e, func(i, j int) float64 { return noise(i, j, 1) + 0.05*float64(j) })
	bad := writeConf(t, filepath.Join(dir, "bad.npy"), n, e, func(i, j int) float64 { return noise(i, j, 1) + 0.05*float64(j) + 1.5 })
	score := func(unlearned, out string) string {
		path := filepath.Join(dir, out)
		if code, text := runCmd("score", "--unlearned", unlearned, "--retrained", retrained, "--method", "m", "--worst", "0", "--json", path); code != 0 {
			t.Fatalf("exit %d: %s", code, text)
		}
		return path
	}
	base, cur := score(good, "base.json"), score(bad, "cur.json")

	if code, out := runCmd("compare", base, base); code != 0 || !strings.Contains(out, "No significant regression") {
		t.Fatalf("same result: exit %d\n%s", code, out)
	}
	code, out := runCmd("compare", base, cur)
	if code != exitRegression || !strings.Contains(out, "worse (regression)") || !strings.Contains(out, "unlearnbench: significant regression") {
		t.Fatalf("injected regression: exit %d\n%s", code, out)
	}
	if code, out := runCmd("compare", cur, base); code != 0 || !strings.Contains(out, "| better") {
		t.Fatalf("improvement: exit %d\n%s", code, out)
	}
	if code, out := runCmd("compare", base, cur, "--max-drop-score", "0.99"); code != 0 {
		t.Fatalf("tolerated drop: exit %d\n%s", code, out)
	}
	code, md := runCmd("compare", base, cur, "--format", "markdown", "--seed", "7")
	if code != exitRegression || !strings.HasPrefix(md, "### unlearnbench compare: significant regression") || !strings.Contains(md, "|----") {
		t.Fatalf("markdown: exit %d\n%s", code, md)
	}
	if _, again := runCmd("compare", base, cur, "--format", "markdown", "--seed", "7"); again != md {
		t.Fatal("the same seed gave different output")
	}
}

// TestCompareRequireAttacks: a current result that lost an attack passes
// with a warning, and fails with exit 3 under --require-attacks.
func TestCompareRequireAttacks(t *testing.T) {
	res, err := result.Read("testdata/results/full.json")
	if err != nil {
		t.Fatal(err)
	}
	a := &res.Methods[0].Attacks[0]
	*a = result.AttackResult{Name: a.Name, Kind: a.Kind, Skipped: "needs the original models (--original)"}
	cur := filepath.Join(t.TempDir(), "lost.json")
	if err := res.Write(cur); err != nil {
		t.Fatal(err)
	}
	code, out := runCmd("compare", "testdata/results/full.json", cur)
	if code != 0 || !strings.Contains(out, "warning: method \""+res.Methods[0].Name+"\": attack "+a.Name+" ran in") {
		t.Fatalf("without --require-attacks: exit %d\n%s", code, out)
	}
	code, out = runCmd("compare", "testdata/results/full.json", cur, "--require-attacks")
	if code != exitRegression || !strings.Contains(out, "(--require-attacks): "+res.Methods[0].Name+": "+a.Name) {
		t.Fatalf("with --require-attacks: exit %d\n%s", code, out)
	}
}
