package python

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

//go:embed unlearnbench/*.py
var files embed.FS

// Interpreter is the Python that runs exec methods by default: Debian's,
// which python3-torch and python3-numpy install into (a `python3` found
// first on PATH may be another one, a virtual environment's or conda's).
const Interpreter = "/usr/bin/python3"

// digest names the embedded package's version: a SHA-256 of its files.
func digest() string {
	h := sha256.New()
	fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := files.ReadFile(p)
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Install writes the package under root as <root>/python-<digest>/unlearnbench
// (unless already there) and returns the folder to put on PYTHONPATH. The
// folder is written under a temporary name and renamed, so a complete one
// is never half-overwritten by a second process.
func Install(root string) (string, error) {
	dir := filepath.Join(root, "python-"+digest())
	if _, err := os.Stat(filepath.Join(dir, "unlearnbench", "__init__.py")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("installing the Python package: %w", err)
	}
	tmp, err := os.MkdirTemp(root, ".tmp-python-")
	if err != nil {
		return "", fmt.Errorf("installing the Python package: %w", err)
	}
	if err := os.Mkdir(filepath.Join(tmp, "unlearnbench"), 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("installing the Python package: %w", err)
	}
	err = fs.WalkDir(files, "unlearnbench", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, "unlearnbench", path.Base(p)), b, 0o644)
	})
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("installing the Python package: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(filepath.Join(dir, "unlearnbench", "__init__.py")); serr == nil {
			return dir, nil // another process got there first
		}
		return "", fmt.Errorf("installing the Python package: %w", err)
	}
	return dir, nil
}
