#!/usr/bin/python3
"""Writes torch_scalar_pad.onnx and torch_scalar_pad.json, the fixture of
nn's TestImportTorchScalarAndPad: a small classifier as torch.onnx.export
(PyTorch 1.13, opset 13) writes it with a Python-number division (a rank-0
Constant) and an AvgPool2d with padding (a Pad before the AveragePool),
with two inputs and PyTorch's logits for them.

    /usr/bin/python3 nn/testdata/torch_scalar_pad.py
"""
import json
import os

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.pool = nn.AvgPool2d(2, 2, padding=1)
        self.fc = nn.Linear(2 * 5 * 5, 10)

    def forward(self, x):
        x = x / 2
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


torch.manual_seed(7)
net = Net().eval()
x = torch.randn(2, 1, 8, 8)
with torch.no_grad():
    y = net(x)
torch.onnx.export(net, x, os.path.join(HERE, "torch_scalar_pad.onnx"), input_names=["input"],
                  output_names=["logits"], dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}},
                  opset_version=13)
with open(os.path.join(HERE, "torch_scalar_pad.json"), "w") as f:
    json.dump({"torch": torch.__version__, "input": x.flatten().tolist(), "logits": y.flatten().tolist()}, f)
