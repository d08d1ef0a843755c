package datasets

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"

	"unlearnbench/internal/usererr"
)

// Normalization maps a value v of channel c to (v - Mean[c]) / Std[c]; for
// byte data v is the pixel / 255.
type Normalization struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// ChannelStats computes each channel's mean and population standard
// deviation over the examples at indices (pixels read as value/255), to
// normalise with statistics of the training split only. A channel that is
// constant gets standard deviation 1, so normalising it only centres it.
func ChannelStats(d *Dataset, indices []int) Normalization {
	nrm := Normalization{Mean: make([]float64, d.C), Std: make([]float64, d.C)}
	plane := d.H * d.W
	count := float64(len(indices) * plane)
	if count == 0 {
		for c := range nrm.Std {
			nrm.Std[c] = 1
		}
		return nrm
	}
	if d.Pixels != nil {
		// Exact: a histogram per channel, then the moments from it.
		hist := make([][256]int64, d.C)
		size := d.Size()
		for _, i := range indices {
			ex := d.Pixels[i*size : (i+1)*size]
			for c := range d.C {
				h := &hist[c]
				for _, v := range ex[c*plane : (c+1)*plane] {
					h[v]++
				}
			}
		}
		for c := range d.C {
			var sum float64
			for v, k := range hist[c] {
				sum += float64(k) * float64(v) / 255
			}
			mean := sum / count
			var ss float64
			for v, k := range hist[c] {
				dv := float64(v)/255 - mean
				ss += float64(k) * dv * dv
			}
			nrm.Mean[c], nrm.Std[c] = mean, math.Sqrt(ss/count)
		}
	} else {
		size := d.Size()
		for _, i := range indices {
			ex := d.Values[i*size : (i+1)*size]
			for c := range d.C {
				for _, v := range ex[c*plane : (c+1)*plane] {
					nrm.Mean[c] += float64(v)
				}
			}
		}
		for c := range nrm.Mean {
			nrm.Mean[c] /= count
		}
		for _, i := range indices {
			ex := d.Values[i*size : (i+1)*size]
			for c := range d.C {
				m := nrm.Mean[c]
				for _, v := range ex[c*plane : (c+1)*plane] {
					dv := float64(v) - m
					nrm.Std[c] += dv * dv
				}
			}
		}
		for c := range nrm.Std {
			nrm.Std[c] = math.Sqrt(nrm.Std[c] / count)
		}
	}
	for c, s := range nrm.Std {
		if s == 0 {
			nrm.Std[c] = 1
		}
	}
	return nrm
}

// Augment is the random training-time augmentation torchvision's
// RandomCrop(size, padding=Pad) and RandomHorizontalFlip() apply: the image
// is padded by Pad zeros on each side, an H×W window is cut at a uniformly
// random offset, and the result is mirrored left-right with probability 1/2.
type Augment struct {
	Pad  int  `json:"pad,omitempty"`
	Flip bool `json:"flip,omitempty"`
}

// BatchOptions configures NewBatches.
type BatchOptions struct {
	Size     int            // examples per batch (>= 1)
	Shuffle  bool           // a new seeded order each epoch
	Seed     uint64         // seeds the order and the augmentation
	DropLast bool           // leave out a last batch smaller than Size
	Norm     *Normalization // nil: values as read (pixels in [0, 1])
	Augment  Augment
}

// Batch is one batch. Its slices belong to the Batches that produced it and
// are overwritten by the next batch: copy what must outlive the loop body.
type Batch struct {
	Size  int       // examples in this batch (the last one may be smaller)
	X     []float32 // Size × C × H × W values, NCHW
	Y     []int64   // Size labels
	Index []int     // Size positions in the dataset
}

// Batches produces the batches of a subset of a Dataset, epoch after
// epoch, into buffers allocated once; the data itself is never copied. One
// goroutine at a time may use it; make one Batches per goroutine otherwise
// (they share the Dataset, which is read-only).
type Batches struct {
	d    *Dataset
	idx  []int
	opt  BatchOptions
	perm []int
	b    Batch
	// Per channel: lut maps a pixel byte to its normalised value (256 per
	// channel); scale and shift do the same for float data (v*scale+shift);
	// fill is the normalised value of a padding zero.
	lut, scale, shift, fill []float32
	row                     []float32
}

