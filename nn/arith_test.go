package nn

import "testing"

// TestArithmetic: the zoo's models with convolutions carry the version of
// their arithmetic, the MLP none (its keys never changed); the
// architecture's name says the same as the built model.
func TestArithmetic(t *testing.T) {
	for _, arch := range Archs {
		shape := []int64{3, 32, 32}
		if arch == ArchMLP || arch == ArchCNN {
			shape = []int64{1, 28, 28}
		}
		m, err := New(arch, shape, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		got, want := Arithmetic(m), ArchArithmetic(arch)
		if got != want || (arch == ArchMLP) != (got == "") {
			t.Errorf("%s: Arithmetic %q, ArchArithmetic %q", arch, got, want)
		}
	}
}
