package cli

import (
	"fmt"
	"os"
	"testing"
)

// The tests read README.md, examples/ and testdata/ by paths relative to
// the repository root, where the commands' users run them.
func TestMain(m *testing.M) {
	if err := os.Chdir(".."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
