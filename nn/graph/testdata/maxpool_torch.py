#!/usr/bin/python3
"""Writes maxpool_torch.json: PyTorch 1.13's max-pool gradients on inputs
full of ties, the reference of TestMaxPoolGradMatchesTorch.

PyTorch's backward gives each window's upstream gradient to the window's
first maximum in scan order and sums over windows that overlap. The inputs
are small multiples of 1/2 (after a ReLU in some cases), so that windows tie
often (whole windows of zeros, equal positive values), and the upstream
gradients are multiples of 1/8, so that every sum is exact in float32 and
the comparison can ask for equality.

    /usr/bin/python3 nn/graph/testdata/maxpool_torch.py
"""

import json
import os

import torch

CASES = [
    # name, input shape, kernel, strides, pads (begin = end), relu before
    ("2x2 after relu", (3, 4, 6, 6), (2, 2), (2, 2), (0, 0), True),
    ("2x2 ties", (2, 3, 6, 8), (2, 2), (2, 2), (0, 0), False),
    ("2x2 odd size", (2, 3, 7, 7), (2, 2), (2, 2), (0, 0), True),
    ("3x3 stride 3", (2, 2, 6, 9), (3, 3), (3, 3), (0, 0), False),
    ("3x2 stride 3x2", (2, 2, 7, 6), (3, 2), (3, 2), (0, 0), True),
    ("2x2 stride 3", (2, 2, 8, 8), (2, 2), (3, 3), (0, 0), False),
    ("stem 3x3 stride 2 pad 1", (2, 3, 8, 8), (3, 3), (2, 2), (1, 1), True),
    ("2x2 stride 2 pad 1", (2, 3, 7, 7), (2, 2), (2, 2), (1, 1), True),
    ("3x3 stride 1 pad 1", (1, 2, 5, 6), (3, 3), (1, 1), (1, 1), False),
]


def main():
    gen = torch.Generator().manual_seed(22)
    out = []
    for name, shape, k, s, p, relu in CASES:
        x = (torch.randint(-2 if relu else 0, 3, shape, generator=gen) * 0.5).float()
        x.requires_grad_(True)
        h = torch.relu(x) if relu else x
        y = torch.nn.functional.max_pool2d(h, k, s, p)
        r = (torch.randint(1, 8, y.shape, generator=gen) / 8.0).float()
        (y * r).sum().backward()
        out.append({
            "name": name, "shape": list(shape), "kernel": list(k), "strides": list(s),
            "pads": [p[0], p[1], p[0], p[1]], "relu": relu,
            "x": x.detach().flatten().tolist(), "r": r.flatten().tolist(),
            "dx": x.grad.flatten().tolist(),
        })
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "maxpool_torch.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "cases": out}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
