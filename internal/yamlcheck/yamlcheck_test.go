package yamlcheck

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/internal/usererr"
)

type inner struct {
	Epochs int     `yaml:"epochs"`
	LR     float64 `yaml:"lr"`
}

type doc struct {
	Name   string `yaml:"name"`
	Recipe inner  `yaml:"recipe"`
	Tags   []string
}

func TestDecode(t *testing.T) {
	var d doc
	if err := Decode("c.yaml", []byte("name: x\nrecipe: {epochs: 3, lr: 0.5}\ntags: [a]\n"), &d); err != nil || d.Recipe.Epochs != 3 || d.Tags[0] != "a" {
		t.Fatalf("%+v, %v", d, err)
	}
	for _, c := range []struct{ in, want string }{
		{"nmae: x\n", `config c.yaml: line 1: unknown field "nmae"; did you mean "name"?`},
		{"epochs: 3\n", `line 1: unknown field "epochs"; did you mean "recipe.epochs"?`},
		{"recipe:\n  epochs: 1.5\n", `line 2: recipe.epochs: want an integer, got "1.5"`},
		{"recipe: 3\n", `recipe: want a mapping of fields, got "3"`},
		{"zzzzzz: 1\n", `unknown field "zzzzzz"; known: name, recipe, tags`},
		{"name: [\n", "config c.yaml: "},
	} {
		err := Decode("c.yaml", []byte(c.in), &doc{})
		if !usererr.Is(err) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v; want a one-line user error with %q", c.in, err, c.want)
		}
	}
}

func TestClosestName(t *testing.T) {
	for _, c := range []struct{ s, want string }{
		{"trian", "train"}, // a swap is one edit
		{"scroe", "score"},
		{"Train", "train"},
		{"xyz", ""},
	} {
		if got := ClosestName(c.s, []string{"train", "score", "split"}); got != c.want {
			t.Errorf("ClosestName(%q) = %q; want %q", c.s, got, c.want)
		}
	}
}

// TestReadFileLimit: a config is read up to MaxFileSize bytes; a larger
// file or an endless device is refused after reading no more than that,
// with a one-line user error naming what and where.
func TestReadFileLimit(t *testing.T) {
	dir := t.TempDir()
	exact := filepath.Join(dir, "exact.yaml")
	over := filepath.Join(dir, "over.yaml")
	if err := os.WriteFile(exact, bytes.Repeat([]byte("#"), MaxFileSize), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(over, bytes.Repeat([]byte("#"), MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile("config", exact); err != nil || len(b) != MaxFileSize {
		t.Errorf("a file of exactly the limit: %d bytes, %v", len(b), err)
	}
	for _, p := range []string{over, "/dev/zero"} {
		_, err := ReadFile("config", p)
		if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "config "+p+": larger than") {
			t.Errorf("%s: error %v, want a user error saying it is too large", p, err)
		}
	}
	if _, err := ReadFile("config", filepath.Join(dir, "absent.yaml")); err == nil || !usererr.Is(err) {
		t.Errorf("absent file: %v, want a user error", err)
	}
}
