// Package nplog is NumPy's float64 natural logarithm, bit for bit: the
// function np.log applies to a float64 array in NumPy 1.22 to 1.25 built
// with Intel's SVML (Debian's and the PyPI wheels for Linux x86-64) on a
// processor with AVX512_SKX, which is Intel's __svml_log8
// (numpy/SVML, linux/avx512/svml_z0_log_d_la.s). Step 1 of the
// competition's metric takes two such logs per confidence (docs/metric.md)
// and the difference of two nearly equal logs keeps their last-bit errors:
// Go's math.Log moves hundreds of confidences by up to hundreds of ulp, and
// some epsilons with them. It owns nothing else.
package nplog
