package yamlcheck

import (
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"unlearnbench/internal/usererr"
)

type method struct {
	Name   string         `yaml:"name"`
	Params map[string]any `yaml:"params"`
}

type setDoc struct {
	Name    string   `yaml:"name"`
	Recipe  inner    `yaml:"recipe"`
	Methods []method `yaml:"methods"`
}

// Set applies an override over a file's document, creating what is
// missing, and refuses, in one line naming the --set, a path that does
// not exist (with the closest), a value of the wrong type, a list element
// that does not exist.
func TestSet(t *testing.T) {
	const file = "name: x\nmethods:\n  - {name: a, params: {lr: 0.1}}\n"
	for _, c := range []struct {
		sets []string
		want setDoc
	}{
		{[]string{"name=y"}, setDoc{Name: "y", Methods: []method{{Name: "a", Params: map[string]any{"lr": 0.1}}}}},
		{[]string{"name="}, setDoc{Name: "", Methods: []method{{Name: "a", Params: map[string]any{"lr": 0.1}}}}},
		{[]string{"recipe.epochs=3", "recipe.lr=0.5"}, setDoc{Name: "x", Recipe: inner{Epochs: 3, LR: 0.5}, Methods: []method{{Name: "a", Params: map[string]any{"lr": 0.1}}}}},
		{[]string{"methods[0].params.lr=0.2", "methods[0].params.epochs=2"}, setDoc{Name: "x", Methods: []method{{Name: "a", Params: map[string]any{"lr": 0.2, "epochs": 2}}}}},
		{[]string{"methods=[{name: b}]"}, setDoc{Name: "x", Methods: []method{{Name: "b"}}}},
	} {
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(file), &root); err != nil {
			t.Fatal(err)
		}
		for _, s := range c.sets {
			if err := Set(&root, reflect.TypeOf(setDoc{}), s); err != nil {
				t.Fatalf("%v: %v", c.sets, err)
			}
		}
		var got setDoc
		if err := root.Content[0].Decode(&got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v: %+v; want %+v", c.sets, got, c.want)
		}
	}
	for _, c := range []struct{ set, want string }{
		{"nmae=y", `--set nmae=y: unknown field "nmae"; did you mean "name"?`},
		{"recipe.epoch=3", `unknown field "recipe.epoch"; did you mean "recipe.epochs"?`},
		{"recipe.epochs=ten", `--set recipe.epochs=ten: recipe.epochs: want an integer, got "ten"`},
		{"recipe.epochs=1.5", `recipe.epochs: want an integer, got "1.5"`},
		{"recipe=3", `recipe: want a mapping of fields`},
		{"methods[1].name=b", "methods[1]: the config lists 1"},
		{"methods.name=b", "methods is a list"},
		{"name[0]=b", "name is not a list"},
		{"name.first=b", `name is a string; it has no field "first"`},
		{"recipe", "want KEY.PATH=VALUE"},
		{"=3", "want KEY.PATH=VALUE"},
		{"name=[", "the value is not YAML"},
		{"name=a\nb: c", `--set "name=a\nb: c"`},
	} {
		var root yaml.Node
		yaml.Unmarshal([]byte(file), &root)
		err := Set(&root, reflect.TypeOf(setDoc{}), c.set)
		if !usererr.Is(err) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--set %q: %v; want a one-line user error with %q", c.set, err, c.want)
		}
	}
	// On an empty file, the override makes the document.
	var root yaml.Node
	if err := Set(&root, reflect.TypeOf(setDoc{}), "recipe.epochs=4"); err != nil {
		t.Fatal(err)
	}
	var got setDoc
	if err := root.Content[0].Decode(&got); err != nil || got.Recipe.Epochs != 4 {
		t.Fatalf("%+v, %v", got, err)
	}
}

func TestOneDocument(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a: 1\n", ""},
		{"---\na: 1\n", ""},
		{"", ""},
		{"a: 1\n---\nb: 2\n", "config c.yaml: line 3: a second YAML document"},
		{"a: 1\n---\n", ""},
	} {
		err := OneDocument("c.yaml", []byte(c.in))
		if c.want == "" && err != nil || c.want != "" && (!usererr.Is(err) || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%q: %v; want %q", c.in, err, c.want)
		}
	}
}
