package unlearners

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"unlearnbench/internal/arrays"
	"unlearnbench/internal/atomicfile"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/population"
)

// The data folder exec programs read: the original model and the three
// sets, written once per set of inputs and shared by every member (and,
// under a cache directory, by every run and shard).

// execDataFormat versions the layout of the shared data folder; a change
// of layout changes every folder's name, so old ones are never misread.
const execDataFormat = "unlearnbench-exec-data/1"

// Files of the shared data folder, by placeholder.
var execDataFiles = map[string]string{
	"model":        "model.onnx",
	"retain_x":     "retain_x.npy",
	"retain_y":     "retain_y.npy",
	"forget_x":     "forget_x.npy",
	"forget_y":     "forget_y.npy",
	"validation_x": "validation_x.npy",
	"validation_y": "validation_y.npy",
}

// execKey identifies one set of inputs by identity: the members of a
// population share the same model and data values, so their data folder
// is found without hashing hundreds of megabytes again.
type execKey struct {
	orig                       *nn.Model
	retain, forget, validation *nn.Data
	cache                      string
}

type execData struct {
	once sync.Once
	dir  string
	err  error
	mu   sync.Mutex        // held while the folder is checked or rewritten
	sums map[string]string // the files' SHA-256 sums, from the inputs
}

// data returns the folder holding the inputs' model and data files,
// writing it the first time these inputs are seen, and checks it before
// every use: a program may have overwritten or deleted its files (read-only
// modes do not stop root), and every later member, population and run
// would read the damage. A folder that does not match is written again,
// with a warning naming it.
func (m *execMethod) data(in *Inputs) (string, error) {
	key := execKey{in.Original, in.Retain, in.Forget, in.Validation, in.Cache}
	m.mu.Lock()
	d, ok := m.prepared[key]
	if !ok {
		d = &execData{}
		m.prepared[key] = d
	}
	m.mu.Unlock()
	d.once.Do(func() {
		if d.sums, d.err = execSums(in); d.err != nil {
			return
		}
		if in.Cache == "" {
			d.dir, d.err = os.MkdirTemp("", ownedPattern("unlearnbench-exec-data-"))
			if d.err != nil {
				return
			}
			m.mu.Lock()
			m.temps = append(m.temps, d.dir)
			m.mu.Unlock()
			d.err = writeExecData(d.dir, in)
			return
		}
		d.dir, d.err = cachedExecData(in)
	})
	if d.err != nil {
		return "", d.err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	bad := verifyExecData(d.dir, d.sums)
	if bad == nil {
		return d.dir, nil
	}
	warnAlways(in, fmt.Sprintf("exec data folder %s does not hold the inputs it was written for (%v), a program may have changed it: writing it again", d.dir, bad))
	var err error
	if in.Cache == "" {
		err = rewriteExecData(d.dir, in)
	} else {
		err = replaceExecData(d.dir, in, d.sums)
	}
	if err != nil {
		return "", fmt.Errorf("writing the exec data folder %s again: %w", d.dir, err)
	}
	if err := verifyExecData(d.dir, d.sums); err != nil {
		return "", fmt.Errorf("the exec data folder %s written again does not check: %w", d.dir, err)
	}
	return d.dir, nil
}

// warnAlways passes a warning to in.Warn, or to stderr when the caller gave
// none: a damaged shared folder is never repaired silently.
func warnAlways(in *Inputs, msg string) {
	if in.Warn != nil {
		in.Warn(msg)
		return
	}
	fmt.Fprintf(os.Stderr, "unlearnbench: warning: %s\n", msg)
}

// rewriteExecData empties dir, a folder of this process alone, and
// writes the inputs' files into it again.
func rewriteExecData(dir string, in *Inputs) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	return writeExecData(dir, in)
}

// replaceExecData writes the inputs' files under a temporary name in the
// cache and puts that folder in dir's place; the damaged folder is moved
// aside first and removed after. A process that replaced it at the same
// time wins if its copy checks.
func replaceExecData(dir string, in *Inputs, sums map[string]string) error {
	root, base := filepath.Split(dir)
	tmp, err := os.MkdirTemp(root, ownedPattern(".tmp-"+base[:min(8, len(base))]+"-"))
	if err != nil {
		return err
	}
	if err := writeExecData(tmp, in); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	trash, err := os.MkdirTemp(root, ownedPattern(".damaged-"+base[:min(8, len(base))]+"-"))
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	// Rename replaces an empty folder: trash/old holds the damage.
	old := filepath.Join(trash, "old")
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		os.RemoveAll(tmp)
		os.RemoveAll(trash)
		return err
	}
	defer os.RemoveAll(trash)
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if verifyExecData(dir, sums) == nil {
			return nil // another process put a good copy there first
		}
		return err
	}
	return nil
}

// cachedExecData returns <cache>/exec/<digest>, the folder of the inputs'
// files named by their digest, writing it if no process has yet. It is
// written under a temporary name and renamed into place, so a folder under
// its final name is complete, and of two processes writing it at once one
// rename wins and the other's copy is dropped.
func cachedExecData(in *Inputs) (string, error) {
	digest, err := execDigest(in)
	if err != nil {
		return "", err
	}
	root := population.Cache{Root: in.Cache}.Exec()
	dir := filepath.Join(root, digest)
	removeStaleTemps(root)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", usererr.Wrap(fmt.Errorf("cache: %w", err))
	}
	tmp, err := os.MkdirTemp(root, ownedPattern(".tmp-"+digest[:8]+"-"))
	if err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	if err := writeExecData(tmp, in); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(dir); serr == nil {
			return dir, nil // another process got there first
		}
		return "", fmt.Errorf("cache: %w", err)
	}
	return dir, nil
}

