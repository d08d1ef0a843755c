package datasets

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/usererr"
)

// Amount is a number of examples (Count) or a fraction of the dataset's
// training part (Fraction, in (0, 1]); at most one is set.
type Amount struct {
	Count    int     `json:"count,omitempty"`
	Fraction float64 `json:"fraction,omitempty"`
}

// ParseAmount reads "600" as a count and "0.1" or "10%" as a fraction.
func ParseAmount(s string) (Amount, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !(f >= 0 && f <= 100) {
			return Amount{}, usererr.Errorf("amount %q: want a percentage from 0%% to 100%%", s)
		}
		return Amount{Fraction: f / 100}, nil
	}
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f >= 0 && f <= 1) {
			return Amount{}, usererr.Errorf("amount %q: want a count like 600 or a fraction from 0 to 1 like 0.1", s)
		}
		return Amount{Fraction: f}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return Amount{}, usererr.Errorf("amount %q: want a count like 600 or a fraction from 0 to 1 like 0.1", s)
	}
	return Amount{Count: n}, nil
}

// IsZero reports whether the amount asks for nothing.
func (a Amount) IsZero() bool { return a.Count == 0 && a.Fraction == 0 }

// Of is the number of examples the amount means out of n: the count, or
// the fraction of n rounded to the nearest integer.
func (a Amount) Of(n int) int {
	if a.Fraction != 0 {
		return int(math.Round(a.Fraction * float64(n)))
	}
	return a.Count
}

func (a Amount) String() string {
	if a.Fraction != 0 {
		return strconv.FormatFloat(a.Fraction, 'g', -1, 64)
	}
	return strconv.Itoa(a.Count)
}

// Strategy is how the forget set is chosen.
type Strategy string

// The forget-set strategies.
const (
	// ForgetRandom draws Amount examples uniformly, or per class in
	// proportion to the class sizes when Stratified.
	ForgetRandom Strategy = "random"
	// ForgetClasses takes every training example of the listed classes.
	ForgetClasses Strategy = "classes"
	// ForgetGroups takes every training example of the listed groups, or
	// of RandomGroups groups drawn uniformly (the competition forgot every
	// image of 15 people).
	ForgetGroups Strategy = "groups"
	// ForgetIndices takes the given training-part indices.
	ForgetIndices Strategy = "indices"
)

// ForgetConfig chooses the forget set.
type ForgetConfig struct {
	Strategy     Strategy `json:"strategy"`
	Amount       Amount   `json:"amount,omitzero"`         // random
	Stratified   bool     `json:"stratified,omitempty"`    // random
	Classes      []string `json:"classes,omitempty"`       // classes: names or numbers
	Groups       []string `json:"groups,omitempty"`        // groups: as the input names them
	RandomGroups int      `json:"random_groups,omitempty"` // groups: how many to draw
	// FirstGroups takes the groups with the smallest ids among those of
	// the training set (groups), as the first split of scikit-learn's
	// LeavePGroupsOut(n_groups=FirstGroups) does: it leaves out the
	// first combination of the sorted unique groups, the NeurIPS 2023
	// competition's forget set (surf.py, 15 people).
	FirstGroups int `json:"first_groups,omitempty"`
	// IndexFile is a .npy (or .npz:member) of training-part indices for
	// ForgetIndices; Indices may give them in memory instead.
	IndexFile string `json:"index_file,omitempty"`
	Indices   []int  `json:"-"`
}

// String describes the strategy in a few words.
func (f ForgetConfig) String() string {
	switch f.Strategy {
	case ForgetRandom:
		s := f.Amount.String() + " random examples"
		if f.Amount.Fraction != 0 {
			s = "random " + f.Amount.String() + " of the training part"
		}
		if f.Stratified {
			s += ", stratified by class"
		}
		return s
	case ForgetClasses:
		return "classes " + strings.Join(f.Classes, ", ")
	case ForgetGroups:
		if f.RandomGroups > 0 {
			return fmt.Sprintf("%d random groups", f.RandomGroups)
		}
		if f.FirstGroups > 0 {
			return fmt.Sprintf("the first %d groups", f.FirstGroups)
		}
		return "groups " + strings.Join(f.Groups, ", ")
	case ForgetIndices:
		if f.IndexFile != "" {
			return "indices from " + f.IndexFile
		}
		return fmt.Sprintf("%d given indices", len(f.Indices))
	}
	return string(f.Strategy)
}

