"""The one trainer every notebook uses: :func:`train`, plus :func:`evaluate` and :func:`predict`.

Data are duck-typed: any object with tensor attributes ``.x`` and ``.y`` (e.g. :class:`TensorData` or
``lossnotes.data.Dataset``). The whole set is moved to the device once and batches are gathered there.

Reproducibility: :func:`train` seeds ``random``, ``numpy`` and ``torch`` with ``seed`` and shuffles with
its own ``torch.Generator`` seeded with ``seed``; on CPU two runs with the same seed, model initialisation
and thread count give bit-identical weights and metrics (``epoch_time`` aside). CPU kernels are
deterministic, so ``torch.use_deterministic_algorithms`` is not set; on CUDA (and with AMP) results may
differ in the last bits between runs.

Distributed: started with ``torchrun --nproc_per_node=N`` (``WORLD_SIZE`` > 1 in the environment), the same
call initialises ``torch.distributed`` if needed (``gloo`` on CPU, ``nccl`` on CUDA, one GPU per
``LOCAL_RANK``), wraps the model in ``DistributedDataParallel`` and splits every global batch of
``batch_size`` samples (drawn in the same order as with one process) into N contiguous chunks, chunk r
to rank r. DDP averages gradients over ranks, so for a loss that is a mean over samples the updates equal
the one-process ones up to float rounding (each rank's loss is scaled by ``N * n_r / m`` so that uneven
chunks of a last, short batch of ``m`` samples still give the global mean). Not equal to one process:
losses computed per batch rather than per sample (e.g. LGL-INR's in-batch class weights, which then see
one chunk), batch norm statistics (per rank, no SyncBatchNorm), and a last batch shorter than N, which is
skipped. Metrics are summed over ranks; progress is shown on rank 0 only.
"""
from __future__ import annotations

import contextlib
import gc
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from . import NO_PROGRESS_ENV
from .losses.validation import check_positive_int

__all__ = ["TensorData", "History", "resolve_device", "train", "evaluate", "predict", "show_progress"]


def show_progress(progress: bool) -> bool:
    """Whether to draw a progress bar: ``progress``, unless :data:`NO_PROGRESS_ENV` is set."""
    return bool(progress) and os.environ.get(NO_PROGRESS_ENV, "") in ("", "0")


@dataclass
class TensorData:
    """Minimal data holder: inputs ``x`` and targets ``y`` (same first dimension)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class History:
    """Per-epoch metrics. ``test_*`` stay empty without ``test_data``; ``extra`` is for callbacks.

    ``epoch_time`` is the epoch's wall time in seconds, test pass included; ``lr`` the epoch's learning rate.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    extra: dict[str, list] = field(default_factory=dict)

    def log(self, key: str, value) -> None:
        """Append ``value`` to ``extra[key]`` (for callbacks: one entry per epoch)."""
        self.extra.setdefault(key, []).append(value)

    def to_dict(self) -> dict[str, list]:
        out = {k: list(getattr(self, k)) for k in
               ("train_loss", "train_acc", "test_loss", "test_acc", "epoch_time", "lr")}
        out.update({k: list(v) for k, v in self.extra.items()})
        return out

    def as_frame(self):
        """A ``pandas.DataFrame`` indexed by epoch (1-based); columns of other lengths are left out."""
        import pandas as pd

        n = len(self.train_loss)
        cols = {k: v for k, v in self.to_dict().items() if len(v) == n}
        return pd.DataFrame(cols, index=pd.RangeIndex(1, n + 1, name="epoch"))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; otherwise a valid, available ``cpu``/``cuda[:N]`` device."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    expected = "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except RuntimeError as err:
            raise ValueError(f"{expected}, got {device!r}") from err
    else:
        raise ValueError(f"{expected}, got {device!r}")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{expected}, got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available; use device='cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    return dev




def _unpack(data, name):
    if not (hasattr(data, "x") and hasattr(data, "y")):
        raise ValueError(f"{name} must have attributes .x and .y, got {type(data).__name__}")
    x, y = torch.as_tensor(data.x), torch.as_tensor(data.y)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{name}.x and {name}.y must be non-empty with the same length, "
                         f"got {len(x)} and {len(y)}")
    return x, y


def _amp_dtype(amp, device):
    if amp is None:
        return torch.float16 if device.type == "cuda" else None
    if amp is False:
        return None
    if amp is True:
        return torch.float16 if device.type == "cuda" else torch.bfloat16
    names = {"fp16": torch.float16, "float16": torch.float16, "bf16": torch.bfloat16,
             "bfloat16": torch.bfloat16, torch.float16: torch.float16, torch.bfloat16: torch.bfloat16}
    if amp in names:
        return names[amp]
    raise ValueError(f"amp must be None, a bool, 'fp16' or 'bf16', got {amp!r}")


def _autocast(device, amp_dtype):
    return contextlib.nullcontext() if amp_dtype is None else torch.autocast(device.type, dtype=amp_dtype)


def _make_optimizer(optimizer, params, lr, momentum, weight_decay):
    if callable(optimizer):
        return optimizer(params)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'sgd', 'adam', 'adamw' or a callable(params), got {optimizer!r}")


