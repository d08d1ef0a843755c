package yamlcheck

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"unlearnbench/internal/usererr"
)

// Set applies one command-line override, "key.path=value" (run's --set),
// to a config's YAML document root of the type t: the path is checked
// against t as a file's keys are (an unknown field named with the closest
// one), the value is YAML checked against the field's type, and missing
// mappings on the way are created. A list element is named by its index
// (methods[1].params.lr) and must exist. Errors are one line naming the
// --set as the user wrote it.
func Set(root *yaml.Node, t reflect.Type, assignment string) error {
	what := "--set " + Shown(assignment)
	key, value, ok := strings.Cut(assignment, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return usererr.Errorf("--set %q: want KEY.PATH=VALUE (e.g. --set recipe.epochs=3)", assignment)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(value), &doc); err != nil {
		return usererr.Errorf("%s: the value is not YAML: %s", what, OneLine(strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	// KEY= is the empty string (a YAML null would leave the field as it
	// was: --set model= must clear model).
	v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ""}
	if len(doc.Content) > 0 {
		v = doc.Content[0]
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		*root = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	cur, path := root.Content[0], ""
	segs := strings.Split(key, ".")
	for i, seg := range segs {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		name, idx, err := splitIndex(seg)
		if err != nil {
			return usererr.Errorf("%s: %v", what, err)
		}
		var ft reflect.Type
		switch t.Kind() {
		case reflect.Struct:
			fields := configFields(t)
			if ft, ok = fields[name]; !ok {
				names := make([]string, 0, len(fields))
				for n := range fields {
					names = append(names, n)
				}
				sort.Strings(names)
				return usererr.Errorf("%s: unknown field %q%s", what, join(path, name), suggest(path, name, names))
			}
		case reflect.Map:
			ft = t.Elem()
		case reflect.Slice:
			return usererr.Errorf("%s: %s is a list; name an element by its index (%s[0].%s)", what, path, path, name)
		default:
			return usererr.Errorf("%s: %s is %s; it has no field %q", what, path, describeKind(t), name)
		}
		path = join(path, name)
		if cur.Kind != yaml.MappingNode {
			return usererr.Errorf("%s: %s is not a mapping in the config", what, strings.TrimSuffix(strings.TrimSuffix(path, name), "."))
		}
		var child *yaml.Node
		for j := 0; j+1 < len(cur.Content); j += 2 {
			if cur.Content[j].Value == name {
				child = cur.Content[j+1]
			}
		}
		if idx >= 0 {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() != reflect.Slice {
				return usererr.Errorf("%s: %s is not a list", what, path)
			}
			n := 0
			if child != nil && child.Kind == yaml.SequenceNode {
				n = len(child.Content)
			}
			if idx >= n {
				return usererr.Errorf("%s: %s[%d]: the config lists %d (from %s[0])", what, path, idx, n, path)
			}
			child, ft, path = child.Content[idx], ft.Elem(), fmt.Sprintf("%s[%d]", path, idx)
		}
		if i == len(segs)-1 {
			if err := CheckValue(what, v, ft, path); err != nil {
				return err
			}
			if child == nil {
				cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, v)
			} else {
				*child = *v
			}
			return nil
		}
		if child == nil {
			child = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, child)
		}
		cur, t = child, ft
	}
	return nil
}

// splitIndex splits "methods[1]" into "methods" and 1 (-1: no index).
func splitIndex(seg string) (string, int, error) {
	name, rest, ok := strings.Cut(seg, "[")
	if name == "" {
		return "", 0, fmt.Errorf("an empty name in the path")
	}
	if !ok {
		return name, -1, nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if err != nil || !strings.HasSuffix(rest, "]") || n < 0 {
		return "", 0, fmt.Errorf("%q: want NAME[INDEX] with an index from 0", seg)
	}
	return name, n, nil
}

// Shown is s as a message shows a command-line value: as given, or quoted
// when it holds spaces, quotes or control characters (a newline in it
// would split the one-line error).
func Shown(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) || strings.ContainsAny(s, " '\"") {
		return strconv.Quote(s)
	}
	return s
}
