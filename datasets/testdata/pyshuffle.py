#!/usr/bin/python3
"""Prints the fixture of datasets/pyshuffle_test.go: Python's own
random.Random(seed).shuffle of list(range(n)), the fixed shuffle the NeurIPS
2023 competition's surf.py makes with seed 43, for a few seeds and sizes.
Each line: seed, n, the first 12 positions, and the SHA-256 of the whole
permutation written as decimal numbers joined by commas.

Run: /usr/bin/python3 datasets/testdata/pyshuffle.py
"""
import hashlib
import random
import sys

for seed, n in [(43, 2), (43, 3), (43, 1000), (43, 20647), (0, 100), (2**40 + 5, 500), (123456789, 70000)]:
    x = list(range(n))
    random.Random(seed).shuffle(x)
    digest = hashlib.sha256(",".join(map(str, x)).encode()).hexdigest()
    print(f"{{{seed}, {n}, []int{{{', '.join(map(str, x[:12]))}}}, \"{digest}\"}},")
print("python", sys.version.split()[0], file=sys.stderr)
