package run

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"unlearnbench/datasets"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/population"
)

// sets are the split's sets as the models see them.
type sets struct {
	train, retain, forget, validation, test *nn.Data
	labels                                  *population.Labels
	split                                   *datasets.Split
	src                                     *datasets.Source
	trainIdx                                []int
	// recipe is what the original and retrain train with
	// (trainingRecipe: the config's, class weights computed).
	recipe nn.TrainConfig
}

// truncated keeps the first k examples of d (k <= 0 or >= N: d itself).
func truncated(d *datasets.Dataset, k int) *datasets.Dataset {
	if d == nil || k <= 0 || k >= d.N {
		return d
	}
	c := *d
	c.Name = fmt.Sprintf("%s[:%d]", d.Name, k)
	c.N = k
	c.Labels = d.Labels[:k]
	if d.Groups != nil {
		c.Groups = d.Groups[:k]
	}
	if d.Pixels != nil {
		c.Pixels = d.Pixels[:k*d.Size()]
	}
	if d.Values != nil {
		c.Values = d.Values[:k*d.Size()]
	}
	return &c
}

// openSource opens the config's data set.
func openSource(cfg *Config) (*datasets.Source, error) {
	d := cfg.Data
	spec := datasets.Spec{Name: d.Dataset, Data: d.Path, Channels: d.Channels, Mapping: d.Mapping,
		LabelColumn: d.LabelColumn, GroupColumn: d.GroupColumn, GroupsFile: d.Groups}
	if h, w, ok := strings.Cut(strings.ToLower(d.ImageSize), "x"); ok {
		spec.Height, _ = strconv.Atoi(h)
		spec.Width, _ = strconv.Atoi(w)
	}
	if spec.Height <= 0 || spec.Width <= 0 {
		return nil, usererr.Errorf("config %s: data.image_size %q: want HxW, e.g. 32x32", cfg.File, d.ImageSize)
	}
	return datasets.Open(spec)
}

// loadData reads the data, splits it and copies each set for the models.
// A done ctx stops it between two sets with ctx's error.
func loadData(ctx context.Context, cfg *Config) (*sets, error) {
	file := cfg.File
	src, err := openSource(cfg)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	src.Train = truncated(src.Train, cfg.Data.TrainExamples)
	src.Test = truncated(src.Test, cfg.Data.TestExamples)
	fc, err := cfg.Split.Forget.config(file)
	if err != nil {
		return nil, err
	}
	sc := datasets.SplitConfig{Seed: cfg.Split.Seed, Forget: fc, PythonShuffle: cfg.Split.PythonShuffle}
	if sc.Validation, err = datasets.ParseAmount(cfg.Split.Validation); err != nil {
		return nil, usererr.Errorf("config %s: split.validation: %v", file, err)
	}
	switch {
	case cfg.Split.Test != "":
		if sc.Test, err = datasets.ParseAmount(cfg.Split.Test); err != nil {
			return nil, usererr.Errorf("config %s: split.test: %v", file, err)
		}
	case src.Test == nil:
		sc.Test = datasets.Amount{Fraction: 0.1}
	}
	split, err := datasets.MakeSplit(src, sc)
	if err != nil {
		return nil, usererr.Errorf("config %s: split: %v", file, err)
	}
	var norm *datasets.Normalization
	if cfg.Original != "" {
		if norm, err = datasets.ParseNormalization(cfg.Normalize, src.Train.C); err != nil {
			return nil, usererr.Errorf("config %s: normalize %q: %v", file, cfg.Normalize, err)
		}
	} else if cfg.Normalize != "" {
		return nil, usererr.Errorf("config %s: normalize is for imported originals; zoo models normalise their own input", file)
	}
	s := &sets{split: split, src: src, trainIdx: split.Train()}
	for _, p := range []struct {
		dst **nn.Data
		ds  *datasets.Dataset
		idx []int
	}{{&s.train, src.Train, s.trainIdx}, {&s.retain, src.Train, split.Retain}, {&s.forget, src.Train, split.Forget},
		{&s.validation, src.Train, split.Validation}, {&s.test, split.TestSet(src), split.Test}} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		gather := func() ([]float32, []int64, error) { return datasets.Gather(p.ds, p.idx, norm) }
		if cfg.Data.PixelScale == "raw" {
			gather = func() ([]float32, []int64, error) { return datasets.GatherRaw(p.ds, p.idx) }
		}
		x, y, err := gather()
		if err != nil {
			return nil, err
		}
		*p.dst = &nn.Data{Shape: []int64{int64(p.ds.C), int64(p.ds.H), int64(p.ds.W)}, X: x, Y: y}
	}
	ints := func(d *nn.Data) []int {
		out := make([]int, len(d.Y))
		for i, y := range d.Y {
			out[i] = int(y)
		}
		return out
	}
	if s.recipe, err = trainingRecipe(cfg, s); err != nil {
		return nil, err
	}
	s.labels = &population.Labels{Forget: ints(s.forget), Retain: ints(s.retain), Test: ints(s.test),
		ForgetName: "forget labels", RetainName: "retain labels", TestName: "test labels"}
	return s, nil
}
