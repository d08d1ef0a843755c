"""A small reader and writer of the ONNX protobuf fields unlearnbench needs.

Debian ships no `onnx` Python package, and pip is not assumed, so the model
file is read here directly: protobuf's wire format is a sequence of
(field number, wire type, value) records, and an ONNX model needs only a
handful of its message types read (ModelProto -> GraphProto -> NodeProto,
AttributeProto, TensorProto, ValueInfoProto). Field numbers are those of
onnx/onnx.proto. Unknown fields are kept as raw bytes, so writing a model
back with new weights changes nothing else in the file.
"""

import struct

import numpy as np

# TensorProto.DataType values read here.
FLOAT, UINT8, INT8, INT32, INT64, FLOAT16, DOUBLE = 1, 2, 3, 6, 7, 10, 11
_NUMPY = {FLOAT: np.float32, UINT8: np.uint8, INT8: np.int8, INT32: np.int32,
          INT64: np.int64, FLOAT16: np.float16, DOUBLE: np.float64}


class ProtoError(ValueError):
    """A file that is not a well-formed ONNX protobuf."""


def _varint(b, i):
    shift = result = 0
    while True:
        if i >= len(b):
            raise ProtoError("truncated varint")
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        if c < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ProtoError("varint longer than 10 bytes")


def fields(b):
    """Yields (field, wire type, value) for each record of message b: value
    is an int for varints, bytes for fixed32, fixed64 and length-delimited
    records."""
    b = memoryview(b)
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = _varint(b, i)
        elif w == 1:
            v, i = bytes(b[i:i + 8]), i + 8
        elif w == 2:
            n, i = _varint(b, i)
            if i + n > len(b):
                raise ProtoError("record of field %d runs past its message" % f)
            v, i = b[i:i + n], i + n
        elif w == 5:
            v, i = bytes(b[i:i + 4]), i + 4
        else:
            raise ProtoError("unsupported wire type %d (field %d)" % (w, f))
        yield f, w, v


def _signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _ints(w, v):
    """The int64 values of a repeated field record, packed or not."""
    if w == 0:
        return [_signed(v)]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(_signed(x))
    return out


def _floats(w, v):
    if w == 5:
        return [struct.unpack("<f", v)[0]]
    return list(np.frombuffer(bytes(v), dtype="<f4"))


class Tensor:
    """A TensorProto: name and value as a NumPy array."""

    def __init__(self, name, array):
        self.name = name
        self.array = array


def read_tensor(b):
    dims, dtype, name, raw = [], FLOAT, "", None
    vals = {4: [], 5: [], 7: [], 10: []}
    for f, w, v in fields(b):
        if f == 1:
            dims += _ints(w, v)
        elif f == 2:
            dtype = v
        elif f == 8:
            name = bytes(v).decode()
        elif f == 9:
            raw = bytes(v)
        elif f == 4:
            vals[4] += _floats(w, v)
        elif f in (5, 7):
            vals[f] += _ints(w, v)
        elif f == 10:
            vals[10] += list(np.frombuffer(bytes(v), dtype="<f8")) if w == 2 else [struct.unpack("<d", v)[0]]
        elif f == 14 and v == 1:
            raise ProtoError("tensor %r keeps its data in an external file, which is not supported" % name)
    if dtype not in _NUMPY:
        raise ProtoError("tensor %r has data type %d, not supported" % (name, dtype))
    np_type = np.dtype(_NUMPY[dtype]).newbyteorder("<")
    if raw is not None:
        a = np.frombuffer(raw, dtype=np_type).astype(_NUMPY[dtype])
    elif dtype == FLOAT:
        a = np.array(vals[4], dtype=np.float32)
    elif dtype == DOUBLE:
        a = np.array(vals[10], dtype=np.float64)
    elif dtype == INT64:
        a = np.array(vals[7], dtype=np.int64)
    elif dtype == FLOAT16:
        a = np.array(vals[5], dtype=np.uint16).view(np.float16)
    else:
        a = np.array(vals[5], dtype=_NUMPY[dtype])
    n = int(np.prod(dims)) if dims else 1
    if a.size != n:
        raise ProtoError("tensor %r holds %d values for shape %s" % (name, a.size, dims))
    return Tensor(name, a.reshape(dims))


class Node:
    def __init__(self):
        self.inputs, self.outputs, self.name, self.op_type, self.domain = [], [], "", "", ""
        self.attrs = {}


