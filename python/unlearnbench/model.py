"""The ONNX classifiers unlearnbench hands out, as torch.nn.Modules.

OnnxModule runs the model's graph node by node with torch operations, its
weights torch Parameters under their ONNX names (the zoo and torchvision
exports name them as torchvision does: conv1.weight, layer1.0.bn1.weight,
..., so state_dict() matches torchvision's). Batch-norm statistics and the
input normalisation constants are buffers, not trained. The operators are
those the zoo builds and torchvision or timm exports use; any other is
refused with its node's name, so a model is never half-understood.
"""

import numpy as np
import torch
import torch.nn.functional as F

from . import onnxproto

# Operators OnnxModule runs.
SUPPORTED = ("Conv", "BatchNormalization", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu",
             "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Identity",
             "Constant", "Dropout", "Pad")


class UnsupportedModel(ValueError):
    """A model OnnxModule cannot run."""


def _pair_pads(node, pads, nd):
    """Symmetric pads as torch's padding, or None when begin != end."""
    if not pads:
        return (0,) * nd
    if list(pads[:nd]) != list(pads[nd:]):
        return None
    return tuple(pads[:nd])


class _Holder(torch.nn.Module):
    """A node of the parameter tree (conv1, layer1, layer1.0, ...)."""


class OnnxModule(torch.nn.Module):
    """An ONNX classifier as a torch module: forward(x) takes [N, C, H, W]
    float32 and returns logits [N, classes]."""

    def __init__(self, proto):
        super().__init__()
        self.proto = proto
        if len(proto.inputs) != 1:
            raise UnsupportedModel("want one input besides the initializers, found %d (%s)" % (len(proto.inputs), ", ".join(proto.inputs)))
        self.input_name = next(iter(proto.inputs))
        if not proto.outputs:
            raise UnsupportedModel("the model has no output")
        self.output_name = next(iter(proto.outputs))
        shape = proto.inputs[self.input_name]
        self.input_shape = tuple(shape[1:]) if shape else None
        nodes = proto.nodes
        for n in nodes:
            if n.domain not in ("", "ai.onnx") or n.op_type not in SUPPORTED:
                raise UnsupportedModel("node %r: operator %s%s is not supported (supported: %s)" % (
                    n.name, n.domain + "." if n.domain else "", n.op_type, ", ".join(SUPPORTED)))
            if n.op_type == "Conv" and n.attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise UnsupportedModel("node %r: Conv with auto_pad %s is not supported" % (n.name, n.attrs["auto_pad"]))
        buffers = set()
        # The input normalisation nn.PrependNormalization writes,
        # (input - mean) * inv_std, holds constants, not weights.
        normed = {self.input_name}
        for n in nodes:
            if n.op_type == "BatchNormalization":
                buffers.update(n.inputs[3:5])
            elif n.op_type in ("Sub", "Mul", "Div") and n.inputs and n.inputs[0] in normed:
                consts = [i for i in n.inputs[1:] if i in proto.initializers]
                if consts and all(i.endswith((".norm_mean", ".norm_inv_std")) for i in consts):
                    buffers.update(consts)
                    normed.add(n.outputs[0])
        # name -> (kind, owner module, attribute) for every float
        # initializer; other initializers (shapes) stay constants.
        self._where = {}
        self._consts = {}
        self._names = []
        for name, a in proto.initializers.items():
            if a.dtype not in (np.float32, np.float64, np.float16):
                self._consts[name] = torch.from_numpy(np.array(a))
                continue
            t = torch.from_numpy(np.array(a, dtype=np.float32))
            owner, attr = self._owner(name)
            if name in buffers:
                owner.register_buffer(attr, t)
            else:
                owner.register_parameter(attr, torch.nn.Parameter(t))
            self._where[name] = (owner, attr)
            self._names.append(name)

    def _owner(self, name):
        """The module and attribute a dotted name lives at (conv1.weight:
        module conv1, attribute weight), made on the way; a name that does
        not fit the tree keeps its whole self under "_flat"."""
        parts = name.split(".")
        if all(parts) and not any(p.startswith("_") for p in parts):
            m = self
            ok = True
            for p in parts[:-1]:
                sub = m._modules.get(p)
                if sub is None:
                    if p in m._parameters or p in m._buffers or hasattr(type(m), p) or p in m.__dict__:
                        ok = False
                        break
                    sub = _Holder()
                    m.add_module(p, sub)
                m = sub
            attr = parts[-1]
            if ok and attr not in m._modules and attr not in m._parameters and attr not in m._buffers and not hasattr(type(m), attr) and attr not in m.__dict__:
                return m, attr
        flat = self._modules.get("_flat")
        if flat is None:
            flat = _Holder()
            self.add_module("_flat", flat)
        attr = name.replace(".", "_")
        while attr in flat._parameters or attr in flat._buffers:
            attr += "_"
        return flat, attr

    def tensor(self, name):
        """The parameter or buffer of ONNX initializer name."""
        owner, attr = self._where[name]
        return getattr(owner, attr)

    def onnx_state(self):
        """ONNX initializer name -> float32 NumPy array, for every float
        initializer: the weights as they are now."""
        return {name: self.tensor(name).detach().to("cpu", torch.float32).numpy() for name in self._names}

    def forward(self, x):
        env = {self.input_name: x}

        def get(name):
            if name in env:
                return env[name]
            if name in self._where:
                return self.tensor(name)
            if name in self._consts:
                return self._consts[name]
            raise UnsupportedModel("value %r is read before any node writes it" % name)

        for n in self.proto.nodes:
            ins = [get(i) if i else None for i in n.inputs]
            env[n.outputs[0]] = self._run(n, ins)
        return env[self.output_name]

    def _run(self, n, ins):
        a, op = n.attrs, n.op_type
        if op == "Conv":
            w = ins[1]
            nd = w.dim() - 2
            pads = _pair_pads(n, a.get("pads"), nd)
            x = ins[0]
            if pads is None:
                p = a["pads"]
                x = F.pad(x, [v for k in reversed(range(nd)) for v in (p[k], p[k + nd])])
                pads = (0,) * nd
            conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
            return conv(x, w, ins[2] if len(ins) > 2 else None, stride=tuple(a.get("strides", [1] * nd)),
                        padding=pads, dilation=tuple(a.get("dilations", [1] * nd)), groups=a.get("group", 1))
        if op == "BatchNormalization":
            # ONNX's momentum weighs the old running value, torch's the new.
            return F.batch_norm(ins[0], ins[3], ins[4], ins[1], ins[2], training=self.training,
                                momentum=1 - a.get("momentum", 0.9), eps=a.get("epsilon", 1e-5))
        if op == "Gemm":
            A, B = ins[0], ins[1]
            c = ins[2] if len(ins) > 2 else None
            # A Linear layer as exporters write it: one fused call.
            if not a.get("transA", 0) and a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0 and c is not None and c.dim() == 1:
                return F.linear(A, B, c) if a.get("transB", 0) else torch.addmm(c, A, B)
            if a.get("transA", 0):
                A = A.t()
            if a.get("transB", 0):
                B = B.t()
            y = A @ B
            if a.get("alpha", 1.0) != 1.0:
                y = y * a["alpha"]
            if len(ins) > 2 and ins[2] is not None:
                c = ins[2]
                y = y + (c * a["beta"] if a.get("beta", 1.0) != 1.0 else c)
            return y
        if op == "MatMul":
            return torch.matmul(ins[0], ins[1])
        if op == "Add":
            return ins[0] + ins[1]
        if op == "Sub":
            return ins[0] - ins[1]
        if op == "Mul":
            return ins[0] * ins[1]
        if op == "Div":
            return ins[0] / ins[1]
        if op == "Relu":
            return F.relu(ins[0])
        if op in ("MaxPool", "AveragePool"):
            k = a["kernel_shape"]
            nd = len(k)
            x = ins[0]
            pads = _pair_pads(n, a.get("pads"), nd)
            if pads is None:
                raise UnsupportedModel("node %r: %s with asymmetric pads %s" % (n.name, op, a["pads"]))
            strides = tuple(a.get("strides", [1] * nd))
            ceil = bool(a.get("ceil_mode", 0))
            if op == "MaxPool":
                pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
                return pool(x, tuple(k), strides, pads, tuple(a.get("dilations", [1] * nd)), ceil_mode=ceil)
            pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
            return pool(x, tuple(k), strides, pads, ceil_mode=ceil, count_include_pad=bool(a.get("count_include_pad", 0)))
        # The operations below keep the batch axis symbolic, so that a
        # module holding this one exports (torch.onnx.export traces it)
        # with a dynamic batch: no shape is computed from x.shape.
        if op == "GlobalAveragePool":
            if ins[0].dim() == 4:
                return F.adaptive_avg_pool2d(ins[0], 1)
            return ins[0].mean(dim=tuple(range(2, ins[0].dim())), keepdim=True)
        if op == "Flatten":
            x = ins[0]
            axis = a.get("axis", 1)
            if axis < 0:
                axis += x.dim()
            if axis == 0:
                return x.reshape(1, -1)
            if axis == 1:
                return torch.flatten(x, 1)
            return torch.flatten(torch.flatten(x, axis), 0, axis - 1)
        if op == "Reshape":
            x = ins[0]
            shape = [int(v) for v in ins[1].tolist()]
            if not a.get("allowzero", 0):
                shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
            # An export traced at one batch size fixes it in the shape:
            # the batch axis follows the input's, as nn.Import makes it.
            if shape and shape[0] > 0 and -1 not in shape[1:]:
                shape[0] = -1
            return x.reshape(shape)
        if op == "Pad":
            # torch.onnx.export writes an AvgPool2d as Pad + AveragePool.
            mode = a.get("mode", b"constant")
            if mode not in (b"constant", "constant"):
                raise UnsupportedModel("node %r: Pad of mode %s is not supported" % (n.name, mode))
            x = ins[0]
            pads = [int(v) for v in (ins[1].tolist() if len(ins) > 1 and ins[1] is not None else a.get("pads", []))]
            value = float(ins[2]) if len(ins) > 2 and ins[2] is not None else float(a.get("value", 0.0))
            nd = len(pads) // 2
            return F.pad(x, [v for k in reversed(range(nd)) for v in (pads[k], pads[k + nd])], value=value)
        if op in ("Identity", "Dropout"):
            if op == "Dropout" and self.training:
                return F.dropout(ins[0], a.get("ratio", 0.5), True)
            return ins[0]
        if op == "Constant":
            v = a.get("value")
            if v is None:
                raise UnsupportedModel("node %r: Constant without a tensor value" % n.name)
            return torch.from_numpy(np.array(v))
        raise UnsupportedModel("node %r: operator %s is not supported" % (n.name, op))

    def onnx_bytes(self):
        """The original model's bytes with the current weights written
        into its initializers: the same graph, so nn.Import reads it as it
        read the original."""
        return self.proto.with_initializers(self.onnx_state())