// NewBatches prepares batches of d's examples at indices (in that order
// when not shuffling).
func NewBatches(d *Dataset, indices []int, opt BatchOptions) (*Batches, error) {
	if opt.Size < 1 {
		return nil, usererr.Errorf("batch size %d; want at least 1", opt.Size)
	}
	if opt.Augment.Pad < 0 || opt.Augment.Pad > max(d.H, d.W) {
		return nil, usererr.Errorf("crop padding %d; want 0 to %d for %dx%d examples", opt.Augment.Pad, max(d.H, d.W), d.H, d.W)
	}
	for k, i := range indices {
		if i < 0 || i >= d.N {
			return nil, fmt.Errorf("%s: batch index %d = %d outside [0, %d)", d.Name, k, i, d.N)
		}
	}
	b := &Batches{d: d, idx: indices, opt: opt, perm: slices.Clone(indices)}
	nrm := Normalization{Mean: make([]float64, d.C), Std: make([]float64, d.C)}
	for c := range nrm.Std {
		nrm.Std[c] = 1
	}
	if opt.Norm != nil {
		if len(opt.Norm.Mean) != d.C || len(opt.Norm.Std) != d.C {
			return nil, usererr.Errorf("normalisation has %d means and %d deviations for %d channels", len(opt.Norm.Mean), len(opt.Norm.Std), d.C)
		}
		for c, s := range opt.Norm.Std {
			if !(s > 0) || math.IsInf(s, 0) || math.IsNaN(opt.Norm.Mean[c]) || math.IsInf(opt.Norm.Mean[c], 0) {
				return nil, usererr.Errorf("normalisation of channel %d: mean %v, std %v; want finite values and std > 0", c, opt.Norm.Mean[c], s)
			}
		}
		nrm = *opt.Norm
	}
	b.scale, b.shift, b.fill = make([]float32, d.C), make([]float32, d.C), make([]float32, d.C)
	for c := range d.C {
		b.scale[c] = float32(1 / nrm.Std[c])
		b.shift[c] = float32(-nrm.Mean[c] / nrm.Std[c])
		b.fill[c] = b.shift[c]
	}
	if d.Pixels != nil {
		b.lut = make([]float32, 256*d.C)
		for c := range d.C {
			for v := range 256 {
				b.lut[256*c+v] = float32((float64(v)/255 - nrm.Mean[c]) / nrm.Std[c])
			}
		}
	}
	size := d.Size()
	// Buffers hold what a batch can hold: no batch is larger than the
	// examples there are, whatever the batch size given.
	bs := min(opt.Size, max(len(indices), 1))
	b.b = Batch{X: make([]float32, bs*size), Y: make([]int64, bs), Index: make([]int, bs)}
	b.row = make([]float32, d.W)
	return b, nil
}

// Len is the number of batches in one epoch.
func (b *Batches) Len() int {
	n := len(b.idx) / b.opt.Size
	if !b.opt.DropLast && len(b.idx)%b.opt.Size != 0 {
		n++
	}
	return n
}

// Epoch yields the batches of epoch e. The order (when shuffling) and the
// augmentation depend only on the seed and e, so any epoch can be replayed.
// The same *Batch is yielded every time, refilled.
func (b *Batches) Epoch(e int) iter.Seq[*Batch] {
	return func(yield func(*Batch) bool) {
		r := rand.New(rand.NewPCG(b.opt.Seed, uint64(e)))
		copy(b.perm, b.idx)
		if b.opt.Shuffle {
			r.Shuffle(len(b.perm), func(i, j int) { b.perm[i], b.perm[j] = b.perm[j], b.perm[i] })
		}
		size := b.d.Size()
		for start := 0; start < len(b.perm); start += b.opt.Size {
			n := min(b.opt.Size, len(b.perm)-start)
			if n < b.opt.Size && b.opt.DropLast {
				return
			}
			batch := &b.b
			batch.Size = n
			batch.X, batch.Y, batch.Index = batch.X[:n*size], batch.Y[:n], batch.Index[:n]
			for k, i := range b.perm[start : start+n] {
				dy, dx, flip := 0, 0, false
				if p := b.opt.Augment.Pad; p > 0 {
					dy, dx = r.IntN(2*p+1)-p, r.IntN(2*p+1)-p
				}
				if b.opt.Augment.Flip {
					flip = r.IntN(2) == 1
				}
				b.write(batch.X[k*size:(k+1)*size], i, dy, dx, flip)
				batch.Y[k] = b.d.Labels[i]
				batch.Index[k] = i
			}
			if !yield(batch) {
				return
			}
		}
	}
}

// write fills dst with example i, normalised, shifted by (dy, dx) (the
// window's offset from centre; uncovered pixels get the padding value) and
// mirrored when flip.
func (b *Batches) write(dst []float32, i, dy, dx int, flip bool) {
	d := b.d
	h, w := d.H, d.W
	plane := h * w
	size := d.Size()
	// Columns x of the output whose source column x+dx lies in the image.
	x0, x1 := max(0, -dx), min(w, w-dx)
	for c := range d.C {
		out := dst[c*plane : (c+1)*plane]
		if dy == 0 && dx == 0 && !flip {
			// The common case: one pass over the plane.
			if d.Pixels != nil {
				lut := b.lut[256*c : 256*c+256]
				for j, v := range d.Pixels[i*size+c*plane : i*size+(c+1)*plane] {
					out[j] = lut[v]
				}
			} else {
				a, s := b.scale[c], b.shift[c]
				for j, v := range d.Values[i*size+c*plane : i*size+(c+1)*plane] {
					out[j] = v*a + s
				}
			}
			continue
		}
		for y := range h {
			row := out[y*w : (y+1)*w]
			sy := y + dy
			if sy < 0 || sy >= h || x0 >= x1 {
				for x := range row {
					row[x] = b.fill[c]
				}
				continue
			}
			tmp := row
			if flip {
				tmp = b.row
			}
			for x := range x0 {
				tmp[x] = b.fill[c]
			}
			for x := x1; x < w; x++ {
				tmp[x] = b.fill[c]
			}
			src := i*size + c*plane + sy*w + dx
			if d.Pixels != nil {
				lut := b.lut[256*c : 256*c+256]
				for x, v := range d.Pixels[src+x0 : src+x1] {
					tmp[x0+x] = lut[v]
				}
			} else {
				a, s := b.scale[c], b.shift[c]
				for x, v := range d.Values[src+x0 : src+x1] {
					tmp[x0+x] = v*a + s
				}
			}
			if flip {
				for x := range w {
					row[x] = tmp[w-1-x]
				}
			}
		}
	}
}
