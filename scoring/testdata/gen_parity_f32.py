#!/usr/bin/python3
"""Writes parity_f32.json: the competition's forgetting quality F and
per-example epsilons, computed with NumPy exactly as docs/metric.md says,
on populations of float32 logits that scoring's parity test rebuilds from
the same seeds.

Step 1 is the original's code on a float32 array, so np.exp is NumPy's own
vectorised float32 exp. The fixture holds digests of p_correct and p_wrong
(step 1 up to its logarithms) and of the confidences for each population,
and NumPy's epsilons and F, all of which scoring must reproduce bit for bit.
The logarithms of step 1 are NumPy's float64 log, which with SVML on
AVX512_SKX machines is SVML's (internal/nplog); Go's math.Log differs in the
last bit of many values. Each case also records F as a correctly rounded
float32 exp would give it (np.exp in float64, rounded to float32): the cases
where that differs are the ones a correctly rounded exp gets wrong.

Run once with Debian's python3-numpy on x86-64 with AVX2+FMA3 or AVX512F:
    /usr/bin/python3 scoring/testdata/gen_parity_f32.py
"""
import hashlib
import json
import math
import os
import sys

import numpy as np

GAMMA = np.uint64(0x9E3779B97F4A7C15)


def splitmix(seed, n):
    """n values of SplitMix64 at counters 1..n from seed (counter based, so
    Go computes the same stream without state)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * GAMMA
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def unit32(seed, n):
    """n float32 values in [0, 1): the top 24 bits of each draw, times 2^-24."""
    return (splitmix(seed, n) >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)


def populations(seed, n, e, c):
    """Unlearned and retrained float32 logits [n, e, c] and the labels.
    Every operation is one float32 rounding, so Go rebuilds them bit for
    bit (parity_f32_test.go, populations)."""
    labels = (splitmix(seed * 16 + 1, e) % np.uint64(c)).astype(np.int64)
    bias = unit32(seed * 16 + 2, e) * np.float32(8)              # the label's advantage
    shift = unit32(seed * 16 + 3, e) * np.float32(2) - np.float32(1)  # unlearned's extra
    out = []
    for p, extra in ((0, bias + shift), (1, bias)):
        z = unit32(seed * 16 + 4 + p, n * e * c).reshape(n, e, c) * np.float32(16) - np.float32(8)
        z[:, np.arange(e), labels] += extra
        out.append(z)
    return out[0], out[1], labels


def confidences(logits, labels, exp, probs=False):
    """metric.md step 1, the original's code: [n, e] float64; with probs,
    p_correct and p_wrong instead, the values its logarithms are taken of."""
    z = logits - np.max(logits, axis=-1, keepdims=True)
    p = np.array(exp(z), dtype=np.float64)
    p = p / np.sum(p, axis=-1, keepdims=True)
    e = np.arange(logits.shape[1])
    y_true = p[:, e, labels].copy()
    p[:, e, labels] = 0
    y_wrong = np.sum(p, axis=-1)
    if probs:
        return y_true, y_wrong
    return np.log(y_true + 1e-45) - np.log(y_wrong + 1e-45)


def linspace(a, b, n):
    """numpy.linspace's arithmetic for n values (a, b broadcast)."""
    if n <= 0:
        return np.zeros((0,) + np.shape(a))
    if n == 1:
        return np.asarray(a)[None] * np.ones(1)[(...,) + (None,) * np.ndim(a)]
    step = (np.asarray(b) - np.asarray(a)) / (n - 1)
    i = np.arange(n, dtype=np.float64).reshape((n,) + (1,) * np.ndim(a))
    y = i * step + a
    y[-1] = b
    return y


def log32(x):
    """The float32 logarithm scoring uses: ln in float64 rounded to float32."""
    with np.errstate(all="ignore"):
        return np.log(x.astype(np.float64)).astype(np.float32)


def epsilon(pos, neg, log):
    """metric.md step 3 for one example: (epsilon as float32, all discarded)."""
    n_pos, n_neg = len(pos), len(neg)
    pos_diff, neg_diff = pos.max() - pos.min(), neg.max() - neg.min()
    largest, smallest = (pos_diff, neg_diff) if pos_diff > neg_diff else (neg_diff, pos_diff)
    with np.errstate(all="ignore"):
        if smallest / largest < 0.01:
            return np.float32(50), False
    fps, fns = [], []
    # Double family: pos is the peakier one.
    dp, dn = (neg, pos) if pos_diff >= neg_diff else (pos, neg)
    sp, sn = np.sort(dp), np.sort(dn)
    width = smallest
    lo, hi = dp.min() + width - 2, dp.max() + 2
    rights = linspace(lo, hi, int(math.ceil((hi - lo) * 100)))
    if len(rights):
        base = rights - width
        lefts = linspace(base - 2, base + 2, 400)  # [400, nR]
        r = np.broadcast_to(rights, lefts.shape)

        def inside(s):
            return np.maximum(np.searchsorted(s, r, "right") - np.searchsorted(s, lefts, "left"), 0)
        tp, fp = inside(sp), inside(sn)
        # Rule order does not matter: the example takes the maximum.
        fps.append(fp.ravel())
        fns.append((len(dp) - tp).ravel())
    # Single family on the unswapped pos/neg.
    allv = np.concatenate([pos, neg])
    mn, mx = allv.min(), allv.max()
    ts = linspace(mn, mx, int(math.ceil((mx - mn) * 100)))
    ps, ns = np.sort(pos), np.sort(neg)
    tp1 = n_pos - np.searchsorted(ps, ts, "left")
    fp1 = n_neg - np.searchsorted(ns, ts, "left")
    fps.append(fp1)
    fns.append(n_pos - tp1)
    assert n_pos == n_neg
    e = eps_table(n_pos, log)[np.concatenate(fps), np.concatenate(fns)]
    if np.isposinf(e).any():
        return np.float32(50), False  # a perfect separation, capped
    e = e[~np.isnan(e)]
    if len(e) == 0:
        return np.float32(0), True
    return np.float32(min(e.max(), np.float32(50))), False


