package population

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"unlearnbench/internal/atomicfile"
	"unlearnbench/scoring"
)

// Cache is the cache tree that every run, shard and command sharing a
// cache directory reads and writes:
//
//	<Root>/
//	  originals/<key>.onnx   trained originals (run)
//	  populations/<key>/     one population (Dir): member-0007.npz, ...,
//	                         manifest.json, shards.json
//	  scores/<key>.json      scored methods (run)
//	  fisher/<key>.npz       Fisher diagonals (unlearners: fisher, ssd)
//	  exec/<key>/            the model and data exec programs read
//	                         (unlearners: exec), checksummed
//	  python/python-<digest>/ the Python package exec programs import
//	                         (unlearners: exec, python: Install)
//
// Every entry is named by a Key's digest: a population by Key.Digest, the
// others by Key.Sum, whose bytes are those earlier versions wrote, so that
// a cache written by them stays valid. Every entry also records, inside
// itself, the key it was written for, and is checked against the key it
// is read for: a population's manifest its key, each member file its
// population's digest, index and seed (Dir), a score its key
// (WriteScore), an original its key (in the ONNX file's metadata, run), a
// Fisher file its metadata, an exec folder its inputs.json. A file copied
// or moved to another entry's name, or one that cannot be read, is
// recomputed with a warning naming it (an *EntryError), never used.
type Cache struct{ Root string }

// Original is the path of a trained original's ONNX file.
func (c Cache) Original(key string) string { return filepath.Join(c.Root, "originals", key+".onnx") }

// OriginalCheckpoint is where the original of key is checkpointed after
// every epoch while it trains (removed once it is cached).
func (c Cache) OriginalCheckpoint(key string) string {
	return filepath.Join(c.Root, "originals", key+".ckpt.npz")
}

// Populations is the folder of the population directories (OpenDir's
// root).
func (c Cache) Populations() string { return filepath.Join(c.Root, "populations") }

// Score is the path of a scored method's JSON.
func (c Cache) Score(key string) string { return filepath.Join(c.Root, "scores", key+".json") }

// Fisher is the path of a Fisher diagonal's file.
func (c Cache) Fisher(key string) string { return filepath.Join(c.Root, "fisher", key+".npz") }

// Exec is the folder of exec programs' data folders (each named by its
// key; temporary ones being written sit beside them).
func (c Cache) Exec() string { return filepath.Join(c.Root, "exec") }

// Python is the folder of the Python package exec programs import (package
// python installs one version per digest of its files under it).
func (c Cache) Python() string { return filepath.Join(c.Root, "python") }

// Sum is the SHA-256, in hex, of the items written one after another,
// each as "name value" (the value alone when the name is empty), joined
// by sep, with a final sep too when terminated. It is the recipe of the
// cache keys of originals, scores, Fisher diagonals and exec data, kept
// byte for byte so that their cached files stay valid; a population's
// directory is named by Digest instead.
func (k Key) Sum(sep string, terminated bool) string {
	h := sha256.New()
	for i, it := range k {
		if i > 0 {
			h.Write([]byte(sep))
		}
		if it.Name != "" {
			h.Write([]byte(it.Name + " "))
		}
		h.Write([]byte(it.Value))
	}
	if terminated && len(k) > 0 {
		h.Write([]byte(sep))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// EntryError is a cache entry that cannot be used: unreadable, or written
// for another key than the one it is read for. The caller recomputes it
// and warns with this error, which names the file.
type EntryError struct {
	Path string
	Err  error
}

func (e *EntryError) Error() string { return fmt.Sprintf("cache entry %s: %v", e.Path, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

// scoreSchema names a score entry's JSON.
const scoreSchema = "unlearnbench.score"

// scoreEntry is a score file: the key it was written for beside the value.
type scoreEntry struct {
	Schema string `json:"schema"`
	Key    string `json:"key"`
	// Scoring is the scoring.Version that computed Value.
	Scoring int             `json:"scoring"`
	Value   json.RawMessage `json:"value"`
}

// WriteScore stores v, as JSON, as the score entry of key (atomically),
// recording key in it.
func (c Cache) WriteScore(key string, v any) error {
	vb, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b, err := json.Marshal(scoreEntry{Schema: scoreSchema, Key: key, Scoring: scoring.Version, Value: vb})
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(c.Score(key), append(b, '\n'))
}

// ReadScore reads the score entry of key into v; found is false when
// there is none. An entry that is not one (a file of an earlier version,
// which recorded no key, null, {}), holds no value, was written for
// another key (two files swapped) or computed by another scoring.Version
// is an *EntryError.
func (c Cache) ReadScore(key string, v any) (found bool, err error) {
	p := c.Score(key)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, &EntryError{Path: p, Err: err}
	}
	var e scoreEntry
	switch err := json.Unmarshal(b, &e); {
	case err != nil:
		return false, &EntryError{Path: p, Err: fmt.Errorf("not JSON: %w", err)}
	case e.Schema != scoreSchema:
		return false, &EntryError{Path: p, Err: fmt.Errorf("not a score entry of this version (schema %q, want %q)", e.Schema, scoreSchema)}
	case e.Key != key:
		return false, &EntryError{Path: p, Err: fmt.Errorf("written for key %.12s, not %.12s: a file of another score", e.Key, key)}
	case e.Scoring != scoring.Version:
		return false, &EntryError{Path: p, Err: fmt.Errorf("computed by scoring version %d, this is version %d", e.Scoring, scoring.Version)}
	case len(e.Value) == 0 || string(e.Value) == "null":
		return false, &EntryError{Path: p, Err: errors.New("holds no value")}
	}
	if err := json.Unmarshal(e.Value, v); err != nil {
		return false, &EntryError{Path: p, Err: err}
	}
	return true, nil
}

// RemoveStale removes the temporary files that killed writers left in
// the cache's folders of single files (originals, scores, Fisher
// diagonals); a population's directory is cleaned by its Scan. Best
// effort: a read-only cache keeps them.
func (c Cache) RemoveStale() {
	for _, d := range []string{"originals", "scores", "fisher"} {
		atomicfile.RemoveStale(filepath.Join(c.Root, d))
	}
}
