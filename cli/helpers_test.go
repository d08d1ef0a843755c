package cli

// Helpers the tests of several commands share.

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"unlearnbench/internal/arrays"
)

// runCmd runs one command line in-process and returns its exit code and
// combined output.
func runCmd(args ...string) (int, string) {
	var out bytes.Buffer
	code := run(args, &out, &out)
	return code, out.String()
}

func writeConf(t *testing.T, path string, n, e int, f func(i, j int) float64) string {
	t.Helper()
	data := make([]float32, n*e)
	for i := 0; i < n; i++ {
		for j := 0; j < e; j++ {
			data[i*e+j] = float32(f(i, j))
		}
	}
	if err := arrays.WriteNPY(path, arrays.Tensor[float32]{Shape: []int{n, e}, Data: data}); err != nil {
		t.Fatal(err)
	}
	return path
}

func spreadConf(shift float64) func(i, j int) float64 {
	return func(i, j int) float64 { return math.Sin(float64(i*7+j*3)) + shift + 0.01*float64(j) }
}

// wantUserError runs a command line with --json and checks that it fails
// as bad input must: exit code 2, one line naming each of want, no result
// file.
func wantUserError(t *testing.T, dir, name string, args []string, want []string) {
	t.Helper()
	out := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
	code, text := runCmd(append(args, "--json", out)...)
	if code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", code, text)
	}
	text = strings.TrimRight(text, "\n")
	if strings.Count(text, "\n") != 0 {
		t.Fatalf("error is not one line:\n%s", text)
	}
	for _, s := range want {
		if !strings.Contains(text, s) {
			t.Fatalf("error %q does not mention %q", text, s)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a result file was written despite the error")
	}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := run(args, &out, &out)
	return out.String(), code
}

// refusal is one bad command line and how it must fail: its exit code, one
// line naming each of want, and none of the files in absent left behind.
type refusal struct {
	name   string
	args   []string
	code   int
	want   []string
	absent []string
}

func (c refusal) check(t *testing.T) {
	t.Helper()
	code, text := runCmd(c.args...)
	if code != c.code {
		t.Fatalf("exit %d, want %d:\n%s", code, c.code, text)
	}
	text = strings.TrimRight(text, "\n")
	if strings.Count(text, "\n") != 0 {
		t.Fatalf("error is not one line:\n%s", text)
	}
	for _, s := range c.want {
		if !strings.Contains(text, s) {
			t.Errorf("error %q does not mention %q", text, s)
		}
	}
	for _, p := range c.absent {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists after the error", p)
		}
	}
}

// withFlags is args with extra's flags ("--flag", "value" pairs) set: a
// flag args already has gets extra's value in its place, as a user edits
// a command line (a flag given twice with two values is refused).
func withFlags(args []string, extra ...string) []string {
	out := slices.Clone(args)
	for i := 0; i+1 < len(extra); i += 2 {
		if j := slices.Index(out, extra[i]); j >= 0 && j+1 < len(out) {
			out[j+1] = extra[i+1]
			continue
		}
		out = append(out, extra[i], extra[i+1])
	}
	return out
}
