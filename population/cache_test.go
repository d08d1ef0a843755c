package population

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"unlearnbench/scoring"
)

// Key.Sum reproduces, byte for byte, the four digests that named cache
// entries before it (written out here as they were), so that caches
// written by earlier versions stay valid.
func TestKeySumKeepsTheOldKeys(t *testing.T) {
	hexSum := func(s string) string { b := sha256.Sum256([]byte(s)); return hex.EncodeToString(b[:]) }
	recipe := `{"Epochs":10,"BatchSize":128}`
	var orig Key
	orig.Add("", "unlearnbench original")
	orig.Add("layout", Layout)
	orig.Add("arch", "mlp")
	orig.Add("recipe", recipe)
	orig.Add("train", "sha256:abc")
	orig.Add("device", "cpu")
	orig.Add("threads", 1)
	old := hexSum(fmt.Sprintf("unlearnbench original\x00layout %d\x00arch %s\x00recipe %s\x00train %s\x00device %s\x00threads %d\x00", Layout, "mlp", recipe, "sha256:abc", "cpu", 1))
	if got := orig.Sum("\x00", true); got != old {
		t.Errorf("original key %s; the old recipe gives %s", got, old)
	}
	var score Key
	score.Add("", "unlearnbench score")
	score.Add("layout", Layout)
	score.Add("", "d1")
	score.Add("", "d2")
	score.Add("n", 32)
	score.Add("attacks", `{"Enabled":true}`)
	old = hexSum(fmt.Sprintf("unlearnbench score\x00layout %d\x00%s\x00%s\x00n %d\x00attacks %s", Layout, "d1", "d2", 32, `{"Enabled":true}`))
	if got := score.Sum("\x00", false); got != old {
		t.Errorf("score key %s; the old recipe gives %s", got, old)
	}
	var fisher Key
	for _, v := range []string{"unlearnbench-fisher/1", "model", "data", "mc/3"} {
		fisher.Add("", v)
	}
	if got, old := fisher.Sum("\n", false), hexSum("unlearnbench-fisher/1\nmodel\ndata\nmc/3"); got != old {
		t.Errorf("Fisher key %s; the old recipe gives %s", got, old)
	}
	var exec Key
	exec.Add("", "unlearnbench-exec-data/1")
	exec.Add("model", "m")
	exec.Add("retain", "r")
	exec.Add("forget", "f")
	exec.Add("validation", "v")
	if got, old := exec.Sum("\n", true), hexSum("unlearnbench-exec-data/1\nmodel m\nretain r\nforget f\nvalidation v\n"); got != old {
		t.Errorf("exec key %s; the old recipe gives %s", got, old)
	}
}

func TestCachePaths(t *testing.T) {
	c := Cache{Root: "cache"}
	for got, want := range map[string]string{
		c.Original("k"): "cache/originals/k.onnx",
		c.Populations(): "cache/populations",
		c.Score("k"):    "cache/scores/k.json",
		c.Fisher("k"):   "cache/fisher/k.npz",
		c.Exec():        "cache/exec",
	} {
		if got != filepath.FromSlash(want) {
			t.Errorf("%s; want %s", got, want)
		}
	}
}

// A score entry is served only to its key and only when the scoring code
// that computed it is this one: an entry of another scoring.Version (a
// cache kept across an upgrade that moved the numbers) is an EntryError,
// which run answers by scoring again.
func TestScoreEntryChecks(t *testing.T) {
	c := Cache{Root: t.TempDir()}
	type value struct{ F float64 }
	if err := c.WriteScore("k1", value{0.25}); err != nil {
		t.Fatal(err)
	}
	var v value
	if found, err := c.ReadScore("k1", &v); !found || err != nil || v.F != 0.25 {
		t.Fatalf("fresh entry: found %v, %v, %+v", found, err, v)
	}
	if found, err := c.ReadScore("k2", &v); found || err != nil {
		t.Fatalf("no entry: found %v, %v", found, err)
	}
	raw, err := os.ReadFile(c.Score("k1"))
	if err != nil {
		t.Fatal(err)
	}
	var entry map[string]any
	if err := json.Unmarshal(raw, &entry); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, field string
		value       any
		want        string
	}{
		{"another scoring version", "scoring", scoring.Version - 1, "scoring version"},
		{"no scoring version (an older entry)", "scoring", nil, "scoring version"},
		{"another key", "key", "k0", "another score"},
		{"no value", "value", nil, "no value"},
	} {
		e := maps.Clone(entry)
		if tc.value == nil {
			delete(e, tc.field)
		} else {
			e[tc.field] = tc.value
		}
		b, _ := json.Marshal(e)
		if err := os.WriteFile(c.Score("k1"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		var ee *EntryError
		if found, err := c.ReadScore("k1", &v); found || !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: found %v, %v; want an EntryError saying %q", tc.name, found, err, tc.want)
		}
	}
}
