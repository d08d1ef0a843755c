package cli

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/progress"
	"unlearnbench/internal/usererr"
	"unlearnbench/population"
	"unlearnbench/reports"
	"unlearnbench/scoring"
)

func init() { subcommands = append(subcommands, newScoreCmd) }

// scoreFlags are the score command's inputs; attack reads the same ones.
type scoreFlags struct {
	unlearned, retrained           string
	labels                         string
	unlearnedAcc, retrainedAcc     string
	unlearnedRetain, unlearnedTest string
	retrainedRetain, retrainedTest string
	retainLabels, testLabels       string
	// keepLogits keeps the forget-set logits after the confidences are
	// computed (attacks need them); score lets them go, since a
	// population's logits can be hundreds of megabytes.
	keepLogits bool
}

func (f *scoreFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.unlearned, "unlearned", "", "unlearned models on the forget set: confidences [N, E] or logits [N, E, C] (.npy, .npz or FILE.npz:MEMBER)")
	fl.StringVar(&f.retrained, "retrained", "", "retrained models on the forget set, as --unlearned")
	fl.StringVar(&f.labels, "labels", "", "forget-set labels [E] (integers), needed with logits")
	fl.StringVar(&f.unlearnedAcc, "unlearned-acc", "", "unlearned models' accuracies: CSV with retain and test columns, or JSON")
	fl.StringVar(&f.retrainedAcc, "retrained-acc", "", "retrained models' accuracies, as --unlearned-acc")
	fl.StringVar(&f.unlearnedRetain, "unlearned-retain", "", "unlearned models' logits on the retain set [N, R, C], for accuracies and single-model attacks")
	fl.StringVar(&f.unlearnedTest, "unlearned-test", "", "unlearned models' logits on the test set [N, T, C], for accuracies and single-model attacks")
	fl.StringVar(&f.retrainedRetain, "retrained-retain", "", "retrained models' logits on the retain set")
	fl.StringVar(&f.retrainedTest, "retrained-test", "", "retrained models' logits on the test set")
	fl.StringVar(&f.retainLabels, "retain-labels", "", "retain-set labels [R]")
	fl.StringVar(&f.testLabels, "test-labels", "", "test-set labels [T]")
}

// npzMember names member of an .npz archive given without a member, when the
// archive holds it; otherwise "".
func npzMember(spec, member string) string {
	if spec == "" || !strings.EqualFold(filepath.Ext(spec), ".npz") {
		return ""
	}
	members, err := arrays.NPZMembers(spec)
	if err != nil || !slices.Contains(members, member) {
		return ""
	}
	return spec + ":" + member
}

// fillFromArchives lets one .npz per population carry everything, the way a
// PyTorch user would np.savez it: members forget, retain and test in the
// populations' archives, and the same names in the labels archive.
func (f *scoreFlags) fillFromArchives() {
	fill := func(dst *string, spec, member string) {
		if *dst == "" {
			*dst = npzMember(spec, member)
		}
	}
	fill(&f.unlearnedRetain, f.unlearned, "retain")
	fill(&f.unlearnedTest, f.unlearned, "test")
	fill(&f.retrainedRetain, f.retrained, "retain")
	fill(&f.retrainedTest, f.retrained, "test")
	fill(&f.retainLabels, f.labels, "retain")
	fill(&f.testLabels, f.labels, "test")
}

// forgetMembers are the archive members read as forget-set values or labels
// when the archive holds several and none is named.
var forgetMembers = []string{"forget", "confidences", "logits", "labels"}

// inputs are the loaded populations.
type inputs struct {
	u, r        *scoring.Population
	uVals, rVal *population.Values
	files       map[string]string
	// labels are the forget set's labels (nil when not given), and
	// labelsName where they came from.
	labels     []int
	labelsName string
	// heldOut keeps the retain/test logits read for accuracies, keyed
	// "unlearned-retain" etc., when keepLogits is set.
	heldOut map[string]*population.Values
	// forgetAcc holds each population's per-model forget-set accuracy,
	// computed while its logits are in memory (nil for confidences).
	forgetAcc map[string][]float64
	// forgetDigest identifies the forget set by its labels, when given.
	forgetDigest string
}

