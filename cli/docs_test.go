package cli

import (
	"bufio"
	"errors"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDocsCommands checks the unlearnbench command lines that docs/ shows
// but no test runs (they need a cluster): the Kubernetes Jobs' containers,
// the Slurm script's steps and sharding.md's examples must be accepted by
// the commands they name, the Indexed Job's completions must be the M of
// its --shard k8s/M, and the scoring steps must not shard.
func TestDocsCommands(t *testing.T) {
	check := func(where string, argv []string) { t.Helper(); checkCommandLine(t, where, argv) }

	// The Kubernetes manifest: an Indexed Job of shards and a scoring Job.
	f, err := os.Open("docs/kubernetes-indexed-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type container struct {
		Command []string `yaml:"command"`
	}
	var indexed, scoring int
	dec := yaml.NewDecoder(f)
	for {
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				CompletionMode string `yaml:"completionMode"`
				Completions    int    `yaml:"completions"`
				Template       struct {
					Spec struct {
						Containers []container `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("docs/kubernetes-indexed-job.yaml: %v", err)
		}
		if doc.Kind != "Job" {
			continue
		}
		for _, c := range doc.Spec.Template.Spec.Containers {
			where := "docs/kubernetes-indexed-job.yaml, job " + doc.Metadata.Name
			if len(c.Command) < 2 || c.Command[0] != "unlearnbench" {
				t.Errorf("%s: command %q does not run unlearnbench", where, c.Command)
				continue
			}
			check(where, c.Command[1:])
			shard := flagValue(c.Command, "--shard")
			switch doc.Spec.CompletionMode {
			case "Indexed":
				indexed++
				if want := "k8s/" + strconv.Itoa(doc.Spec.Completions); shard != want {
					t.Errorf("%s: --shard %q with %d completions; want %s", where, shard, doc.Spec.Completions, want)
				}
			default:
				scoring++
				if shard != "" {
					t.Errorf("%s: the scoring step has --shard %s", where, shard)
				}
			}
		}
	}
	if indexed != 1 || scoring != 1 {
		t.Errorf("docs/kubernetes-indexed-job.yaml: %d Indexed Job containers and %d scoring ones; want one of each", indexed, scoring)
	}

	// The Slurm script: its shard and score steps. The shard step passes
	// K/M itself (--shard slurm would read M from the array, which is 1
	// for a task retried alone); the score step never shards.
	b, err := os.ReadFile("docs/slurm-array.sh")
	if err != nil {
		t.Fatal(err)
	}
	steps := map[string][]string{}
	var step string
	for _, line := range strings.Split(string(b), "\n") {
		if m := regexp.MustCompile(`^([a-z]+)\)$`).FindStringSubmatch(line); m != nil {
			step = m[1]
		}
		line = strings.TrimPrefix(strings.TrimSpace(line), "exec ")
		if rest, ok := strings.CutPrefix(line, `"$UNLEARNBENCH" `); ok {
			var argv []string
			for _, a := range strings.Fields(strings.ReplaceAll(rest, `"`, "")) {
				if strings.ContainsAny(a[:1], ">|&;") {
					break // a redirection or the next command
				}
				argv = append(argv, a)
			}
			check("docs/slurm-array.sh, step "+step, argv)
			steps[step] = append(steps[step], flagValue(argv, "--shard"))
		}
	}
	if shards := steps["shard"]; len(shards) != 1 || !regexp.MustCompile(`^\$\w+/\$\w+$`).MatchString(shards[0]) {
		t.Errorf("docs/slurm-array.sh: the shard step runs with --shard %q; want one run with $K/$M", shards)
	}
	if shards := steps["score"]; len(shards) == 0 || slices.ContainsFunc(shards, func(s string) bool { return s != "" }) {
		t.Errorf("docs/slurm-array.sh: the score step runs with --shard %q; want runs without", shards)
	}

	// sharding.md's examples.
	md, err := os.Open("docs/sharding.md")
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	in, n := false, 0
	sc := bufio.NewScanner(md)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "```sh":
			in = true
		case line == "```":
			in = false
		case in && strings.HasPrefix(line, "unlearnbench "):
			line, _, _ = strings.Cut(line, "#")
			check("docs/sharding.md", strings.Fields(line)[1:])
			n++
		}
	}
	if n == 0 {
		t.Error("docs/sharding.md shows no unlearnbench command")
	}
}

// checkCommandLine fails t unless argv (without the program's name) names
// a command that accepts its flags and arguments.
func checkCommandLine(t *testing.T, where string, argv []string) {
	t.Helper()
	if len(argv) == 0 {
		t.Errorf("%s: empty command line", where)
		return
	}
	c, rest, err := newRootCmd().Find(argv)
	if err != nil || c.Name() != argv[0] {
		t.Errorf("%s: unlearnbench %s: no such command (%v)", where, strings.Join(argv, " "), err)
		return
	}
	if err := c.ParseFlags(rest); err != nil {
		t.Errorf("%s: unlearnbench %s: %v", where, strings.Join(argv, " "), err)
		return
	}
	if err := c.ValidateArgs(c.Flags().Args()); err != nil {
		t.Errorf("%s: unlearnbench %s: %v", where, strings.Join(argv, " "), err)
	}
}

// TestCIRecipe checks the GitHub Actions workflow of docs/commands/compare.md
// (no test can run GitHub's runner): it must be YAML with steps, run the
// benchmark with run and gate with compare on run's result, and every
// bin/unlearnbench step must be a command line the binary accepts.
func TestCIRecipe(t *testing.T) {
	b, err := os.ReadFile("docs/commands/compare.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "```yaml\n")
	block, _, closed := strings.Cut(block, "```")
	if !ok || !closed {
		t.Fatal("docs/commands/compare.md has no yaml block")
	}
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Run string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal([]byte(block), &wf); err != nil {
		t.Fatalf("docs/commands/compare.md's workflow: %v", err)
	}
	var commands []string
	for _, job := range wf.Jobs {
		for _, step := range job.Steps {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(step.Run), "bin/unlearnbench "); ok {
				argv := strings.Fields(rest)
				checkCommandLine(t, "docs/commands/compare.md's workflow", argv)
				commands = append(commands, argv[0])
				if argv[0] == "compare" && (len(argv) < 3 || argv[2] != "runs/demo/result.json") {
					t.Errorf("the workflow compares %v, not run's runs/demo/result.json", argv[1:])
				}
			}
		}
	}
	if strings.Join(commands, " ") != "run compare" {
		t.Errorf("the workflow's unlearnbench steps are %v; want run, then compare", commands)
	}
}

// flagValue is the value of flag name in argv ("--name value" or
// "--name=value"), or "".
func flagValue(argv []string, name string) string {
	for i, a := range argv {
		if a == name && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}
