package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// manualPages are the files whose ```console blocks TestREADME runs, in
// this order and in one working directory, since later pages use files
// earlier ones write (train's mlp.onnx, report's finetune.json). Every page
// under docs/commands/ must be listed, so that no example goes unchecked.
var manualPages = []string{
	"README.md",
	"docs/commands/score.md",
	"docs/commands/attack.md",
	"docs/commands/report.md",
	"docs/commands/compare.md",
	"docs/commands/train.md",
	"docs/commands/logits.md",
	"docs/commands/unlearn.md",
	"docs/commands/exec.md",
	"docs/commands/split.md",
	"docs/commands/run.md",
}

// TestREADME runs every command of the manual's ```console blocks (the README
// and the pages of docs/commands/) and checks that it prints what the page
// says, so the documentation cannot rot (after benchstat's doc_test.go). A
// line "$ unlearnbench ARGS" starts a command; the lines up to the next
// command or the end of the block are its combined stdout and stderr; a line
// "..." stands for any number of lines; a non-zero exit is shown as a last
// line "[exit status N]". Commands run in a temporary directory that links
// the repository's examples/ and testdata/, so files they write do not land
// in the repository.
func TestREADME(t *testing.T) {
	repo, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob("docs/commands/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		if !slices.Contains(manualPages, p) {
			t.Errorf("%s is not in manualPages: its examples would never run", p)
		}
	}
	type page struct {
		name   string
		blocks []readmeBlock
	}
	var all []page
	for _, name := range manualPages {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		blocks := consoleBlocks(string(text))
		if name == "README.md" && len(blocks) == 0 {
			t.Fatal("README.md has no ```console blocks")
		}
		all = append(all, page{name, blocks})
	}
	work := t.TempDir()
	for _, name := range []string{"examples", "testdata"} {
		if _, err := os.Stat(filepath.Join(repo, name)); err == nil {
			if err := os.Symlink(filepath.Join(repo, name), filepath.Join(work, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Chdir(work)
	for _, p := range all {
		for _, b := range p.blocks {
			for _, c := range b.commands {
				t.Run(fmt.Sprintf("%s:%d", p.name, c.line), func(t *testing.T) {
					args, err := splitArgs(c.command)
					if err != nil {
						t.Fatalf("%s:%d: %v", p.name, c.line, err)
					}
					if len(args) == 0 || args[0] != "unlearnbench" {
						t.Fatalf("%s:%d: console commands must start with unlearnbench: %q", p.name, c.line, c.command)
					}
					var out bytes.Buffer
					code := run(args[1:], &out, &out)
					got := strings.TrimRight(out.String(), "\n")
					if code != 0 {
						got += fmt.Sprintf("\n[exit status %d]", code)
					}
					if !matchLines(splitLines(got), c.want) {
						t.Errorf("%s:%d: $ %s\n--- got ---\n%s\n--- want ---\n%s", p.name, c.line, c.command, got, strings.Join(c.want, "\n"))
					}
				})
			}
		}
	}
}

type readmeCommand struct {
	line    int
	command string
	want    []string
}

type readmeBlock struct{ commands []readmeCommand }

func consoleBlocks(text string) []readmeBlock {
	var blocks []readmeBlock
	var cur *readmeBlock
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && trimmed == "```console":
			cur = &readmeBlock{}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil && strings.HasPrefix(line, "$ "):
			cur.commands = append(cur.commands, readmeCommand{line: i + 1, command: strings.TrimPrefix(line, "$ ")})
		case cur != nil && len(cur.commands) > 0:
			last := &cur.commands[len(cur.commands)-1]
			last.want = append(last.want, strings.TrimRight(line, " \t"))
		}
	}
	return blocks
}

func splitLines(s string) []string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " \t")
	}
	return lines
}

// matchLines reports whether got matches want, where a want line "..."
// matches any run of lines, including none.
func matchLines(got, want []string) bool {
	for len(want) > 0 && want[len(want)-1] == "" {
		want = want[:len(want)-1]
	}
	if len(want) == 0 {
		return len(got) == 0 || (len(got) == 1 && got[0] == "")
	}
	if want[0] == "..." {
		for skip := 0; skip <= len(got); skip++ {
			if matchLines(got[skip:], want[1:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && got[0] == want[0] && matchLines(got[1:], want[1:])
}

// splitArgs splits a command line at spaces, honouring single and double
// quotes; the README needs nothing more of a shell.
func splitArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote = r
			inArg = true
		case r == ' ' || r == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

func TestMatchLines(t *testing.T) {
	cases := []struct {
		got, want []string
		ok        bool
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, true},
		{[]string{"a", "b"}, []string{"a", "c"}, false},
		{[]string{"a", "x", "y", "b"}, []string{"a", "...", "b"}, true},
		{[]string{"a", "b"}, []string{"a", "...", "b"}, true},
		{[]string{"a"}, []string{"a", "...", "b"}, false},
		{[]string{"a", "b"}, []string{"a"}, false},
	}
	for _, c := range cases {
		if got := matchLines(c.got, c.want); got != c.ok {
			t.Errorf("matchLines(%q, %q) = %v, want %v", c.got, c.want, got, c.ok)
		}
	}
}
