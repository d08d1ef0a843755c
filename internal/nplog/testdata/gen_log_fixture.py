#!/usr/bin/python3
"""Writes log_fixture.json: NumPy's float64 log on the inputs of inputs()
below (the same list nplog's test builds), as SHA-256 digests of the output
bits, one per chunk of 2^20 outputs, so a mismatch points to a chunk and the
repository stays small.

Run once with Debian's python3-numpy (built with SVML) on x86-64 with
AVX512_SKX, where np.log on a float64 array is SVML's __svml_log8:
    /usr/bin/python3 internal/nplog/testdata/gen_log_fixture.py
"""
import hashlib
import json
import math
import os

import numpy as np

CHUNK = 1 << 20
GAMMA = np.uint64(0x9E3779B97F4A7C15)

# The kernel's reciprocal edges (log.go, rcpEdge), as top 16 fraction bits.
EDGES = [0xf080, 0xd41c, 0xbad0, 0xa41a, 0x8f9c, 0x7d07, 0x6c15, 0x5c99,
         0x4e5f, 0x4143, 0x3523, 0x29e6, 0x1f70, 0x15b4, 0x0c97, 0x040f]


def splitmix(seed, n):
    """n values of SplitMix64 at counters 1..n from seed."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * GAMMA
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def span(lo, hi, step=1):
    return np.arange(lo, hi, step, dtype=np.uint64)


def inputs():
    """The inputs as uint64 bit patterns, in order. Keep in step with
    log_test.go's inputs."""
    one = 0x3FF0000000000000
    parts = []
    # About 4 million patterns evenly spaced from the smallest subnormal to
    # 1 (an odd step, so the low bits vary): every exponent step 1's
    # probabilities (and 1e-45 added to them) can have.
    parts.append(span(1, one + 1, 0x3FF0000000000000 // 4000000 | 1))
    # 2 million uniform probabilities in [0, 1): 53 random bits times 2^-53
    # (bits of the float64 values; 0 is a special).
    u = (splitmix(1, 2000000) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    parts.append(u.view(np.uint64))
    # 1 - u for the same u: p_wrong near 1, from below.
    parts.append((1.0 - u).view(np.uint64))
    # 2^20 consecutive values each side of 1.
    parts.append(span(one - (1 << 20), one + (1 << 20)))
    # 1 million evenly spaced from 1/2 to 2, and from 2 up to +Inf.
    parts.append(span(0x3FE0000000000000, 0x4000000000000000, (1 << 53) // 1000000 | 1))
    parts.append(span(0x4000000000000000, 0x7FF0000000000000, 0x3FF0000000000000 // 1000000 | 1))
    # 4096 consecutive mantissas each side of every reciprocal edge, at four
    # exponents (1, 2^-1, 2^-10, 2^-700).
    for e in (0, -1, -10, -700):
        for edge in EDGES:
            b = ((1023 + e) << 52) | (edge << 36)
            parts.append(span(b - 4096, b + 4096))
    # Every power of two and 16 neighbours each side (normal exponents;
    # subnormal powers of two are below).
    for k in range(1, 2047):
        b = k << 52
        parts.append(span(b - 16, b + 17))
    # 2^20 subnormals from the smallest, then 1 million spread over the rest.
    parts.append(span(1, 1 << 20))
    parts.append(span(1 << 20, 1 << 52, (1 << 52) // 1000000 | 1))
    # Zeros, infinities, NaNs (quiet, signalling, negative, with payloads)
    # and negative numbers.
    parts.append(np.array([0, 1 << 63, 0x7FF0000000000000, 0xFFF0000000000000,
                           0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001,
                           0x7FF8000000000123, 0xFFF0000000000001, 0x7FFFFFFFFFFFFFFF,
                           0xBFF0000000000000, 0x8000000000000001, 0xFFEFFFFFFFFFFFFF],
                          dtype=np.uint64))
    return np.concatenate(parts)


def main():
    bits = inputs()
    x = np.ascontiguousarray(bits.view(np.float64))
    with np.errstate(all="ignore"):
        y = np.log(x)
    out = y.view(np.uint64)
    digests = [hashlib.sha256(out[i:i + CHUNK].astype("<u8").tobytes()).hexdigest()
               for i in range(0, len(out), CHUNK)]
    # How many differ from the C library's log (glibc's, correctly rounded
    # in all but rare cases) on positive finite inputs: why the package
    # exists.
    pos = np.flatnonzero(np.isfinite(x) & (x > 0))
    libc = np.array([math.log(v) for v in x[pos].tolist()])
    differ = int(np.count_nonzero(libc.view(np.uint64) != out[pos]))
    from numpy.core._multiarray_umath import __cpu_features__ as feats
    fixture = {
        "numpy": np.__version__,
        "cpu": sorted(k for k in ("AVX512F", "AVX512_SKX") if feats.get(k)),
        "count": int(len(out)),
        "chunk": CHUNK,
        "differ_from_libc": differ,
        "sha256_chunks": digests,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log_fixture.json")
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"{len(out)} inputs, {differ} differ from libc's log, wrote {path}")


if __name__ == "__main__":
    main()
