package cli

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/usererr"
	"unlearnbench/population"
	"unlearnbench/result"
)

// Flags that name two populations' values, labels and accuracies (score,
// attack).

// populationFlags are the inputs of the commands that read an unlearned and
// a retrained population from users' files.
type populationFlags struct {
	// unlearned and retrained are the one file or folder named, or the
	// first of several files (one per model); the lists hold them all.
	unlearned, retrained           string
	unlearnedList, retrainedList   []string
	labels                         string
	unlearnedAcc, retrainedAcc     string
	unlearnedRetain, unlearnedTest string
	retrainedRetain, retrainedTest string
	retainLabels, testLabels       string
	// keepLogits keeps every logit read (attacks need them); without it
	// each population is compacted to its confidences and accuracies as
	// soon as it is read, since a population's logits can be hundreds of
	// megabytes.
	keepLogits bool
}

func (f *populationFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.unlearnedList, "unlearned", nil, "unlearned models on the forget set: confidences [N, E] or logits [N, E, C] (.npy, .npz or FILE.npz:MEMBER; float16/32/64 or bfloat16 saved as uint16), or one .npy per model ([E] or [E, C]): a folder of them, or several files (a shell glob)")
	fl.StringArrayVar(&f.retrainedList, "retrained", nil, "retrained models on the forget set, as --unlearned")
	fl.StringVar(&f.labels, "labels", "", "forget-set labels [E] (integers), needed with logits")
	fl.StringVar(&f.unlearnedAcc, "unlearned-acc", "", "unlearned models' accuracies: CSV with retain and test columns, JSON, or NumPy (.npy of shape (N, 2): retain, test; .npz with members retain and test)")
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
func (f *populationFlags) fillFromArchives() {
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

// populations are the loaded inputs of one evaluation.
type populations struct {
	u, r   *population.Population
	labels *population.Labels
	// files names the files read, keyed by their role, for the result.
	files map[string]string
	// forgetDigest identifies the forget set by its labels, when given.
	forgetDigest string
	// warnings are about inputs that fit but are not all used.
	warnings []string
}

// popSide is one population's flags.
type popSide struct {
	name, spec, accFile, retain, test string
	// files lists one file per model when several were given.
	files []string
}

func (f *populationFlags) sides() []popSide {
	return []popSide{
		{"unlearned", f.unlearned, f.unlearnedAcc, f.unlearnedRetain, f.unlearnedTest, f.unlearnedList},
		{"retrained", f.retrained, f.retrainedAcc, f.retrainedRetain, f.retrainedTest, f.retrainedList},
	}
}

// readForget reads the side's forget-set values: one file or folder, or
// one file per model.
func (s popSide) readForget(like population.Like) (*population.Values, error) {
	if len(s.files) > 1 {
		return population.ReadValuesFilesLike(s.files, like, forgetMembers...)
	}
	return population.ReadValuesLike(s.spec, like, forgetMembers...)
}

// fileListFlags take several paths after one flag, as a shell glob expands
// them (--unlearned runs/u/*.npy).
var fileListFlags = []string{"--unlearned", "--retrained"}

// expandFileLists rewrites "--unlearned a b c" into "--unlearned a
// --unlearned b --unlearned c" for the commands that read populations, so
// that a shell glob after the flag reads every file rather than taking the
// second as a command name. A path that starts with "-" still needs
// "--unlearned=-x".
func expandFileLists(args []string) []string {
	cmd := ""
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			cmd = a
			break
		}
	}
	if cmd != "score" && cmd != "attack" {
		return args
	}
	out := make([]string, 0, len(args))
	flag := ""
	for _, a := range args {
		switch {
		case a == "--":
			flag = ""
		case slices.Contains(fileListFlags, a):
			flag = a
			out = append(out, a)
			continue
		case slices.ContainsFunc(fileListFlags, func(f string) bool { return strings.HasPrefix(a, f+"=") }):
			flag, _, _ = strings.Cut(a, "=")
			out = append(out, a)
			continue
		case flag != "" && !strings.HasPrefix(a, "-") && len(out) > 0 && out[len(out)-1] != flag:
			out = append(out, flag)
		case strings.HasPrefix(a, "-"):
			flag = ""
		}
		out = append(out, a)
	}
	return out
}

// hasAccuracies reports whether the flags give a side's accuracies, from a
// file or through both held-out sets' logits.
func (s popSide) hasAccuracies() bool { return s.accFile != "" || (s.retain != "" && s.test != "") }