func (f *scoreFlags) load() (*inputs, error) {
	if f.unlearned == "" || f.retrained == "" {
		return nil, usererr.Errorf("--unlearned and --retrained are both required")
	}
	f.fillFromArchives()
	in := &inputs{files: map[string]string{}, forgetAcc: map[string][]float64{}}
	var labels []int
	labelsName := ""
	var err error
	if f.labels != "" {
		if labels, labelsName, err = population.ReadLabels(f.labels, forgetMembers...); err != nil {
			return nil, err
		}
		in.files["labels"] = labelsName
		in.labels, in.labelsName = labels, labelsName
		in.forgetDigest = reports.LabelsDigest(labels)
	}
	// One population at a time, so that only one population's logits are
	// in memory while its confidences are computed.
	for _, side := range []struct {
		name string
		spec string
		vals **population.Values
		pop  **scoring.Population
	}{{"unlearned", f.unlearned, &in.uVals, &in.u}, {"retrained", f.retrained, &in.rVal, &in.r}} {
		v, err := population.ReadValues(side.spec, forgetMembers...)
		if err != nil {
			return nil, err
		}
		in.files[side.name] = v.Name
		if in.uVals != nil {
			if in.uVals.N != v.N {
				return nil, usererr.Errorf("%s has N = %d models but %s has N = %d; the score compares populations of the same size", in.uVals.Name, in.uVals.N, v.Name, v.N)
			}
			if in.uVals.E != v.E {
				return nil, usererr.Errorf("%s has E = %d forget examples but %s has E = %d", in.uVals.Name, in.uVals.E, v.Name, v.E)
			}
		}
		if v.N < 3 {
			return nil, usererr.Errorf("%s: N = %d models; the score needs at least 3 per population", v.Name, v.N)
		}
		p := &scoring.Population{N: v.N, E: v.E}
		if p.Conf, err = v.Confidences(labels, labelsName); err != nil {
			return nil, usererr.Wrap(err)
		}
		if v.IsLogits() {
			if in.forgetAcc[side.name], err = v.Accuracies(labels, labelsName); err != nil {
				return nil, usererr.Wrap(err)
			}
		}
		if !f.keepLogits {
			v.Logits = nil
		}
		*side.vals, *side.pop = v, p
	}
	if err := f.loadAccuracies(in); err != nil {
		return nil, err
	}
	return in, nil
}

func (f *scoreFlags) loadAccuracies(in *inputs) error {
	type side struct {
		name         string
		pop          *scoring.Population
		accFile      string
		retain, test string
	}
	sides := []side{
		{"unlearned", in.u, f.unlearnedAcc, f.unlearnedRetain, f.unlearnedTest},
		{"retrained", in.r, f.retrainedAcc, f.retrainedRetain, f.retrainedTest},
	}
	for _, s := range sides {
		switch {
		case s.accFile != "":
			acc, err := population.ReadAccuracies(s.accFile)
			if err != nil {
				return err
			}
			if len(acc.Retain) != s.pop.N {
				return usererr.Errorf("%s: %d models listed, but the %s population has N = %d", s.accFile, len(acc.Retain), s.name, s.pop.N)
			}
			s.pop.RetainAcc, s.pop.TestAcc = acc.Retain, acc.Test
			in.files[s.name+"-acc"] = s.accFile
		case s.retain != "" && s.test != "":
			for _, part := range []struct {
				field, spec, labels string
				dst                 *[]float64
			}{{"retain", s.retain, f.retainLabels, &s.pop.RetainAcc}, {"test", s.test, f.testLabels, &s.pop.TestAcc}} {
				if part.labels == "" {
					return usererr.Errorf("%s logits were given (%s) without --%s-labels", part.field, part.spec, part.field)
				}
				vals, err := population.ReadValues(part.spec)
				if err != nil {
					return err
				}
				if vals.N != s.pop.N {
					return usererr.Errorf("%s has N = %d models, but the %s population has N = %d", vals.Name, vals.N, s.name, s.pop.N)
				}
				labels, labelsName, err := population.ReadLabels(part.labels, part.field, "labels")
				if err != nil {
					return err
				}
				if *part.dst, err = vals.Accuracies(labels, labelsName); err != nil {
					return usererr.Wrap(err)
				}
				if f.keepLogits {
					if in.heldOut == nil {
						in.heldOut = map[string]*population.Values{}
					}
					in.heldOut[s.name+"-"+part.field] = vals
				}
				in.files[s.name+"-"+part.field] = vals.Name
			}
		}
	}
	if (in.u.RetainAcc == nil) != (in.r.RetainAcc == nil) {
		missing := "retrained"
		if in.u.RetainAcc == nil {
			missing = "unlearned"
		}
		return usererr.Errorf("accuracies were given for one population only; give the %s population's too (--%s-acc or --%s-retain/--%s-test)", missing, missing, missing, missing)
	}
	return nil
}

