"""A small CNN with a low-dimensional (e.g. 2-D) feature layer and a margin-softmax head (chapter 02).

:class:`MarginNet` works with :func:`lossnotes.train.train` unchanged: ``forward`` returns the class scores
used for prediction (``W x + b``, ``W x``, ``W_hat x``, ``W(alpha x_hat) + b`` or the cosines, as the loss
defines them), and :meth:`MarginNet.loss` is the ``loss_fn(outputs, target)`` to train it with; for losses
that need the features and the weight (L-Softmax, SphereFace, L2-softmax) it reads the features of the last
forward pass.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .losses import margin as _margin
from .losses.softmax import softmax_cross_entropy

__all__ = ["HEADS", "EmbeddingCNN", "MarginNet"]

#: loss name -> (loss function, what it takes: "logits", "features" (features, weight) or "cosine")
HEADS = {
    "softmax": (softmax_cross_entropy, "logits"),
    "weighted_softmax": (_margin.weighted_softmax, "logits"),
    "large_margin_softmax": (_margin.large_margin_softmax, "features"),
    "sphereface": (_margin.sphereface, "features"),
    "l2_softmax": (_margin.l2_softmax, "features"),
    "am_softmax": (_margin.am_softmax, "cosine"),
    "arcface": (_margin.arcface, "cosine"),
}


class EmbeddingCNN(nn.Module):
    """conv5x5(w)-PReLU-maxpool2 -> conv5x5(2w)-PReLU-maxpool2 -> Linear(., feature_dim), 'same' padding
    (the 2-D-feature toy nets of the L-Softmax / SphereFace / center-loss papers, made small for a CPU)."""

    def __init__(self, feature_dim: int = 2, in_channels: int = 1, width: int = 16, image_size: int = 28):
        super().__init__()
        for name, v in (("feature_dim", feature_dim), ("in_channels", in_channels), ("width", width),
                        ("image_size", image_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        side = image_size // 4
        if side < 1:
            raise ValueError(f"image_size must be at least 4, got {image_size}")
        self.feature_dim = feature_dim
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 5, padding=2), nn.PReLU(width), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5, padding=2), nn.PReLU(2 * width), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * side * side, feature_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MarginNet(nn.Module):
    """:class:`EmbeddingCNN` plus a class-weight matrix ``weight (C, d)`` (and a bias for the heads that
    have one: softmax, weighted softmax, L2-softmax), trained with the loss named ``loss`` (a key of
    :data:`HEADS`) and its hyper-parameters ``hp``. ``anneal`` (L-Softmax and SphereFace): arguments of
    :func:`lossnotes.losses.margin_lambda`; each training call of :meth:`loss` then uses the official
    schedule's lambda for that step (``iteration`` counts the steps).
    """

    def __init__(self, loss: str = "softmax", *, num_classes: int = 10, feature_dim: int = 2,
                 in_channels: int = 1, width: int = 16, image_size: int = 28, anneal: dict | None = None, **hp):
        super().__init__()
        if loss not in HEADS:
            raise ValueError(f"loss must be one of {sorted(HEADS)}, got {loss!r}")
        if anneal is not None:
            if loss not in ("large_margin_softmax", "sphereface"):
                raise ValueError(f"anneal applies to large_margin_softmax and sphereface only, not {loss!r}")
            if not isinstance(anneal, dict):
                raise TypeError(f"anneal must be a dict of margin_lambda arguments, got {type(anneal).__name__}")
            _margin.margin_lambda(0, **anneal)              # reject unknown or bad keys now
        self.anneal, self.iteration = anneal, 0
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        self.loss_name, self.hp = loss, dict(hp)
        self.fn, self.kind = HEADS[loss]
        self.embed = EmbeddingCNN(feature_dim, in_channels, width, image_size)
        self.weight = nn.Parameter(torch.empty(num_classes, feature_dim))
        nn.init.xavier_uniform_(self.weight)
        has_bias = loss in ("softmax", "weighted_softmax", "l2_softmax")
        self.bias = nn.Parameter(torch.zeros(num_classes)) if has_bias else None
        self._features = None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The ``feature_dim``-wide embeddings."""
        return self.embed(x)

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """Class scores from features, as the loss defines its logits (argmax = prediction)."""
        w = self.weight.to(features.dtype)
        if self.kind == "cosine":
            return _margin.cosine_logits(features, w)
        if self.loss_name == "sphereface":
            return features @ F.normalize(w, dim=1).T
        if self.loss_name == "l2_softmax":
            features = self.hp.get("alpha", 16.0) * F.normalize(features, dim=1)
        out = features @ w.T
        return out if self.bias is None else out + self.bias.to(out.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._features = self.forward_features(x)
        return self.scores(self._features)

    def loss(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``loss_fn(outputs, target)`` for :func:`lossnotes.train.train` (mean over the batch)."""
        if self.kind != "features":
            return self.fn(outputs, target, **self.hp)
        if self._features is None or self._features.shape[0] != outputs.shape[0]:
            raise RuntimeError("MarginNet.loss needs the features of the forward pass that made outputs")
        hp = dict(self.hp)
        if self.loss_name == "l2_softmax" and self.bias is not None:
            hp["bias"] = self.bias
        if self.anneal is not None:                         # the official lambda schedule, one step a call
            hp["lam"] = _margin.margin_lambda(self.iteration, **self.anneal)
            if self.training:
                self.iteration += 1
        return self.fn(self._features.float(), self.weight.float(), target, **hp)