def read_attribute(b):
    name, value, kind = "", None, None
    ints, floats = [], []
    for f, w, v in fields(b):
        if f == 1:
            name = bytes(v).decode()
        elif f == 2:
            value = struct.unpack("<f", v)[0]
        elif f == 3:
            value = _signed(v)
        elif f == 4:
            value = bytes(v)
        elif f == 5:
            value = read_tensor(v).array
        elif f == 7:
            floats += _floats(w, v)
        elif f == 8:
            ints += _ints(w, v)
        elif f == 20:
            kind = v
    if kind == 6 or (value is None and floats):
        value = floats
    elif kind == 7 or (value is None and ints):
        value = ints
    return name, value


def read_node(b):
    n = Node()
    for f, w, v in fields(b):
        if f == 1:
            n.inputs.append(bytes(v).decode())
        elif f == 2:
            n.outputs.append(bytes(v).decode())
        elif f == 3:
            n.name = bytes(v).decode()
        elif f == 4:
            n.op_type = bytes(v).decode()
        elif f == 5:
            k, val = read_attribute(v)
            n.attrs[k] = val
        elif f == 7:
            n.domain = bytes(v).decode()
    return n


def read_value_info(b):
    """Name and shape (None for an unknown dimension) of a ValueInfoProto."""
    name, shape = "", None
    for f, w, v in fields(b):
        if f == 1:
            name = bytes(v).decode()
        elif f == 2:
            for f2, _, tt in fields(v):
                if f2 != 1:  # TypeProto.tensor_type
                    continue
                for f3, _, sh in fields(tt):
                    if f3 != 2:  # TypeProto.Tensor.shape
                        continue
                    shape = []
                    for f4, _, dim in fields(sh):
                        if f4 != 1:
                            continue
                        d = None
                        for f5, _, dv in fields(dim):
                            if f5 == 1:
                                d = _signed(dv)
                        shape.append(d)
    return name, shape


class Model:
    """An ONNX model as read: the graph's nodes, initializers (name ->
    NumPy array, in file order), inputs and outputs (name -> shape), and
    the raw records, kept to write the model back."""

    def __init__(self, data):
        self.records = list((f, w, bytes(v) if isinstance(v, memoryview) else v) for f, w, v in fields(data))
        graphs = [v for f, w, v in self.records if f == 7]
        if len(graphs) != 1:
            raise ProtoError("want one graph in the model, found %d" % len(graphs))
        self.graph_records = list((f, w, bytes(v) if isinstance(v, memoryview) else v) for f, w, v in fields(graphs[0]))
        self.nodes, self.initializers, self.inputs, self.outputs = [], {}, {}, {}
        self.opset = None
        for f, w, v in self.records:
            if f == 8:  # opset_import
                dom, ver = "", None
                for f2, _, v2 in fields(v):
                    if f2 == 1:
                        dom = bytes(v2).decode()
                    elif f2 == 2:
                        ver = v2
                if dom in ("", "ai.onnx"):
                    self.opset = ver
        for f, w, v in self.graph_records:
            if f == 1:
                self.nodes.append(read_node(v))
            elif f == 5:
                t = read_tensor(v)
                self.initializers[t.name] = t.array
            elif f == 11:
                name, shape = read_value_info(v)
                self.inputs[name] = shape
            elif f == 12:
                name, shape = read_value_info(v)
                self.outputs[name] = shape
        # Older exporters list the initializers among the inputs too.
        for name in self.initializers:
            self.inputs.pop(name, None)

    def with_initializers(self, new):
        """The model's bytes with the initializers named in new (name ->
        float32 array of the same shape) replaced; every other record as
        read."""
        graph = bytearray()
        for f, w, v in self.graph_records:
            if f == 5:
                name = _tensor_name(v)
                if name in new:
                    v = encode_tensor(name, new[name])
            graph += _record(f, w, v)
        out = bytearray()
        for f, w, v in self.records:
            out += _record(f, w, bytes(graph) if f == 7 else v)
        return bytes(out)


def _tensor_name(b):
    for f, _, v in fields(b):
        if f == 8:
            return bytes(v).decode()
    return ""


def _put_varint(n):
    out = bytearray()
    if n < 0:
        n += 1 << 64
    while True:
        c = n & 0x7F
        n >>= 7
        if n:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)


def _record(f, w, v):
    key = _put_varint(f << 3 | w)
    if w == 0:
        return key + _put_varint(v)
    if w == 2:
        return key + _put_varint(len(v)) + bytes(v)
    return key + bytes(v)  # fixed32, fixed64


def encode_tensor(name, array):
    """A float32 TensorProto: dims, data type, name and raw little-endian
    data, as torch.onnx.export writes initializers."""
    a = np.ascontiguousarray(array, dtype="<f4")
    dims = b"".join(_put_varint(d) for d in a.shape)
    out = b""
    if a.shape:
        out += _record(1, 2, dims)
    out += _record(2, 0, FLOAT) + _record(8, 2, name.encode()) + _record(9, 2, a.tobytes())
    return out
