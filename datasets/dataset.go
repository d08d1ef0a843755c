package datasets

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"unlearnbench/internal/usererr"
)

// Dataset is one part (training or test) of a data set, held in memory as it
// was read: N examples of C×H×W values in NCHW order, each with a label and,
// optionally, a group id (the person or patient it belongs to).
//
// Exactly one of Pixels and Values holds the data. Pixels are bytes that read
// as value/255 (what torchvision's ToTensor does); Values are used as they
// are. Tabular data has one channel per feature and H = W = 1, so that
// per-channel normalisation is per-feature normalisation.
//
// A Dataset is not modified after loading; subsets are index slices (see
// Split), and batches are produced by Batches without copying the data.
type Dataset struct {
	Name       string   // where it came from, for messages: "fashion-mnist/train"
	N, C, H, W int      // examples, channels, height, width
	Classes    int      // class count; labels lie in [0, Classes)
	ClassNames []string // name of each class (len Classes), or nil
	Labels     []int64  // len N
	Groups     []int64  // group id of each example (len N), or nil when there are none
	// GroupNames maps a group id to the name it had in the input, when the
	// input named groups by strings; nil when the ids are the input's integers.
	GroupNames []string

	Pixels []uint8   // N*C*H*W bytes, read as value/255; nil for float data
	Values []float32 // N*C*H*W values; nil for byte data
}

// Size is the number of values in one example, C*H*W.
func (d *Dataset) Size() int { return d.C * d.H * d.W }

// Example writes example i's C*H*W values into dst (len >= Size), bytes
// scaled to [0, 1], and returns dst[:Size].
func (d *Dataset) Example(i int, dst []float32) []float32 {
	n := d.Size()
	dst = dst[:n]
	if d.Pixels != nil {
		src := d.Pixels[i*n : (i+1)*n]
		for j, v := range src {
			dst[j] = float32(float64(v) / 255) // as Batches computes it
		}
		return dst
	}
	copy(dst, d.Values[i*n:(i+1)*n])
	return dst
}

// ClassCounts returns how many of the examples at indices (all when indices
// is nil) have each label.
func (d *Dataset) ClassCounts(indices []int) []int {
	counts := make([]int, d.Classes)
	if indices == nil {
		for _, y := range d.Labels {
			counts[y]++
		}
		return counts
	}
	for _, i := range indices {
		counts[d.Labels[i]]++
	}
	return counts
}

// ClassName names class c: its name when the data has names, else its number.
func (d *Dataset) ClassName(c int) string {
	if c >= 0 && c < len(d.ClassNames) {
		return d.ClassNames[c]
	}
	return strconv.Itoa(c)
}

// GroupName names group id g as the input did.
func (d *Dataset) GroupName(g int64) string {
	if d.GroupNames != nil && g >= 0 && g < int64(len(d.GroupNames)) {
		return d.GroupNames[g]
	}
	return strconv.FormatInt(g, 10)
}

// LookupClass resolves a class given by name or by number.
func (d *Dataset) LookupClass(s string) (int, error) {
	for c, name := range d.ClassNames {
		if name == s {
			return c, nil
		}
	}
	if c, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && c >= 0 && c < d.Classes {
		return c, nil
	}
	return 0, usererr.Errorf("%s: no class %q; classes are %s", d.Name, s, d.describeClasses())
}

func (d *Dataset) describeClasses() string {
	if d.ClassNames == nil {
		return fmt.Sprintf("0 to %d", d.Classes-1)
	}
	q := make([]string, len(d.ClassNames))
	for i, n := range d.ClassNames {
		q[i] = fmt.Sprintf("%d %q", i, n)
	}
	return strings.Join(q, ", ")
}

// LookupGroup resolves a group given by the name the input used.
func (d *Dataset) LookupGroup(s string) (int64, bool) {
	if d.GroupNames != nil {
		g := slices.Index(d.GroupNames, s)
		return int64(g), g >= 0
	}
	g, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return g, err == nil
}

// validate checks the invariants every reader promises; name says which
// reader, for the internal error a violation is.
func (d *Dataset) validate() error {
	if d.N < 0 || d.C <= 0 || d.H <= 0 || d.W <= 0 || d.Classes <= 0 {
		return fmt.Errorf("%s: bad shape N=%d C=%d H=%d W=%d classes=%d", d.Name, d.N, d.C, d.H, d.W, d.Classes)
	}
	if (d.Pixels == nil) == (d.Values == nil) && d.N > 0 {
		return fmt.Errorf("%s: exactly one of Pixels and Values must be set", d.Name)
	}
	if n := len(d.Pixels) + len(d.Values); n != d.N*d.Size() {
		return fmt.Errorf("%s: %d values for %d examples of %d", d.Name, n, d.N, d.Size())
	}
	if len(d.Labels) != d.N || (d.Groups != nil && len(d.Groups) != d.N) {
		return fmt.Errorf("%s: %d labels, %d groups for %d examples", d.Name, len(d.Labels), len(d.Groups), d.N)
	}
	for i, y := range d.Labels {
		if y < 0 || y >= int64(d.Classes) {
			return fmt.Errorf("%s: label %d of example %d outside [0, %d)", d.Name, y, i, d.Classes)
		}
	}
	return nil
}

// Source is a data set as its files define it: a training part and, when the
// data defines one, a test part. Datasets without a test part (image folders
// without train/ and test/, CSV tables, arrays without x_test) get a test
// split carved from the training part by Split.
type Source struct {
	Name  string   // "fashion-mnist", "cifar10", "folder", ...
	Train *Dataset // always present
	Test  *Dataset // nil when the data defines no test part
}
