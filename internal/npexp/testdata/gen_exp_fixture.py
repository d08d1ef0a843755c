#!/usr/bin/python3
"""Writes exp_fixture.json: NumPy's float32 exp on the inputs of
inputs() below (the same list npexp's test builds), as SHA-256 digests of
the output bits, one per chunk of 2^20 outputs, so a mismatch points to a
chunk and the repository stays small.

Run once with Debian's python3-numpy on x86-64 with AVX2+FMA3 or AVX512F:
    /usr/bin/python3 internal/npexp/testdata/gen_exp_fixture.py
"""
import hashlib
import json
import math
import os

import numpy as np

CHUNK = 1 << 20


def inputs():
    """The inputs as uint32 bit patterns, in order. Keep in step with
    exp_test.go's inputs."""
    parts = []
    # Every 109th float32 from -0 down to -104: every exponent the metric's
    # exp sees (logits minus their maximum), normal and subnormal inputs,
    # results from 1 down through the subnormals to 0.
    parts.append(np.arange(0x80000000, 0xC2D00001, 109, dtype=np.uint64))
    # Every 23rd from -2^-12 down to -104: denser where exp is not 1.
    parts.append(np.arange(0xB9800000, 0xC2D00001, 23, dtype=np.uint64))
    # Every 1009th from +0 up to 89: past the overflow limit.
    parts.append(np.arange(0, 0x42B20001, 1009, dtype=np.uint64))
    # 4096 consecutive values each side of the limits: overflow (88.72...),
    # the smallest normal result (ln 2^-126), the smallest subnormal
    # (ln 2^-149), the underflow limit (-103.97...), and both zeros.
    for x in [88.72283935546875, -87.33654475, -103.27892990, -103.97208404541015625]:
        b = int(np.array([x], dtype=np.float32).view(np.uint32)[0])
        parts.append(np.arange(b - 4096, b + 4096, dtype=np.uint64))
    parts.append(np.arange(0, 4096, dtype=np.uint64))
    parts.append(np.arange(0x80000000, 0x80000000 + 4096, dtype=np.uint64))
    # Infinities and NaNs (quiet, signalling, negative, largest payload).
    parts.append(np.array([0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
                           0x7F800001, 0xFF800001, 0x7FFFFFFF, 0xFFFFFFFF], dtype=np.uint64))
    return np.concatenate(parts).astype(np.uint32)


def main():
    bits = inputs()
    x = np.ascontiguousarray(bits.view(np.float32))
    with np.errstate(all="ignore"):
        y = np.exp(x)
    out = y.view(np.uint32)
    digests = [hashlib.sha256(out[i:i + CHUNK].astype("<u4").tobytes()).hexdigest()
               for i in range(0, len(out), CHUNK)]
    # How many differ from a correctly rounded exp (float64 exp rounded to
    # float32, which is correctly rounded for all but a handful of inputs):
    # the reason the package exists.
    with np.errstate(all="ignore"):
        cr = np.exp(x.astype(np.float64)).astype(np.float32)
    finite = np.isfinite(x)
    differ = int(np.count_nonzero((cr.view(np.uint32) != out) & finite))
    from numpy.core._multiarray_umath import __cpu_features__ as feats
    fixture = {
        "numpy": np.__version__,
        "cpu": sorted(k for k in ("AVX2", "FMA3", "AVX512F") if feats.get(k)),
        "count": int(len(out)),
        "chunk": CHUNK,
        "differ_from_correctly_rounded": differ,
        "sha256_chunks": digests,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exp_fixture.json")
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"{len(out)} inputs, {differ} differ from correctly rounded, wrote {path}")


if __name__ == "__main__":
    main()
