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
// fused multiply-add and subtracting it again (ties to even); r = x + k*c1 + k*c2 with
// two fused multiply-adds; exp(r) = P(r)/Q(r), a degree-5 over a degree-2
// polynomial in Horner form with fused multiply-adds, divided in float32;
// the result is P/Q * 2^k rounded once to float32 (AVX512F's scalef, or on
// AVX2 an exponent add and, for subnormal results, one division by a power
// of two: both a single correct rounding of the exact product, which is
// what the conversion from float64 below gives, since P/Q * 2^k is exact in
// float64).
func Exp(x float32) float32 {
	switch {
	case x != x:
		return nan
	case x >= XMax:
		return float32(math.Inf(1))
	case x <= XMin:
		return 0
	}
	// NumPy's source multiplies and then adds the magic number, but GCC
	// contracts the two vector intrinsics into one fused multiply-add
	// (-ffp-contract=fast, GNU C's default), so the product is not rounded:
	// where x*log2(e) lies within rounding of k + 1/2 the two readings pick
	// different k (x = -17.675253 is one), and the result by an ulp.
	k := fma32(x, log2e, rintMagic) - rintMagic
	r := fma32(k, codyWaiteHigh, x)
	r = fma32(k, codyWaiteLow, r)
	// NumPy's third reduction step adds k*0, which turns r = -0 into +0
	// for k >= 0; the sign of a zero r changes nothing below (P(±0) = p0).
	num := fma32(p5, r, p4)
	num = fma32(num, r, p3)
	num = fma32(num, r, p2)
	num = fma32(num, r, p1)
	num = fma32(num, r, p0)
	den := fma32(q2, r, q1)
	den = fma32(den, r, q0)
	poly := num / den
	// 2^k as float64 bits: k is an integer in [-150, 128].
	return float32(float64(poly) * math.Float64frombits(uint64(1023+int64(k))<<52))
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
	cc := float64(c)
	s := p + cc
	r := float32(s)
	if !onMidpoint(s) {
		return r
	}
	// TwoSum (Knuth): err is exactly (p + cc) - s.
	t := s - p
	err := (p - (s - t)) + (cc - t)
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
