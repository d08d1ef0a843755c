package scoring

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"unlearnbench/internal/npexp"
	"unlearnbench/internal/nplog"
	"unlearnbench/internal/npsum"
)

// confFloor is added to both probabilities before the logarithm, as in the
// original (and in LiRA's score.py it adapts).
const confFloor = 1e-45

// Confidence is the logit-scaled confidence of one example under one model:
// ln(p_y + 1e-45) - ln(sum_{k != y} p_k + 1e-45), with p the softmax of the
// logits z.
//
// The arithmetic follows the original's NumPy code step by step so that
// ties against the threshold grid fall the same way: the largest logit is
// subtracted and the exponential taken in the logits' own precision (float32
// logits stay float32, see ConfidenceFloat32), then the probabilities are
// normalised in float64, both sums use NumPy's pairwise summation order,
// and the two logarithms are NumPy's float64 log (internal/nplog).
// scratch must hold len(z) values; it is overwritten.
//
// The exponential of float64 logits is Go's math.Exp, not NumPy's float64
// exp (SVML's on AVX512_SKX machines), so float64 logits can still differ
// from the original's in the last bits of some probabilities.
func Confidence(z []float64, y int, scratch []float64) float64 {
	m := z[0]
	for _, v := range z[1:] {
		if v > m {
			m = v
		}
	}
	p := scratch[:len(z)]
	for i, v := range z {
		p[i] = math.Exp(v - m)
	}
	return confidenceFromExp(p, y)
}

// ConfidenceFloat32 is Confidence for float32 logits: the subtraction and
// the exponential are float32 operations, as NumPy computes them on a
// float32 array, before the float64 normalisation. The exponential is
// NumPy's own vectorised float32 exp (internal/npexp), not a correctly
// rounded one: they differ by an ulp or two in many values, and an ulp can
// move a confidence across a threshold of the grid (metric.md, step 1).
//
// The two logarithms are NumPy's float64 log (internal/nplog), which
// differs from Go's math.Log (and the C library's) in the last bit of many
// values; where the two logarithms nearly cancel that last bit is hundreds
// of ulp of the confidence, enough to move epsilons. With both the exp and
// the log NumPy's, the confidence is the original's bit for bit, on
// machines where NumPy takes those two kernels (docs/metric.md, step 1).
func ConfidenceFloat32(z []float32, y int, scratch []float64) float64 {
	pc, pw := ProbabilitiesFloat32(z, y, scratch)
	return nplog.Log(pc+confFloor) - nplog.Log(pw+confFloor)
}

func confidenceFromExp(p []float64, y int) float64 {
	pc, pw := probabilities(p, y)
	return nplog.Log(pc+confFloor) - nplog.Log(pw+confFloor)
}

// probabilities normalises the exponentials p (in place) and returns the
// label's probability and the sum of the others'.
func probabilities(p []float64, y int) (pc, pw float64) {
	s := npsum.Pairwise(p)
	for i := range p {
		p[i] /= s
	}
	pc = p[y]
	p[y] = 0
	return pc, npsum.Pairwise(p)
}

// ProbabilitiesFloat32 is the first part of ConfidenceFloat32: the label's
// probability and the sum of the other classes', the two values whose
// logarithms the confidence subtracts.
func ProbabilitiesFloat32(z []float32, y int, scratch []float64) (pc, pw float64) {
	m := z[0]
	for _, v := range z[1:] {
		if v > m {
			m = v
		}
	}
	// The row's shifted logits and their exps, in float32 on the stack for
	// the usual class counts; npexp.ExpSlice computes several at once.
	var buf [2 * 32]float32
	d := buf[:]
	if len(z) > 32 {
		d = make([]float32, 2*len(z))
	}
	in, out := d[:len(z)], d[len(z):2*len(z)]
	for i, v := range z {
		in[i] = v - m
	}
	npexp.ExpSlice(out, in)
	p := scratch[:len(z)]
	for i, v := range out {
		p[i] = float64(v)
	}
	return probabilities(p, y)
}

// Logits is a population's logits on some examples: model i, example e,
// class k at Data[(i*E+e)*C+k]. Exactly one of F32 and F64 is set.
type Logits struct {
	N, E, C int
	F32     []float32
	F64     []float64
}

// At returns model i's logits on example e as float64 (a copy for float32).
func (l *Logits) at(i, e int, buf []float64) []float64 {
	off := (i*l.E + e) * l.C
	if l.F64 != nil {
		return l.F64[off : off+l.C]
	}
	for k := 0; k < l.C; k++ {
		buf[k] = float64(l.F32[off+k])
	}
	return buf[:l.C]
}

