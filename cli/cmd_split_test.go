package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/datasets"
	"unlearnbench/internal/arrays"
)

func TestSplitCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s")
	var buf bytes.Buffer
	if code := run([]string{"split", "--forget-random", "0.01", "--seed", "7", "--validation", "100", "--out", out}, &buf, &buf); code != 0 {
		t.Fatalf("exit %d: %s", code, buf.String())
	}
	s, err := datasets.LoadSplit(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Forget) != 600 || len(s.Validation) != 100 || s.Config.Seed != 7 || s.Config.Forget.Strategy != datasets.ForgetRandom {
		t.Errorf("%d forget, %d validation, config %+v", len(s.Forget), len(s.Validation), s.Config)
	}
	// Every strategy on the real data, through the command line.
	dir := t.TempDir()
	groups := make([]int32, 60000)
	for i := range groups {
		groups[i] = int32(i % 4000) // 4,000 "people" of 15 images each
	}
	groupsFile := filepath.Join(dir, "groups.npy")
	indexFile := filepath.Join(dir, "idx.npy")
	if err := arrays.WriteNPY(groupsFile, arrays.Tensor[int32]{Shape: []int{60000}, Data: groups}); err != nil {
		t.Fatal(err)
	}
	if err := arrays.WriteNPY(indexFile, arrays.Tensor[int64]{Shape: []int{3}, Data: []int64{5, 1, 9}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args   []string
		forget int
	}{
		{[]string{"--forget-random", "100"}, 100},
		{[]string{"--forget-classes", "Trouser,0"}, 12000},
		{[]string{"--groups", groupsFile, "--forget-random-groups", "15"}, 225},
		{[]string{"--groups", groupsFile, "--forget-groups", "3,4"}, 30},
		{[]string{"--forget-indices", indexFile}, 3},
	} {
		buf.Reset()
		out := filepath.Join(dir, "s")
		if code := run(append([]string{"split", "--out", out}, c.args...), &buf, &buf); code != 0 {
			t.Fatalf("%q: exit %d: %s", c.args, code, buf.String())
		}
		s, err := datasets.LoadSplit(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Forget) != c.forget || len(s.Validation) != 6000 {
			t.Errorf("%q: %d forget, %d validation; want %d, 6000", c.args, len(s.Forget), len(s.Validation), c.forget)
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"split", "--forget-groups", "4000", "--groups", groupsFile, "--out", out}, "no group \"4000\""},
		{[]string{"split", "--forget-indices", indexFile, "--groups", indexFile, "--out", out}, "idx.npy: shape (3,); want (60000,)"},
		{[]string{"split", "--out", out}, "give exactly one of --forget-random"},
		{[]string{"split", "--forget-random", "5", "--forget-classes", "Bag", "--out", out}, "(got 2 --forget-random --forget-classes)"},
		{[]string{"split", "--forget-classes", "Bag", "--stratified", "--out", out}, "--stratified applies only to --forget-random"},
		{[]string{"split", "--forget-random", "5"}, "--out DIR is required"},
		{[]string{"split", "--forget-random", "five", "--out", out}, "--forget-random: amount \"five\""},
		{[]string{"split", "--forget-random", "5", "--dataset", "imagenet", "--out", out}, "unknown data set \"imagenet\""},
		{[]string{"split", "--forget-random", "5", "--test", "0.1", "--out", out}, "has its own test part"},
	} {
		buf.Reset()
		if code := run(c.args, &buf, &buf); code != 2 || !strings.Contains(buf.String(), c.want) {
			t.Errorf("%q: exit %d, %q; want exit 2 and %q", c.args, code, buf.String(), c.want)
		}
	}
}
