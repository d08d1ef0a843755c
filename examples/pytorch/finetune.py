"""Fine-tuning on the retain set, written in PyTorch with the unlearnbench
package: the built-in finetune at its settings (SGD, momentum 0.9, weight
decay 5e-4, the recipe's batch size, constant learning rate), so the two
can be ranked side by side. Run by the exec method:

    method: exec
    params: {command: python3 examples/pytorch/finetune.py --epochs 1, worker: true}
"""
# unlearnbench first: without torch it says so in one line naming the
# interpreter, where `import torch` would end in a traceback.
import unlearnbench  # isort: skip

import argparse

import torch

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--momentum", type=float, default=0.9)
p.add_argument("--weight-decay", type=float, default=5e-4)
p.add_argument("--batch-size", type=int, default=0, help="0: the recipe's (128 without one)")
args = p.parse_args()


def unlearn(model, member, seed):
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    model.train()
    for _ in range(args.epochs):
        for x, y in member.loader(member.retain, args.batch_size):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x.to(member.device)), y.to(member.device))
            loss.backward()
            opt.step()
    return model


unlearnbench.main(unlearn)
