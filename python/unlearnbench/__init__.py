"""unlearnbench's Python side: methods written in PyTorch for its exec
method.

    import unlearnbench

    def unlearn(model, member, seed):
        ...  # train model (the original, a torch.nn.Module) on member.retain, ...
        return model

    unlearnbench.main(unlearn)

main reads the member's inputs from the environment, seeds torch, NumPy
and random from its seed, loads the original ONNX model as a torch module
(load_model), runs unlearn and writes the result back where unlearnbench
reads it (save). With the exec method's worker: true, one process serves
many members over the protocol worker.py describes, so importing torch is
paid once per process, not once per member. Only torch and NumPy are
needed; the ONNX file is read by a protobuf reader of its own (onnxproto).
"""

import sys

try:
    import numpy  # noqa: F401
    import torch  # noqa: F401
except ImportError as _e:
    sys.stderr.write("unlearnbench: the interpreter %s cannot import %s (%s): install python3-torch and python3-numpy "
                     "(Debian), or name an interpreter that has them in the exec method's python parameter\n"
                     % (sys.executable, getattr(_e, "name", None) or "torch", _e))
    raise SystemExit(3)

from .member import Member, seed_everything  # noqa: E402
from .model import OnnxModule, UnsupportedModel, load, save  # noqa: E402
from .worker import main, run_member, serve  # noqa: E402

load_model = load
save_model = save

__all__ = ["Member", "OnnxModule", "UnsupportedModel", "load", "load_model", "main", "run_member",
           "save", "save_model", "seed_everything", "serve"]
