"""Driven by python_test.go: runs the package on models the Go side wrote
and writes what torch computed, for Go to compare with ONNX Runtime.

    loader_check.py logits MODEL X OUT            original's logits on X
    loader_check.py train MODEL X OUT NEWMODEL    two SGD steps, save, logits
    loader_check.py export X OUT NEWMODEL         a plain torch module exported
    loader_check.py wrap MODEL X OUT NEWMODEL     the loaded model inside a module of one's own, exported
"""
import sys

import numpy as np
import torch

import unlearnbench

torch.manual_seed(0)
torch.set_num_threads(1)
mode = sys.argv[1]
if mode == "logits":
    m = unlearnbench.load(sys.argv[2])
    x = torch.from_numpy(np.load(sys.argv[3]))
    with torch.no_grad():
        np.save(sys.argv[4], m(x).numpy())
elif mode == "train":
    m = unlearnbench.load(sys.argv[2]).train()
    x = torch.from_numpy(np.load(sys.argv[3]))
    y = torch.arange(x.shape[0]) % 3
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
    m.eval()
    unlearnbench.save(m, sys.argv[5])
    with torch.no_grad():
        np.save(sys.argv[4], m(x).numpy())
    # The module loaded back from what it wrote computes the same.
    again = unlearnbench.load(sys.argv[5])
    with torch.no_grad():
        d = (again(x) - m(x)).abs().max().item()
    assert d == 0, "reloaded model differs by %g" % d
elif mode == "export":
    x = torch.from_numpy(np.load(sys.argv[2]))
    c = x.shape[1]
    net = torch.nn.Sequential(
        torch.nn.Conv2d(c, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(8, 8, 3, padding=1, bias=False), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5))
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2)
    net.eval()
    unlearnbench.save(net, sys.argv[4], example=x[:1])
    with torch.no_grad():
        want = net(x)
    np.save(sys.argv[3], want.numpy())
    # What torch.onnx.export wrote loads back into torch as well.
    back = unlearnbench.load(sys.argv[4]).eval()
    with torch.no_grad():
        d = (back(x) - want).abs().max().item()
    assert d < 1e-4, "exported model loaded back differs by %g" % d
elif mode == "wrap":
    class NewHead(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net
            self.head = torch.nn.Linear(10, 10)

        def forward(self, x):
            return self.head(torch.relu(self.net(x)))

    net = NewHead(unlearnbench.load(sys.argv[2])).eval()
    x = torch.from_numpy(np.load(sys.argv[3]))
    unlearnbench.save(net, sys.argv[5], example=x[:1])
    with torch.no_grad():
        np.save(sys.argv[4], net(x).numpy())
else:
    sys.exit("unknown mode " + mode)