// SplitConfig says how to split a Source. Fractions are of the dataset's
// training part, before anything is set aside.
type SplitConfig struct {
	Seed uint64 `json:"seed"`
	// Test is carved from the training part for data without a test part,
	// and must be zero for data with one.
	Test Amount `json:"test,omitzero"`
	// Validation is drawn from the training part after the forget set, so
	// it never holds forget examples.
	Validation Amount       `json:"validation,omitzero"`
	Forget     ForgetConfig `json:"forget"`
	// PythonShuffle, when set, splits as the NeurIPS 2023 competition's
	// surf.py: the training part, in the data's order, is shuffled by
	// Python's random.Random(*PythonShuffle).shuffle; with test and
	// validation fractions t and v, the first int((1-t-v)·n) of the
	// shuffle are the training set (retain and forget), those up to
	// int((1-t)·n) the validation set and the rest the test set (surf.py's
	// int(0.8·n) and int(0.9·n) for 0.1 and 0.1; a count takes that many
	// instead). The validation set may then hold examples of the forget
	// set's groups, as surf.py's does.
	PythonShuffle *uint64 `json:"python_shuffle,omitempty"`
}

// Split is a reproducible partition of a Source. Retain, Forget and
// Validation index the source's training part; Test indexes its test part,
// or the training part when the source has none (TestFromTrain). Every slice
// is sorted ascending; Retain, Forget, Validation (and Test, when it comes
// from the training part) are pairwise disjoint. The training set of the
// original model is Retain ∪ Forget (Train()).
type Split struct {
	Dataset       string      `json:"dataset"`
	Fingerprint   string      `json:"fingerprint"`
	TrainPart     int         `json:"train_part"`
	TestPart      int         `json:"test_part"`
	TestFromTrain bool        `json:"test_from_train"`
	Config        SplitConfig `json:"config"`
	// ChosenGroups names the groups of the forget set, for ForgetGroups.
	ChosenGroups []string `json:"chosen_groups,omitempty"`

	Retain     []int `json:"-"`
	Forget     []int `json:"-"`
	Validation []int `json:"-"`
	Test       []int `json:"-"`
}

// Train returns Retain ∪ Forget, sorted: the original model's training set.
func (s *Split) Train() []int {
	out := make([]int, 0, len(s.Retain)+len(s.Forget))
	out = append(append(out, s.Retain...), s.Forget...)
	slices.Sort(out)
	return out
}

// TestSet is the dataset that Test indexes.
func (s *Split) TestSet(src *Source) *Dataset {
	if s.TestFromTrain {
		return src.Train
	}
	return src.Test
}

// Random streams, one per decision, so that changing how the forget set is
// chosen does not move the test or validation examples.
const (
	streamTest = iota + 1
	streamForget
	streamValidation
)

func newRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// MakeSplit splits src as cfg says. In order: the test split (the source's
// own, or cfg.Test carved at random from the training part), the forget set
// from the rest of the training part, the validation split from what is not
// forgotten, and the retain set, which is everything left.
func MakeSplit(src *Source, cfg SplitConfig) (*Split, error) {
	train := src.Train
	n := train.N
	s := &Split{Dataset: src.Name, Fingerprint: Fingerprint(src), TrainPart: n, Config: cfg}
	pool := make([]int, n)
	for i := range pool {
		pool[i] = i
	}
	if cfg.PythonShuffle != nil {
		return makeShuffledSplit(src, s)
	}
	if src.Test != nil {
		if !cfg.Test.IsZero() {
			return nil, usererr.Errorf("%s has its own test part (%d examples); a test size applies only to data without one", src.Name, src.Test.N)
		}
		s.TestPart = src.Test.N
		s.Test = make([]int, src.Test.N)
		for i := range s.Test {
			s.Test[i] = i
		}
	} else {
		k := cfg.Test.Of(n)
		if k <= 0 {
			return nil, usererr.Errorf("%s has no test part: give a test size (a count or a fraction of its %d examples)", src.Name, n)
		}
		if k >= n {
			return nil, usererr.Errorf("%s: test split of %d leaves nothing of its %d examples to train on", src.Name, k, n)
		}
		s.TestFromTrain = true
		s.Test, pool = choose(newRand(cfg.Seed, streamTest), pool, k)
	}

	forget, err := s.chooseForget(train, pool, newRand(cfg.Seed, streamForget))
	if err != nil {
		return nil, err
	}
	if len(forget) == 0 {
		return nil, usererr.Errorf("%s: the forget set (%s) is empty", src.Name, cfg.Forget)
	}
	s.Forget = forget
	rest := minus(pool, forget)
	if len(rest) == 0 {
		return nil, usererr.Errorf("%s: the forget set (%s) is the whole training set of %d; nothing would be retained", src.Name, cfg.Forget, len(pool))
	}
	k := cfg.Validation.Of(n)
	if k < 0 || k >= len(rest) {
		return nil, usererr.Errorf("%s: a validation split of %d leaves no retain set (%d training examples are not forgotten)", src.Name, k, len(rest))
	}
	s.Validation, s.Retain = choose(newRand(cfg.Seed, streamValidation), rest, k)
	if err := s.verify(); err != nil {
		return nil, fmt.Errorf("internal error: %w", err)
	}
	return s, nil
}

// makeShuffledSplit is MakeSplit with PythonShuffle: test, validation and
// training set cut from one fixed shuffle, the forget set chosen from the
// training set.
func makeShuffledSplit(src *Source, s *Split) (*Split, error) {
	cfg, n := s.Config, src.Train.N
	if src.Test != nil {
		return nil, usererr.Errorf("%s has its own test part (%d examples); python_shuffle cuts the test set from one shuffled part, as surf.py does", src.Name, src.Test.N)
	}
	perm, err := PythonShuffle(*cfg.PythonShuffle, n)
	if err != nil {
		return nil, err
	}
	// cut is where a part ends: surf.py's int(f·n), f a float64 as
	// Python's, truncated; 1-0.1 and 0.9-0.1 are 0.9 and 0.8 exactly in
	// float64, so (0.1, 0.1) cuts where surf.py does.
	fracEnd := 1.0
	cut := func(a Amount, end int) int {
		if a.Fraction != 0 {
			fracEnd -= a.Fraction
			return int(fracEnd * float64(n))
		}
		return end - a.Count
	}
	valEnd := cut(cfg.Test, n)
	trainEnd := cut(cfg.Validation, valEnd)
	if cfg.Test.IsZero() || trainEnd <= 0 || valEnd > n || trainEnd > valEnd {
		return nil, usererr.Errorf("%s: a test split of %s and a validation split of %s leave no training set of its %d examples (python_shuffle needs a test size)", src.Name, cfg.Test, cfg.Validation, n)
	}
	sorted := func(p []int) []int { p = slices.Clone(p); slices.Sort(p); return p }
	pool := sorted(perm[:trainEnd])
	s.TestFromTrain = true
	s.Validation, s.Test = sorted(perm[trainEnd:valEnd]), sorted(perm[valEnd:])
	forget, err := s.chooseForget(src.Train, pool, newRand(cfg.Seed, streamForget))
	if err != nil {
		return nil, err
	}
	if len(forget) == 0 || len(forget) == len(pool) {
		return nil, usererr.Errorf("%s: the forget set (%s) holds %d of the training set's %d examples; both it and the retain set must be non-empty", src.Name, cfg.Forget, len(forget), len(pool))
	}
	s.Forget, s.Retain = forget, minus(pool, forget)
	if err := s.verify(); err != nil {
		return nil, fmt.Errorf("internal error: %w", err)
	}
	return s, nil
}