// staleAfter is how old an untagged temporary data folder (of a version
// before owner tags, exec_owner.go) must be to be taken for the leftover
// of a writer that was killed: writing one takes seconds, and a younger
// one may be another shard's, being written now.
const staleAfter = time.Hour

// removeStaleTemps removes the temporary and damaged folders under root
// that killed writers left behind, each as large as the data: those whose
// owner is dead, and untagged ones older than staleAfter. Folders of
// processes still running (another shard writing now) stay.
func removeStaleTemps(root string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, ".tmp-")
		if !ok {
			if rest, ok = strings.CutPrefix(name, ".damaged-"); !ok {
				continue
			}
		}
		// rest is DIGEST8-TAG-RANDOM, or DIGEST8-RANDOM untagged.
		_, rest, _ = strings.Cut(rest, "-")
		tag, _, _ := strings.Cut(rest, "-")
		dead, tagged := ownerDead(tag)
		if !tagged {
			info, err := e.Info()
			dead = err == nil && time.Since(info.ModTime()) > staleAfter
		}
		if dead {
			os.RemoveAll(filepath.Join(root, name))
		}
	}
}

// execDigest names the inputs: the layout's version and the digests of
// the original model and the three sets (population.Key.Sum, the bytes of
// every earlier version).
func execDigest(in *Inputs) (string, error) {
	md, err := in.Original.Digest()
	if err != nil {
		return "", fmt.Errorf("model digest: %w", err)
	}
	var k population.Key
	k.Add("", execDataFormat)
	k.Add("model", md)
	for _, s := range []struct {
		name string
		d    *nn.Data
	}{{"retain", in.Retain}, {"forget", in.Forget}, {"validation", in.Validation}} {
		k.Add(s.name, orEmpty(s.d, in.Original).Digest())
	}
	// Half the digest keeps the folder's paths short; 128 bits still
	// never collide by chance.
	return k.Sum("\n", true)[:32], nil
}

// orEmpty is d, or an empty set of the model's input shape when d is nil.
func orEmpty(d *nn.Data, m *nn.Model) *nn.Data {
	if d != nil {
		return d
	}
	return &nn.Data{Shape: m.Shape}
}

// execFile is one file of the data folder: its name and how to produce
// its bytes from the inputs, so that the same bytes can be written or
// only hashed.
type execFile struct {
	name  string
	write func(io.Writer) error
}

// execFiles lists the data folder's files for in: the model, the three
// sets and a description (inputs.json).
func execFiles(in *Inputs) ([]execFile, error) {
	// As Model.Save writes it.
	g := in.Original.Graph.Clone()
	g.Outputs = []string{in.Original.Output}
	mb, err := g.Marshal()
	if err != nil {
		return nil, fmt.Errorf("saving the original model: %w", err)
	}
	files := []execFile{{execDataFiles["model"], func(w io.Writer) error { _, err := w.Write(mb); return err }}}
	desc := map[string]any{"format": execDataFormat, "classes": in.Original.Classes, "input_shape": in.Original.Shape}
	for _, s := range []struct {
		name string
		d    *nn.Data
	}{{"retain", in.Retain}, {"forget", in.Forget}, {"validation", in.Validation}} {
		d := orEmpty(s.d, in.Original)
		if err := d.Check(in.Original); err != nil {
			return nil, fmt.Errorf("%s set: %w", s.name, err)
		}
		shape := []int{d.Len()}
		for _, v := range d.Shape {
			shape = append(shape, int(v))
		}
		files = append(files,
			execFile{execDataFiles[s.name+"_x"], func(w io.Writer) error {
				return arrays.Encode(w, arrays.Tensor[float32]{Shape: shape, Data: d.X})
			}},
			execFile{execDataFiles[s.name+"_y"], func(w io.Writer) error {
				return arrays.Encode(w, arrays.Tensor[int64]{Shape: shape[:1], Data: d.Y})
			}})
		desc[s.name] = d.Len()
	}
	js, err := json.MarshalIndent(desc, "", "  ")
	if err != nil {
		return nil, err
	}
	js = append(js, '\n')
	files = append(files, execFile{"inputs.json", func(w io.Writer) error { _, err := w.Write(js); return err }})
	return files, nil
}

// writeExecData writes the files of in into dir.
func writeExecData(dir string, in *Inputs) error {
	files, err := execFiles(in)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.write); err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	// Every member of every later run reads these files: a program that
	// opens one for writing by mistake fails instead of corrupting them
	// (unless it runs as root; verifyExecData catches that).
	for _, f := range files {
		if err := os.Chmod(filepath.Join(dir, f.name), 0o444); err != nil {
			return err
		}
	}
	return nil
}

// execSums are the SHA-256 sums the data folder's files must have for
// in, computed from the inputs themselves, not from any file a program
// could have rewritten.
func execSums(in *Inputs) (map[string]string, error) {
	files, err := execFiles(in)
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	for _, f := range files {
		h := sha256.New()
		if err := f.write(h); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		sums[f.name] = hex.EncodeToString(h.Sum(nil))
	}
	return sums, nil
}

// verifyExecData checks that dir holds exactly the files of sums, each
// with its sum. Hashing the data before every member costs about a
// second per gigabyte, little beside a member's training, and is what
// stops one program's damage from reaching every later member and run.
func verifyExecData(dir string, sums map[string]string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	seen := 0
	for _, e := range ents {
		want, ok := sums[e.Name()]
		if !ok {
			return fmt.Errorf("%s is not one of its files", e.Name())
		}
		seen++
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			return fmt.Errorf("%s has SHA-256 %s, want %s", e.Name(), got[:12], want[:12])
		}
	}
	if seen != len(sums) {
		for name := range sums {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("%s is missing", name)
			}
		}
	}
	return nil
}
