package attack

import "math"

// linspace returns NumPy's np.linspace(start, stop, n) bit for bit: value i
// is i*step + start with step = (stop-start)/(n-1), the last value is exactly
// stop, n = 1 gives start, n = 0 nothing. When step underflows to 0 NumPy
// computes (i/(n-1))*delta + start instead, and so does this. The competition's
// threshold grid is defined by this arithmetic, so it is reproduced exactly
// (explicit float64 conversions keep the compiler from fusing into FMA).
func linspace(dst []float64, start, stop float64, n int) []float64 {
	dst = dst[:0]
	if n <= 0 {
		return dst
	}
	if n == 1 {
		// NumPy: step is undefined, y = 0*delta + start.
		return append(dst, float64(0*(stop-start))+start)
	}
	div := float64(n - 1)
	delta := stop - start
	step := delta / div
	if step == 0 {
		for i := 0; i < n; i++ {
			dst = append(dst, float64(float64(float64(i)/div)*delta)+start)
		}
	} else {
		for i := 0; i < n; i++ {
			dst = append(dst, float64(float64(i)*step)+start)
		}
	}
	dst[n-1] = stop
	return dst
}

// linspaceAt is element i of linspace(start, stop, n), computed the same way.
func linspaceAt(start, stop float64, n, i int) float64 {
	if n == 1 {
		return float64(0*(stop-start)) + start
	}
	if i == n-1 {
		return stop
	}
	div := float64(n - 1)
	delta := stop - start
	step := delta / div
	if step == 0 {
		return float64(float64(float64(i)/div)*delta) + start
	}
	return float64(float64(i)*step) + start
}

// gridCount is int(np.ceil(span * perUnit)) as the competition computes the
// number of thresholds; NaN or negative spans give none.
func gridCount(span float64, perUnit float64) int {
	v := math.Ceil(span * perUnit)
	if !(v > 0) {
		return 0
	}
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(v)
}