// Examples whose confidences a result keeps for the report's plots.
const (
	plotWorst   = 3
	plotTypical = 3
)

// result packages a score of the loaded populations as a result file:
// the score, both populations with their per-model accuracies, the
// confidences of the examples the report plots, and the forget set's
// digest.
func (in *inputs) result(command, method string, res *scoring.Result) *reports.Result {
	result := reports.New(command)
	result.Inputs = in.files
	if in.forgetDigest != "" {
		result.Data = &reports.DataSplit{Forget: in.u.E, ForgetDigest: in.forgetDigest}
	}
	m := reports.NewMethod(method, res)
	for _, side := range []struct {
		role string
		pop  *scoring.Population
	}{{scoring.Unlearned, in.u}, {scoring.Retrained, in.r}} {
		p := reports.NewPopulation(side.role, side.pop)
		p.ForgetAcc = in.forgetAcc[side.role]
		m.Populations = append(m.Populations, p)
	}
	m.KeepDistributions(in.u, in.r, plotWorst, plotTypical)
	result.Methods = []reports.Method{m}
	return result
}

func newScoreCmd() *cobra.Command {
	var (
		in        scoreFlags
		jsonOut   string
		reportDir string
		method    string
		worst     int
		workers   int
	)
	cmd := &cobra.Command{
		Use:   "score",
		Short: "Score an unlearned population against a retrained one, exactly as the NeurIPS 2023 competition",
		Long: `score computes the NeurIPS 2023 Machine Unlearning competition's score:
per forget example, the competition's decision rules try to tell the unlearned
models from the retrained ones; their error rates give an epsilon, the epsilon
a bucket and points, the points' mean the forgetting quality F, and F times
the accuracy ratios the final score.

Inputs are NumPy files as PyTorch users save them: confidences [N, E] or logits
[N, E, C] (then --labels). One .npz per population may hold members forget,
retain and test, with a labels .npz holding the same names.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if worst < 0 {
				return usererr.Errorf("--worst is %d; want 0 or more", worst)
			}
			loaded, err := in.load()
			if err != nil {
				return err
			}
			bar := progress.New(cmd.ErrOrStderr(), "scoring", loaded.u.E)
			res, err := scoring.Score(loaded.u, loaded.r, scoring.Options{Workers: workers, Progress: bar.Set})
			bar.Done()
			if err != nil {
				return usererr.Wrap(fmt.Errorf("scoring %s against %s: %w", loaded.uVals.Name, loaded.rVal.Name, err))
			}
			result := loaded.result("score", method, res)
			if jsonOut != "" {
				if err := result.Write(jsonOut); err != nil {
					return err
				}
			}
			if err := reports.WriteScore(cmd.OutOrStdout(), &result.Methods[0], worst); err != nil {
				return err
			}
			return writeReport(cmd, result, reportDir)
		},
	}
	in.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&jsonOut, "json", "", "write the full result (per-example epsilons, winning rules, buckets, warnings) to this JSON file")
	fl.StringVar(&method, "method", "unlearned", "name of the unlearning method, for tables and the result file")
	fl.IntVar(&worst, "worst", 10, "how many of the worst-forgotten examples to list")
	fl.IntVar(&workers, "workers", 0, "examples scored in parallel (0: one per core)")
	addReportFlag(cmd, &reportDir)
	return cmd
}
