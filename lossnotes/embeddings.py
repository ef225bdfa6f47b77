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


# ------------------------------------------------------------------------------------ the protocol's pieces
#
# The experiment protocol (lossnotes.experiments.Arm) takes a model factory and a loss function separately and
# pickles both to its worker processes. MarginNet's loss reads the features of the model's last forward pass, so
# the two must share the model: MarginRecipe makes the model and remembers it, and its loss delegates to it.
# (Bound methods of one recipe travel in one pickle, so they still share it in a worker.)

class MarginRecipe:
    """A picklable ``(make_model, loss_fn)`` pair for :class:`lossnotes.experiments.Arm` built on :class:`MarginNet`.

    ``MarginRecipe(loss, **kwargs)``: :meth:`make_model` builds ``MarginNet(loss, **kwargs)`` (and remembers it);
    :meth:`loss_fn` is that model's :meth:`MarginNet.loss`. :meth:`arm` returns the :class:`Arm`, keyed in the
    protocol's cache by the loss name and every keyword.
    """

    def __init__(self, loss: str, **kwargs):
        if loss not in HEADS:
            raise ValueError(f"loss must be one of {sorted(HEADS)}, got {loss!r}")
        MarginNet(loss, **{**kwargs, "feature_dim": kwargs.get("feature_dim", 2)})   # reject bad arguments now
        self.loss, self.kwargs, self._model = loss, dict(kwargs), None

    def make_model(self) -> MarginNet:
        self._model = MarginNet(self.loss, **self.kwargs)
        return self._model

    def loss_fn(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self._model is None:
            raise RuntimeError("MarginRecipe.loss_fn needs make_model() to have been called first")
        return self._model.loss(outputs, target)

    def key(self) -> dict:
        return {"loss": self.loss, **{k: repr(v) for k, v in sorted(self.kwargs.items())}}

    def arm(self, **arm_kwargs):
        from .experiments import Arm

        return Arm(make_model=self.make_model, loss_fn=self.loss_fn, key=self.key(), **arm_kwargs)

    def __getstate__(self):
        return {"loss": self.loss, "kwargs": self.kwargs, "_model": None}

    def __repr__(self) -> str:
        return f"MarginRecipe({self.loss!r}, {', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"


@torch.no_grad()
def embed(model: nn.Module, data, device="cpu", batch_size: int = 1024) -> torch.Tensor:
    """The feature-layer outputs (``model.forward_features``) of ``data.x`` (or a tensor), on the CPU."""
    x = data.x if hasattr(data, "x") else torch.as_tensor(data)
    was = model.training
    model.eval()
    dev = next(model.parameters()).device if device in (None, "auto") else torch.device(device)
    model.to(dev)
    out = torch.cat([model.forward_features(x[i:i + batch_size].to(dev)).float().cpu()
                     for i in range(0, len(x), batch_size)]) if len(x) else torch.zeros(0, 0)
    model.train(was)
    return out


def margin_scores(model: nn.Module, data, device="cpu", *, far: float = 1e-3, max_pairs: int = 200_000) -> dict:
    """The protocol's evaluator for chapter 02: :func:`lossnotes.experiments.classification_scores` (``acc``,
    ``top_share``, ``majority``, ``finite``) plus verification by the cosine of the features
    (:func:`lossnotes.metrics.verification`): ``roc_auc`` and ``tar`` (true-accept rate at false-accept rate
    ``far``; ``max_pairs`` pairs drawn with seed 0). Non-finite features give NaN for both."""
    from .experiments import classification_scores
    from .metrics import verification

    out = classification_scores(model, data, device)
    feats = embed(model, data, device)
    if len(feats) > 1 and torch.isfinite(feats).all() and len(torch.unique(torch.as_tensor(data.y))) > 1:
        v = verification(feats, data.y, far=far, max_pairs=max_pairs, seed=0)
        out.update(roc_auc=v["roc_auc"], tar=v["tar_at_far"])
    else:
        out.update(roc_auc=float("nan"), tar=float("nan"))
    return out


# ------------------------------------------------------------------------------------ lower bounds on the scale

def _check_bound_args(num_classes, p, margin=0.0):
    import numbers

    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 3:
        raise ValueError(f"num_classes must be an int >= 3, got {num_classes!r}")
    if not (isinstance(p, numbers.Real) and 1.0 / num_classes < p < 1):
        raise ValueError(f"p must lie in (1/num_classes, 1), got {p!r}")
    if not (isinstance(margin, numbers.Real) and 0 <= margin < 1):
        raise ValueError(f"margin must lie in [0, 1), got {margin!r}")


def scale_lower_bound(num_classes: int, p: float = 0.9, margin: float = 0.0) -> float:
    r"""The smallest scale ``s`` at which normalised softmax can give the target class probability ``p``
    (NormFace, Wang et al. 2017, Prop. 2; CosFace, Wang et al. 2018, Eq. 8), here with an additive margin on the
    target cosine (``margin`` = CosFace's m; 0 for NormFace):

    .. math:: s \ge \frac{\log\frac{(C-1)\,p}{1-p}}{1 - m + \frac{1}{C-1}}
              \quad(m = 0:\ \tfrac{C-1}{C}\log\tfrac{(C-1)p}{1-p})

    from a sample whose target cosine is 1 and whose other cosines are as small as ``C`` unit weights allow
    (their mean is at least :math:`-1/(C-1)`, reached by a regular simplex, which needs ``d >= C - 1``)."""
    import math

    _check_bound_args(num_classes, p, margin)
    c = num_classes
    return math.log((c - 1) * p / (1 - p)) / (1 - margin + 1 / (c - 1))


def l2_alpha_lower_bound(num_classes: int, p: float = 0.9) -> float:
    r"""Ranjan et al. 2017 (L2-constrained softmax), the lower bound on the feature norm :math:`\alpha` for a
    target probability ``p`` with ``C`` classes: :math:`\alpha_{low} = \log\frac{p\,(C-2)}{1-p}`."""
    import math

    _check_bound_args(num_classes, p)
    return math.log(p * (num_classes - 2) / (1 - p))


def planar_scale_lower_bound(num_classes: int, p: float = 0.9, margin: float = 0.0, kind: str = "cosface") -> float:
    r"""The same bound for **2-D features**: ``C`` unit weights evenly spaced on the circle (the best a plane
    allows), a sample on its class's weight (target cosine 1, less the margin), the others at
    :math:`\cos(2\pi k/C)`. ``kind="cosface"``: target logit :math:`s(1-m)`; ``"arcface"``: :math:`s\cos m`.
    Returns the smallest ``s`` with target probability ``p``, or ``inf`` when no ``s`` reaches it (the margin
    leaves the target logit below a neighbour's: :math:`1 - m \le \cos(2\pi/C)`)."""
    import math

    from scipy.optimize import brentq

    _check_bound_args(num_classes, p, margin)
    if kind not in ("cosface", "arcface"):
        raise ValueError(f"kind must be 'cosface' or 'arcface', got {kind!r}")
    target = 1 - margin if kind == "cosface" else math.cos(margin)
    others = [math.cos(2 * math.pi * k / num_classes) for k in range(1, num_classes)]
    if target <= max(others):
        return math.inf

    def gap(log_s):
        s = math.exp(log_s)
        # log p(s) - log p, with p(s) = 1 / (1 + sum_k exp(s (c_k - target)))
        return -math.log1p(sum(math.exp(s * (o - target)) for o in others)) - math.log(p)

    return math.exp(brentq(gap, math.log(1e-6), math.log(1e6)))


def prose_records(recorder, table: str, *, metric: str | None = None, selection: str | None = "best-val"):
    """The records a chapter's prose quotes for ``table``, and where they come from.

    In full mode: this run's records (what the committed ``results/`` file will hold). In quick mode: the committed
    full run's records of ``table`` when ``results/<chapter>.json`` has them, else this run's (labelled so).
    Returns ``({row: Record}, source)``, filtered to ``metric`` and ``selection`` (``None``: any)."""
    from . import paths
    from .records import load_records

    def pick(recs):
        return {r.row: r for r in recs if r.table == table and (metric is None or r.metric == metric)
                and (selection is None or r.selection == selection)}

    if recorder.quick:
        path = paths.repo_root() / "results" / f"{recorder.chapter}.json"
        committed = pick(load_records(path)) if path.exists() else {}
        if committed:
            return committed, "the committed full run"
        return pick(recorder.records), "this quick run (no committed full-run records for this table yet)"
    return pick(recorder.records), "this full run"


def fmt_record(rec, digits: int = 3) -> str:
    """A record's number as the prose quotes it: mean ± 95 % half-width ("-" for a missing record)."""
    from .experiments import format_interval

    return "-" if rec is None else format_interval(rec.ours, rec.ci95, digits)


def clearly_above(a, b) -> bool:
    """``a``'s 95 % interval lies wholly above ``b``'s (a record without an interval counts as its mean)."""
    return a.ours - (a.ci95 or 0.0) > b.ours + (b.ci95 or 0.0)


def weight_angle_gaps(model: MarginNet) -> torch.Tensor:
    """For a model with 2-D features: the angular gaps (degrees, sorted around the circle, summing to 360) between
    consecutive class weights. Evenly spread weights give ``360 / C`` each; a gap near 0 means two classes share
    a direction, which a loss on normalised features cannot tell apart."""
    w = model.weight.detach().float().cpu()
    if w.shape[1] != 2:
        raise ValueError(f"weight_angle_gaps needs 2-D features, got feature_dim {w.shape[1]}")
    ang = torch.sort(torch.remainder(torch.atan2(w[:, 1], w[:, 0]), 2 * torch.pi)).values
    return torch.rad2deg(torch.diff(torch.cat([ang, ang[:1] + 2 * torch.pi])))


def lost_classes(model: nn.Module, data, *, recall_below: float = 0.5, device="cpu") -> int:
    """How many classes of ``data`` the model recalls below ``recall_below`` (merged into a neighbour or lost)."""
    from .train import predict

    pred = predict(model, data, device=device).argmax(1)
    y = torch.as_tensor(data.y).cpu()
    return int(sum(float((pred[y == c] == c).float().mean()) < recall_below for c in torch.unique(y)))
