r"""What chapter 08 (beyond softmax) needs besides the losses: harmonic output layers, an evaluator that
also reports the log-partition and the support sizes of the sparse maps, per-example support tables, and the
readability score of weight images.

The Taylor model outputs :math:`\log f(z)` for the same reason (its argmax is the Taylor softmax's prediction).
The harmonic models output the harmonic logits :math:`-n\log\lVert x - w_k\rVert` (their softmax is the
harmonic max), so the harmonic loss is plain cross-entropy of the model's output:
``softmax_cross_entropy(model(x), y) == harmonic_loss(features, model.head.weight, y, n=n)`` (tested), and
the protocol's evaluator, which reads ``argmax`` of the output, applies unchanged.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..losses.fenchel_young import entmax15, sparsemax
from ..losses.softmax_alternatives import harmonic_logits, taylor_logits
from ..losses.validation import check_positive_int, check_scalar
from ..models import CNN2C, Classifier
from ..train import predict

__all__ = ["HarmonicHead", "HarmonicCNN2C", "HarmonicLinear", "LinearSoftmax", "TaylorCNN2C", "fy_scores", "support_sizes",
           "support_table", "weight_readability", "class_mean_images", "on_par_verdict", "beats_verdict"]


class HarmonicHead(nn.Module):
    r"""Class centres ``weight (C, d)``; ``forward(features)`` gives the harmonic logits :math:`-n\log d_k`."""

    def __init__(self, in_features: int, num_classes: int, n: float, init_scale: float = 1.0):
        super().__init__()
        check_positive_int(in_features, "in_features")
        check_positive_int(num_classes, "num_classes")
        self.n = check_scalar(n, "n", low=0.0, low_open=True)
        self.weight = nn.Parameter(init_scale * torch.randn(num_classes, in_features) / math.sqrt(in_features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return harmonic_logits(features, self.weight, n=self.n)

    def extra_repr(self) -> str:
        return f"in_features={self.weight.shape[1]}, num_classes={self.weight.shape[0]}, n={self.n:g}"


class HarmonicCNN2C(CNN2C):
    """CNN2C whose linear head is replaced by a :class:`HarmonicHead` on the 800 penultimate features."""

    def __init__(self, n: float, in_channels: int = 1, num_classes: int = 10, image_size: int = 28):
        super().__init__(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        self.head = HarmonicHead(self.feature_dim, num_classes, n)


class TaylorCNN2C(CNN2C):
    r"""CNN2C whose output is :math:`\log f(z)` of its logits :math:`z` (:func:`~lossnotes.losses.taylor_logits`):
    its cross-entropy is ``taylor_softmax_ce`` of :math:`z`, and the argmax of the output is the Taylor softmax's
    prediction (:math:`f` is not monotone: the argmax of :math:`z` is not)."""

    def __init__(self, order: int = 2, in_channels: int = 1, num_classes: int = 10, image_size: int = 28):
        super().__init__(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        self.order = order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return taylor_logits(super().forward(x), order=self.order)


class LinearSoftmax(Classifier):
    """A linear model on the flattened pixels, ``head.weight (C, pixels)``: multinomial logistic regression
    under CE, a weight image per class."""

    def __init__(self, in_features: int = 784, num_classes: int = 10):
        super().__init__(in_features, num_classes)
        self.body = nn.Flatten()


class HarmonicLinear(Classifier):
    """A harmonic layer on the flattened pixels: ``head.weight (C, pixels)`` are class centres in pixel space
    (Baek et al. 2025's MNIST setting), initialised at small random values."""

    def __init__(self, n: float, in_features: int = 784, num_classes: int = 10):
        super().__init__(in_features, num_classes)
        self.body = nn.Flatten()
        self.head = HarmonicHead(in_features, num_classes, n, init_scale=0.1)


def support_sizes(logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-example number of classes with non-zero probability under sparsemax and 1.5-entmax (softmax: all)."""
    logits = torch.as_tensor(logits).double()
    return {"sparsemax": (sparsemax(logits) > 0).sum(1), "entmax15": (entmax15(logits) > 0).sum(1)}


def fy_scores(model: nn.Module, data, device="cpu") -> dict[str, float]:
    """The protocol's classification scores (those of :func:`lossnotes.experiments.classification_scores`, from the
    same single pass over ``data``) plus, on the model's outputs ``z``: the mean log-partition
    ``log_z`` (:math:`\\log\\sum_k e^{z_k}`), its mean absolute value ``abs_log_z``, and the mean support size of
    sparsemax(z) and 1.5-entmax(z) (``support_sparsemax``, ``support_entmax15``)."""
    logits = predict(model, data, device=device).double()
    pred, y = logits.argmax(1), torch.as_tensor(data.y).cpu()
    k = int(logits.shape[1])
    scores = {"acc": float((pred == y).double().mean()),                 # as classification_scores, one pass
              "top_share": float(torch.bincount(pred, minlength=k).max()) / len(pred),
              "majority": float(torch.bincount(y, minlength=k).max()) / len(y),
              "finite": float(torch.isfinite(logits).all())}
    if not torch.isfinite(logits).all():
        return {**scores, "log_z": float("nan"), "abs_log_z": float("nan"), "support_sparsemax": float("nan"),
                "support_entmax15": float("nan")}
    lse = torch.logsumexp(logits, dim=1)
    sizes = support_sizes(logits)
    return {**scores, "log_z": float(lse.mean()), "abs_log_z": float(lse.abs().mean()),
            "support_sparsemax": float(sizes["sparsemax"].float().mean()),
            "support_entmax15": float(sizes["entmax15"].float().mean())}


def support_table(logits, y, mapping: str = "sparsemax"):
    """Per example: support size of ``mapping`` (``"sparsemax"`` or ``"entmax15"``), whether the prediction is
    right and whether the true class is inside the support; as a pandas DataFrame."""
    import pandas as pd

    logits = torch.as_tensor(logits).double()
    y = torch.as_tensor(y).long()
    p = {"sparsemax": sparsemax, "entmax15": entmax15}[mapping](logits)
    return pd.DataFrame({"support": (p > 0).sum(1).numpy(), "correct": (logits.argmax(1) == y).numpy(),
                         "true_in_support": (p.gather(1, y[:, None]).squeeze(1) > 0).numpy(),
                         "p_max": p.max(1).values.numpy(), "label": y.numpy()})


def class_mean_images(data, num_classes: int | None = None) -> np.ndarray:
    """The mean training image of each class, ``(C, pixels)``."""
    x = torch.as_tensor(data.x).flatten(1).double()
    y = torch.as_tensor(data.y).long()
    c = num_classes or int(y.max()) + 1
    return np.stack([x[y == k].mean(0).numpy() for k in range(c)])


def weight_readability(weight, means) -> np.ndarray:
    """Per class: the Pearson correlation of the weight image with the class's mean image (how much the
    weight *looks like* the class; Baek et al.'s readability claim made a number)."""
    w = np.asarray(torch.as_tensor(weight).detach().double().numpy())
    m = np.asarray(means, dtype=np.float64)
    if w.shape != m.shape:
        raise ValueError(f"weight {w.shape} and means {m.shape} must have the same shape (C, pixels)")
    wc, mc = w - w.mean(1, keepdims=True), m - m.mean(1, keepdims=True)
    return (wc * mc).sum(1) / np.sqrt((wc * wc).sum(1) * (mc * mc).sum(1))


def on_par_verdict(diff: dict, tolerance: float = 1.0) -> float:
    """An "as accurate as" claim from a seed-paired difference ``{"mean", "ci95"}`` (claimed minus reference, in
    points): 1 when the 95 % interval lies above ``-tolerance``, 0 when it lies below, 0.5 when it straddles it (with
    one seed, no interval: the mean decides)."""
    half = diff.get("ci95") or 0.0
    lo, hi = diff["mean"] - half, diff["mean"] + half
    return 1.0 if lo >= -tolerance else 0.0 if hi < -tolerance else 0.5


def beats_verdict(diff: dict) -> float:
    """A "beats" claim from a seed-paired difference (claimed minus reference): 1 when the 95 % interval lies above 0,
    0 below, 0.5 when it contains 0 or there is no interval (one seed)."""
    ci = diff.get("ci95")
    if ci is None or abs(diff["mean"]) <= ci:
        return 0.5
    return 1.0 if diff["mean"] > 0 else 0.0
