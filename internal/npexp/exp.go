package npexp

import "math"

// The constants of NumPy's float32 exp (npy_math.h), as float32 values:
// Cody-Waite's two parts of -ln 2, the numerator (p) and denominator (q)
// coefficients of its rational approximation of exp on [-ln2/2, ln2/2],
// log2(e), the round-to-integer magic number 1.5 * 2^23 and the limits past
// which it returns +Inf and 0.
const (
	codyWaiteHigh float32 = -6.93145752e-1
	codyWaiteLow  float32 = -1.42860677e-6
	p0            float32 = 9.999999999980870924916e-01
	p1            float32 = 7.257664613233124478488e-01
	p2            float32 = 2.473615434895520810817e-01
	p3            float32 = 5.114512081637298353406e-02
	p4            float32 = 6.757896990527504603057e-03
	p5            float32 = 5.082762527590693718096e-04
	q0            float32 = 1.0
	q1            float32 = -2.742335390411667452936e-01
	q2            float32 = 2.159509375685829852307e-02
	log2e         float32 = 1.442695040888963407359924681001892137
	rintMagic     float32 = 0x1.8p+23
	// XMax and XMin: exp(x) is +Inf for x >= XMax and 0 for x <= XMin.
	XMax float32 = 88.72283935546875
	XMin float32 = -103.97208404541015625
)

// nan is the NaN NumPy writes (NPY_NANF, the default quiet NaN), whatever
// NaN came in.
var nan = math.Float32frombits(0x7fc00000)

// Exp is NumPy's float32 exp of x.
//
// The algorithm, step by step as the SIMD kernel does it on each lane:
// NaN gives NaN; x >= XMax gives +Inf and x <= XMin gives 0 (so ±Inf too);
// otherwise k = x*log2(e) rounded to an integer by adding 1.5*2^23 in a
// fused multiply-add and subtracting it again (ties to even);
// r = x + k*c1 + k*c2 with two fused multiply-adds; exp(r) = P(r)/Q(r), a
// degree-5 over a degree-2 polynomial in Horner form with fused
// multiply-adds, divided in float32; the result is P/Q * 2^k rounded once
// to float32 (AVX512F's scalef, or on AVX2 an exponent add and, for
// subnormal results, one division by a power of two: both a single correct
// rounding of the exact product, which is what scale's conversion from
// float64 gives, since P/Q * 2^k is exact in float64).
func Exp(x float32) float32 {
	switch {
	case x != x:
		return nan
	case x >= XMax:
		return float32(math.Inf(1))
	case x <= XMin:
		return 0
	}
	if y, ok := expFast(x); ok {
		return y
	}
	return expSteps(x, fma32)
}

// expFast is expSteps with every fused multiply-add rounded the quick way,
// which is exact unless an intermediate sum lands on a float32 midpoint
// (see fma32); ok is false if any did, and Exp then takes the careful path.
// It is written out, not a call to expSteps with another function, so that
// the compiler inlines the multiply-adds: the careful path costs several
// times as much, and step 1 of the metric takes hundreds of millions of
// exps.
func expFast(x float32) (y float32, ok bool) {
	k, m0 := fma32Fast(x, log2e, rintMagic)
	k -= rintMagic
	r, m1 := fma32Fast(k, codyWaiteHigh, x)
	r, m2 := fma32Fast(k, codyWaiteLow, r)
	num, m3 := fma32Fast(p5, r, p4)
	num, m4 := fma32Fast(num, r, p3)
	num, m5 := fma32Fast(num, r, p2)
	num, m6 := fma32Fast(num, r, p1)
	num, m7 := fma32Fast(num, r, p0)
	den, m8 := fma32Fast(q2, r, q1)
	den, m9 := fma32Fast(den, r, q0)
	if m0 || m1 || m2 || m3 || m4 || m5 || m6 || m7 || m8 || m9 {
		return 0, false
	}
	return scale(num/den, k), true
}

