// Package npexp is NumPy's float32 exponential, bit for bit: the function
// np.exp applies to a float32 array on x86-64 with AVX2+FMA3 or AVX512F
// (NumPy 1.20 to 1.25, numpy/core/src/umath/loops_exponent_log.dispatch.c.src,
// simd_exp_FLOAT). The competition's metric takes exp of float32 logits so
// (docs/metric.md, step 1), and that exp differs from a correctly rounded
// one by up to 2 ulp in about a third of the values: an exact score needs
// this one. It owns nothing else.
package npexp
