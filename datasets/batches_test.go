package datasets

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// tiny returns a dataset of n examples of c×h×w, pixel or float, with
// distinct values.
func tiny(n, c, h, w int, float bool) *Dataset {
	d := &Dataset{Name: "tiny", N: n, C: c, H: h, W: w, Classes: 3, Labels: make([]int64, n)}
	r := rand.New(rand.NewPCG(9, 9))
	size := c * h * w
	if float {
		d.Values = make([]float32, n*size)
		for i := range d.Values {
			d.Values[i] = float32(r.NormFloat64())
		}
	} else {
		d.Pixels = make([]uint8, n*size)
		for i := range d.Pixels {
			d.Pixels[i] = uint8(r.IntN(256))
		}
	}
	for i := range d.Labels {
		d.Labels[i] = int64(i % 3)
	}
	return d
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestBatchesOrderAndNormalisation(t *testing.T) {
	d := tiny(10, 2, 3, 4, false)
	nrm := Normalization{Mean: []float64{0.5, 0.25}, Std: []float64{0.2, 0.4}}
	idx := []int{9, 2, 4, 7, 0}
	b, err := NewBatches(d, idx, BatchOptions{Size: 2, Norm: &nrm})
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 3 {
		t.Errorf("Len %d", b.Len())
	}
	var seen []int
	for batch := range b.Epoch(0) {
		seen = append(seen, batch.Index...)
		for k, i := range batch.Index {
			if batch.Y[k] != d.Labels[i] {
				t.Errorf("label of %d", i)
			}
			for j := range 24 {
				c := j / 12
				want := (float64(d.Pixels[i*24+j])/255 - nrm.Mean[c]) / nrm.Std[c]
				if got := batch.X[k*24+j]; math.Abs(float64(got)-want) > 1e-5 {
					t.Fatalf("example %d value %d: %v, want %v", i, j, got, want)
				}
			}
		}
	}
	if !slices.Equal(seen, idx) {
		t.Errorf("order %v, want %v", seen, idx)
	}
	b, _ = NewBatches(d, idx, BatchOptions{Size: 2, DropLast: true})
	n := 0
	for batch := range b.Epoch(0) {
		if batch.Size != 2 {
			t.Errorf("size %d with DropLast", batch.Size)
		}
		n++
	}
	if n != 2 || b.Len() != 2 {
		t.Errorf("%d batches (Len %d) with DropLast", n, b.Len())
	}
}

func TestBatchesShuffle(t *testing.T) {
	d := tiny(100, 1, 2, 2, true)
	order := func(seed uint64, epoch int) []int {
		b, err := NewBatches(d, seq(100), BatchOptions{Size: 7, Shuffle: true, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		var out []int
		for batch := range b.Epoch(epoch) {
			out = append(out, batch.Index...)
		}
		return out
	}
	a := order(1, 0)
	if s := slices.Sorted(slices.Values(a)); !slices.Equal(s, seq(100)) {
		t.Fatalf("not a permutation: %v", a)
	}
	if slices.Equal(a, seq(100)) || slices.Equal(a, order(1, 1)) || slices.Equal(a, order(2, 0)) {
		t.Error("shuffle does not depend on the epoch and seed")
	}
	if !slices.Equal(a, order(1, 0)) {
		t.Error("the same seed and epoch gave another order")
	}
}

// reference computes the augmented example the slow way: pad with zeros,
// cut the window at (p+dy, p+dx), mirror.
func reference(d *Dataset, i, p, dy, dx int, flip bool) []float32 {
	h, w := d.H, d.W
	ex := d.Example(i, make([]float32, d.Size()))
	out := make([]float32, d.Size())
	for c := range d.C {
		padded := make([]float32, (h+2*p)*(w+2*p))
		for y := range h {
			for x := range w {
				padded[(y+p)*(w+2*p)+x+p] = ex[c*h*w+y*w+x]
			}
		}
		for y := range h {
			for x := range w {
				v := padded[(y+p+dy)*(w+2*p)+x+p+dx]
				if flip {
					out[c*h*w+y*w+(w-1-x)] = v
				} else {
					out[c*h*w+y*w+x] = v
				}
			}
		}
	}
	return out
}

func TestBatchesAugment(t *testing.T) {
	for _, float := range []bool{false, true} {
		d := tiny(200, 3, 5, 6, float)
		const p = 2
		b, err := NewBatches(d, seq(d.N), BatchOptions{Size: 16, Shuffle: true, Seed: 5, Augment: Augment{Pad: p, Flip: true}})
		if err != nil {
			t.Fatal(err)
		}
		used := map[[3]int]int{}
		for batch := range b.Epoch(3) {
			for k, i := range batch.Index {
				got := batch.X[k*d.Size() : (k+1)*d.Size()]
				found := false
				for dy := -p; dy <= p && !found; dy++ {
					for dx := -p; dx <= p && !found; dx++ {
						for _, flip := range []bool{false, true} {
							if slices.Equal(got, reference(d, i, p, dy, dx, flip)) {
								used[[3]int{dy, dx, map[bool]int{false: 0, true: 1}[flip]}]++
								found = true
								break
							}
						}
					}
				}
				if !found {
					t.Fatalf("float=%v: example %d is no crop or flip of its source", float, i)
				}
			}
		}
		// 200 draws from 50 transforms: most should appear.
		if len(used) < 35 {
			t.Errorf("float=%v: only %d distinct transforms in 200 draws", float, len(used))
		}
	}
}

func TestBatchesReuseBuffers(t *testing.T) {
	d := tiny(1000, 1, 4, 4, false)
	b, err := NewBatches(d, seq(d.N), BatchOptions{Size: 10, Shuffle: true, Augment: Augment{Pad: 1, Flip: true}})
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(5, func() {
		for range b.Epoch(1) {
		}
	})
	if allocs > 5 {
		t.Errorf("%v allocations per epoch of 100 batches; want a handful", allocs)
	}
}

func TestBatchesErrors(t *testing.T) {
	d := tiny(4, 2, 2, 2, false)
	_, err := NewBatches(d, seq(4), BatchOptions{Size: 0})
	wantUserErr(t, err, "batch size 0")
	_, err = NewBatches(d, seq(4), BatchOptions{Size: 1, Norm: &Normalization{Mean: []float64{0}, Std: []float64{1}}})
	wantUserErr(t, err, "1 means and 1 deviations for 2 channels")
	_, err = NewBatches(d, seq(4), BatchOptions{Size: 1, Norm: &Normalization{Mean: []float64{0, 0}, Std: []float64{1, 0}}})
	wantUserErr(t, err, "channel 1")
	if _, err = NewBatches(d, []int{4}, BatchOptions{Size: 1}); err == nil {
		t.Error("index 4 of 4 accepted")
	}
}

func TestChannelStatsFloat(t *testing.T) {
	d := &Dataset{Name: "f", N: 2, C: 2, H: 1, W: 2, Classes: 1, Labels: []int64{0, 0}, Values: []float32{1, 3, 5, 5, 2, 4, 5, 5}}
	nrm := ChannelStats(d, []int{0, 1})
	// Channel 0 holds 1, 3, 2, 4: mean 2.5, variance 1.25; channel 1 is constant.
	if nrm.Mean[0] != 2.5 || math.Abs(nrm.Std[0]-math.Sqrt(1.25)) > 1e-12 || nrm.Mean[1] != 5 || nrm.Std[1] != 1 {
		t.Errorf("%+v", nrm)
	}
}

// TestBatchesBatchLargerThanData: a batch size beyond the examples gives
// one batch of them all, with buffers sized by the examples.
func TestBatchesBatchLargerThanData(t *testing.T) {
	d := tiny(10, 2, 3, 4, false)
	for _, size := range []int{11, 50_000_000, 100_000_000_000, 1 << 62} {
		b, err := NewBatches(d, seq(10), BatchOptions{Size: size})
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if b.Len() != 1 {
			t.Errorf("size %d: %d batches, want 1", size, b.Len())
		}
		n := 0
		for bt := range b.Epoch(0) {
			n += len(bt.Y)
			if cap(bt.X) > 10*d.Size() {
				t.Errorf("size %d: batch buffer of %d values for 10 examples", size, cap(bt.X))
			}
		}
		if n != 10 {
			t.Errorf("size %d: %d examples yielded, want 10", size, n)
		}
	}
}
