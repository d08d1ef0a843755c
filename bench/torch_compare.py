#!/usr/bin/python3
"""Side-by-side throughput of unlearnbench (ONNX Runtime) and PyTorch.

Trains (one SGD step with momentum 0.9: forward, cross-entropy, backward,
update) and evaluates (logits) the zoo's architectures, built layer for layer
the same in PyTorch, on a random batch, with one and with two threads, and
prints the ratio ours / PyTorch of throughput by CPU time and by wall time
(above 1: we are faster), as a Markdown table for BENCHMARKS.md.

Ours runs in bench/nnstep, one long-lived process per line of the table,
PyTorch in this process; rounds of a few steps alternate between the two, so
a change in the machine's load falls on both. Each side's time per step is
the median over the rounds. Run it on a quiet machine and record the load
(uptime) with the numbers.

    /usr/bin/python3 bench/torch_compare.py [--rounds 5] [--seconds 2] [--threads 1,2]
        [--work mlp,cnn,resnet18,resnet18-cifar] [--modes train,infer]

Needs python3-torch (Debian) and Go; `make bench` runs it when torch imports.
"""

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = 10

# The zoo's input shapes in the table (nn/zoo.go builds the models).
SHAPES = {
    "mlp": (1, 28, 28),
    "cnn": (1, 28, 28),
    "resnet18": (3, 32, 32),
    "resnet18-cifar": (3, 32, 32),
}


def mlp(shape):
    """nn.MLP: Flatten, Linear 256, ReLU, Linear 128, ReLU, Linear."""
    c, h, w = shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 256), nn.ReLU(),
                         nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, CLASSES))


def cnn(shape):
    """nn.SmallCNN: two blocks of 3x3 Conv (no bias), BatchNorm, ReLU, 2x2
    MaxPool (16 and 32 channels), then Linear 128, ReLU, Linear."""
    c, h, w = shape
    layers = []
    for out in (16, 32):
        layers += [nn.Conv2d(c, out, 3, 1, 1, bias=False), nn.BatchNorm2d(out),
                   nn.ReLU(), nn.MaxPool2d(2, 2)]
        c, h, w = out, h // 2, w // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * h * w, 128),
                         nn.ReLU(), nn.Linear(128, CLASSES))


