package nn

import (
	"math/rand/v2"

	"unlearnbench/internal/usererr"
)

// Augment is the random training-time augmentation of torchvision's
// RandomCrop(size, padding=Pad) and RandomHorizontalFlip(), the same as
// datasets.Augment: each example is padded by Pad zeros on each side, an
// H×W window is cut at a uniformly random offset, and the result is
// mirrored left-right with probability 1/2. The zeros are zeros of the
// data as the model takes it, which is a black pixel for the zoo's models
// (they normalise their own input), as torchvision pads before Normalize.
// The zero value augments nothing and is left out of a TrainConfig's YAML
// and JSON, so that recipes without augmentation keep their digests.
type Augment struct {
	Pad  int  `yaml:"augment_pad,omitempty" json:"pad,omitempty"`
	Flip bool `yaml:"augment_flip,omitempty" json:"flip,omitempty"`
}

// On reports whether a augments anything.
func (a Augment) On() bool { return a.Pad > 0 || a.Flip }

// Check refuses a padding that is negative or larger than the examples of
// shape (C, H, W).
func (a Augment) Check(shape []int64) error {
	if len(shape) != 3 {
		if a.On() {
			return usererr.Errorf("augmentation needs C×H×W examples, these have shape %v", shape)
		}
		return nil
	}
	h, w := int(shape[1]), int(shape[2])
	if a.Pad < 0 || a.Pad > max(h, w) {
		return usererr.Errorf("crop padding %d; want 0 to %d for %dx%d examples", a.Pad, max(h, w), h, w)
	}
	return nil
}

// augmentSeed separates the augmentation's random stream from the batch
// order's, so that turning augmentation on keeps the order.
const augmentSeed = 0x6175676d656e74 // "augment"

// Augmenter applies an Augment to batches of one epoch, drawing for each
// example in turn the crop's offset (when Pad > 0), then the flip (when
// Flip), from an RNG seeded by (seed, epoch) alone, so that any epoch can be
// replayed.
type Augmenter struct {
	a       Augment
	c, h, w int
	r       *rand.Rand
	tmp     []float32
}

// NewAugmenter returns an Augmenter for examples of shape (C, H, W) at the
// start of epoch (from 0); Check(shape) must have passed.
func NewAugmenter(a Augment, shape []int64, seed uint64, epoch int) *Augmenter {
	g := &Augmenter{a: a, r: rand.New(rand.NewPCG(seed^augmentSeed, uint64(epoch)))}
	if len(shape) == 3 {
		g.c, g.h, g.w = int(shape[0]), int(shape[1]), int(shape[2])
		g.tmp = make([]float32, g.c*g.h*g.w)
	}
	return g
}

// Batch augments the examples of x (NCHW, a whole number of examples) in
// place.
func (g *Augmenter) Batch(x []float32) {
	if !g.a.On() {
		return
	}
	size := g.c * g.h * g.w
	for s := 0; s+size <= len(x); s += size {
		dy, dx, flip := 0, 0, false
		if p := g.a.Pad; p > 0 {
			dy, dx = g.r.IntN(2*p+1)-p, g.r.IntN(2*p+1)-p
		}
		if g.a.Flip {
			flip = g.r.IntN(2) == 1
		}
		if dy != 0 || dx != 0 || flip {
			g.example(x[s:s+size], dy, dx, flip)
		}
	}
}

// example writes into ex its own values shifted by (dy, dx) (output pixel
// (y, x) is input pixel (y+dy, x+dx), zero where that lies outside) and
// mirrored when flip, as datasets.Batches does.
func (g *Augmenter) example(ex []float32, dy, dx int, flip bool) {
	copy(g.tmp, ex)
	h, w := g.h, g.w
	for c := range g.c {
		src, out := g.tmp[c*h*w:(c+1)*h*w], ex[c*h*w:(c+1)*h*w]
		for y := range h {
			for x := range w {
				sx := x
				if flip {
					sx = w - 1 - x
				}
				sy, sx := y+dy, sx+dx
				v := float32(0)
				if sy >= 0 && sy < h && sx >= 0 && sx < w {
					v = src[sy*w+sx]
				}
				out[y*w+x] = v
			}
		}
	}
}
