"""Train a tiny MLP with a fixed seed and save its weights and history (used by test_train.py).

Usage: ``python ddp_train_script.py OUT.pt [--protocol]`` (one process) or
``python -m torch.distributed.run --standalone --nproc_per_node=2 ddp_train_script.py OUT.pt [--protocol]``.
With ``--protocol`` the same data go through ``lossnotes.experiments.run_comparison`` (two lrs, two seeds, no
cache) and OUT.pt holds the chosen lr and the per-run test accuracies.
Rank 0 writes ``OUT.pt``. 145 training samples with batch 32 leave a short last batch (17) that splits
unevenly over 2 ranks; 53 test samples shard unevenly too.
"""
import os
import sys

import torch
import torch.nn.functional as F

from lossnotes.models import MLP
from lossnotes.train import TensorData, train


def make_model():
    return MLP(8, (16,), 3)


def protocol_run(out: str, x, y) -> None:
    from lossnotes.experiments import Arm, Protocol, run_comparison

    comp = run_comparison({"CE": Arm(make_model, F.cross_entropy)}, TensorData(x[:145], y[:145]),
                          TensorData(x[145:], y[145:]), epochs=3, device="cpu", progress=False,
                          protocol=Protocol(lr_grid=(0.01, 0.1), seeds=(1, 2), val_fraction=0.2, cache=False),
                          train_kwargs={"batch_size": 32, "momentum": 0.9})
    if int(os.environ.get("RANK", "0")) == 0:
        runs = comp.runs()
        torch.save({"lr": comp.chosen_lr, "acc": runs.acc.tolist(), "world": int(os.environ.get("WORLD_SIZE", "1"))}, out)


def main(out: str, protocol: bool = False) -> None:
    g = torch.Generator().manual_seed(123)
    x = torch.randn(198, 8, generator=g)
    y = (x @ torch.randn(8, 3, generator=g)).argmax(1)
    if protocol:
        return protocol_run(out, x, y)
    torch.manual_seed(0)
    model = MLP(8, (16,), 3)
    history = train(model, F.cross_entropy, TensorData(x[:145], y[:145]),
                    test_data=TensorData(x[145:], y[145:]), epochs=3, batch_size=32, lr=0.1,
                    momentum=0.9, seed=1, device="cpu", progress=False)
    if int(os.environ.get("RANK", "0")) == 0:
        torch.save({"state": model.state_dict(), "history": history.to_dict(),
                    "world": int(os.environ.get("WORLD_SIZE", "1"))}, out)


if __name__ == "__main__":
    main(sys.argv[1], "--protocol" in sys.argv[2:])
