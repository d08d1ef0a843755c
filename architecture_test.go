package main

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// computing are the packages that compute numbers: no renderer, plot or
// template may reach them, so that a library user scoring a population (or
// a worker computing members) does not build gonum/plot and html/template,
// and so that the schema they fill stays in package result, not in the
// renderer. run is listed before it exists; a missing package is skipped.
var computing = []string{
	"attack", "attack/suite", "attack/feature", "scoring", "evaluate",
	"population", "unlearners", "nn", "datasets", "run", "result",
}

// forbidden are import paths, or path prefixes ending in "/", that no
// computing package may depend on, even indirectly.
var forbidden = []string{
	"gonum.org/v1/plot", "gonum.org/v1/plot/",
	"html/template",
	"unlearnbench/reports", "unlearnbench/reports/",
	"unlearnbench/cli",
}

func isForbidden(dep string) bool {
	for _, f := range forbidden {
		if dep == f || strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f) {
			return true
		}
	}
	return false
}

// deps lists each package's transitive imports with go list (go test puts
// the go command on PATH).
func deps(t *testing.T, pkgs ...string) map[string][]string {
	t.Helper()
	args := []string{"list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}"}
	for _, p := range pkgs {
		args = append(args, "./"+p)
	}
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 0 {
			m[f[0]] = f[1:]
		}
	}
	return m
}

func TestComputingPackagesImportNoRenderer(t *testing.T) {
	var pkgs []string
	for _, p := range computing {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			t.Logf("skipping %s: no such package yet", p)
			continue
		}
		pkgs = append(pkgs, p)
	}
	// reports itself is the control: the check must see what it forbids
	// there, or it could pass without looking.
	all := deps(t, append(pkgs, "reports")...)
	if !hasForbidden(all["unlearnbench/reports"]) {
		t.Fatal("go list shows reports without gonum/plot or html/template: the check sees nothing")
	}
	for _, p := range pkgs {
		path := "unlearnbench/" + p
		d, ok := all[path]
		if !ok {
			t.Errorf("go list did not list %s", path)
			continue
		}
		for _, dep := range d {
			if isForbidden(dep) {
				t.Errorf("%s depends on %s: a computing package must not reach a renderer (put shared types in package result)", path, dep)
			}
		}
	}
}

func hasForbidden(d []string) bool {
	for _, dep := range d {
		if isForbidden(dep) {
			return true
		}
	}
	return false
}
