package population

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
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
// a cache written by them stays valid. An entry records what its key was
// made of (a population's manifest, a Fisher file's metadata, an exec
// folder's inputs.json) and is checked against it when read; a mismatch
// is recomputed with a warning, never used.
type Cache struct{ Root string }

// Original is the path of a trained original's ONNX file.
func (c Cache) Original(key string) string { return filepath.Join(c.Root, "originals", key+".onnx") }

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
