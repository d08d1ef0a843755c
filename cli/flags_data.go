package cli

import (
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"unlearnbench/datasets"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/training"
)

// Flags of the commands that read a data set (split, train, logits): the
// data source, a saved split, the part of it to use and its normalisation.

// dataFlags name the data set, an optional saved split and the part of it
// to use.
type dataFlags struct {
	source sourceFlags
	split  string
	limit  int
}

// sourceFlags name a data set and how to read it, the flags split, train
// and logits share.
type sourceFlags struct {
	spec      datasets.Spec
	imageSize string
}

func (s *sourceFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&s.spec.Name, "dataset", "fashion-mnist", "data set: "+strings.Join(datasets.Names, ", "))
	fl.StringVar(&s.spec.Data, "data", "", "folder or file holding the data (default for fashion-mnist: "+datasets.FashionMNISTDir+")")
	fl.StringVar(&s.imageSize, "image-size", "32x32", "folder data: size HxW every image is resized to")
	fl.IntVar(&s.spec.Channels, "channels", 3, "folder data: 3 (RGB) or 1 (grey)")
	fl.StringVar(&s.spec.Mapping, "mapping", "", "folder data: CSV with columns file and label and/or group")
	fl.StringVar(&s.spec.LabelColumn, "label-column", "label", "csv data: the label column")
}

// open parses --image-size into the spec and opens the data.
func (s *sourceFlags) open() (*datasets.Source, error) {
	if h, w, ok := strings.Cut(strings.ToLower(s.imageSize), "x"); ok {
		s.spec.Height, _ = strconv.Atoi(h)
		s.spec.Width, _ = strconv.Atoi(w)
	}
	if s.spec.Height <= 0 || s.spec.Width <= 0 {
		return nil, usererr.Errorf("--image-size %q: want HxW, e.g. 32x32", s.imageSize)
	}
	return datasets.Open(s.spec)
}

func (d *dataFlags) add(fl *pflag.FlagSet) {
	d.source.add(fl)
	fl.StringVar(&d.split, "split", "", "`DIR` of a saved split (from unlearnbench split); without it: the data's own train and test parts")
	fl.IntVar(&d.limit, "limit", 0, "use only the first N examples of each part (0: all), for quick runs")
}

func (d *dataFlags) open() (*datasets.Source, *datasets.Split, error) {
	if d.limit < 0 {
		return nil, nil, usererr.Errorf("--limit %d: want >= 0", d.limit)
	}
	src, err := d.source.open()
	if err != nil {
		return nil, nil, err
	}
	if d.split == "" {
		return src, nil, nil
	}
	s, err := datasets.LoadSplit(d.split)
	if err != nil {
		return nil, nil, err
	}
	if err := s.Check(src); err != nil {
		return nil, nil, err
	}
	return src, s, nil
}

// partNames are the parts --part accepts.
var partNames = []string{"train", "retain", "forget", "validation", "test"}

// part returns the dataset and indices of one part: with a split its sets
// (train = retain ∪ forget), without one the data's training or test part.
func (d *dataFlags) part(src *datasets.Source, s *datasets.Split, name string) (*datasets.Dataset, []int, error) {
	var ds *datasets.Dataset
	var idx []int
	all := func(x *datasets.Dataset) []int {
		out := make([]int, x.N)
		for i := range out {
			out[i] = i
		}
		return out
	}
	switch {
	case s != nil && name == "train":
		ds, idx = src.Train, s.Train()
	case s != nil && name == "retain":
		ds, idx = src.Train, s.Retain
	case s != nil && name == "forget":
		ds, idx = src.Train, s.Forget
	case s != nil && name == "validation":
		ds, idx = src.Train, s.Validation
	case s != nil && name == "test":
		ds, idx = s.TestSet(src), s.Test
	case s == nil && name == "train":
		ds, idx = src.Train, all(src.Train)
	case s == nil && name == "test":
		if src.Test == nil {
			return nil, nil, usererr.Errorf("%s has no test part; make a split with `unlearnbench split` and pass --split", src.Name)
		}
		ds, idx = src.Test, all(src.Test)
	case s == nil && slices.Contains(partNames, name):
		return nil, nil, usererr.Errorf("--part %s needs --split", name)
	default:
		return nil, nil, usererr.Errorf("--part %q: want one of %s", name, strings.Join(partNames, ", "))
	}
	if d.limit > 0 && len(idx) > d.limit {
		idx = idx[:d.limit]
	}
	return ds, idx, nil
}

// parseNormalize reads --normalize (datasets.ParseNormalization).
func parseNormalize(s string, channels int) (*datasets.Normalization, error) {
	n, err := datasets.ParseNormalization(s, channels)
	if err != nil {
		return nil, usererr.Errorf("--normalize %q: %v", s, err)
	}
	return n, nil
}

// selfNormalizing refuses --normalize (norm non-nil) for a model that
// normalises its own input, as every model of unlearnbench's zoo does: its
// input would be normalised twice and its logits silently wrong.
func selfNormalizing(norm *datasets.Normalization, m *nn.Model, path string) error {
	if norm != nil && m.Graph.Inits[m.Input+".norm_mean"] != nil {
		return usererr.Errorf("--normalize: %s normalises its own input (a model of unlearnbench's zoo takes the data as read); drop --normalize", path)
	}
	return nil
}

// loadNN copies the examples idx of ds, normalised by norm (nil: as read),
// into an nn.Data; training.Load, under the name cli's commands use.
func loadNN(ds *datasets.Dataset, idx []int, norm *datasets.Normalization) (*nn.Data, error) {
	return training.Load(ds, idx, norm)
}
