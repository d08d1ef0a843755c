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
	"slices"
	"strconv"
	"strings"
	"sync"

	"unlearnbench/internal/atomicfile"
	"unlearnbench/internal/usererr"
	"unlearnbench/scoring"
)

// Layout is the version of a population directory's layout (file names,
// member arrays, manifest fields). A directory written with another
// layout is refused rather than read wrongly or overwritten.
const Layout = 1

// ManifestSchema names a population directory's manifest.
const ManifestSchema = "unlearnbench.population"

// KeyItem is one thing a population depends on, as a name and a value.
type KeyItem struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Key is everything a population's members depend on, in a fixed order:
// two populations with the same key have bit-identical members.
type Key []KeyItem

// Add appends one item, formatting v with fmt.Sprint.
func (k *Key) Add(name string, v any) { *k = append(*k, KeyItem{name, fmt.Sprint(v)}) }

// Digest is the SHA-256 of the layout version and the key, in hex: the
// population's directory name.
func (k Key) Digest() string {
	b, _ := json.Marshal(struct {
		Layout int `json:"layout"`
		Key    Key `json:"key"`
	}{Layout, k})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Manifest is a population directory's manifest.json: what the key was
// made of and the complete members the last writer saw. The member files
// are the truth (each is written atomically and verified when read); the
// manifest is for people and tools, refreshed after every member written.
type Manifest struct {
	Schema  string `json:"schema"`
	Layout  int    `json:"layout"`
	Digest  string `json:"digest"`
	Name    string `json:"name"`
	Key     Key    `json:"key"`
	Members []int  `json:"members"`
}

// Dir is one population's directory in a cache: member-0000.npz, ...,
// manifest.json and, while shards compute it, shards.json.
type Dir struct {
	Path     string
	Manifest Manifest
	// mu guards Manifest.Members, which members written from several
	// goroutines refresh.
	mu sync.Mutex
}

const manifestFile = "manifest.json"

// OpenDir opens (creating it when absent) the directory of the population
// keyed by key under root. name is how the run calls the population, kept
// in the manifest for people. A directory of another layout, or whose
// manifest does not hold this key, is a user error: the cache belongs to
// another version or was edited.
func OpenDir(root, name string, key Key) (*Dir, error) {
	digest := key.Digest()
	d := &Dir{Path: filepath.Join(root, digest)}
	mp := filepath.Join(d.Path, manifestFile)
	b, err := os.ReadFile(mp)
	switch {
	case err == nil:
		if err := d.readManifest(mp, b); err != nil {
			return nil, err
		}
		if d.Manifest.Digest != digest || !slices.Equal(d.Manifest.Key, key) {
			return nil, usererr.Errorf("population cache %s: manifest.json holds another key than its directory name says; the cache was edited: remove that directory", d.Path)
		}
		return d, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, usererr.Wrap(fmt.Errorf("population cache: %w", err))
	}
	d.Manifest = Manifest{Schema: ManifestSchema, Layout: Layout, Digest: digest, Name: name, Key: key, Members: []int{}}
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		return nil, usererr.Wrap(fmt.Errorf("population cache: %w", err))
	}
	// Another process may have created it meanwhile: write only if it is
	// still absent, by linking (which fails on an existing name).
	if err := d.writeManifestOnce(mp); err != nil {
		return nil, err
	}
	return OpenDir(root, name, key)
}