def load(path):
    """The ONNX model at path as an OnnxModule (CPU, float32, eval mode)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        proto = onnxproto.Model(data)
        m = OnnxModule(proto)
    except (onnxproto.ProtoError, UnsupportedModel) as e:
        raise UnsupportedModel("ONNX model %s: %s" % (path, e)) from None
    return m.eval()


def _export_kwargs():
    import inspect
    kw = {}
    try:
        if "dynamo" in inspect.signature(torch.onnx.export).parameters:
            kw["dynamo"] = False  # torch >= 2.5 would otherwise try the new exporter
    except (TypeError, ValueError):
        pass
    return kw


def save(model, path, example=None):
    """Writes model where unlearnbench reads the unlearned model. An
    OnnxModule is written into its original's graph (same nodes, new
    weights); any other module is exported with torch.onnx.export (opset 13,
    a dynamic batch axis, the arguments every torch from 1.13 on takes), for
    which example is one input batch ([1, C, H, W] is enough)."""
    import os
    tmp = "%s.tmp-%d" % (path, os.getpid())
    if isinstance(model, OnnxModule):
        with open(tmp, "wb") as f:
            f.write(model.onnx_bytes())
    else:
        if example is None:
            raise ValueError("save: a module other than the loaded OnnxModule needs an example input to export")
        was = model.training
        model.eval()
        with torch.no_grad():
            torch.onnx.export(model, (example,), tmp, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              opset_version=13, do_constant_folding=True, **_export_kwargs())
        model.train(was)
    os.replace(tmp, path)
