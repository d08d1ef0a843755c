package datasets

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"unlearnbench/internal/usererr"
)

// CSVOptions configures LoadCSV.
type CSVOptions struct {
	Path        string
	LabelColumn string // header name of the label column; "" means "label"
	GroupColumn string // header name of the group column; "" means none
}

// LoadCSV reads a table with a header row: the label column (integers from
// 0, or names, numbered in sorted order), an optional group column, and
// numeric features in every other column. Each feature becomes a channel of
// a 1x1 example. A table has no test part.
func LoadCSV(opt CSVOptions) (*Source, error) {
	if opt.Path == "" {
		return nil, usererr.Errorf("csv: no file given; point --data at a CSV file")
	}
	if opt.LabelColumn == "" {
		opt.LabelColumn = "label"
	}
	f, err := os.Open(opt.Path)
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("csv: %w", err))
	}
	defer f.Close()
	return readCSV(f, opt)
}

func readCSV(r io.Reader, opt CSVOptions) (*Source, error) {
	name := opt.Path
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("%s: header: %w", name, err))
	}
	header = slices.Clone(header) // the reader reuses its record

	labelCol, groupCol := -1, -1
	for i, h := range header {
		switch strings.TrimSpace(h) {
		case opt.LabelColumn:
			labelCol = i
		case opt.GroupColumn:
			if opt.GroupColumn != "" {
				groupCol = i
			}
		}
	}
	if labelCol < 0 {
		return nil, usererr.Errorf("%s: header %q has no label column %q (name it with --label-column)", name, header, opt.LabelColumn)
	}
	if opt.GroupColumn != "" && groupCol < 0 {
		return nil, usererr.Errorf("%s: header %q has no group column %q", name, header, opt.GroupColumn)
	}
	features := len(header) - 1
	if groupCol >= 0 {
		features--
	}
	if features == 0 {
		return nil, usererr.Errorf("%s: no feature columns besides the label", name)
	}
	var values []float32
	var labels, groups []string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, usererr.Wrap(fmt.Errorf("%s: %w", name, err))
		}
		for i, cell := range rec {
			switch i {
			case labelCol:
				if strings.TrimSpace(cell) == "" {
					line, _ := cr.FieldPos(i)
					return nil, usererr.Errorf("%s:%d: empty label", name, line)
				}
				labels = append(labels, strings.TrimSpace(cell))
			case groupCol:
				groups = append(groups, strings.TrimSpace(cell))
			default:
				v, err := strconv.ParseFloat(strings.TrimSpace(cell), 32)
				if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
					line, col := cr.FieldPos(i)
					return nil, usererr.Errorf("%s:%d:%d: column %q: %q is not a finite number", name, line, col, header[i], cell)
				}
				values = append(values, float32(v))
			}
		}
	}
	if len(labels) == 0 {
		return nil, usererr.Errorf("%s: no rows after the header", name)
	}
	ids, classNames, classes, err := internStrings(labels, "label", name)
	if err != nil {
		return nil, err
	}
	d := &Dataset{Name: "csv/train", N: len(labels), C: features, H: 1, W: 1, Classes: classes, ClassNames: classNames, Labels: ids, Values: values}
	if groupCol >= 0 {
		if d.Groups, d.GroupNames, _, err = internStrings(groups, "group", name); err != nil {
			return nil, err
		}
	}
	return &Source{Name: "csv", Train: d}, d.validate()
}
