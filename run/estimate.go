package run

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"unlearnbench/population"
)

// lastMeasured is a dry run's guess at the time of a member of the
// population in self, which has none cached yet: the time of the newest
// cached member of any other population of the same method and
// parameters (another name, seed, data size or original). Retraining's
// FLOP bound is no guide for an exec method (a PyTorch member pays its
// own training loop and Python; the bound was 4x too low), and a measured
// member of the same method is. from says which population it comes
// from, for the plan to say that it guesses; ok is false when no such
// member exists.
func lastMeasured(root string, self *population.Dir) (secs float64, from string, ok bool) {
	method, params := keyValue(self.Manifest.Key, "method"), keyValue(self.Manifest.Key, "params")
	dirs, err := os.ReadDir(root)
	if err != nil {
		return 0, "", false
	}
	type candidate struct {
		path, name string
		mod        time.Time
	}
	var cands []candidate
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == self.Manifest.Digest {
			continue
		}
		dir := filepath.Join(root, d.Name())
		b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		if err != nil {
			continue
		}
		var m population.Manifest
		if json.Unmarshal(b, &m) != nil || keyValue(m.Key, "method") != method || keyValue(m.Key, "params") != params {
			continue
		}
		members, _ := filepath.Glob(filepath.Join(dir, "member-*.npz"))
		for _, p := range members {
			if st, err := os.Stat(p); err == nil {
				cands = append(cands, candidate{p, m.Name, st.ModTime()})
			}
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int { return b.mod.Compare(a.mod) })
	// The newest member that reads back whole (a damaged one is skipped).
	for _, c := range cands {
		if m, err := population.ReadMember(c.path); err == nil {
			return m.Seconds, fmt.Sprintf("%s per member, the last measured member of the same method and parameters (population %s, %s), measured with its own data and seeds", fmtSeconds(m.Seconds), c.name, c.path), true
		}
	}
	return 0, "", false
}

// keyValue is the value of the key's item name ("" when absent).
func keyValue(k population.Key, name string) string {
	for _, it := range k {
		if it.Name == name {
			return it.Value
		}
	}
	return ""
}

// fmtSeconds writes a member's time as the plan's table does.
func fmtSeconds(s float64) string { return fmt.Sprintf("%.2f s", s) }