def _make_scheduler(scheduler, opt):
    if scheduler is None:
        return None
    if callable(scheduler):
        return scheduler(opt)
    if isinstance(scheduler, Sequence) and all(isinstance(m, int) and m > 0 for m in scheduler):
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(scheduler), gamma=0.1)
    raise ValueError("scheduler must be None, a list of epoch milestones (lr /10 at each) or a "
                     f"callable(optimizer), got {scheduler!r}")


def _setup_distributed(device):
    """Return ``(rank, world, device, created)``; initialise the process group under torchrun."""
    if dist.is_available() and dist.is_initialized():
        rank, world, created = dist.get_rank(), dist.get_world_size(), False
    else:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank, created = int(os.environ.get("RANK", "0")), False
    if world == 1:
        return 0, 1, resolve_device(device), False
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        rank, world, created = dist.get_rank(), dist.get_world_size(), True
    return rank, world, dev, created


def _seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@torch.no_grad()
def _eval_sums(model, loss_fn, x, y, batch_size, device, amp_dtype):
    """``float64`` tensor ``[sum of loss * batch size, correct, count]`` over ``x, y``."""
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size].to(device, non_blocking=True)
        yb = y[start:start + batch_size].to(device, non_blocking=True)
        with _autocast(device, amp_dtype):
            out = model(xb)
        out = out.float()
        sums[0] += loss_fn(out, yb).double() * len(yb)
        if yb.ndim == 1:
            sums[1] += (out.argmax(1) == yb).sum()
        sums[2] += len(yb)
    return sums


def _finish(sums, multilabel):
    loss, correct, count = sums.tolist()
    return loss / count, (float("nan") if multilabel else correct / count)