_tables = {}


def eps_table(n, log):
    """Every rule's epsilon by its (false positives, false negatives), in
    float32 as the original computes it from float32 rates: +Inf for a
    perfect separation, NaN for a discarded rule. The rates depend on the
    counts alone, so a table gives each rule the same value as computing
    it on its own."""
    key = (n, log)
    if key in _tables:
        return _tables[key]
    fp = np.arange(n + 1, dtype=np.float32)[:, None] * np.ones(n + 1, dtype=np.float32)
    fn = fp.T.copy()
    nn = np.float32(n)
    fpr, fnr = fp / nn, fn / nn
    tnr, tpr = (nn - fp) / nn, (nn - fn) / nn
    c = np.float32(1 - 1e-5)
    with np.errstate(all="ignore"):
        e1 = log(c - fpr) - log(fnr)
        e2 = log(c - fnr) - log(fpr)
        e = np.fmax(e1, e2)  # a NaN term is ignored, as np.nanmax does
    e = np.where(np.isnan(e), e, np.maximum(e, np.float32(0)))
    e = np.where(fpr * fnr == 0, np.float32(np.nan), e)
    e = np.where((fpr + fnr == 0) & (tpr + tnr == 2), np.float32(np.inf), e)
    _tables[key] = e.astype(np.float32)
    return _tables[key]


def forgetting_quality(u, r, log=log32):
    """Steps 2 to 4: F and the per-example epsilons."""
    n, e = u.shape
    eps = np.zeros(e, dtype=np.float32)
    discarded = []
    for j in range(e):
        cu, cr = u[:, j], r[:, j]
        pos, neg = (cr, cu) if np.median(cr) > np.median(cu) else (cu, cr)
        eps[j], d = epsilon(pos, neg, log)
        if d:
            discarded.append(j)
    return points(eps, n) / e, eps, discarded


def points(eps, n):
    """Step 4: the sum of the epsilons' bucket points."""
    buckets = int(math.ceil(math.log(n - 1)) / 0.5)
    total = 0.0
    for v in eps.astype(np.float64):
        for k in range(buckets):
            if v < 0.5 * k + 0.5:
                total += 2.0 ** -k
                break
    return total


def correctly_rounded_exp(z):
    with np.errstate(all="ignore"):
        return np.exp(z.astype(np.float64)).astype(np.float32)


def digest(conf):
    return hashlib.sha256(np.ascontiguousarray(conf, dtype="<f8").tobytes()).hexdigest()


def main():
    cases = []
    quota = {32: (0, 0), 64: (2, 1), 512: (0, 0)}  # (F-changing, unchanged) wanted at N = 64
    for n, e, seeds in ((32, 200, (1, 2, 3)), (64, 200, range(1, 40)), (512, 150, (1, 2))):
        for seed in seeds:
            kept = [c for c in cases if c["n"] == n]
            want_changed, want_same = quota[n]
            have_changed = sum(c["f"] != c["f_correctly_rounded_exp"] for c in kept)
            if n == 64 and have_changed >= want_changed and len(kept) - have_changed >= want_same:
                break
            lu, lr, labels = populations(seed, n, e, 10)
            cu, cr = confidences(lu, labels, np.exp), confidences(lr, labels, np.exp)
            f, eps, disc = forgetting_quality(cu, cr)
            cu2, cr2 = confidences(lu, labels, correctly_rounded_exp), confidences(lr, labels, correctly_rounded_exp)
            # Only examples whose confidences moved can change epsilon.
            moved = np.flatnonzero(((cu2 != cu) | (cr2 != cr)).any(axis=0))
            eps_cr = eps.copy()
            if len(moved):
                _, eps_m, _ = forgetting_quality(cu2[:, moved], cr2[:, moved])
                eps_cr[moved] = eps_m
            f_cr = points(eps_cr, n) / e
            changed = int(np.count_nonzero(eps != eps_cr))
            print(f"N={n} E={e} seed={seed}: F={f} (correctly rounded exp: {f_cr}, {changed} epsilons differ)", file=sys.stderr, flush=True)
            if n == 64:
                if f != f_cr and have_changed >= want_changed:
                    continue
                if f == f_cr and len(kept) - have_changed >= want_same:
                    continue
            cases.append({
                "seed": seed, "n": n, "e": e, "c": 10,
                "f": f, "f_correctly_rounded_exp": f_cr,
                "epsilons_changed_by_correctly_rounded_exp": changed,
                "all_discarded": disc,
                "probs_sha256": [digest(v) for l in (lu, lr) for v in confidences(l, labels, np.exp, probs=True)],
                "conf_sha256": [digest(cu), digest(cr)],
                "epsilons": [float(v) for v in eps],
            })
    fixture = {"numpy": np.__version__, "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parity_f32.json")
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
