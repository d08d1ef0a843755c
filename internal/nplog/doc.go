// Package nplog is NumPy's float64 natural logarithm, bit for bit: the
// function np.log applies to a float64 array on x86-64 with AVX512_SKX when
// NumPy is built with Intel's SVML (Linux builds from 1.22 on, Debian's
// python3-numpy among them), which is SVML's __svml_log8 (numpy/SVML,
// linux/avx512/svml_z0_log_d_la.s). Tested against NumPy 1.24.2. Elsewhere
// NumPy computes other bits: its own AVX512F log (which hands arguments
// near 1 to the C library) on AVX512F without SVML, the C library's log
// without AVX512F.
//
// Step 1 of the competition's metric takes two such logs per confidence
// (docs/metric.md) and subtracts them; where they nearly cancel, a last-bit
// difference in either is hundreds of ulp of the confidence, enough to
// move an epsilon. It owns nothing else.
package nplog