def evaluate(model: nn.Module, loss_fn: Callable, data, *, batch_size: int = 1024,
             device: str | torch.device = "auto", amp: bool | str | None = False) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``data`` (in this process; the model is moved to ``device``).

    The loss is the size-weighted mean of per-batch ``loss_fn`` values (for per-sample mean losses, the
    mean over ``data``). Accuracy is NaN for multi-label (2-D) targets.
    """
    check_positive_int(batch_size, "batch_size")
    dev = resolve_device(device)
    x, y = _unpack(data, "data")
    was_training = model.training
    model.to(dev).eval()
    try:
        sums = _eval_sums(model, loss_fn, x, y, batch_size, dev, _amp_dtype(amp, dev))
    finally:
        model.train(was_training)
    return _finish(sums, y.ndim != 1)


@torch.no_grad()
def predict(model: nn.Module, x, *, batch_size: int = 1024, device: str | torch.device = "auto",
            amp: bool | str | None = False) -> torch.Tensor:
    """Model outputs (logits) for ``x`` (a tensor or an object with ``.x``), as a float32 CPU tensor."""
    check_positive_int(batch_size, "batch_size")
    dev = resolve_device(device)
    x = torch.as_tensor(x.x if hasattr(x, "x") else x)
    amp_dtype = _amp_dtype(amp, dev)
    was_training = model.training
    model.to(dev).eval()
    outs = []
    try:
        for start in range(0, len(x), batch_size):
            with _autocast(dev, amp_dtype):
                outs.append(model(x[start:start + batch_size].to(dev)).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(outs)


def _scalar_loss(loss):
    """The batch loss, which must be one number: a per-sample loss (``reduction="none"``) is refused by name."""
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar tensor (reduction='mean' or 'sum'), got {shape}; "
                         "a loss called with reduction='none' gives one value per sample")
    return loss


def train(model: nn.Module, loss_fn: Callable, train_data, *, test_data=None, epochs: int,
          batch_size: int = 64, lr: float = 0.01, momentum: float = 0.5, weight_decay: float = 0.0,
          optimizer: str | Callable = "sgd", scheduler: Sequence[int] | Callable | None = None,
          device: str | torch.device = "auto", amp: bool | str | None = None, seed: int = 0,
          progress: bool = True, callbacks: Sequence[Callable] | None = None,
          eval_batch_size: int = 1024, augment: Callable | None = None) -> History:
    """Train ``model`` in place with mini-batch ``optimizer`` on ``loss_fn(outputs, target)``; return History.

    Defaults are Li et al. 2020's MNIST setting (SGD, lr 0.01, momentum 0.5, batch 64).

    Args:
        train_data, test_data: objects with ``.x`` and ``.y``; test metrics are computed each epoch.
        epochs: number of passes; ``batch_size`` is the global batch (per rank ``batch_size // N``
            under N processes; must divide evenly).
        optimizer: ``"sgd"`` (uses ``momentum``), ``"adam"``, ``"adamw"`` or ``callable(params)``.
        scheduler: epoch milestones where lr is divided by 10 (e.g. ``[50, 75]``), or
            ``callable(optimizer) -> scheduler``; stepped once per epoch.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        amp: autocast dtype for the forward pass. ``None`` -> float16 on CUDA, off on CPU; ``True`` ->
            float16 on CUDA / bfloat16 on CPU; or ``"fp16"`` / ``"bf16"``. float16 uses a GradScaler. The
            model's outputs are cast to float32 and ``loss_fn`` runs outside autocast, so every loss is
            computed in float32 whatever the loss does (autocast would leave e.g. ``sigmoid`` in float16).
        seed: seeds ``random``, ``numpy``, ``torch`` (global RNGs, so dropout too) and the shuffling.
        callbacks: ``cb(epoch, model, history)`` called on every rank after each epoch's metrics are
            recorded (``epoch`` is 0-based; ``model`` is the unwrapped module, in eval mode); use
            ``history.log(key, value)`` to record extra per-epoch values.
        eval_batch_size: batch size for the test-set pass.
        augment: ``augment(x_batch, generator) -> x_batch`` applied to every training batch (e.g.
            :func:`lossnotes.augment.random_crop_flip`); its generator is seeded from ``seed`` and the rank,
            so under N processes each rank draws its own augmentations.

    Train metrics are running averages over the epoch's batches (size-weighted, taken while the
    weights change); accuracy is NaN for multi-label (2-D) targets. The model ends in eval mode.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
        check_positive_int(value, name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    callbacks = list(callbacks or [])
    if not all(callable(cb) for cb in callbacks):
        raise ValueError("callbacks must be callables cb(epoch, model, history)")
    if augment is not None and not callable(augment):
        raise ValueError(f"augment must be a callable augment(x, generator), got {type(augment).__name__}")
    x, y = _unpack(train_data, "train_data")
    tx, ty = _unpack(test_data, "test_data") if test_data is not None else (None, None)
    rank, world, dev, created = _setup_distributed(device)
    net = model
    try:
        if batch_size % world:
            raise ValueError(f"batch_size={batch_size} must be divisible by the number of processes ({world})")
        amp_dtype = _amp_dtype(amp, dev)
        _seed_everything(seed)
        model.to(dev)
        if world > 1:
            net = nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
        opt = _make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
        sched = _make_scheduler(scheduler, opt)
        scaler = torch.amp.GradScaler(dev.type) if amp_dtype == torch.float16 else None
        x, y = x.to(dev), y.to(dev)
        if tx is not None:
            shard = torch.tensor_split(torch.arange(len(tx)), world)[rank]
            tx, ty = tx[shard].to(dev), ty[shard].to(dev)
        gen = torch.Generator().manual_seed(seed)
        aug_gen = torch.Generator().manual_seed(seed + 7919 * (rank + 1))
        history = History()
        bar = tqdm(range(epochs), desc="train", disable=not show_progress(progress) or rank != 0)
        for epoch in bar:
            t0 = time.perf_counter()
            history.lr.append(opt.param_groups[0]["lr"])
            model.train()
            sums = torch.zeros(3, dtype=torch.float64, device=dev)
            perm = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), batch_size):
                idx = perm[start:start + batch_size]
                m = len(idx)
                if world > 1:
                    if m < world:
                        continue
                    idx = torch.tensor_split(idx, world)[rank]
                idx = idx.to(dev, non_blocking=True)
                xb, yb = x[idx], y[idx]
                if augment is not None:
                    xb = augment(xb, aug_gen)
                with _autocast(dev, amp_dtype):
                    out = net(xb)
                out = out.float()
                loss = _scalar_loss(loss_fn(out, yb))
                scaled = loss * (len(idx) * world / m) if world > 1 else loss
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(scaled).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    scaled.backward()
                    opt.step()
                with torch.no_grad():
                    sums[0] += loss.detach().double() * len(idx)
                    if yb.ndim == 1:
                        sums[1] += (out.argmax(1) == yb).sum()
                    sums[2] += len(idx)
            if sched is not None:
                sched.step()
            model.eval()
            test_sums = None if tx is None else _eval_sums(model, loss_fn, tx, ty, eval_batch_size, dev, amp_dtype)
            if world > 1:
                dist.all_reduce(sums)
                if test_sums is not None:
                    dist.all_reduce(test_sums)
            loss_val, acc_val = _finish(sums, y.ndim != 1)
            history.train_loss.append(loss_val)
            history.train_acc.append(acc_val)
            postfix = {"loss": f"{loss_val:.4f}", "acc": f"{acc_val:.4f}"}
            if test_sums is not None:
                test_loss, test_acc = _finish(test_sums, ty.ndim != 1)
                history.test_loss.append(test_loss)
                history.test_acc.append(test_acc)
                postfix["test_acc"] = f"{test_acc:.4f}"
            history.epoch_time.append(time.perf_counter() - t0)
            bar.set_postfix(postfix)
            for cb in callbacks:
                cb(epoch, model, history)
        bar.close()
        if created:
            dist.barrier()  # let every rank finish its last collective before the group goes away
        return history
    finally:
        if world > 1:
            # Drop DDP (and its gloo work objects) before the group goes: left for interpreter exit,
            # gloo's threads abort the process now and then ("terminate called without an active exception").
            del net
            gc.collect()
        if created:
            dist.destroy_process_group()
