package population

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/usererr"
)

// Accuracies holds one retain and one test accuracy per model.
type Accuracies struct {
	Name   string
	Retain []float64
	Test   []float64
}

// Column names accepted for the two accuracies, in CSV headers and JSON keys.
var (
	retainNames = []string{"retain", "retain_acc", "retain_accuracy", "ra"}
	testNames   = []string{"test", "test_acc", "test_accuracy", "ta"}
)

// ReadAccuracies reads per-model accuracies from a CSV file (a header row
// naming a "retain" and a "test" column, one row per model; other columns
// are ignored) or a JSON file ({"retain": [...], "test": [...]} or
// [{"retain": r, "test": t}, ...]), or NumPy: an .npy of shape (N, 2),
// columns retain and test, or an .npz with members "retain" and "test" of
// shape (N,). Every accuracy must lie in [0, 1].
func ReadAccuracies(path string) (*Accuracies, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy", ".npz":
		return readAccuracyArrays(path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("reading %s: %w", path, err))
	}
	var acc *Accuracies
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		acc, err = parseAccuracyCSV(path, data)
	case ".json":
		acc, err = parseAccuracyJSON(path, data)
	default:
		return nil, usererr.Errorf("%s: unsupported accuracy file type %q; want .csv, .json, .npy or .npz", path, filepath.Ext(path))
	}
	if err != nil {
		return nil, err
	}
	if len(acc.Retain) == 0 {
		return nil, usererr.Errorf("%s: no models listed", path)
	}
	return acc, nil
}

// readAccuracyArrays reads accuracies saved with NumPy (see ReadAccuracies).
func readAccuracyArrays(path string) (*Accuracies, error) {
	acc := &Accuracies{Name: path}
	column := func(spec string, a *arrays.Array) ([]float64, error) {
		if !a.IsFloat() {
			return nil, usererr.Errorf("%s: dtype %s (%s); accuracies are floats in [0, 1]", spec, a.DType, a.Kind())
		}
		return a.Float64s()
	}
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		a, err := arrays.Load(path)
		if err != nil {
			return nil, err
		}
		if len(a.Shape) != 2 || a.Shape[1] != 2 {
			return nil, usererr.Errorf("%s: shape %s; want (N, 2), columns retain and test", path, a.ShapeString())
		}
		v, err := column(path, a)
		if err != nil {
			return nil, err
		}
		for i := 0; i < a.Shape[0]; i++ {
			acc.Retain = append(acc.Retain, v[2*i])
			acc.Test = append(acc.Test, v[2*i+1])
		}
	} else {
		members, err := arrays.NPZMembers(path)
		if err != nil {
			return nil, err
		}
		for _, col := range []struct {
			names []string
			dst   *[]float64
		}{{retainNames, &acc.Retain}, {testNames, &acc.Test}} {
			i := slices.IndexFunc(members, func(m string) bool { return slices.Contains(col.names, strings.ToLower(m)) })
			if i < 0 {
				return nil, usererr.Errorf("%s: members %s; want %q and %q of shape (N,)", path, strings.Join(members, ", "), "retain", "test")
			}
			spec := path + ":" + members[i]
			a, err := arrays.Load(spec)
			if err != nil {
				return nil, err
			}
			if len(a.Shape) != 1 {
				return nil, usererr.Errorf("%s: shape %s; want (N,)", spec, a.ShapeString())
			}
			if *col.dst, err = column(spec, a); err != nil {
				return nil, err
			}
		}
		if len(acc.Retain) != len(acc.Test) {
			return nil, usererr.Errorf("%s: %d retain accuracies but %d test accuracies", path, len(acc.Retain), len(acc.Test))
		}
	}
	for i := range acc.Retain {
		for _, x := range []struct {
			field string
			v     float64
		}{{"retain", acc.Retain[i]}, {"test", acc.Test[i]}} {
			if err := checkAccuracy(x.v); err != nil {
				return nil, usererr.Errorf("%s: model %d, %s accuracy: %v", path, i, x.field, err)
			}
		}
	}
	if len(acc.Retain) == 0 {
		return nil, usererr.Errorf("%s: no models listed", path)
	}
	return acc, nil
}

// findColumn returns the one column of header whose name is among names
// (-1 for none); two such columns ("retain" twice, or "retain" and
// "retain_acc") are an error rather than a silent choice of the first.
func findColumn(path string, header []string, names []string) (int, error) {
	found := -1
	for i, h := range header {
		if !slices.Contains(names, strings.ToLower(strings.TrimSpace(h))) {
			continue
		}
		if found >= 0 {
			return -1, usererr.Errorf("%s: line 1: columns %d (%q) and %d (%q) both name the %s accuracy; keep one", path, found+1, strings.TrimSpace(header[found]), i+1, strings.TrimSpace(h), names[0])
		}
		found = i
	}
	return found, nil
}

