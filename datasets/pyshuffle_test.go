package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestPythonShuffleMatchesCPython compares with CPython 3.11's
// random.Random(seed).shuffle, printed by datasets/testdata/pyshuffle.py:
// the first 12 positions and the SHA-256 of the whole permutation.
func TestPythonShuffleMatchesCPython(t *testing.T) {
	for _, c := range []struct {
		seed   uint64
		n      int
		first  []int
		digest string
	}{
		{43, 2, []int{1, 0}, "b0e4f9bb7b55e4b181760ae93c958c14b451a7556206dfa952d81f0f2165a9da"},
		{43, 3, []int{2, 1, 0}, "93e83202bc995e39e14b2199ae39d60b64892d0491364503ac2adde2e3d92e3b"},
		{43, 1000, []int{64, 461, 401, 241, 916, 634, 953, 426, 183, 501, 349, 984}, "3b2b74142bf63df1320a846ca7495c70d18a212b3972a527dacf3cb3e7c3b881"},
		{43, 20647, []int{13900, 2501, 10473, 2163, 10144, 1126, 50, 16822, 2912, 12059, 1426, 15489}, "5f8e6612812d955df55931ca629fbaca2bf97618ba369b1247e2fb07e6da5841"},
		{0, 100, []int{23, 8, 11, 7, 48, 13, 1, 91, 94, 54, 16, 63}, "ceb1f8dfeeb81d0249d057b4e313eef29745a283ccda317cab65fbabe69f87db"},
		{1099511627781, 500, []int{220, 104, 148, 211, 147, 367, 379, 160, 130, 150, 158, 366}, "9d82f59fe054ff266638c06ad841552563800ea240ad80906e7c78d876a6fef9"},
		{123456789, 70000, []int{637, 28992, 10447, 68327, 68535, 69851, 45883, 18779, 19322, 38980, 34864, 43521}, "509b3feefb1a0287f6a00566107e7f790da4d712687afae3e7f31d5cb7c51ec6"},
	} {
		p, err := PythonShuffle(c.seed, c.n)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p[:len(c.first)], c.first) {
			t.Errorf("seed %d, n %d: starts %v, want %v", c.seed, c.n, p[:len(c.first)], c.first)
		}
		s := make([]string, len(p))
		for i, v := range p {
			s[i] = strconv.Itoa(v)
		}
		sum := sha256.Sum256([]byte(strings.Join(s, ",")))
		if got := hex.EncodeToString(sum[:]); got != c.digest {
			t.Errorf("seed %d, n %d: digest %s, want %s", c.seed, c.n, got, c.digest)
		}
	}
}

// TestPythonShuffleSplit: surf.py's split of Fashion-MNIST's training part
// shuffled by random.Random(43), cut 80/10/10 at int(0.8·n) and
// int(0.9·n), the forget set every example of the 15 groups with the
// smallest ids in the training set (LeavePGroupsOut's first split).
func TestPythonShuffleSplit(t *testing.T) {
	full := withGroups(loadFashion(t), 1000)
	src := &Source{Name: "fashion-train", Train: full.Train}
	seed := uint64(43)
	cfg := SplitConfig{PythonShuffle: &seed, Test: Amount{Fraction: 0.1}, Validation: Amount{Fraction: 0.1},
		Forget: ForgetConfig{Strategy: ForgetGroups, FirstGroups: 15}}
	s, err := MakeSplit(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	perm, _ := PythonShuffle(43, 60000)
	sorted := func(p []int) []int { p = slices.Clone(p); slices.Sort(p); return p }
	if !slices.Equal(s.Validation, sorted(perm[48000:54000])) || !slices.Equal(s.Test, sorted(perm[54000:])) || !slices.Equal(s.Train(), sorted(perm[:48000])) {
		t.Fatalf("parts %d train, %d validation, %d test do not follow the shuffle's cuts at 48000 and 54000", len(s.Train()), len(s.Validation), len(s.Test))
	}
	groups := map[int64]bool{}
	for _, i := range s.Train() {
		groups[src.Train.Groups[i]] = true
	}
	first := slices.Sorted(maps.Keys(groups))[:15]
	want := filter(s.Train(), func(i int) bool { return slices.Contains(first, src.Train.Groups[i]) })
	if !slices.Equal(s.Forget, want) || len(s.ChosenGroups) != 15 || s.ChosenGroups[0] != src.Train.GroupName(first[0]) {
		t.Errorf("forget %d examples of groups %v; want the %d examples of groups %v", len(s.Forget), s.ChosenGroups, len(want), first)
	}
	// The validation set holds examples of the forgotten groups, as surf.py's does.
	if !slices.ContainsFunc(s.Validation, func(i int) bool { return slices.Contains(first, src.Train.Groups[i]) }) {
		t.Errorf("no validation example of a forgotten group")
	}
	cfg.Test = Amount{}
	if _, err := MakeSplit(src, cfg); err == nil || !strings.Contains(err.Error(), "needs a test size") {
		t.Errorf("no test size: %v", err)
	}
	if _, err := MakeSplit(full, SplitConfig{PythonShuffle: &seed, Forget: cfg.Forget}); err == nil || !strings.Contains(err.Error(), "own test part") {
		t.Errorf("data with a test part: %v", err)
	}
}

// TestGatherRaw: the bytes as floats 0-255, where Gather divides by 255.
func TestGatherRaw(t *testing.T) {
	src := loadFashion(t)
	idx := []int{59999, 3, 3}
	x, y, err := GatherRaw(src.Train, idx)
	if err != nil {
		t.Fatal(err)
	}
	scaled, ys, _ := Gather(src.Train, idx, nil)
	s := src.Train.Size()
	nonZero := 0
	for j, i := range idx {
		for k := range s {
			v := src.Train.Pixels[i*s+k]
			if x[j*s+k] != float32(v) || scaled[j*s+k] != float32(float64(v)/255) {
				t.Fatalf("example %d value %d: raw %v, scaled %v, byte %d", i, k, x[j*s+k], scaled[j*s+k], v)
			}
			if v > 1 {
				nonZero++
			}
		}
	}
	if nonZero == 0 || !slices.Equal(y, ys) {
		t.Errorf("%d values above 1; labels %v, want %v", nonZero, y, ys)
	}
	f := &Dataset{Name: "floats", N: 1, C: 1, H: 1, W: 1, Classes: 1, Labels: []int64{0}, Values: []float32{0.5}}
	if _, _, err := GatherRaw(f, []int{0}); err == nil || !strings.Contains(err.Error(), "8-bit") {
		t.Errorf("float data: %v", err)
	}
}