class Block(nn.Module):
    """torchvision's BasicBlock."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.downsample is None else self.downsample(x)
        return self.relu(y + s)


def resnet18(shape, cifar):
    """nn.ResNet18: torchvision's layout (7x7 stride-2 stem and 3x3 max-pool),
    or the CIFAR form (3x3 stride-1 stem, no max-pool)."""
    if cifar:
        stem = [nn.Conv2d(shape[0], 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    else:
        stem = [nn.Conv2d(shape[0], 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                nn.MaxPool2d(3, 2, 1)]
    blocks, cin = [], 64
    for li, out in enumerate((64, 128, 256, 512)):
        for bi in range(2):
            blocks.append(Block(cin, out, 2 if li > 0 and bi == 0 else 1))
            cin = out
    return nn.Sequential(*stem, *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(512, CLASSES))


def build(arch, shape):
    return {"mlp": lambda: mlp(shape), "cnn": lambda: cnn(shape),
            "resnet18": lambda: resnet18(shape, False),
            "resnet18-cifar": lambda: resnet18(shape, True)}[arch]()


class Torch:
    """One PyTorch model in train or infer mode on a fixed random batch."""

    def __init__(self, arch, mode, batch, seed):
        torch.manual_seed(seed)
        shape = SHAPES[arch]
        self.model = build(arch, shape)
        self.x = torch.randn(batch, *shape)
        self.y = torch.randint(0, CLASSES, (batch,))
        self.mode = mode
        if mode == "train":
            self.model.train()
            self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
            self.loss = nn.CrossEntropyLoss()
        else:
            self.model.eval()
        for _ in range(2):  # warm-up, as nnstep does
            self.step()

    def step(self):
        if self.mode == "train":
            self.opt.zero_grad(set_to_none=True)
            self.loss(self.model(self.x), self.y).backward()
            self.opt.step()
        else:
            with torch.inference_mode():
                self.model(self.x)

    def run(self, n):
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            self.step()
        return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}


class Ours:
    """bench/nnstep for one model, mode and thread count."""

    def __init__(self, exe, arch, mode, batch, threads, seed):
        shape = ",".join(map(str, SHAPES[arch]))
        self.p = subprocess.Popen(
            [exe, "-arch", arch, "-shape", shape, "-mode", mode, "-batch", str(batch),
             "-threads", str(threads), "-seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            self.p.kill()
            sys.exit(f"torch_compare: {exe} {arch} {mode}: did not start (said {line!r})")

    def run(self, n):
        self.p.stdin.write(f"{n}\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            sys.exit("torch_compare: nnstep stopped")
        return json.loads(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def steps_for(runner, seconds):
    """Steps that take about `seconds` of wall time, at least 1."""
    r = runner.run(1)
    return max(1, int(seconds / max(r["wall_s"], 1e-6)))


def openblas():
    """OpenBLAS as loaded into this process (PyTorch's Linear layers call
    it through libblas.so.3), or None. torch.set_num_threads does not reach
    it: left alone it runs one thread per core, and a "one thread" line
    measured PyTorch on both cores (cnn training 2.10 by CPU time, 1.10 by
    wall in the same run)."""
    with open("/proc/self/maps") as f:
        paths = {ln.split()[-1] for ln in f if "blas" in ln.split()[-1] and ".so" in ln.split()[-1]}
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_set_num_threads
            return lib
        except (OSError, AttributeError):
            continue
    return None


def compare(exe, arch, mode, threads, rounds, seconds, batch, seed):
    torch.set_num_threads(threads)
    blas = openblas()
    if blas is not None:
        blas.openblas_set_num_threads(threads)
    ours = Ours(exe, arch, mode, batch, threads, seed)
    theirs = Torch(arch, mode, batch, seed)
    n_ours, n_theirs = steps_for(ours, seconds), steps_for(theirs, seconds)
    per = {"ours": {"cpu_s": [], "wall_s": []}, "torch": {"cpu_s": [], "wall_s": []}}
    for _ in range(rounds):
        for side, runner, n in (("ours", ours, n_ours), ("torch", theirs, n_theirs)):
            r = runner.run(n)
            for k in ("cpu_s", "wall_s"):
                per[side][k].append(r[k] / n)
    ours.close()
    med = {s: {k: statistics.median(v) for k, v in d.items()} for s, d in per.items()}
    return {
        "arch": arch, "mode": mode, "threads": threads,
        "ratio_cpu": med["torch"]["cpu_s"] / med["ours"]["cpu_s"],
        "ratio_wall": med["torch"]["wall_s"] / med["ours"]["wall_s"],
        "ours_ex_s": batch / med["ours"]["wall_s"],
        "torch_ex_s": batch / med["torch"]["wall_s"],
    }


def blas_note():
    """Which BLAS Debian's PyTorch calls for Linear layers (its convolutions
    use oneDNN): the reference BLAS (libblas3 alone) is many times slower
    than OpenBLAS, which changes the mlp lines completely."""
    alt = "/etc/alternatives/libblas.so.3-x86_64-linux-gnu"
    if not os.path.exists(alt):
        return ""
    real = os.path.realpath(alt)
    note = f"PyTorch's BLAS (Linear layers): {real}"
    if "/blas/libblas.so" in real:  # libblas3's folder; OpenBLAS lives in openblas-*/
        note += " -- the reference BLAS: install libopenblas0 for a fair mlp comparison"
    return note


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="mlp,cnn,resnet18,resnet18-cifar")
    ap.add_argument("--modes", default="train,infer")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds per line")
    ap.add_argument("--seconds", type=float, default=2.0, help="wall time of one round of one side")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--nnstep", help="bench/nnstep binary (default: built into bin/)")
    a = ap.parse_args()
    works = a.work.split(",")
    for w in works:
        if w not in SHAPES:
            sys.exit(f"torch_compare: --work {w}: want some of {','.join(SHAPES)}")
    modes = a.modes.split(",")
    for m in modes:
        if m not in ("train", "infer"):
            sys.exit(f"torch_compare: --modes {m}: want train and/or infer")
    threads = [int(t) for t in a.threads.split(",")]
    if a.rounds < 1 or a.seconds <= 0 or a.batch < 1 or min(threads) < 1:
        sys.exit("torch_compare: --rounds, --seconds, --batch and --threads must be positive")
    exe = a.nnstep
    if not exe:
        exe = os.path.join(ROOT, "bin", "nnstep")
        subprocess.run(["go", "build", "-o", exe, "./bench/nnstep"], cwd=ROOT, check=True)
    # One thread for PyTorch's inter-op pool too, as nnstep sets ONNX Runtime's.
    torch.set_num_interop_threads(1)
    load = os.getloadavg()
    print(f"PyTorch {torch.__version__}, batch {a.batch}, {a.rounds} rounds of ~{a.seconds} s per side; "
          f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    blas = blas_note()
    if blas:
        print(blas)
    torch.nn.Linear(4, 4)(torch.zeros(2, 4))  # loads the BLAS
    if openblas() is not None:
        print("OpenBLAS's threads are set to each line's thread count (openblas_set_num_threads)")
    elif "openblas" in blas:
        print("warning: OpenBLAS is PyTorch's BLAS but not found in this process: its threads are not pinned")
    print()
    print("| work | threads | ours / PyTorch, CPU time | ours / PyTorch, wall | ours examples/s | PyTorch examples/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for w in works:
        for m in modes:
            for t in threads:
                r = compare(exe, w, m, t, a.rounds, a.seconds, a.batch, a.seed)
                name = {"train": "training", "infer": "inference"}[m]
                print(f"| {w} {name} | {t} | {r['ratio_cpu']:.2f} | {r['ratio_wall']:.2f} | "
                      f"{r['ours_ex_s']:,.0f} | {r['torch_ex_s']:,.0f} |", flush=True)
    load = os.getloadavg()
    print()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
