package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/spf13/cobra"

	"unlearnbench/datasets"
	"unlearnbench/internal/usererr"
)

func init() { subcommands = append(subcommands, newSplitCmd) }

// splitFlags holds one invocation's flags (commands are rebuilt per run).
type splitFlags struct {
	source           sourceFlags
	seed             uint64
	test, validation string
	random           string
	stratified       bool
	classes, groups  []string
	randomGroups     int
	indices          string
	out              string
}

func newSplitCmd() *cobra.Command {
	var f splitFlags
	cmd := &cobra.Command{
		Use:   "split --out DIR (--forget-random N | --forget-classes C,... | --forget-groups G,... | --forget-random-groups K | --forget-indices FILE)",
		Short: "Build a reproducible retain/forget/validation/test split and save it as .npy indices plus split.json",
		Long: `Split a data set into retain, forget, validation and test sets and save them
in --out: retain.npy, forget.npy and validation.npy index the data's training
part, test.npy its test part (or the training part for data without one);
split.json records the data, the seed and the strategy. The same flags and
seed give the same indices on every run.

Fractions (0.1, 10%) are of the data's training part. The forget set is
chosen first, then the validation set from what is not forgotten; the retain
set is the rest.

Data sets: ` + strings.Join(datasets.Names, ", ") + `. fashion-mnist reads
` + datasets.FashionMNISTDir + ` unless --data says otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSplit(cmd, &f) },
	}
	fl := cmd.Flags()
	f.source.add(fl)
	fl.StringVar(&f.source.spec.GroupColumn, "group-column", "", "csv data: the group column")
	fl.StringVar(&f.source.spec.GroupsFile, "groups", "", "`FILE` (.npy) of group ids, one per training example, for data without groups")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of every random choice")
	fl.StringVar(&f.test, "test", "", "test size carved from data without a test part (default 0.1 for those)")
	fl.StringVar(&f.validation, "validation", "0.1", "validation size (count or fraction)")
	fl.StringVar(&f.random, "forget-random", "", "forget N random training examples (count or fraction)")
	fl.BoolVar(&f.stratified, "stratified", false, "with --forget-random: the same share of every class")
	fl.StringSliceVar(&f.classes, "forget-classes", nil, "forget every training example of these classes (names or numbers)")
	fl.StringSliceVar(&f.groups, "forget-groups", nil, "forget every training example of these groups")
	fl.IntVar(&f.randomGroups, "forget-random-groups", 0, "forget every training example of K random groups")
	fl.StringVar(&f.indices, "forget-indices", "", "forget the training examples whose indices this .npy holds")
	fl.StringVarP(&f.out, "out", "o", "", "folder to write the split into (required)")
	return cmd
}

func runSplit(cmd *cobra.Command, f *splitFlags) error {
	if f.out == "" {
		return usererr.Errorf("split: --out DIR is required")
	}
	fc, err := forgetConfig(cmd, f)
	if err != nil {
		return err
	}
	if err := checkOutputs(output{flag: "--out", path: f.out, dir: true}); err != nil {
		return err
	}
	cfg := datasets.SplitConfig{Seed: f.seed, Forget: fc}
	if cfg.Validation, err = datasets.ParseAmount(f.validation); err != nil {
		return usererr.Wrap(fmt.Errorf("--validation: %w", err))
	}
	src, err := f.source.open()
	if err != nil {
		return err
	}
	switch {
	case f.test != "":
		if cfg.Test, err = datasets.ParseAmount(f.test); err != nil {
			return usererr.Wrap(fmt.Errorf("--test: %w", err))
		}
	case src.Test == nil:
		cfg.Test = datasets.Amount{Fraction: 0.1}
	}
	s, err := datasets.MakeSplit(src, cfg)
	if err != nil {
		return err
	}
	if err := s.Save(f.out); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintln(w, src)
	fmt.Fprintf(w, "split with seed %d, forget: %s; written to %s\n", f.seed, fc, f.out)
	if len(s.ChosenGroups) > 0 {
		g := s.ChosenGroups
		more := ""
		if len(g) > 20 {
			g, more = g[:20], fmt.Sprintf(" and %d more", len(s.ChosenGroups)-20)
		}
		fmt.Fprintf(w, "forgotten groups: %s%s\n", strings.Join(g, ", "), more)
	}
	splitTable(w, src, s)
	return nil
}

// forgetConfig reads the one forget-strategy flag that must be given.
func forgetConfig(cmd *cobra.Command, f *splitFlags) (datasets.ForgetConfig, error) {
	var given []string
	for _, name := range []string{"forget-random", "forget-classes", "forget-groups", "forget-random-groups", "forget-indices"} {
		if cmd.Flags().Changed(name) {
			given = append(given, "--"+name)
		}
	}
	if len(given) != 1 {
		return datasets.ForgetConfig{}, usererr.Errorf("split: give exactly one of --forget-random, --forget-classes, --forget-groups, --forget-random-groups, --forget-indices (got %d%s)", len(given), strings.Join(append([]string{""}, given...), " "))
	}
	if f.stratified && given[0] != "--forget-random" {
		return datasets.ForgetConfig{}, usererr.Errorf("split: --stratified applies only to --forget-random")
	}
	switch given[0] {
	case "--forget-random":
		a, err := datasets.ParseAmount(f.random)
		if err != nil {
			return datasets.ForgetConfig{}, usererr.Wrap(fmt.Errorf("--forget-random: %w", err))
		}
		return datasets.ForgetConfig{Strategy: datasets.ForgetRandom, Amount: a, Stratified: f.stratified}, nil
	case "--forget-classes":
		return datasets.ForgetConfig{Strategy: datasets.ForgetClasses, Classes: f.classes}, nil
	case "--forget-groups":
		return datasets.ForgetConfig{Strategy: datasets.ForgetGroups, Groups: f.groups}, nil
	case "--forget-random-groups":
		if f.randomGroups <= 0 {
			return datasets.ForgetConfig{}, usererr.Errorf("--forget-random-groups %d: want at least 1", f.randomGroups)
		}
		return datasets.ForgetConfig{Strategy: datasets.ForgetGroups, RandomGroups: f.randomGroups}, nil
	default:
		return datasets.ForgetConfig{Strategy: datasets.ForgetIndices, IndexFile: f.indices}, nil
	}
}

// splitTable prints the examples of each set per class (per class only up
// to 20 classes; totals always).
func splitTable(w io.Writer, src *datasets.Source, s *datasets.Split) {
	tr := src.Train
	sets := [][]int{
		tr.ClassCounts(s.Retain), tr.ClassCounts(s.Forget), tr.ClassCounts(s.Validation),
		s.TestSet(src).ClassCounts(s.Test),
	}
	t := tablewriter.NewWriter(w)
	t.SetHeader([]string{"class", "retain", "forget", "validation", "test"})
	t.SetAutoFormatHeaders(false)
	t.SetAutoWrapText(false)
	t.SetHeaderAlignment(tablewriter.ALIGN_LEFT) // as reports' tables
	t.SetAlignment(tablewriter.ALIGN_RIGHT)
	t.SetColumnAlignment([]int{tablewriter.ALIGN_LEFT, tablewriter.ALIGN_RIGHT, tablewriter.ALIGN_RIGHT, tablewriter.ALIGN_RIGHT, tablewriter.ALIGN_RIGHT})
	if tr.Classes <= 20 {
		for c := range tr.Classes {
			row := []string{tr.ClassName(c)}
			for _, counts := range sets {
				row = append(row, strconv.Itoa(counts[c]))
			}
			t.Append(row)
		}
	}
	total := []string{"total"}
	for _, set := range [][]int{s.Retain, s.Forget, s.Validation, s.Test} {
		total = append(total, strconv.Itoa(len(set)))
	}
	t.Append(total)
	t.Render()
}
