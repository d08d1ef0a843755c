package unlearners

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNewForwardsClose: the method New returns closes what it wraps, so
// exec run without a cache through New removes its temporary data folder
// on Close; a method holding nothing closes without error.
func TestNewForwardsClose(t *testing.T) {
	f := execFixtureFor(t)
	dump := filepath.Join(t.TempDir(), "data")
	u, _, err := New("exec", map[string]any{"command": `sh -c 'echo "$UNLEARNBENCH_DATA" > ` + dump + `; cp "$UNLEARNBENCH_MODEL" "$UNLEARNBENCH_OUT"'`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Unlearn(context.Background(), f.inputs(3, "")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	data := strings.TrimSpace(string(b))
	if _, err := os.Stat(data); err != nil {
		t.Fatalf("the data folder %q the command saw: %v", data, err)
	}
	c, ok := u.(io.Closer)
	if !ok {
		t.Fatal("New's exec is not an io.Closer")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data folder %s left after Close (%v)", data, err)
	}
	noop, _, err := New("noop", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := noop.(io.Closer).Close(); err != nil {
		t.Errorf("noop's Close: %v", err)
	}
}
