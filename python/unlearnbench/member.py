"""One population member's inputs, as unlearnbench's exec method gives
them (the UNLEARNBENCH_* environment variables), and its seeding."""

import os
import random

import numpy as np
import torch

from . import model as _model

# Data sets already read in this process, by path: a worker serves many
# members from the same files.
_data_cache = {}


def _tensors(xpath, ypath):
    key = (xpath, ypath)
    if key not in _data_cache:
        x = torch.from_numpy(np.load(xpath))
        y = torch.from_numpy(np.load(ypath)).long()
        if x.shape[0] != y.shape[0]:
            raise ValueError("%s holds %d examples, %s %d labels" % (xpath, x.shape[0], ypath, y.shape[0]))
        _data_cache[key] = torch.utils.data.TensorDataset(x, y)
    return _data_cache[key]


_blas_checked = False


def warn_reference_blas():
    """Warns once, on stderr, when torch's matrix products go through the
    reference BLAS: Debian's torch calls libblas.so.3, which is netlib's
    unoptimised one unless an optimised BLAS (libopenblas0-pthread) is
    installed, and a small MLP then trains about 10x slower."""
    global _blas_checked
    if _blas_checked:
        return
    _blas_checked = True
    try:
        torch.ones(2, 2) @ torch.ones(2, 2)
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "libblas.so" in line}
    except OSError:
        return
    slow = [p for p in libs if "/blas/libblas.so" in p]
    if slow:
        import sys
        sys.stderr.write("unlearnbench: torch multiplies matrices with the reference BLAS (%s), about 10x slower than "
                         "an optimised one: install libopenblas0-pthread (Debian)\n" % slow[0])


def seed_everything(seed):
    """Seeds torch, NumPy and Python's random from the member's seed.
    NumPy's legacy seed takes 32 bits: it gets the seed modulo 2^32."""
    seed = int(seed)
    torch.manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    random.seed(seed)


class _Batches:
    """DataLoader's batches of a TensorDataset (shuffled by a permutation
    from gen, a new one each pass; the last batch may be short) cut by
    indexing the tensors, not by collating examples one by one, which
    costs as much as a small model's training step."""

    def __init__(self, tensors, batch_size, gen):
        self.tensors, self.batch_size, self.gen = tensors, batch_size, gen

    def __len__(self):
        return (len(self.tensors[0]) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        n = len(self.tensors[0])
        order = torch.randperm(n, generator=self.gen) if self.gen is not None else None
        for s in range(0, n, self.batch_size):
            if order is None:
                yield tuple(t[s:s + self.batch_size] for t in self.tensors)
            else:
                idx = order[s:s + self.batch_size]
                yield tuple(t[idx] for t in self.tensors)


class Member:
    """A member's inputs: seed, paths, settings, and its data sets as
    torch TensorDatasets (retain, forget, validation; images float32
    [N, C, H, W] exactly as the model takes them, labels int64)."""

    def __init__(self, env=None):
        env = os.environ if env is None else env

        def get(name, default=None):
            v = env.get("UNLEARNBENCH_" + name, default)
            if v is None:
                raise KeyError("UNLEARNBENCH_%s is not set: run this program from unlearnbench's exec method" % name)
            return v

        self.seed = int(get("SEED"))
        self.model_path = get("MODEL")
        self.out = get("OUT")
        self.workdir = get("WORKDIR", "")
        self.data_dir = get("DATA", "")
        self.split = get("SPLIT", "")
        self.classes = int(get("CLASSES", "0"))
        self.input_shape = tuple(int(v) for v in get("INPUT_SHAPE", "").split(",") if v)
        self.batch_size = int(get("BATCH_SIZE", "0"))
        self.epochs = int(get("EPOCHS", "0"))
        dev = get("DEVICE", "cpu")
        self.device = torch.device(dev if dev.startswith("cuda") and torch.cuda.is_available() else "cpu")
        self.threads = int(get("THREADS", "1"))
        self._paths = {s: (get(s.upper() + "_X"), get(s.upper() + "_Y")) for s in ("retain", "forget", "validation")}
        warn_reference_blas()

    @property
    def retain(self):
        return _tensors(*self._paths["retain"])

    @property
    def forget(self):
        return _tensors(*self._paths["forget"])

    @property
    def validation(self):
        return _tensors(*self._paths["validation"])

    def generator(self, stream=0):
        """A torch.Generator seeded from the member's seed and a stream
        number, one stream per purpose (batch order of each set, noise)."""
        return torch.Generator().manual_seed((self.seed + 0x9E3779B97F4A7C15 * stream) % (1 << 63))

    def loader(self, dataset, batch_size=None, shuffle=True, stream=0):
        """A DataLoader over dataset (member.retain, ...), batches of
        batch_size (the recipe's, 128 without one), shuffled from the
        member's seed and stream."""
        if isinstance(dataset, str):
            dataset = getattr(self, dataset)
        bs = batch_size or self.batch_size or 128
        if isinstance(dataset, torch.utils.data.TensorDataset):
            return _Batches(dataset.tensors, bs, self.generator(stream) if shuffle else None)
        return torch.utils.data.DataLoader(dataset, batch_size=bs, shuffle=shuffle,
                                           generator=self.generator(stream) if shuffle else None)

    def load_model(self):
        """The original model as a torch module (an OnnxModule) on the
        member's device, in train mode."""
        return _model.load(self.model_path).to(self.device).train()

    def save(self, model, example=None):
        """Writes the unlearned model to UNLEARNBENCH_OUT (see model.save)."""
        model = model.to("cpu")
        if example is None and not isinstance(model, _model.OnnxModule):
            example = self.retain[:1][0]
        _model.save(model, self.out, example)