func (d *Dir) readManifest(path string, b []byte) error {
	var head struct {
		Schema string `json:"schema"`
		Layout int    `json:"layout"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return usererr.Errorf("population cache %s: not a manifest (%v); remove that directory", path, err)
	}
	if head.Schema != ManifestSchema || head.Layout != Layout {
		return usererr.Errorf("population cache %s: written with layout %s %d, this unlearnbench reads layout %d; use another cache directory or remove this one", d.Path, head.Schema, head.Layout, Layout)
	}
	if err := json.Unmarshal(b, &d.Manifest); err != nil {
		return usererr.Errorf("population cache %s: %v; remove that directory", path, err)
	}
	return nil
}

func (d *Dir) manifestBytes() ([]byte, error) {
	b, err := json.MarshalIndent(&d.Manifest, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func (d *Dir) writeManifestOnce(path string) error {
	b, err := d.manifestBytes()
	if err != nil {
		return err
	}
	tmp := atomicfile.TempName(path)
	if err := atomicfile.WriteBytes(tmp, b); err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("population cache: %w", err)
	}
	return nil
}

// MemberPath is the file of member i.
func (d *Dir) MemberPath(i int) string {
	return filepath.Join(d.Path, fmt.Sprintf("member-%04d.npz", i))
}

// ModelPath is where keep_models puts member i's ONNX model.
func (d *Dir) ModelPath(i int) string {
	return filepath.Join(d.Path, fmt.Sprintf("member-%04d.onnx", i))
}

// Scan reports which of members 0..n-1 are complete (present and
// verified) and which are missing. A damaged member file is removed and
// counted missing, with a warning through warn, so that it is recomputed
// and never scored.
func (d *Dir) Scan(n int, warn func(string)) (have, missing []int, err error) {
	return d.scan(n, warn, true)
}

// Check is Scan without removing damaged files (a dry run changes
// nothing): they are counted missing.
func (d *Dir) Check(n int) (have, missing []int, err error) {
	return d.scan(n, nil, false)
}

func (d *Dir) scan(n int, warn func(string), remove bool) (have, missing []int, err error) {
	for i := range n {
		p := d.MemberPath(i)
		m, err := ReadMember(p)
		switch {
		case err == nil && m.Index == i:
			have = append(have, i)
			continue
		case err == nil:
			err = damaged(p, "holds member %d", m.Index)
			fallthrough
		case errors.Is(err, ErrDamaged):
			if warn != nil {
				warn(fmt.Sprintf("population %s: %v; recomputing that member", d.Manifest.Name, err))
			}
			if !remove {
				break
			}
			if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				return nil, nil, fmt.Errorf("removing damaged member: %w", rerr)
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, nil, usererr.Wrap(fmt.Errorf("population %s: %w", d.Manifest.Name, err))
		}
		missing = append(missing, i)
	}
	return have, missing, nil
}

// Write stores member m (atomically) and refreshes the manifest.
func (d *Dir) Write(m *Member) error {
	if err := WriteMember(d.MemberPath(m.Index), m); err != nil {
		return err
	}
	return d.RefreshManifest()
}

// RefreshManifest rewrites the manifest's list of members from the member
// files present. Writers race only on this list, never on members: a list
// that misses a member another process has just written is fixed by the
// next refresh.
func (d *Dir) RefreshManifest() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ents, err := os.ReadDir(d.Path)
	if err != nil {
		return fmt.Errorf("population cache: %w", err)
	}
	d.Manifest.Members = []int{}
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), "member-")
		if s, ok2 := strings.CutSuffix(s, ".npz"); ok && ok2 {
			if i, err := strconv.Atoi(s); err == nil {
				d.Manifest.Members = append(d.Manifest.Members, i)
			}
		}
	}
	slices.Sort(d.Manifest.Members)
	b, err := d.manifestBytes()
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(d.Path, manifestFile), b)
}

// Members reads members 0..n-1, every one verified; a missing or damaged
// one is an error (a population is scored complete or not at all).
func (d *Dir) Members(n int) ([]*Member, error) {
	out := make([]*Member, n)
	for i := range n {
		m, err := ReadMember(d.MemberPath(i))
		if err != nil {
			return nil, fmt.Errorf("population %s is incomplete: member %d: %w", d.Manifest.Name, i, err)
		}
		if m.Index != i {
			return nil, fmt.Errorf("population %s: %s holds member %d", d.Manifest.Name, d.MemberPath(i), m.Index)
		}
		if i > 0 && (m.C != out[0].C || m.E() != out[0].E() || m.R() != out[0].R() || m.T() != out[0].T()) {
			return nil, fmt.Errorf("population %s: member %d has logits of other shapes than member 0", d.Manifest.Name, i)
		}
		out[i] = m
	}
	return out, nil
}

// Load reads members 0..n-1 (Members) into one Population, ready to
// score; name names its values in messages ("NAME forget logits").
func (d *Dir) Load(n int, name string) (*Population, error) {
	ms, err := d.Members(n)
	if err != nil {
		return nil, err
	}
	c, e, r, t := ms[0].C, ms[0].E(), ms[0].R(), ms[0].T()
	vals := func(part string, rows int, get func(m *Member) []float32) *Values {
		l := &scoring.Logits{N: n, E: rows, C: c, F32: make([]float32, 0, n*rows*c)}
		for _, m := range ms {
			l.F32 = append(l.F32, get(m)...)
		}
		return &Values{Name: fmt.Sprintf("%s %s logits", name, part), N: n, E: rows, C: c, Logits: l}
	}
	pop := &Population{
		Forget: vals("forget", e, func(m *Member) []float32 { return m.Forget }),
		Retain: vals("retain", r, func(m *Member) []float32 { return m.Retain }),
		Test:   vals("test", t, func(m *Member) []float32 { return m.Test }),
	}
	for _, m := range ms {
		pop.ForgetAcc = append(pop.ForgetAcc, m.ForgetAcc)
		pop.RetainAcc = append(pop.RetainAcc, m.RetainAcc)
		pop.TestAcc = append(pop.TestAcc, m.TestAcc)
		pop.Seeds = append(pop.Seeds, m.Seed)
		pop.Seconds = append(pop.Seconds, m.Seconds)
	}
	return pop, nil
}

// ShardRecord is shards.json: the config whose shards compute a population.
type ShardRecord struct {
	Config string `json:"config"` // digest of the run's resolved config
	N      int    `json:"n"`
	Shards int    `json:"shards"`
}

const shardFile = "shards.json"

// ClaimShards records that shards of config (a digest of the resolved run
// config), computing n members in shards slices, work on this population,
// and refuses when shards of another config are at it and the population
// is not complete for them yet: their slices would not add up. Shards of
// the same config counting another number of slices are refused too, with
// their own message: their slices overlap, so members would be computed
// twice, and a one-slice shard would compute the whole population alone.
func (d *Dir) ClaimShards(config string, n, shards int) error {
	p := filepath.Join(d.Path, shardFile)
	rec := ShardRecord{Config: config, N: n, Shards: shards}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	// The first shard creates the record by linking, which fails when
	// another one got there first; then the record is compared.
	tmp := atomicfile.TempName(p)
	if err := atomicfile.WriteBytes(tmp, b); err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, p); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("population cache: %w", err)
	}
	was, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("population cache: %w", err)
	}
	var old ShardRecord
	if err := json.Unmarshal(was, &old); err != nil {
		return usererr.Errorf("%s: %v; remove it", p, err)
	}
	if old == rec {
		return nil
	}
	_, missing, err := d.Scan(old.N, nil)
	if err != nil {
		return err
	}
	if len(missing) > 0 && old.Config == config {
		// The same config cut into another number of slices: typically
		// one task of a Slurm array retried alone with --shard slurm,
		// which counts one task and would compute every member.
		return usererr.Errorf("population %s (%s) is being computed by %d shards of this same config (digest %.12s, N = %d); this one is one of %d shards: give every shard the count its population started with (retry a failed shard as --shard K/%d), or remove %s once those shards are done", d.Manifest.Name, d.Path, old.Shards, config, n, shards, old.Shards, p)
	}
	if len(missing) > 0 {
		return usererr.Errorf("population %s (%s) is being computed by %d shards of another config (digest %.12s, N = %d; this one is %.12s, N = %d, %d shards): finish those shards or use another cache", d.Manifest.Name, d.Path, old.Shards, old.Config, old.N, config, n, shards)
	}
	// Those shards are done: this config takes the population over.
	return atomicfile.WriteBytes(p, b)
}