// choose draws k of the sorted pool uniformly (a partial Fisher-Yates
// shuffle of a copy) and returns the chosen and the others, both sorted.
func choose(r *rand.Rand, pool []int, k int) (chosen, rest []int) {
	p := slices.Clone(pool)
	for i := range k {
		j := i + r.IntN(len(p)-i)
		p[i], p[j] = p[j], p[i]
	}
	chosen, rest = p[:k:k], p[k:]
	slices.Sort(chosen)
	slices.Sort(rest)
	return chosen, rest
}

// minus returns the sorted a without the sorted b.
func minus(a, b []int) []int {
	out := make([]int, 0, len(a))
	j := 0
	for _, v := range a {
		for j < len(b) && b[j] < v {
			j++
		}
		if j < len(b) && b[j] == v {
			continue
		}
		out = append(out, v)
	}
	return out
}

func (s *Split) chooseForget(d *Dataset, pool []int, r *rand.Rand) ([]int, error) {
	f := s.Config.Forget
	switch f.Strategy {
	case ForgetRandom:
		k := f.Amount.Of(d.N)
		if k > len(pool) {
			return nil, usererr.Errorf("%s: a forget set of %d is larger than the training set (%d examples)", d.Name, k, len(pool))
		}
		if !f.Stratified {
			chosen, _ := choose(r, pool, k)
			return chosen, nil
		}
		return chooseStratified(r, d, pool, k), nil
	case ForgetClasses:
		if len(f.Classes) == 0 {
			return nil, usererr.Errorf("%s: no classes to forget given", d.Name)
		}
		want := make([]bool, d.Classes)
		for _, c := range f.Classes {
			k, err := d.LookupClass(c)
			if err != nil {
				return nil, err
			}
			want[k] = true
		}
		return filter(pool, func(i int) bool { return want[d.Labels[i]] }), nil
	case ForgetGroups:
		return s.chooseGroups(d, pool, r)
	case ForgetIndices:
		return forgetIndices(d, f, pool)
	case "":
		return nil, usererr.Errorf("%s: no forget strategy given; want one of random, classes, groups, indices", d.Name)
	default:
		return nil, usererr.Errorf("%s: unknown forget strategy %q; want one of random, classes, groups, indices", d.Name, f.Strategy)
	}
}

// chooseStratified draws k of pool with each class's share proportional to
// its size in pool (largest remainders, ties to the lower class), then
// uniformly within each class.
func chooseStratified(r *rand.Rand, d *Dataset, pool []int, k int) []int {
	byClass := make([][]int, d.Classes)
	for _, i := range pool {
		byClass[d.Labels[i]] = append(byClass[d.Labels[i]], i)
	}
	quota := make([]int, d.Classes)
	rem := make([]float64, d.Classes)
	given := 0
	for c, idx := range byClass {
		exact := float64(k) * float64(len(idx)) / float64(len(pool))
		quota[c] = int(math.Floor(exact))
		rem[c] = exact - float64(quota[c])
		given += quota[c]
	}
	order := make([]int, d.Classes)
	for c := range order {
		order[c] = c
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case rem[a] > rem[b]:
			return -1
		case rem[a] < rem[b]:
			return 1
		}
		return 0
	})
	for _, c := range order {
		if given == k {
			break
		}
		if quota[c] < len(byClass[c]) {
			quota[c]++
			given++
		}
	}
	var out []int
	for c, idx := range byClass {
		chosen, _ := choose(r, idx, quota[c])
		out = append(out, chosen...)
	}
	slices.Sort(out)
	return out
}

