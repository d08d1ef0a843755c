package population

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	// Seed, when set, is the seed member i must have been made with; a
	// member file with another is of another population (verify).
	Seed func(i int) uint64
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
	if _, err := atomicfile.Create(path, writeAll(b)); err != nil {
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

// MaxMembers is the most members a population may have. A population is
// one directory with a file per member, listed whole by every scan, and
// scored in memory (N times the logits of one member); a million files is
// where directory listings on shared file systems become the run's
// bottleneck, and three orders of magnitude above the competition's 512.
const MaxMembers = 1_000_000

// CheckN refuses a population size above MaxMembers (or below zero);
// what names the value in the message (e.g. "config run.yaml: n").
func CheckN(what string, n int) error {
	switch {
	case n < 0:
		return usererr.Errorf("%s %d: want >= 0", what, n)
	case n > MaxMembers:
		return usererr.Errorf("%s %d: at most %d (a population directory holds one file per member, all listed by every scan)", what, n, MaxMembers)
	}
	return nil
}

// Scan reports which of members 0..n-1 are complete (present, verified
// and written for this population: verify) and which are missing. A
// damaged or foreign member file is removed and counted missing, with a
// warning through warn naming it, so that it is recomputed and never
// scored. Temporary files that a killed writer left are removed too. Scan
// lists the directory once: its work grows with the files there, not with
// n. A done ctx stops it between two member files with ctx's error.
func (d *Dir) Scan(ctx context.Context, n int, warn func(string)) (have, missing []int, err error) {
	return d.scan(ctx, n, warn, true)
}

// Check is Scan without removing anything (a dry run changes nothing):
// damaged and foreign members are counted missing.
func (d *Dir) Check(ctx context.Context, n int) (have, missing []int, err error) {
	return d.scan(ctx, n, nil, false)
}

// memberIndex is the index of a member file's name, as MemberPath writes
// it; ok is false for any other name.
func memberIndex(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "member-")
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, ".npz"); !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || fmt.Sprintf("member-%04d.npz", i) != name {
		return 0, false
	}
	return i, true
}

func (d *Dir) scan(ctx context.Context, n int, warn func(string), remove bool) (have, missing []int, err error) {
	if err := CheckN("population size", n); err != nil {
		return nil, nil, err
	}
	if remove {
		// Best effort: a read-only cache keeps them, harmlessly.
		atomicfile.RemoveStale(d.Path)
	}
	ents, err := os.ReadDir(d.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, usererr.Wrap(fmt.Errorf("population %s: %w", d.Manifest.Name, err))
	}
	for _, e := range ents {
		i, ok := memberIndex(e.Name())
		if !ok || i >= n {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		p := d.MemberPath(i)
		m, err := ReadMember(p)
		if err == nil {
			err = d.verify(p, m, i)
		}
		switch {
		case err == nil:
			have = append(have, i)
		case errors.Is(err, ErrDamaged):
			if warn != nil {
				warn(fmt.Sprintf("population %s: %v; recomputing that member", d.Manifest.Name, err))
			}
			if !remove {
				break
			}
			if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				return nil, nil, usererr.Wrap(fmt.Errorf("removing damaged member: %w", rerr))
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, nil, usererr.Wrap(fmt.Errorf("population %s: %w", d.Manifest.Name, err))
		}
	}
	slices.Sort(have)
	missing = make([]int, 0, n-len(have))
	k := 0
	for i := range n {
		if k < len(have) && have[k] == i {
			k++
			continue
		}
		missing = append(missing, i)
	}
	return have, missing, nil
}

// verify checks that member m, read from p, was written as member i of
// this population: its index, the population digest it records (files of
// earlier versions record none) and, when the Dir knows them, its seed.
// A member of another population (copied, or a directory renamed) is
// reported as damaged: recomputed, never scored.
func (d *Dir) verify(p string, m *Member, i int) error {
	switch {
	case m.Index != i:
		return damaged(p, "holds member %d, not %d", m.Index, i)
	case m.Population != "" && m.Population != d.Manifest.Digest:
		return damaged(p, "was written for population %.12s, not this one (%.12s): a file of another population", m.Population, d.Manifest.Digest)
	case d.Seed != nil && m.Seed != d.Seed(i):
		return damaged(p, "has seed %d, member %d of this population has seed %d: a file of another population or run seed", m.Seed, i, d.Seed(i))
	}
	return nil
}

// Write stores member m (atomically), recording this population's digest
// in it, and refreshes the manifest.
func (d *Dir) Write(m *Member) error {
	m.Population = d.Manifest.Digest
	if err := WriteMember(d.MemberPath(m.Index), m); err != nil {
		return err
	}
	return d.RefreshManifest()
}

// RefreshManifest rewrites the manifest's list of members from the member
// files present, when it changed: a complete cache is never written to,
// so that it can be scored from a read-only mount. Writers race only on
// this list, never on members: a list that misses a member another
// process has just written is fixed by the next refresh.
func (d *Dir) RefreshManifest() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ents, err := os.ReadDir(d.Path)
	if err != nil {
		return fmt.Errorf("population cache: %w", err)
	}
	d.Manifest.Members = []int{}
	for _, e := range ents {
		if i, ok := memberIndex(e.Name()); ok {
			d.Manifest.Members = append(d.Manifest.Members, i)
		}
	}
	slices.Sort(d.Manifest.Members)
	b, err := d.manifestBytes()
	if err != nil {
		return err
	}
	p := filepath.Join(d.Path, manifestFile)
	if was, err := os.ReadFile(p); err == nil && bytes.Equal(was, b) {
		return nil
	}
	return atomicfile.WriteBytes(p, b)
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
		if err := d.verify(d.MemberPath(i), m, i); err != nil {
			return nil, fmt.Errorf("population %s: %w", d.Manifest.Name, err)
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
	if created, err := atomicfile.Create(p, writeAll(b)); err != nil {
		return fmt.Errorf("population cache: %w", err)
	} else if created {
		return nil
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
	_, missing, err := d.Check(context.Background(), old.N)
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

// writeAll is a fill function of atomicfile writing b.
func writeAll(b []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}
}
