package yamlcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"unlearnbench/internal/usererr"
)

// Decode decodes the YAML config file name (its bytes data) into dst,
// a pointer to a struct. An unknown field, or a value of the wrong kind, is
// one line naming the file, the line and the field's path, with the closest
// valid name for an unknown one, instead of the decoder's lines with Go type
// names in them. An empty file changes nothing.
func Decode(name string, data []byte, dst any) error {
	if err := OneDocument(name, data); err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return usererr.Errorf("config %s: %s", name, OneLine(strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	if len(doc.Content) == 0 {
		return nil
	}
	if err := CheckNode(name, doc.Content[0], reflect.TypeOf(dst).Elem(), ""); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) {
		return usererr.Errorf("config %s: %s", name, OneLine(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:")))
	}
	return nil
}

// OneLine joins a message's lines.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// configFields lists the YAML names of struct type t's fields, inline ones
// included, as go.yaml.in/yaml/v3 names them.
func configFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range configFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		out[tag] = f.Type
	}
	return out
}

// CheckNode checks node against type t, reporting the first mismatch as a
// user error naming file and line; path is the node's dotted field
// path ("" for the document).
func CheckNode(file string, node *yaml.Node, t reflect.Type, path string) error {
	return checkNode(func(line int) string { return fmt.Sprintf("config %s: line %d", file, line) }, node, t, path)
}

// checkNode is CheckNode with where naming the place of a line.
func checkNode(where func(line int) string, node *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	at := func(format string, args ...any) error {
		return usererr.Errorf("%s: %s", where(node.Line), fmt.Sprintf(format, args...))
	}
	switch {
	case t.Kind() == reflect.Struct:
		if node.Kind != yaml.MappingNode {
			return at("%s: want a mapping of fields, got %s", fieldName(path), describeConfigNode(node))
		}
		fields := configFields(t)
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, val := node.Content[i], node.Content[i+1]
			ft, ok := fields[key.Value]
			if !ok {
				names := make([]string, 0, len(fields))
				for n := range fields {
					names = append(names, n)
				}
				sort.Strings(names)
				hint := suggest(path, key.Value, names)
				if ClosestName(key.Value, names) == "" {
					if c := nestedField(key.Value, fields, path); c != "" {
						hint = fmt.Sprintf("; did you mean %q?", c)
					}
				}
				return usererr.Errorf("%s: unknown field %q%s", where(key.Line), join(path, key.Value), hint)
			}
			if err := checkNode(where, val, ft, join(path, key.Value)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && node.Kind == yaml.SequenceNode:
		for i, item := range node.Content {
			if err := checkNode(where, item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map:
		// Free-form maps take any keys; the decoder checks the values.
	default:
		// The decoder would truncate 1.5 into an integer field, silently.
		isInt := strings.HasPrefix(describeKind(t), "an integer")
		if err := node.Decode(reflect.New(t).Interface()); err != nil || (isInt && node.Kind == yaml.ScalarNode && node.ShortTag() != "!!int") {
			return at("%s: want %s, got %s", fieldName(path), describeKind(t), describeConfigNode(node))
		}
	}
	return nil
}

// nestedField finds a key one level down that s names or nearly names
// ("epochs" given at the top level of a run config is recipe.epochs).
func nestedField(s string, fields map[string]reflect.Type, path string) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t := fields[name]
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			continue
		}
		sub := configFields(t)
		subNames := make([]string, 0, len(sub))
		for n := range sub {
			subNames = append(subNames, n)
		}
		sort.Strings(subNames)
		if c := ClosestName(s, subNames); c != "" {
			return join(join(path, name), c)
		}
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func fieldName(path string) string {
	if path == "" {
		return "the document"
	}
	return path
}

func describeKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer >= 0"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "a " + t.Kind().String()
}

func describeConfigNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// suggest is "; did you mean %q?" for the closest of names to s, under
// path, or a list of names when none is close.
func suggest(path, s string, names []string) string {
	if c := ClosestName(s, names); c != "" {
		return fmt.Sprintf("; did you mean %q?", join(path, c))
	}
	return "; known: " + strings.Join(names, ", ")
}

// ClosestName returns the name nearest s by edit distance, when it is near
// enough to be a slip (at most a third of the longer name, and 2 at least),
// ties broken by order; "" otherwise.
func ClosestName(s string, names []string) string {
	best, bestD := "", -1
	for _, n := range names {
		d := nameDistance(strings.ToLower(s), strings.ToLower(n))
		if limit := max(2, max(len(s), len(n))/3); d <= limit && (bestD < 0 || d < bestD) {
			best, bestD = n, d
		}
	}
	return best
}

// nameDistance is the Levenshtein distance between a and b, counting a swap
// of two neighbouring letters as one edit.
func nameDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// OneDocument refuses a second YAML document in a config (after a "---"
// line): the decoders read the first and ignored the rest, silently. An
// empty one (a trailing ---) holds nothing to ignore.
func OneDocument(name string, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return usererr.Errorf("config %s: %s", name, OneLine(strings.TrimPrefix(err.Error(), "yaml: ")))
		}
		empty := len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].ShortTag() == "!!null")
		if i >= 1 && !empty {
			line := n.Line
			if len(n.Content) > 0 {
				line = n.Content[0].Line
			}
			return usererr.Errorf("config %s: line %d: a second YAML document (after ---); a config is one document: remove the --- line or split the file", name, line)
		}
	}
}

// CheckValue checks a value given on the command line (what, e.g.
// `--set recipe.epochs=ten`) against type t, as CheckNode checks a file's,
// at the dotted field path.
func CheckValue(what string, node *yaml.Node, t reflect.Type, path string) error {
	return checkNode(func(line int) string { return what }, node, t, path)
}

// MaxFileSize is the most bytes ReadFile reads. A config or recipe is a
// few kilobytes (the longest shipped one is under 4 KiB); a mebibyte holds
// hundreds of methods with their parameters, and a larger file is a
// mistake (a data file, /dev/zero) rather than a config.
const MaxFileSize = 1 << 20

// ReadFile reads a YAML file of at most MaxFileSize bytes; what names the
// file in the error (e.g. "config", "--recipe"). It stops reading at the
// limit, so a device or a huge file costs no more than that.
func ReadFile(what, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("reading %s: %w", what, err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("reading %s %s: %w", what, path, err))
	}
	if len(b) > MaxFileSize {
		return nil, usererr.Errorf("%s %s: larger than %d bytes; is it a YAML file?", what, path, MaxFileSize)
	}
	return b, nil
}