// expSteps is the kernel after the special cases, with fma the float32
// fused multiply-add.
func expSteps(x float32, fma func(a, b, c float32) float32) float32 {
	// NumPy's source multiplies and then adds the magic number, but GCC
	// contracts the two vector intrinsics into one fused multiply-add
	// (-ffp-contract=fast, GNU C's default), so the product is not rounded:
	// where x*log2(e) lies within rounding of k + 1/2 the two readings pick
	// different k (x = -17.675253 is one), and the result by an ulp.
	k := fma(x, log2e, rintMagic) - rintMagic
	r := fma(k, codyWaiteHigh, x)
	r = fma(k, codyWaiteLow, r)
	// NumPy's third reduction step adds k*0, which turns r = -0 into +0
	// for k >= 0; the sign of a zero r changes nothing below (P(±0) = p0).
	num := fma(p5, r, p4)
	num = fma(num, r, p3)
	num = fma(num, r, p2)
	num = fma(num, r, p1)
	num = fma(num, r, p0)
	den := fma(q2, r, q1)
	den = fma(den, r, q0)
	return scale(num/den, k)
}

// scale is poly * 2^k rounded once to float32; k is an integer in
// [-150, 128], so 2^k and the product are exact in float64.
func scale(poly, k float32) float32 {
	return float32(float64(poly) * math.Float64frombits(uint64(1023+int64(k))<<52))
}

// fma32Fast is a*b + c rounded through float64, and whether that sum lies
// on a float32 midpoint or below float32's normal range (zero excepted),
// where the second rounding might not be the correct one (see fma32).
func fma32Fast(a, b, c float32) (float32, bool) {
	s := float64(a)*float64(b) + float64(c)
	bits := math.Float64bits(s)
	return float32(s), bits&(1<<29-1) == 1<<28 || (bits&0x7ff0000000000000 < (1023-126)<<52 && bits<<1 != 0)
}

// fma32 is the float32 fused multiply-add a*b + c, rounded once, which Go
// has no instruction for. It is computed exactly so:
//
//   - the product of two float32 values is exact in float64 (24 + 24 = 48
//     significant bits fit in 53; exponents stay far inside float64's range),
//     so s = p + c in float64 is the exact a*b + c rounded once to 53 bits;
//   - rounding s again to float32 gives the correctly rounded float32 result
//     unless s lies exactly on a midpoint between two float32 values while
//     the exact sum does not: float32 midpoints are float64 values, and
//     rounding to nearest is monotonic, so a sum on one side of a midpoint
//     cannot round to the other side, only onto it;
//   - in that one case TwoSum gives the exact error of s, and its sign says
//     which neighbour the exact sum is nearer to.
//
// The products are kept in float64 variables so that the compiler cannot
// fuse them into a float32 operation of its own.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	// The fast test, small enough to inline: s is on a float32 midpoint
	// only if its low 29 fraction bits are exactly 1 followed by zeros (in
	// float32's normal range), or if it lies below that range.
	if bits := math.Float64bits(s); bits&(1<<29-1) != 1<<28 && bits&0x7ff0000000000000 >= (1023-126)<<52 {
		return float32(s)
	}
	return fma32Slow(p, float64(c), s)
}

// fma32Slow finishes fma32 when s = p + c may lie on a float32 midpoint.
func fma32Slow(p, c, s float64) float32 {
	r := float32(s)
	if !onMidpoint(s) {
		return r
	}
	// TwoSum (Knuth): err is exactly (p + c) - s.
	t := s - p
	err := (p - (s - t)) + (c - t)
	switch {
	case err > 0 && float64(r) < s:
		return math.Nextafter32(r, float32(math.Inf(1)))
	case err < 0 && float64(r) > s:
		return math.Nextafter32(r, float32(math.Inf(-1)))
	}
	return r
}

