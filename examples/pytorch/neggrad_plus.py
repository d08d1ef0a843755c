"""NegGrad+ (Kurmanji et al., NeurIPS 2023), written in PyTorch with the
unlearnbench package: each step descends alpha * CE(retain batch) -
(1 - alpha) * CE(forget batch), the forget set cycled in its own shuffled
order, at the built-in neggrad+'s settings (alpha 0.95, SGD, momentum 0.9,
weight decay 5e-4, the recipe's batch size, constant learning rate).

    method: exec
    params: {command: python3 examples/pytorch/neggrad_plus.py --epochs 1, worker: true}
"""
# unlearnbench first: without torch it says so in one line naming the
# interpreter, where `import torch` would end in a traceback.
import unlearnbench  # isort: skip

import argparse

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--alpha", type=float, default=0.95)
p.add_argument("--momentum", type=float, default=0.9)
p.add_argument("--weight-decay", type=float, default=5e-4)
p.add_argument("--batch-size", type=int, default=0, help="0: the recipe's (128 without one)")
args = p.parse_args()


def cycle(loader):
    while True:
        yield from loader


def unlearn(model, member, seed):
    dev = member.device
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    forget = cycle(member.loader(member.forget, args.batch_size, stream=1))
    model.train()
    for _ in range(args.epochs):
        for x, y in member.loader(member.retain, args.batch_size):
            fx, fy = next(forget)
            opt.zero_grad()
            loss = args.alpha * F.cross_entropy(model(x.to(dev)), y.to(dev)) \
                - (1 - args.alpha) * F.cross_entropy(model(fx.to(dev)), fy.to(dev))
            loss.backward()
            opt.step()
    return model


unlearnbench.main(unlearn)