func parseAccuracyCSV(path string, data []byte) (*Accuracies, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, usererr.Errorf("%s: empty file; want a header with retain and test columns", path)
		}
		return nil, usererr.Wrap(fmt.Errorf("%s: %w", path, err))
	}
	ri, err := findColumn(path, header, retainNames)
	if err != nil {
		return nil, err
	}
	ti, err := findColumn(path, header, testNames)
	if err != nil {
		return nil, err
	}
	if ri < 0 || ti < 0 {
		return nil, usererr.Errorf("%s: line 1: header %q needs a %q and a %q column", path, strings.Join(header, ","), "retain", "test")
	}
	acc := &Accuracies{Name: path}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, usererr.Wrap(fmt.Errorf("%s: %w", path, err))
		}
		line, _ := r.FieldPos(0)
		for _, col := range []struct {
			idx   int
			field string
			dst   *[]float64
		}{{ri, header[ri], &acc.Retain}, {ti, header[ti], &acc.Test}} {
			v, err := parseAccuracy(rec[col.idx])
			if err != nil {
				return nil, usererr.Errorf("%s: line %d, field %q: %v", path, line, strings.TrimSpace(col.field), err)
			}
			*col.dst = append(*col.dst, v)
		}
	}
	return acc, nil
}

func parseAccuracy(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("value %q is not a number", s)
	}
	return v, checkAccuracy(v)
}

func checkAccuracy(v float64) error {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return fmt.Errorf("value %v is outside [0, 1]", v)
	}
	return nil
}

func parseAccuracyJSON(path string, data []byte) (*Accuracies, error) {
	acc := &Accuracies{Name: path}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var rows []map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &rows); err != nil {
			return nil, usererr.Wrap(fmt.Errorf("%s: want a list of {\"retain\": r, \"test\": t} objects: %w", path, err))
		}
		for i, row := range rows {
			for _, col := range []struct {
				names []string
				dst   *[]float64
			}{{retainNames, &acc.Retain}, {testNames, &acc.Test}} {
				key, raw, err := lookup(row, col.names)
				if err != nil {
					return nil, usererr.Errorf("%s: model %d: %v", path, i, err)
				}
				if key == "" {
					return nil, usererr.Errorf("%s: model %d: no %q field", path, i, col.names[0])
				}
				var v float64
				if err := json.Unmarshal(raw, &v); err != nil {
					return nil, usererr.Errorf("%s: model %d, field %q: value %s is not a number", path, i, key, raw)
				}
				if err := checkAccuracy(v); err != nil {
					return nil, usererr.Errorf("%s: model %d, field %q: %v", path, i, key, err)
				}
				*col.dst = append(*col.dst, v)
			}
		}
		return acc, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		return nil, usererr.Wrap(fmt.Errorf("%s: want {\"retain\": [...], \"test\": [...]}: %w", path, err))
	}
	for _, col := range []struct {
		names []string
		dst   *[]float64
	}{{retainNames, &acc.Retain}, {testNames, &acc.Test}} {
		key, raw, err := lookup(obj, col.names)
		if err != nil {
			return nil, usererr.Errorf("%s: %v", path, err)
		}
		if key == "" {
			return nil, usererr.Errorf("%s: no %q field", path, col.names[0])
		}
		if err := json.Unmarshal(raw, col.dst); err != nil {
			return nil, usererr.Errorf("%s: field %q: want a list of numbers: %v", path, key, err)
		}
		for i, v := range *col.dst {
			if err := checkAccuracy(v); err != nil {
				return nil, usererr.Errorf("%s: field %q, model %d: %v", path, key, i, err)
			}
		}
	}
	if len(acc.Retain) != len(acc.Test) {
		return nil, usererr.Errorf("%s: %d retain accuracies but %d test accuracies", path, len(acc.Retain), len(acc.Test))
	}
	return acc, nil
}

// lookup finds the one key of m among names, ignoring case; two such keys
// ("retain" and "retain_acc", or "retain" and "Retain") are an error rather
// than a silent choice. Keys are tried in sorted order, so that messages
// never depend on map order.
func lookup(m map[string]json.RawMessage, names []string) (string, json.RawMessage, error) {
	found := ""
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(names, strings.ToLower(k)) {
			continue
		}
		if found != "" {
			return "", nil, fmt.Errorf("fields %q and %q both name the %s accuracy; keep one", found, k, names[0])
		}
		found = k
	}
	return found, m[found], nil
}
