package nn

import (
	"runtime"
	"slices"
	"testing"
)

// TestDataBatchesBatchLargerThanData: a batch size beyond the data is one
// batch of every example, the same as a batch size of exactly n, and the
// buffers are sized by the data, not by the number given (10^11 used to
// panic in makeslice, 5*10^7 to allocate gigabytes for 20 examples).
func TestDataBatchesBatchLargerThanData(t *testing.T) {
	m := MLP([]int64{1, 6, 6}, []int64{4}, 3, 1)
	d := randomData(3, 20, m.Shape, 3)
	collect := func(bs int) (x []float32, y []int64, batches int, alloc uint64) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		src, err := DataBatches(m, d, TrainConfig{BatchSize: bs, Seed: 5})
		if err != nil {
			t.Fatalf("batch size %d: %v", bs, err)
		}
		src.Epoch(0, func(bx []float32, by []int64) bool {
			x, y = append(x, bx...), append(y, by...)
			batches++
			return true
		})
		runtime.ReadMemStats(&after)
		if src.Steps != batches {
			t.Errorf("batch size %d: Steps %d, %d batches yielded", bs, src.Steps, batches)
		}
		return x, y, batches, after.TotalAlloc - before.TotalAlloc
	}
	wx, wy, _, _ := collect(d.Len())
	for _, bs := range []int{21, 50_000_000, 100_000_000_000, 1 << 62} {
		x, y, batches, alloc := collect(bs)
		if batches != 1 || !slices.Equal(x, wx) || !slices.Equal(y, wy) {
			t.Errorf("batch size %d: %d batches, or other examples than one batch of all %d", bs, batches, d.Len())
		}
		// The data is 20*36 floats; a megabyte is far above what the
		// batches need and far below what the batch size would ask.
		if alloc > 1<<20 {
			t.Errorf("batch size %d: %d bytes allocated for %d examples", bs, alloc, d.Len())
		}
	}
}
