package yamlcheck

import (
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
