package run

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/nn"
	"unlearnbench/population"
	"unlearnbench/result"
)

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// popDir is the cache directory of the population the run calls name.
func popDir(t *testing.T, cache, name string) string {
	t.Helper()
	ms, _ := filepath.Glob(filepath.Join(cache, "populations", "*", "manifest.json"))
	for _, m := range ms {
		var man population.Manifest
		if err := json.Unmarshal([]byte(readFile(t, m)), &man); err != nil {
			t.Fatal(err)
		}
		if man.Name == name {
			return filepath.Dir(m)
		}
	}
	t.Fatalf("no population %s in %s", name, cache)
	return ""
}

// scoreFiles are the score entries of the cache, by the method they score.
func scoreFiles(t *testing.T, cache string) map[string]string {
	t.Helper()
	out := map[string]string{}
	fs, _ := filepath.Glob(filepath.Join(cache, "scores", "*.json"))
	for _, f := range fs {
		var e struct {
			Value result.Method `json:"value"`
		}
		if err := json.Unmarshal([]byte(readFile(t, f)), &e); err != nil {
			t.Fatal(err)
		}
		out[e.Value.Name] = f
	}
	if len(out) != 2 {
		t.Fatalf("score entries %v; want one per method", out)
	}
	return out
}

// scoresOf is every method's competition score and accuracies: what a
// cache entry used in the wrong place would change (members' wall times,
// new for a recomputed member, are left out).
func scoresOf(t *testing.T, r *result.Result) string {
	t.Helper()
	type s struct {
		Name    string
		Score   result.Score
		Utility any
	}
	var out []s
	for _, m := range r.Methods {
		out = append(out, s{m.Name, m.Score, m.Utility})
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCacheEntriesBoundToKeys (issue 21 class 1): every kind of cache
// entry (member, score, original) put in another entry's place, emptied,
// truncated or replaced by a valid file of another kind of origin is
// recomputed with a warning naming the file, never used: the rerun's
// scores are those of the untouched cache, and the run after it has
// nothing left to warn about.
func TestCacheEntriesBoundToKeys(t *testing.T) {
	cfg := testConfig(t, "")
	pristine := filepath.Join(filepath.Dir(cfg), "cache")
	o, _, _ := mustExecute(t, cfg, Options{})
	want := scoresOf(t, o.Result)
	member := func(cache, pop string, i int) string {
		return filepath.Join(popDir(t, cache, pop), "member-000"+string(rune('0'+i))+".npz")
	}
	copyFile := func(src, dst string) {
		if err := os.WriteFile(dst, []byte(readFile(t, src)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	original := func(cache string) string {
		ms, _ := filepath.Glob(filepath.Join(cache, "originals", "*.onnx"))
		if len(ms) != 1 {
			t.Fatalf("originals %v", ms)
		}
		return ms[0]
	}
	cases := []struct {
		name string
		// damage changes the cache and returns the file the warning
		// must name.
		damage func(cache string) string
	}{
		{"member copied from another population", func(c string) string {
			dst := member(c, "test-copy", 1)
			copyFile(member(c, "reference", 1), dst)
			return dst
		}},
		{"member copied from another index", func(c string) string {
			dst := member(c, "scratch", 2)
			copyFile(member(c, "scratch", 0), dst)
			return dst
		}},
		{"member of an earlier version (no digest) from another population", func(c string) string {
			m, err := population.ReadMember(member(c, "reference", 3))
			if err != nil {
				t.Fatal(err)
			}
			m.Population = ""
			dst := member(c, "test-copy", 3)
			if err := population.WriteMember(dst, m); err != nil {
				t.Fatal(err)
			}
			return dst
		}},
		{"member truncated", func(c string) string {
			dst := member(c, "reference", 0)
			b := readFile(t, dst)
			write(dst, b[:len(b)/2])
			return dst
		}},
		{"two score files swapped", func(c string) string {
			s := scoreFiles(t, c)
			a, b := readFile(t, s["test-copy"]), readFile(t, s["scratch"])
			write(s["test-copy"], b)
			write(s["scratch"], a)
			return s["scratch"]
		}},
		{"score holding null", func(c string) string {
			p := scoreFiles(t, c)["scratch"]
			write(p, "null")
			return p
		}},
		{"score holding {}", func(c string) string {
			p := scoreFiles(t, c)["test-copy"]
			write(p, "{}")
			return p
		}},
		{"score with its key and an empty value", func(c string) string {
			p := scoreFiles(t, c)["test-copy"]
			key := strings.TrimSuffix(filepath.Base(p), ".json")
			write(p, `{"schema":"unlearnbench.score","key":"`+key+`","value":{}}`)
			return p
		}},
		{"score truncated", func(c string) string {
			p := scoreFiles(t, c)["scratch"]
			b := readFile(t, p)
			write(p, b[:len(b)/2])
			return p
		}},
		{"score of an earlier version (no key)", func(c string) string {
			p := scoreFiles(t, c)["scratch"]
			var e struct {
				Value json.RawMessage `json:"value"`
			}
			json.Unmarshal([]byte(readFile(t, p)), &e)
			write(p, string(e.Value))
			return p
		}},
		{"another valid ONNX file as the original", func(c string) string {
			p := original(c)
			m, err := nn.New(nn.ArchMLP, []int64{1, 28, 28}, 10, 99)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Save(p); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"original truncated", func(c string) string {
			p := original(c)
			b := readFile(t, p)
			write(p, b[:len(b)/2])
			return p
		}},
		// An original interrupted mid-training leaves a checkpoint beside
		// where it will be cached; one of another original, or damaged,
		// must not be continued from.
		{"original checkpoint of another key", func(c string) string {
			p := original(c)
			os.Remove(p)
			ck := strings.TrimSuffix(p, ".onnx") + ".ckpt.npz"
			m, err := nn.New(nn.ArchMLP, []int64{1, 28, 28}, 10, 99)
			if err != nil {
				t.Fatal(err)
			}
			st := &nn.TrainState{Epochs: 1, Step: 10, History: []nn.EpochResult{{Epoch: 1}}}
			if err := nn.SaveCheckpoint(ck, m, st, "another key"); err != nil {
				t.Fatal(err)
			}
			return ck
		}},
		{"original checkpoint truncated", func(c string) string {
			p := original(c)
			os.Remove(p)
			ck := strings.TrimSuffix(p, ".onnx") + ".ckpt.npz"
			write(ck, "PK\x03\x04 not a whole archive")
			return ck
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := testConfig(t, "")
			cache := filepath.Join(filepath.Dir(file), "cache")
			copyTree(t, pristine, cache)
			bad := tc.damage(cache)
			o, out, warn := mustExecute(t, file, Options{})
			if !strings.Contains(warn, bad) {
				t.Fatalf("no warning naming %s:\n%s%s", bad, out, warn)
			}
			if got := scoresOf(t, o.Result); got != want {
				t.Fatalf("scores after the damaged entry differ from the untouched cache's:\n%s\nwant\n%s\n%s", got, want, warn)
			}
			if _, _, warn2 := mustExecute(t, file, Options{}); warn2 != "" {
				t.Fatalf("the run after still warns:\n%s", warn2)
			}
		})
	}
}
