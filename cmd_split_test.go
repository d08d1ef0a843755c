package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/datasets"
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
	for _, c := range []struct {
		args []string
		want string
	}{
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