// onMidpoint reports whether the float64 s lies exactly halfway between two
// adjacent float32 values.
func onMidpoint(s float64) bool {
	b := math.Float64bits(s)
	exp := int(b>>52) & 0x7ff
	if exp >= 1023-126 {
		// Within float32's normal range a float32 keeps the top 23 of the 52
		// fraction bits; a midpoint has exactly the next bit set.
		return b&(1<<29-1) == 1<<28
	}
	if s == 0 || exp == 0 {
		return false
	}
	// Below it the spacing is 2^-149 and midpoints are odd multiples of
	// 2^-150: the scaling is exact.
	m := math.Abs(s) * 0x1p150
	return m == math.Trunc(m) && math.Mod(m, 2) == 1
}

// ExpSlice sets dst[i] = Exp(src[i]); dst must be at least as long as src.
// It gives the same bits as Exp, about twice as fast: the loop body is
// expFast written out for four elements side by side, with a cheaper
// midpoint test, so that nothing is called per element and the processor
// overlaps the four chains of a dozen dependent roundings each. (Written
// out because the compiler neither unrolls loops nor keeps arrays in
// registers; the kernel is only this.)
//
// The cheaper test drops fma32Fast's check for sums below float32's normal
// range, which cannot occur in this kernel: for |x| < 2^-126 k is 0 and r
// is x exactly; otherwise x + k*c1 and then + k*c2 are multiples of 2^-25
// and 2^-43 (k is an integer, c1 and c2 float32 values of those ulps), so
// a non-zero r is at least 2^-43, and every polynomial step adds a
// coefficient of at least 6e-3 to a product at most a thirtieth of it.
// What remains is the midpoint test: the low 29 of the 52 fraction bits
// are 1 followed by zeros exactly when bits<<35 == 1<<63; the minimum of
// (bits<<35) ^ (1<<63) over the steps is 0 if any step was on a midpoint,
// and then the four elements take the careful path.
func ExpSlice(dst, src []float32) {
	dst = dst[:len(src)]
	i := 0
	for ; i+4 <= len(src); i += 4 {
		x := src[i : i+4 : i+4]
		x0, x1, x2, x3 := x[0], x[1], x[2], x[3]
		if !(x0 < XMax && x0 > XMin && x1 < XMax && x1 > XMin && x2 < XMax && x2 > XMin && x3 < XMax && x3 > XMin) {
			for j, v := range x {
				dst[i+j] = Exp(v)
			}
			continue
		}
		s0 := float64(x0)*float64(log2e) + float64(rintMagic)
		s1 := float64(x1)*float64(log2e) + float64(rintMagic)
		s2 := float64(x2)*float64(log2e) + float64(rintMagic)
		s3 := float64(x3)*float64(log2e) + float64(rintMagic)
		a0 := mid(s0)
		a1 := mid(s1)
		a2 := mid(s2)
		a3 := mid(s3)
		k0 := float32(s0) - rintMagic
		k1 := float32(s1) - rintMagic
		k2 := float32(s2) - rintMagic
		k3 := float32(s3) - rintMagic
		s0 = float64(k0)*float64(codyWaiteHigh) + float64(x0)
		s1 = float64(k1)*float64(codyWaiteHigh) + float64(x1)
		s2 = float64(k2)*float64(codyWaiteHigh) + float64(x2)
		s3 = float64(k3)*float64(codyWaiteHigh) + float64(x3)
		a0 = min(a0, mid(s0))
		a1 = min(a1, mid(s1))
		a2 = min(a2, mid(s2))
		a3 = min(a3, mid(s3))
		s0 = float64(k0)*float64(codyWaiteLow) + rnd(s0)
		s1 = float64(k1)*float64(codyWaiteLow) + rnd(s1)
		s2 = float64(k2)*float64(codyWaiteLow) + rnd(s2)
		s3 = float64(k3)*float64(codyWaiteLow) + rnd(s3)
		a0 = min(a0, mid(s0))
		a1 = min(a1, mid(s1))
		a2 = min(a2, mid(s2))
		a3 = min(a3, mid(s3))
		r0 := rnd(s0)
		r1 := rnd(s1)
		r2 := rnd(s2)
		r3 := rnd(s3)
		d0 := float64(q2)*r0 + float64(q1)
		d1 := float64(q2)*r1 + float64(q1)
		d2 := float64(q2)*r2 + float64(q1)
		d3 := float64(q2)*r3 + float64(q1)
		a0 = min(a0, mid(d0))
		a1 = min(a1, mid(d1))
		a2 = min(a2, mid(d2))
		a3 = min(a3, mid(d3))
		d0 = rnd(d0)*r0 + float64(q0)
		d1 = rnd(d1)*r1 + float64(q0)
		d2 = rnd(d2)*r2 + float64(q0)
		d3 = rnd(d3)*r3 + float64(q0)
		a0 = min(a0, mid(d0))
		a1 = min(a1, mid(d1))
		a2 = min(a2, mid(d2))
		a3 = min(a3, mid(d3))
		s0 = float64(p5)*r0 + float64(p4)
		s1 = float64(p5)*r1 + float64(p4)
		s2 = float64(p5)*r2 + float64(p4)
		s3 = float64(p5)*r3 + float64(p4)
		a0 = min(a0, mid(s0))
		a1 = min(a1, mid(s1))
		a2 = min(a2, mid(s2))
		a3 = min(a3, mid(s3))
		s0 = rnd(s0)*r0 + float64(p3)
		s1 = rnd(s1)*r1 + float64(p3)
		s2 = rnd(s2)*r2 + float64(p3)
		s3 = rnd(s3)*r3 + float64(p3)
		a0 = min(a0, mid(s0))
		a1 = min(a1, mid(s1))
		a2 = min(a2, mid(s2))
		a3 = min(a3, mid(s3))
		s0 = rnd(s0)*r0 + float64(p2)
		s1 = rnd(s1)*r1 + float64(p2)
		s2 = rnd(s2)*r2 + float64(p2)
		s3 = rnd(s3)*r3 + float64(p2)
		a0 = min(a0, mid(s0))
		a1 = min(a1, mid(s1))
		a2 = min(a2, mid(s2))
		a3 = min(a3, mid(s3))
		s0 = rnd(s0)*r0 + float64(p1)
		s1 = rnd(s1)*r1 + float64(p1)
		s2 = rnd(s2)*r2 + float64(p1)
		s3 = rnd(s3)*r3 + float64(p1)
		a0 = min(a0, mid(s0))
		a1 = min(a1, mid(s1))
		a2 = min(a2, mid(s2))
		a3 = min(a3, mid(s3))
		s0 = rnd(s0)*r0 + float64(p0)
		s1 = rnd(s1)*r1 + float64(p0)
		s2 = rnd(s2)*r2 + float64(p0)
		s3 = rnd(s3)*r3 + float64(p0)
		a0 = min(a0, mid(s0))
		a1 = min(a1, mid(s1))
		a2 = min(a2, mid(s2))
		a3 = min(a3, mid(s3))
		if a0 == 0 || a1 == 0 || a2 == 0 || a3 == 0 {
			for j, v := range x {
				dst[i+j] = expSteps(v, fma32)
			}
			continue
		}
		dst[i+0] = scale(float32(s0)/float32(d0), k0)
		dst[i+1] = scale(float32(s1)/float32(d1), k1)
		dst[i+2] = scale(float32(s2)/float32(d2), k2)
		dst[i+3] = scale(float32(s3)/float32(d3), k3)
	}
	for ; i < len(src); i++ {
		dst[i] = Exp(src[i])
	}
}

// rnd rounds s to float32 and back.
func rnd(s float64) float64 { return float64(float32(s)) }

// mid is 0 exactly when s lies on a float32 midpoint: when its low 29
// fraction bits are 1 followed by zeros (see ExpSlice).
func mid(s float64) uint64 { return math.Float64bits(s)<<35 ^ 1<<63 }