// CheckFinite returns an error naming the first model and example whose
// logits hold NaN or an infinity.
//
// It tests the exponent bits of the stored values in one pass (all ones
// for NaN and the infinities) rather than converting each to float64: on
// the competition's 51 million logits per population the conversion was
// a tenth of step 1's time.
func (l *Logits) CheckFinite() error {
	bad := -1
	if l.F64 != nil {
		for j, v := range l.F64 {
			if math.Float64bits(v)&0x7ff0000000000000 == 0x7ff0000000000000 {
				bad = j
				break
			}
		}
	} else {
		for j, v := range l.F32 {
			if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
				bad = j
				break
			}
		}
	}
	if bad < 0 {
		return nil
	}
	v := 0.0
	if l.F64 != nil {
		v = l.F64[bad]
	} else {
		v = float64(l.F32[bad])
	}
	return fmt.Errorf("model %d, example %d, class %d: logit is %v", bad/(l.E*l.C), bad/l.C%l.E, bad%l.C, v)
}

// Confidences computes the logit-scaled confidence of every model on every
// example, N x E row-major. labels has one class per example.
func (l *Logits) Confidences(labels []int) ([]float64, error) {
	if len(labels) != l.E {
		return nil, fmt.Errorf("%d labels for %d examples", len(labels), l.E)
	}
	for e, y := range labels {
		if y < 0 || y >= l.C {
			return nil, fmt.Errorf("label of example %d is %d, outside [0, %d)", e, y, l.C)
		}
	}
	if err := l.CheckFinite(); err != nil {
		return nil, err
	}
	if l.F32 != nil {
		return l.confidencesFloat32(labels), nil
	}
	out := make([]float64, l.N*l.E)
	scratch := make([]float64, l.C)
	for i := 0; i < l.N; i++ {
		for e := 0; e < l.E; e++ {
			off := (i*l.E + e) * l.C
			if l.F32 != nil {
				out[i*l.E+e] = ConfidenceFloat32(l.F32[off:off+l.C], labels[e], scratch)
			} else {
				out[i*l.E+e] = Confidence(l.F64[off:off+l.C], labels[e], scratch)
			}
		}
	}
	return out, nil
}

// confidencesFloat32 is Confidences for float32 logits, ConfidenceFloat32
// on every row, with the exps of many rows taken in one npexp.ExpSlice
// (the exps are most of the cost), and blocks of rows spread over the
// processors: NumPy's exp costs about twice Go's, and score's wall time
// should not grow with it.
func (l *Logits) confidencesFloat32(labels []int) []float64 {
	const rows = 256
	c, total := l.C, l.N*l.E
	out := make([]float64, total)
	blocks := (total + rows - 1) / rows
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), blocks) {
		wg.Go(func() {
			in, ex := make([]float32, rows*c), make([]float32, rows*c)
			p := make([]float64, c)
			for {
				b := int(next.Add(1) - 1)
				if b >= blocks {
					return
				}
				r0 := b * rows
				nr := min(rows, total-r0)
				for r := 0; r < nr; r++ {
					z := l.F32[(r0+r)*c : (r0+r+1)*c]
					m := z[0]
					for _, v := range z[1:] {
						if v > m {
							m = v
						}
					}
					for k, v := range z {
						in[r*c+k] = v - m
					}
				}
				npexp.ExpSlice(ex[:nr*c], in[:nr*c])
				for r := 0; r < nr; r++ {
					for k, v := range ex[r*c : (r+1)*c] {
						p[k] = float64(v)
					}
					out[r0+r] = confidenceFromExp(p, labels[(r0+r)%l.E])
				}
			}
		})
	}
	wg.Wait()
	return out
}

// Accuracies returns each model's accuracy: the fraction of examples whose
// largest logit (the first, on ties, as argmax) is the label's.
func (l *Logits) Accuracies(labels []int) ([]float64, error) {
	if len(labels) != l.E {
		return nil, fmt.Errorf("%d labels for %d examples", len(labels), l.E)
	}
	if l.E == 0 {
		return nil, fmt.Errorf("no examples to measure accuracy on")
	}
	for e, y := range labels {
		if y < 0 || y >= l.C {
			return nil, fmt.Errorf("label of example %d is %d, outside [0, %d)", e, y, l.C)
		}
	}
	if err := l.CheckFinite(); err != nil {
		return nil, err
	}
	acc := make([]float64, l.N)
	buf := make([]float64, l.C)
	for i := 0; i < l.N; i++ {
		correct := 0
		for e := 0; e < l.E; e++ {
			z := l.at(i, e, buf)
			best := 0
			for k := 1; k < l.C; k++ {
				if z[k] > z[best] {
					best = k
				}
			}
			if best == labels[e] {
				correct++
			}
		}
		acc[i] = float64(correct) / float64(l.E)
	}
	return acc, nil
}
