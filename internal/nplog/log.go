package nplog

import "math"

// The constants of Intel's __svml_log8 (numpy/SVML,
// linux/avx512/svml_z0_log_d_la.s, Copyright (C) 2021 Intel Corporation,
// BSD-3-Clause), reproduced as data: the polynomial's coefficients are
// Intel's minimax fit and cannot be derived; the table's entries are
// -ln of its reciprocals, correctly rounded (TestTable checks them).
const (
	c2  = -0x1.fffffffffffc6p-2
	c3  = 0x1.5555555555466p-2
	c4  = -0x1.00000000c05bdp-2
	c5  = 0x1.9999999cc9f5cp-3
	c6  = -0x1.55553fb28db06p-3
	c7  = 0x1.249229cee81efp-3
	c8  = -0x1.007357e93af62p-3
	c9  = 0x1.c81cd309d7c70p-4
	ln2 = 0x1.62e42fefa39efp-1
)

// negLogRcp is indexed by j-16 for the reciprocal j/32 (j = 16..31, and
// 32 at index 0): -ln(j/16) for j < 24, whose exponent is raised by one
// instead, and -ln(j/32) from 24 on.
var negLogRcp = [16]float64{
	0,
	-0x1.f0a30c01162a6p-5, -0x1.e27076e2af2e6p-4, -0x1.5ff3070a793d4p-3, -0x1.c8ff7c79a9a22p-3,
	-0x1.1675cababa60ep-2, -0x1.4618bc21c5ec2p-2, -0x1.739d7f6bbd007p-2,
	0x1.269621134db92p-2, 0x1.f991c6cb3b379p-3, 0x1.a93ed3c8ad9e3p-3, 0x1.5bf406b543db2p-3,
	0x1.1178e8227e47cp-3, 0x1.9335e5d594989p-4, 0x1.08598b59e3a07p-4, 0x1.0415d89e74444p-5,
}

// rcpEdge[k-16] is, as the top 16 fraction bits of a mantissa m in [1, 2),
// the smallest m for which the kernel's reciprocal is k/32 rather than
// (k+1)/32. The kernel takes VRCP14PD's approximate 1/m (relative error
// below 2^-14) and rounds it to a multiple of 1/32; where 1/m lies within
// 2^-14 of a midpoint the approximation, not 1/m, decides. These are the
// edges VRCP14PD gives, measured on the development machine's Intel Xeon
// by bisection over all 52 fraction bits (each came out a multiple of
// 2^-16, and 4 million inputs around each showed the rounding monotonic in
// m about it). VRCP14PD is meant to give the same bits on every processor
// that has it; no other processor was tried.
var rcpEdge = [16]uint64{
	0xf080, 0xd41c, 0xbad0, 0xa41a, 0x8f9c, 0x7d07, 0x6c15, 0x5c99,
	0x4e5f, 0x4143, 0x3523, 0x29e6, 0x1f70, 0x15b4, 0x0c97, 0x040f,
}

// rcpTop and rcpCut map the top 6 fraction bits of m (a bucket 1/64 wide,
// narrower than any interval between two edges, so it holds at most one)
// to the reciprocal's j at the bucket's start and to the edge inside the
// bucket (as top 16 fraction bits; 1<<16 when there is none): j is
// rcpTop[b], less one from the edge on.
var rcpTop, rcpCut = func() (top [64]uint8, cut [64]uint32) {
	for b := range 64 {
		start := uint64(b) << 10
		j := 32
		for k := 31; k >= 16; k-- {
			if start >= rcpEdge[k-16] {
				j = k
			}
		}
		top[b] = uint8(j)
		cut[b] = 1 << 16
		if j > 16 && rcpEdge[j-1-16] < start+1<<10 {
			cut[b] = uint32(rcpEdge[j-1-16])
		}
	}
	return top, cut
}()

const (
	fracMask = 1<<52 - 1
	negNaN   = 0xfff8000000000000 // what the kernel gives for x < 0
)

// Log is NumPy's float64 log of x (SVML's __svml_log8 on AVX512_SKX).
//
// The kernel, lane by lane: x = 2^e * m with m in [1, 2) (VGETEXPPD and
// VGETMANTPD, exact for subnormals too); a reciprocal c ≈ 1/m that is a
// multiple of 1/32 (see rcpEdge); r = c*m - 1 in one fused multiply-add;
// ln x = (e + [c < 3/4]) ln 2 + (-ln c' + p(r)), p a degree-9 polynomial
// with p(r) = r + r^2(c2 + c3 r + ...), evaluated as four pairs combined
// by r^2 and r^4, every step a fused multiply-add except r^2 and r^4. Zeros
// give -Inf, negative numbers and -Inf the negative default NaN, +Inf
// itself, and a NaN comes back quieted with its payload.
func Log(x float64) float64 {
	b := math.Float64bits(x)
	if b-1 >= 0x7ff0000000000000-1 { // +0, negative (or -0), +Inf, NaN
		return special(x, b)
	}
	e := int64(b>>52) - 1023
	if b>>52 == 0 { // subnormal: normalise, exactly
		b = math.Float64bits(x * 0x1p52)
		e = int64(b>>52) - 1023 - 52
	}
	return kernel(b&fracMask, e)
}

func special(x float64, b uint64) float64 {
	switch {
	case x != x:
		return math.Float64frombits(b | 1<<51)
	case x == 0:
		return math.Inf(-1)
	case x < 0:
		return math.Float64frombits(negNaN)
	}
	return x // +Inf
}

// kernel is the log of 2^e * m, frac m's 52 fraction bits.
func kernel(frac uint64, e int64) float64 {
	m := math.Float64frombits(frac | 0x3ff<<52)
	top := frac >> 36
	j := uint64(rcpTop[top>>10])
	if top >= uint64(rcpCut[top>>10]) {
		j--
	}
	c := float64(j) * 0x1p-5
	idx := j - 16
	if j < 24 {
		e++
	} else if j == 32 {
		idx = 0
	}
	r := math.FMA(c, m, -1)
	r2 := r * r
	r4 := r2 * r2
	p98 := math.FMA(c9, r, c8)
	p76 := math.FMA(c7, r, c6)
	p54 := math.FMA(c5, r, c4)
	p32 := math.FMA(c3, r, c2)
	a := math.FMA(r2, p98, p76)
	q := math.FMA(r2, p54, p32)
	a = math.FMA(r4, a, q)
	p := math.FMA(r2, a, r)
	return math.FMA(ln2, float64(e), negLogRcp[idx]+p)
}
