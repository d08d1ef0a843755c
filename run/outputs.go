package run

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"unlearnbench/internal/outpath"
	"unlearnbench/internal/usererr"
)

// checkOutputs refuses, before any data is read or member computed (in a
// dry run and in every shard too), a cache or run directory that cannot
// be written, and a run directory that holds the run of another config.
// With replace, a run directory of another config is replaced.
// The cache is checked for its shape only: a complete cache is scored from
// a read-only mount, and a shard finds out it cannot write when it writes.
func (c *Config) checkOutputs(replace bool) error {
	dir := filepath.Join(c.Runs, c.Name)
	if err := outpath.Check(
		outpath.Output{Name: fmt.Sprintf("config %s: cache", c.File), Path: c.Cache, Dir: true, MayBeReadOnly: true},
		outpath.Output{Name: fmt.Sprintf("config %s: run directory", c.File), Path: dir, Dir: true},
	); err != nil {
		return err
	}
	if replace {
		return nil
	}
	return c.checkRunDir(dir)
}

// checkRunDir refuses to replace the run directory of another config: a
// copied config that kept name: demo used to overwrite runs/demo, the CI
// baseline, without a word. Configs are compared by their run digest, not
// their path, so that a rerun from a copy (the Slurm scoring job runs a
// copy made at submission) is the same run. A run of another config is
// refused with a hint (another --name, or --replace) rather than kept under a made-up name: scripts and
// CI read runs/NAME, and a result they do not find is safer than one they
// find under a name they did not choose.
func (c *Config) checkRunDir(dir string) error {
	path := filepath.Join(dir, "config.yaml")
	hint := fmt.Sprintf("give this run another name (--name %s-2, or name: in the config), or replace it with --replace", c.Name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, "result.json")); err == nil {
			return usererr.Errorf("config %s: %s holds a result.json without its config.yaml, so it may be another run's; %s", c.File, dir, hint)
		}
		return nil
	}
	if err != nil {
		return usererr.Wrap(fmt.Errorf("config %s: reading the run directory's config: %w", c.File, err))
	}
	// Resolved, as c is: a config.yaml written by hand may leave a
	// method's defaults out.
	prev, err := Parse(path, b)
	if err == nil {
		err = prev.Resolve()
	}
	if err != nil {
		return usererr.Errorf("config %s: %s holds a run whose config.yaml cannot be read (%v); %s", c.File, dir, err, hint)
	}
	was, err := prev.runDigest()
	if err != nil {
		return err
	}
	is, err := c.runDigest()
	if err != nil {
		return err
	}
	if was != is {
		return usererr.Errorf("config %s: %s holds the run of another config (run digest %.12s, this config's %.12s); %s", c.File, dir, was, is, hint)
	}
	return nil
}

// runDigest identifies what a run directory holds: the config's Digest
// (what the members depend on) with the attack settings, which change
// the result but not the members, and without N: a run grown to more
// models (by hand, or by scoring.n_max) is the same experiment with more
// evidence, and its directory takes the larger run without --replace.
func (c *Config) runDigest() (string, error) {
	same := *c
	same.N = 0
	d, err := same.Digest()
	if err != nil {
		return "", err
	}
	b, err := (&Config{Attacks: c.Attacks}).YAML()
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(append([]byte(d+"\x00"), b...))
	return hex.EncodeToString(s[:]), nil
}
