package attack

import (
	"fmt"
	"slices"
	"strings"
)

// FeatureSet is a population's features on a set of examples: model i,
// example e, feature f at X[(i*E+e)*D()+f].
type FeatureSet struct {
	N, E  int
	Names []string
	X     []float64
}

// D is the number of features.
func (fs *FeatureSet) D() int { return len(fs.Names) }

// Row returns model i's features on example e (a view, not a copy).
func (fs *FeatureSet) Row(i, e int) []float64 {
	d := fs.D()
	off := (i*fs.E + e) * d
	return fs.X[off : off+d]
}

// Example copies every model's features on example e into dst: N rows of
// D features.
func (fs *FeatureSet) Example(e int, dst []float64) []float64 {
	dst = dst[:0]
	for i := 0; i < fs.N; i++ {
		dst = append(dst, fs.Row(i, e)...)
	}
	return dst
}

// Select returns the features named, in that order (a copy).
func (fs *FeatureSet) Select(names []string) (*FeatureSet, error) {
	idx := make([]int, len(names))
	for k, n := range names {
		idx[k] = slices.Index(fs.Names, n)
		if idx[k] < 0 {
			return nil, fmt.Errorf("feature %q is not available (have %s)", n, strings.Join(fs.Names, ", "))
		}
	}
	out := &FeatureSet{N: fs.N, E: fs.E, Names: slices.Clone(names), X: make([]float64, 0, fs.N*fs.E*len(names))}
	d := fs.D()
	for r := 0; r < fs.N*fs.E; r++ {
		for _, k := range idx {
			out.X = append(out.X, fs.X[r*d+k])
		}
	}
	return out, nil
}
