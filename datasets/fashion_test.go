package datasets

import (
	"math"
	"slices"
	"sync"
	"testing"
)

// fashion loads the real Fashion-MNIST once for all tests; `make test`
// installs it (scripts/setup.sh), so its absence is a failure, not a skip.
var fashion = sync.OnceValues(func() (*Source, error) { return LoadFashionMNIST("") })

func loadFashion(t testing.TB) *Source {
	t.Helper()
	src, err := fashion()
	if err != nil {
		t.Fatalf("loading Fashion-MNIST (run `make setup`): %v", err)
	}
	return src
}

func TestFashionMNIST(t *testing.T) {
	src := loadFashion(t)
	for _, c := range []struct {
		d        *Dataset
		n, per   int
		first    []int64
		firstSum int // sum of the first image's bytes, from Python's gzip module
	}{
		{src.Train, 60000, 6000, []int64{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}, 76247},
		{src.Test, 10000, 1000, []int64{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}, 33456},
	} {
		d := c.d
		if d.N != c.n || d.C != 1 || d.H != 28 || d.W != 28 || d.Classes != 10 {
			t.Fatalf("%s: N=%d C=%d H=%d W=%d classes=%d", d.Name, d.N, d.C, d.H, d.W, d.Classes)
		}
		for k, n := range d.ClassCounts(nil) {
			if n != c.per {
				t.Errorf("%s: class %d has %d examples, want %d", d.Name, k, n, c.per)
			}
		}
		if !slices.Equal(d.Labels[:10], c.first) {
			t.Errorf("%s: first labels %v, want %v", d.Name, d.Labels[:10], c.first)
		}
		sum := 0
		for _, v := range d.Pixels[:784] {
			sum += int(v)
		}
		if sum != c.firstSum {
			t.Errorf("%s: first image sums to %d, want %d", d.Name, sum, c.firstSum)
		}
	}
	if src.Train.ClassName(9) != "Ankle boot" {
		t.Errorf("class 9 is %q", src.Train.ClassName(9))
	}
	// The widely quoted Fashion-MNIST statistics (0.2860, 0.3530), here as
	// computed independently in Python over the training images.
	all := make([]int, src.Train.N)
	for i := range all {
		all[i] = i
	}
	nrm := ChannelStats(src.Train, all)
	if math.Abs(nrm.Mean[0]-0.2860405969887955) > 1e-12 || math.Abs(nrm.Std[0]-0.3530242445149224) > 1e-12 {
		t.Errorf("stats %v, %v", nrm.Mean, nrm.Std)
	}
}
