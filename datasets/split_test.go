package datasets

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"unlearnbench/internal/arrays"
)

// withGroups returns a copy of src whose training part has group ids: example
// i belongs to group i % k (named "g<id>" when named).
func withGroups(src *Source, k int) *Source {
	tr := *src.Train
	tr.Groups = make([]int64, tr.N)
	for i := range tr.Groups {
		tr.Groups[i] = int64(i % k)
	}
	return &Source{Name: src.Name, Train: &tr, Test: src.Test}
}

func TestSplitStrategiesOnFashionMNIST(t *testing.T) {
	src := loadFashion(t)
	idxFile := filepath.Join(t.TempDir(), "forget.npy")
	if err := arrays.WriteNPY(idxFile, arrays.Tensor[int64]{Shape: []int{4}, Data: []int64{59999, 0, 17, 123}}); err != nil {
		t.Fatal(err)
	}
	grouped := withGroups(src, 1000)
	for _, c := range []struct {
		name   string
		src    *Source
		forget ForgetConfig
		check  func(t *testing.T, s *Split)
	}{
		{"random count", src, ForgetConfig{Strategy: ForgetRandom, Amount: Amount{Count: 600}}, func(t *testing.T, s *Split) {
			if len(s.Forget) != 600 {
				t.Errorf("forget %d", len(s.Forget))
			}
		}},
		{"random fraction stratified", src, ForgetConfig{Strategy: ForgetRandom, Amount: Amount{Fraction: 0.01}, Stratified: true}, func(t *testing.T, s *Split) {
			for c, n := range src.Train.ClassCounts(s.Forget) {
				if n != 60 {
					t.Errorf("class %d: %d forgotten, want 60", c, n)
				}
			}
		}},
		{"classes", src, ForgetConfig{Strategy: ForgetClasses, Classes: []string{"Bag", "5"}}, func(t *testing.T, s *Split) {
			counts := src.Train.ClassCounts(s.Forget)
			if len(s.Forget) != 12000 || counts[8] != 6000 || counts[5] != 6000 {
				t.Errorf("forget %d, counts %v", len(s.Forget), counts)
			}
		}},
		{"random groups", grouped, ForgetConfig{Strategy: ForgetGroups, RandomGroups: 15}, func(t *testing.T, s *Split) {
			if len(s.Forget) != 15*60 || len(s.ChosenGroups) != 15 {
				t.Errorf("forget %d, groups %v", len(s.Forget), s.ChosenGroups)
			}
			for _, i := range s.Forget {
				if !slices.Contains(s.ChosenGroups, grouped.Train.GroupName(grouped.Train.Groups[i])) {
					t.Fatalf("example %d of group %d not chosen", i, grouped.Train.Groups[i])
				}
			}
		}},
		{"listed groups", grouped, ForgetConfig{Strategy: ForgetGroups, Groups: []string{"7", "999"}}, func(t *testing.T, s *Split) {
			if len(s.Forget) != 120 || s.Forget[0] != 7 || s.Forget[1] != 999 || !slices.Equal(s.ChosenGroups, []string{"7", "999"}) {
				t.Errorf("forget %v..., groups %v", s.Forget[:2], s.ChosenGroups)
			}
		}},
		{"index file", src, ForgetConfig{Strategy: ForgetIndices, IndexFile: idxFile}, func(t *testing.T, s *Split) {
			if !slices.Equal(s.Forget, []int{0, 17, 123, 59999}) {
				t.Errorf("forget %v", s.Forget)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := SplitConfig{Seed: 1, Validation: Amount{Fraction: 0.1}, Forget: c.forget}
			s, err := MakeSplit(c.src, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Validation) != 6000 || len(s.Test) != 10000 || s.TestFromTrain || len(s.Retain)+len(s.Forget)+6000 != 60000 {
				t.Errorf("retain %d forget %d validation %d test %d", len(s.Retain), len(s.Forget), len(s.Validation), len(s.Test))
			}
			if err := s.verify(); err != nil {
				t.Error(err)
			}
			c.check(t, s)
			again, err := MakeSplit(c.src, cfg)
			if err != nil || !reflect.DeepEqual(s, again) {
				t.Errorf("the same seed gave another split (%v)", err)
			}
			cfg.Seed = 2
			other, err := MakeSplit(c.src, cfg)
			if err != nil || slices.Equal(s.Validation, other.Validation) {
				t.Errorf("seed 2 gave the same validation split (%v)", err)
			}
			// Saved and loaded back, it is the same split.
			dir := t.TempDir()
			if err := s.Save(dir); err != nil {
				t.Fatal(err)
			}
			back, err := LoadSplit(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s, back) {
				t.Errorf("loaded split differs:\n%+v\n%+v", s.Config, back.Config)
			}
			if err := back.Check(c.src); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSplitGolden pins the indices a seed gives, so that a change to the
// random streams (which would silently change every saved experiment) fails.
func TestSplitGolden(t *testing.T) {
	src := loadFashion(t)
	s, err := MakeSplit(src, SplitConfig{Seed: 42, Validation: Amount{Count: 3}, Forget: ForgetConfig{Strategy: ForgetRandom, Amount: Amount{Count: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3760, 5579, 6517, 57275, 58102}; !slices.Equal(s.Forget, want) {
		t.Errorf("forget %v, want %v", s.Forget, want)
	}
	if want := []int{5010, 42309, 56483}; !slices.Equal(s.Validation, want) {
		t.Errorf("validation %v, want %v", s.Validation, want)
	}
}

func TestSplitCarvesTest(t *testing.T) {
	d := &Dataset{Name: "t/train", N: 100, C: 1, H: 1, W: 1, Classes: 2, Labels: make([]int64, 100), Values: make([]float32, 100), Groups: make([]int64, 100)}
	for i := range d.Labels {
		d.Labels[i] = int64(i % 2)
		d.Groups[i] = int64(i / 10)
	}
	src := &Source{Name: "t", Train: d}
	s, err := MakeSplit(src, SplitConfig{Seed: 3, Test: Amount{Fraction: 0.1}, Validation: Amount{Fraction: 0.1}, Forget: ForgetConfig{Strategy: ForgetGroups, RandomGroups: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if !s.TestFromTrain || len(s.Test) != 10 || len(s.Validation) != 10 || len(s.Retain)+len(s.Forget) != 80 {
		t.Errorf("test %d validation %d retain %d forget %d", len(s.Test), len(s.Validation), len(s.Retain), len(s.Forget))
	}
	// Only the groups' training examples are forgotten: some may be in test.
	for _, i := range s.Forget {
		if slices.Contains(s.Test, i) {
			t.Errorf("forget example %d is in the test split", i)
		}
	}
	if s.TestSet(src) != d {
		t.Error("TestSet is not the training part")
	}
	_, err = MakeSplit(src, SplitConfig{Forget: ForgetConfig{Strategy: ForgetRandom, Amount: Amount{Count: 1}}})
	wantUserErr(t, err, "t has no test part: give a test size")
}

func TestSplitErrors(t *testing.T) {
	src := loadFashion(t)
	dir := t.TempDir()
	npy := func(name string, v ...int64) string {
		p := filepath.Join(dir, name)
		if err := arrays.WriteNPY(p, arrays.Tensor[int64]{Shape: []int{len(v)}, Data: v}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	grouped := withGroups(src, 10)
	for _, c := range []struct {
		name  string
		src   *Source
		cfg   SplitConfig
		parts []string
	}{
		{"too many", src, SplitConfig{Forget: ForgetConfig{Strategy: ForgetRandom, Amount: Amount{Count: 60001}}}, []string{"forget set of 60001 is larger than the training set (60000 examples)"}},
		{"empty", src, SplitConfig{Forget: ForgetConfig{Strategy: ForgetRandom}}, []string{"forget set (0 random examples) is empty"}},
		{"everything", src, SplitConfig{Forget: ForgetConfig{Strategy: ForgetRandom, Amount: Amount{Fraction: 1}}}, []string{"nothing would be retained"}},
		{"validation", src, SplitConfig{Validation: Amount{Count: 59990}, Forget: ForgetConfig{Strategy: ForgetRandom, Amount: Amount{Count: 10}}}, []string{"validation split of 59990 leaves no retain set"}},
		{"test size", src, SplitConfig{Test: Amount{Count: 5}, Forget: ForgetConfig{Strategy: ForgetRandom, Amount: Amount{Count: 1}}}, []string{"has its own test part"}},
		{"unknown class", src, SplitConfig{Forget: ForgetConfig{Strategy: ForgetClasses, Classes: []string{"Hat"}}}, []string{"no class \"Hat\"", "8 \"Bag\""}},
		{"no groups", src, SplitConfig{Forget: ForgetConfig{Strategy: ForgetGroups, RandomGroups: 2}}, []string{"fashion-mnist/train has no group ids"}},
		{"unknown group", grouped, SplitConfig{Forget: ForgetConfig{Strategy: ForgetGroups, Groups: []string{"3", "10"}}}, []string{"no group \"10\""}},
		{"too many groups", grouped, SplitConfig{Forget: ForgetConfig{Strategy: ForgetGroups, RandomGroups: 11}}, []string{"11 random groups asked for", "has 10 groups"}},
		{"index outside", src, SplitConfig{Forget: ForgetConfig{Strategy: ForgetIndices, IndexFile: npy("out.npy", 3, 60000)}}, []string{"out.npy: element 1 = 60000 is outside the training set (indices 0 to 59999)"}},
		{"index repeated", src, SplitConfig{Forget: ForgetConfig{Strategy: ForgetIndices, IndexFile: npy("rep.npy", 3, 4, 3)}}, []string{"rep.npy: element 2 = 3 repeats element 0"}},
		{"index missing", src, SplitConfig{Forget: ForgetConfig{Strategy: ForgetIndices, IndexFile: filepath.Join(dir, "none.npy")}}, []string{"none.npy"}},
		{"strategy", src, SplitConfig{Forget: ForgetConfig{Strategy: "oldest"}}, []string{"unknown forget strategy \"oldest\""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := MakeSplit(c.src, c.cfg)
			wantUserErr(t, err, c.parts...)
		})
	}
}

func TestLoadSplitErrors(t *testing.T) {
	src := loadFashion(t)
	s, err := MakeSplit(src, SplitConfig{Seed: 1, Forget: ForgetConfig{Strategy: ForgetRandom, Amount: Amount{Count: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	s2, _ := MakeSplit(src, SplitConfig{Seed: 2, Forget: ForgetConfig{Strategy: ForgetRandom, Amount: Amount{Count: 10}}})
	if err := s2.Save(other); err != nil {
		t.Fatal(err)
	}
	// A forget.npy from another split is caught by its hash.
	data, _ := os.ReadFile(filepath.Join(other, "forget.npy"))
	writeFile(t, filepath.Join(dir, "forget.npy"), data)
	_, err = LoadSplit(dir)
	wantUserErr(t, err, "forget.npy: SHA-256", "another split")

	_, err = LoadSplit(t.TempDir())
	wantUserErr(t, err, "no saved split here")

	// A split applied to other data is refused.
	mnistDir := t.TempDir()
	writeMNIST(t, mnistDir, false, 5, 3, func(i int) byte { return byte(i) })
	small, err := LoadMNIST(mnistDir)
	if err != nil {
		t.Fatal(err)
	}
	wantUserErr(t, s.Check(small), "split was made for fashion-mnist (60000 training, 10000 test examples")

	// Overlapping sets are refused on load (a hand-edited split).
	bad := *s
	bad.Retain = slices.Clone(s.Retain)
	bad.Retain[0] = s.Forget[0]
	slices.Sort(bad.Retain)
	wantUserErr(t, bad.verify(), "also in the")
}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]Amount{"600": {Count: 600}, "0.1": {Fraction: 0.1}, "10%": {Fraction: 0.1}, "1e-2": {Fraction: 0.01}, "0": {}} {
		got, err := ParseAmount(in)
		if err != nil || got != want {
			t.Errorf("ParseAmount(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-3", "1.5", "x", "200%", ""} {
		if _, err := ParseAmount(in); err == nil {
			t.Errorf("ParseAmount(%q) gave no error", in)
		}
	}
}