func (f *populationFlags) load() (*populations, error) {
	if len(f.unlearnedList) > 0 {
		f.unlearned = f.unlearnedList[0]
	}
	if len(f.retrainedList) > 0 {
		f.retrained = f.retrainedList[0]
	}
	if f.unlearned == "" || f.retrained == "" {
		return nil, usererr.Errorf("--unlearned and --retrained are both required")
	}
	in := &populations{files: map[string]string{}, labels: &population.Labels{}}
	// Accuracies given twice: score reads held-out logits only for
	// accuracies, so both is a contradiction; attack also attacks with
	// them, so the file's accuracies win with a warning. Archive members
	// filled in below get the warning too.
	for _, s := range f.sides() {
		if s.accFile == "" || (s.retain == "" && s.test == "") {
			continue
		}
		if !f.keepLogits {
			return nil, usererr.Errorf("--%s-acc and --%s-retain/--%s-test both give the %s population's accuracies; give one of them", s.name, s.name, s.name, s.name)
		}
	}
	f.fillFromArchives()
	for _, s := range f.sides() {
		if s.accFile != "" && (s.retain != "" || s.test != "") {
			use := "are not read"
			if f.keepLogits {
				use = "serve the single-model attacks only"
			}
			in.warnings = append(in.warnings, fmt.Sprintf("%s population: accuracies from %s; its retain and test logits %s", s.name, s.accFile, use))
		}
	}
	if f.labels != "" {
		labels, name, err := population.ReadLabels(f.labels, forgetMembers...)
		if err != nil {
			return nil, err
		}
		in.files["labels"] = name
		in.labels.Forget, in.labels.ForgetName = labels, name
		in.forgetDigest = result.LabelsDigest(labels)
	}
	// One population at a time, so that without keepLogits only one
	// population's logits are in memory while it is compacted.
	var pops []*population.Population
	for _, s := range f.sides() {
		like := population.Like{}
		if len(pops) > 0 {
			first := pops[0].Forget
			like = population.Like{N: first.N, E: first.E, Of: first.Name}
		}
		v, err := s.readForget(like)
		if err != nil {
			return nil, err
		}
		in.warnings = append(in.warnings, v.Notes...)
		in.files[s.name] = v.Name
		p := &population.Population{Forget: v}
		if !f.keepLogits {
			p.Compact(in.labels)
		}
		if err := f.loadHeldOut(in, s, p); err != nil {
			return nil, err
		}
		pops = append(pops, p)
	}
	in.u, in.r = pops[0], pops[1]
	sides := f.sides()
	if sides[0].hasAccuracies() != sides[1].hasAccuracies() {
		missing := sides[1].name
		if !sides[0].hasAccuracies() {
			missing = sides[0].name
		}
		return nil, usererr.Errorf("accuracies were given for one population only; give the %s population's too (--%s-acc or --%s-retain/--%s-test)", missing, missing, missing, missing)
	}
	return in, nil
}

// loadHeldOut reads one population's accuracies file and its retain and test
// logits: for the attacks every one given, for the score only both
// together, for their accuracies, and only without an accuracies file.
func (f *populationFlags) loadHeldOut(in *populations, s popSide, p *population.Population) error {
	if s.accFile != "" {
		acc, err := population.ReadAccuracies(s.accFile)
		if err != nil {
			return err
		}
		if len(acc.Retain) != p.Forget.N {
			return usererr.Errorf("%s: %d models listed, but the %s population has N = %d", s.accFile, len(acc.Retain), s.name, p.Forget.N)
		}
		p.RetainAcc, p.TestAcc = acc.Retain, acc.Test
		in.files[s.name+"-acc"] = s.accFile
	}
	if !f.keepLogits && (s.accFile != "" || s.retain == "" || s.test == "") {
		return nil
	}
	for _, part := range []struct {
		field, spec, labelSpec string
		dst                    **population.Values
		labels                 *[]int
		labelsName             *string
	}{
		{"retain", s.retain, f.retainLabels, &p.Retain, &in.labels.Retain, &in.labels.RetainName},
		{"test", s.test, f.testLabels, &p.Test, &in.labels.Test, &in.labels.TestName},
	} {
		if part.spec == "" {
			continue
		}
		if part.labelSpec == "" {
			return usererr.Errorf("%s logits were given (%s) without --%s-labels", part.field, part.spec, part.field)
		}
		like := population.Like{N: p.Forget.N, Of: p.Forget.Name}
		var vals *population.Values
		var err error
		if len(s.files) > 1 && part.spec == npzMember(s.files[0], part.field) {
			// One archive per model (a run's cached member files): the
			// set's logits are stacked from every file, as the forget
			// set's are.
			vals, err = population.ReadValuesFilesLike(s.files, like, part.field)
		} else {
			vals, err = population.ReadValuesLike(part.spec, like)
		}
		if err != nil {
			return err
		}
		*part.dst = vals
		if *part.labels == nil {
			labels, name, err := population.ReadLabelsLike(part.labelSpec, vals.E, vals.Name, part.field, "labels")
			if err != nil {
				return err
			}
			*part.labels, *part.labelsName = labels, name
			// The attacks' results have always named their label
			// files; the score's never did, and its files stay as
			// they were.
			if f.keepLogits {
				in.files[part.field+"-labels"] = name
			}
		}
		in.files[s.name+"-"+part.field] = vals.Name
	}
	if err := p.CheckSizes(s.name); err != nil {
		return err
	}
	if !f.keepLogits {
		p.Compact(in.labels)
	}
	return nil
}

// result packages an evaluated method as a result file of command, with the
// files it was computed from and the forget set's digest.
func (in *populations) result(command string, m *result.Method) *result.Result {
	var data *result.DataSplit
	if in.forgetDigest != "" {
		data = &result.DataSplit{Forget: in.u.Forget.E, ForgetDigest: in.forgetDigest}
	}
	return result.NewFrom(command, in.files, data, *m)
}
