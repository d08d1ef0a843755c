// Package npsum sums float64 values in exactly the order NumPy's
// add-reduction does, so that numbers computed here (the competition's
// confidences, KLoM) agree to the last bit with the Python code they
// reproduce. scoring and attack both need it, and scoring imports attack,
// so it lives below both.
package npsum

// Pairwise adds values in the order NumPy's float64 add-reduction does
// (numpy/_core/src/umath/loops_utils.h.src, pairwise_sum): below 8 values a
// plain loop; up to 128, eight interleaved partial sums combined as
// ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) and then the remainder one by one;
// beyond, two halves recursively. Floating-point addition is not
// associative, so the order is part of the result.
func Pairwise(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		res := 0.0
		for _, v := range a {
			res += v
		}
		return res
	case n <= 128:
		var r [8]float64
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := 0; j < 8; j++ {
				r[j] += a[i+j]
			}
		}
		res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return Pairwise(a[:n2]) + Pairwise(a[n2:])
	}
}