func (s *Split) chooseGroups(d *Dataset, pool []int, r *rand.Rand) ([]int, error) {
	f := s.Config.Forget
	if d.Groups == nil {
		return nil, usererr.Errorf("%s has no group ids (give a group column or a groups array)", d.Name)
	}
	if n := btoi(f.RandomGroups > 0) + btoi(f.FirstGroups > 0) + btoi(len(f.Groups) > 0); n != 1 {
		return nil, usererr.Errorf("%s: give one of a number of random groups, a number of first groups or a list of groups to forget", d.Name)
	}
	inPool := map[int64]int{}
	for _, i := range pool {
		inPool[d.Groups[i]]++
	}
	var chosen []int64
	if f.FirstGroups > 0 {
		// LeavePGroupsOut's first split: numpy.unique sorts the groups,
		// and the first combination of FirstGroups of them is the first
		// FirstGroups. Groups are numbered in sorted order of their names
		// (or are the numbers themselves), so the smallest ids are those.
		ids := slices.Sorted(maps.Keys(inPool))
		if f.FirstGroups > len(ids) {
			return nil, usererr.Errorf("%s: the first %d groups asked for, but the training set has %d groups", d.Name, f.FirstGroups, len(ids))
		}
		chosen = ids[:f.FirstGroups]
	} else if f.RandomGroups > 0 {
		ids := make([]int64, 0, len(inPool))
		for g := range inPool {
			ids = append(ids, g)
		}
		slices.Sort(ids)
		if f.RandomGroups > len(ids) {
			return nil, usererr.Errorf("%s: %d random groups asked for, but the training set has %d groups", d.Name, f.RandomGroups, len(ids))
		}
		for i := range f.RandomGroups {
			j := i + r.IntN(len(ids)-i)
			ids[i], ids[j] = ids[j], ids[i]
		}
		chosen = ids[:f.RandomGroups]
	} else {
		for _, name := range f.Groups {
			g, ok := d.LookupGroup(name)
			if !ok || !slices.Contains(d.Groups, g) {
				return nil, usererr.Errorf("%s: no group %q in the data", d.Name, name)
			}
			if inPool[g] == 0 {
				return nil, usererr.Errorf("%s: group %q has no examples in the training set (all are in the test split)", d.Name, name)
			}
			chosen = append(chosen, g)
		}
	}
	slices.Sort(chosen)
	chosen = slices.Compact(chosen)
	s.ChosenGroups = make([]string, len(chosen))
	want := make(map[int64]bool, len(chosen))
	for i, g := range chosen {
		s.ChosenGroups[i] = d.GroupName(g)
		want[g] = true
	}
	return filter(pool, func(i int) bool { return want[d.Groups[i]] }), nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// filter returns the elements of pool that keep accepts, in order.
func filter(pool []int, keep func(int) bool) []int {
	var out []int
	for _, i := range pool {
		if keep(i) {
			out = append(out, i)
		}
	}
	return out
}

func forgetIndices(d *Dataset, f ForgetConfig, pool []int) ([]int, error) {
	what := "the given forget indices"
	idx := f.Indices
	if f.IndexFile != "" {
		if f.Indices != nil {
			return nil, usererr.Errorf("%s: give forget indices in a file or in memory, not both", d.Name)
		}
		a, err := arrays.Load(f.IndexFile, "forget", "indices")
		if err != nil {
			return nil, err
		}
		if len(a.Shape) != 1 {
			return nil, usererr.Errorf("%s: shape %s; want a 1-D array of training-set indices", a.Name, a.ShapeString())
		}
		vals, err := a.Ints()
		if err != nil {
			return nil, err
		}
		what = a.Name
		idx = make([]int, len(vals))
		for i, v := range vals {
			if v < 0 || v >= int64(d.N) {
				return nil, usererr.Errorf("%s: element %d = %d is outside the training set (indices 0 to %d)", what, i, v, d.N-1)
			}
			idx[i] = int(v)
		}
	}
	inPool := make([]bool, d.N)
	for _, i := range pool {
		inPool[i] = true
	}
	first := map[int]int{}
	for i, v := range idx {
		if v < 0 || v >= d.N {
			return nil, usererr.Errorf("%s: element %d = %d is outside the training set (indices 0 to %d)", what, i, v, d.N-1)
		}
		if !inPool[v] {
			return nil, usererr.Errorf("%s: element %d = %d is in the test split carved from the training part", what, i, v)
		}
		if j, ok := first[v]; ok {
			return nil, usererr.Errorf("%s: element %d = %d repeats element %d", what, i, v, j)
		}
		first[v] = i
	}
	out := slices.Clone(idx)
	slices.Sort(out)
	return out, nil
}

// verify checks what a Split promises: sorted, in range, disjoint sets, and
// retain, forget and validation (and a test carved from the training part)
// covering the training part exactly.
func (s *Split) verify() error {
	sets := []struct {
		name string
		idx  []int
		max  int
	}{
		{"retain", s.Retain, s.TrainPart},
		{"forget", s.Forget, s.TrainPart},
		{"validation", s.Validation, s.TrainPart},
		{"test", s.Test, s.TrainPart},
	}
	if !s.TestFromTrain {
		sets[3].max = s.TestPart
	}
	covered := len(s.Retain) + len(s.Forget) + len(s.Validation)
	if s.TestFromTrain {
		covered += len(s.Test)
	}
	if s.TrainPart != covered || s.TestPart < 0 || (s.TestFromTrain && s.TestPart != 0) {
		return usererr.Errorf("split: the training part has %d examples, but the splits hold %d of them", s.TrainPart, covered)
	}
	owner := make([]int8, s.TrainPart)
	for k, set := range sets {
		for i, v := range set.idx {
			if v < 0 || v >= set.max {
				return usererr.Errorf("%s split: element %d = %d is outside [0, %d)", set.name, i, v, set.max)
			}
			if i > 0 && v <= set.idx[i-1] {
				return usererr.Errorf("%s split: element %d = %d is not above element %d = %d (indices must be sorted and distinct)", set.name, i, v, i-1, set.idx[i-1])
			}
			if set.name == "test" && !s.TestFromTrain {
				continue
			}
			if o := owner[v]; o != 0 {
				return usererr.Errorf("%s split: index %d is also in the %s split", set.name, v, sets[o-1].name)
			}
			owner[v] = int8(k + 1)
		}
	}
	for i, o := range owner {
		if o == 0 {
			return usererr.Errorf("split: training-part index %d is in no split (retain, forget, validation%s)", i, map[bool]string{true: ", test", false: ""}[s.TestFromTrain])
		}
	}
	if len(s.Forget) == 0 || len(s.Retain) == 0 {
		return usererr.Errorf("split: %d retain and %d forget examples; both must be non-empty", len(s.Retain), len(s.Forget))
	}
	if !s.TestFromTrain && len(s.Test) != s.TestPart {
		return usererr.Errorf("test split: %d indices, but the data set's test part has %d examples", len(s.Test), s.TestPart)
	}
	return nil
}

// Fingerprint hashes a source's shapes, labels and group ids, so that a split saved for
// one data set is not applied to another by mistake.
func Fingerprint(src *Source) string {
	h := sha256.New()
	for _, d := range []*Dataset{src.Train, src.Test} {
		if d == nil {
			h.Write([]byte("none"))
			continue
		}
		var b [8]byte
		for _, v := range []int{d.N, d.C, d.H, d.W, d.Classes} {
			binary.LittleEndian.PutUint64(b[:], uint64(v))
			h.Write(b[:])
		}
		lab := make([]byte, 2*len(d.Labels))
		for i, y := range d.Labels {
			binary.LittleEndian.PutUint16(lab[2*i:], uint16(y))
		}
		h.Write(lab)
		if d.Groups != nil {
			// Groups decide group splits, so a split knows which ones it saw.
			grp := make([]byte, 8*len(d.Groups))
			for i, g := range d.Groups {
				binary.LittleEndian.PutUint64(grp[8*i:], uint64(g))
			}
			h.Write(grp)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Check reports whether the split was made for src (same parts and labels).
func (s *Split) Check(src *Source) error {
	if fp := Fingerprint(src); fp != s.Fingerprint {
		test := 0
		if src.Test != nil {
			test = src.Test.N
		}
		return usererr.Errorf("split was made for %s (%d training, %d test examples, labels %s), not for this %s (%d, %d, labels %s)",
			s.Dataset, s.TrainPart, s.TestPart, short(s.Fingerprint), src.Name, src.Train.N, test, short(fp))
	}
	return nil
}

func short(fp string) string {
	if len(fp) > 19 {
		return fp[:19]
	}
	return fp
}
