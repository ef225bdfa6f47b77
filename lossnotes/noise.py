r"""Label noise: seeded symmetric and pair-wise (asymmetric) label flips, their transition matrices, and the data
holders and evaluator a noisy-label experiment needs under :func:`lossnotes.experiments.run_comparison`.

Conventions. A transition matrix ``T`` has ``T[i, j] = P(noisy label j | clean label i)`` (rows sum to 1).

* **symmetric** noise of rate :math:`\eta`: a label is kept with probability :math:`1 - \eta` and otherwise
  replaced by one of the *other* :math:`K - 1` classes uniformly (the convention of Ghosh et al. 2017 and
  Ma et al. 2020: :math:`\eta` is the share of wrong labels; the noise-tolerance condition is
  :math:`\eta < 1 - 1/K`, where the true class is still the most likely noisy label).
* **asymmetric** (class-conditional) noise of rate :math:`\eta` over ``pairs``: in each pair ``(a, b)`` class
  ``a`` becomes ``b`` and ``b`` becomes ``a`` with probability :math:`\eta`; other classes are untouched.
  For Fashion-MNIST, :data:`FASHION_PAIRS` are the confusable pairs shirt/T-shirt, pullover/coat and
  sneaker/sandal.

The flips are exact per class, not Bernoulli: in class ``c`` with ``n_c`` samples, exactly
``round(n_c (1 - T[c, c]))`` samples (chosen at random with ``seed``) get a new label, drawn from the row
``T[c, j != c]`` renormalised. So the realised rate equals :math:`\eta` up to rounding, for every class.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

__all__ = ["FASHION_PAIRS", "symmetric_transition", "asymmetric_transition", "transition_matrix", "flip_labels",
           "empirical_transition", "NoisyDataset", "ProbedTest", "make_noisy", "probe_from", "memorisation_scores",
           "loss_for_every_label", "symmetric_noise_risk"]

#: Fashion-MNIST's confusable pairs: (shirt, T-shirt/top), (pullover, coat), (sneaker, sandal).
FASHION_PAIRS = ((6, 0), (2, 4), (7, 5))


def _check_rate(eta, name="eta"):
    if isinstance(eta, bool) or not isinstance(eta, (int, float, np.floating)) or not np.isfinite(eta):
        raise TypeError(f"{name} must be a real number in [0, 1], got {eta!r}")
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {eta!r}")
    return float(eta)


def _check_k(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    return int(num_classes)


def symmetric_transition(num_classes: int, eta: float) -> np.ndarray:
    r""":math:`T = (1-\eta) I + \frac{\eta}{K-1}(\mathbf 1\mathbf 1^\top - I)`."""
    k, eta = _check_k(num_classes), _check_rate(eta)
    t = np.full((k, k), eta / (k - 1))
    np.fill_diagonal(t, 1.0 - eta)
    return t


def asymmetric_transition(num_classes: int, eta: float, pairs: Sequence[Sequence[int]] = FASHION_PAIRS) -> np.ndarray:
    """Pair-wise flips: for each ``(a, b)`` in ``pairs``, ``T[a, b] = T[b, a] = eta``; other rows are the identity."""
    k, eta = _check_k(num_classes), _check_rate(eta)
    t = np.eye(k)
    seen = set()
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"pairs must hold (a, b) class pairs, got {pair!r}")
        a, b = (int(v) for v in pair)
        if not (0 <= a < k and 0 <= b < k) or a == b:
            raise ValueError(f"pairs must hold two different classes in [0, {k - 1}], got {pair!r}")
        if a in seen or b in seen:
            raise ValueError(f"pairs must not share a class, got {pairs!r}")
        seen |= {a, b}
        t[a, a] = t[b, b] = 1.0 - eta
        t[a, b] = t[b, a] = eta
    return t


def transition_matrix(kind: str, num_classes: int, eta: float, pairs=FASHION_PAIRS) -> np.ndarray:
    """``kind`` in ``"symmetric"``, ``"asymmetric"``."""
    if kind == "symmetric":
        return symmetric_transition(num_classes, eta)
    if kind == "asymmetric":
        return asymmetric_transition(num_classes, eta, pairs)
    raise ValueError(f"kind must be 'symmetric' or 'asymmetric', got {kind!r}")


def flip_labels(y, transition, *, seed: int = 0) -> np.ndarray:
    """Noisy labels drawn from ``transition`` (K, K) for the clean labels ``y`` (N,), exactly
    ``round(n_c (1 - T[c, c]))`` flips in class ``c`` (see the module doc); seeded, returns int64 (N,)."""
    y = np.asarray(torch.as_tensor(y).cpu().numpy()).astype(np.int64).reshape(-1)
    t = np.asarray(transition, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise ValueError(f"transition must be a square (K, K) matrix, got shape {t.shape}")
    if (t < 0).any() or not np.allclose(t.sum(1), 1.0):
        raise ValueError("transition must have non-negative rows that sum to 1")
    if len(y) and (y.min() < 0 or y.max() >= t.shape[0]):
        raise ValueError(f"y holds labels outside [0, {t.shape[0] - 1}]")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    rng = np.random.default_rng(seed)
    noisy = y.copy()
    for c in range(t.shape[0]):
        idx = np.flatnonzero(y == c)
        off = t[c].copy()
        off[c] = 0.0
        n_flip = int(round(len(idx) * off.sum()))
        if n_flip == 0:
            continue
        chosen = rng.permutation(idx)[:n_flip]
        noisy[chosen] = rng.choice(t.shape[0], size=n_flip, p=off / off.sum())
    return noisy


def empirical_transition(y_clean, y_noisy, num_classes: int) -> np.ndarray:
    """The realised transition matrix: row c is the distribution of noisy labels among clean class c."""
    k = _check_k(num_classes)
    yc, yn = (np.asarray(torch.as_tensor(v).cpu().numpy()).astype(np.int64).reshape(-1) for v in (y_clean, y_noisy))
    counts = np.zeros((k, k))
    np.add.at(counts, (yc, yn), 1.0)
    return counts / np.maximum(counts.sum(1, keepdims=True), 1.0)


@dataclass
class NoisyDataset:
    """Training data with noisy labels ``y`` (what the trainer and the validation split see) and the clean labels
    ``y_clean`` kept beside them (for the memorisation picture). A dataclass of tensors, so
    :func:`lossnotes.experiments.take` splits all three together."""

    x: torch.Tensor
    y: torch.Tensor
    y_clean: torch.Tensor
    classes: list
    name: str = "noisy"

    def __len__(self) -> int:
        return len(self.y)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def noise_rate(self) -> float:
        return float((self.y != self.y_clean).float().mean())


def make_noisy(dataset, kind: str, eta: float, *, seed: int = 0, pairs=FASHION_PAIRS) -> NoisyDataset:
    """``dataset`` (``.x``, ``.y``, ``.classes``) with labels flipped by :func:`transition_matrix` (seeded)."""
    k = len(dataset.classes)
    t = transition_matrix(kind, k, eta, pairs)
    noisy = torch.as_tensor(flip_labels(dataset.y, t, seed=seed))
    return NoisyDataset(dataset.x, noisy, torch.as_tensor(dataset.y).long().clone(), list(dataset.classes),
                        f"{getattr(dataset, 'name', 'data')}+{kind}{eta:g}")


@dataclass
class ProbedTest:
    """A clean test set (``x``, ``y``) plus a probe of training samples whose labels were flipped
    (``probe_x``, their noisy labels ``probe_noisy``, their clean labels ``probe_clean``), scored at every epoch by
    :func:`memorisation_scores`."""

    x: torch.Tensor
    y: torch.Tensor
    probe_x: torch.Tensor
    probe_noisy: torch.Tensor
    probe_clean: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


def probe_from(test, noisy_fit: NoisyDataset, n: int = 1000, seed: int = 0) -> ProbedTest:
    """``test`` with a probe of up to ``n`` flipped samples of ``noisy_fit`` (the split the model trains on)."""
    flipped = torch.nonzero(noisy_fit.y != noisy_fit.y_clean).reshape(-1).numpy()
    pick = np.random.default_rng(seed).permutation(flipped)[:n]
    idx = torch.as_tensor(pick, dtype=torch.long)
    return ProbedTest(test.x, torch.as_tensor(test.y).long(), noisy_fit.x[idx], noisy_fit.y[idx], noisy_fit.y_clean[idx])


def memorisation_scores(model, data, device="cpu") -> dict:
    """:func:`lossnotes.experiments.classification_scores`, plus ``ceiling = 1 - noise rate`` for a
    :class:`NoisyDataset` (so the protocol's at-chance check is scaled to what noisy labels allow), and for a
    :class:`ProbedTest` the accuracy on the
    probe's noisy labels (``memorised``: the network fits the wrong label) and on their clean labels
    (``probe_clean``)."""
    from .experiments import classification_scores
    from .train import predict

    scores = classification_scores(model, data, device)
    if isinstance(data, NoisyDataset):  # a perfect clean classifier agrees with the noisy labels this often
        scores["ceiling"] = 1.0 - data.noise_rate()
    if isinstance(data, ProbedTest):
        if len(data.probe_x):
            pred = predict(model, data.probe_x, device=device).argmax(1)
            scores["memorised"] = float((pred == data.probe_noisy).float().mean())
            scores["probe_clean"] = float((pred == data.probe_clean).float().mean())
        else:
            scores["memorised"] = scores["probe_clean"] = float("nan")
    return scores


def loss_for_every_label(loss_fn, logits) -> np.ndarray:
    """``(N, K)``: the per-sample loss ``loss_fn(logits, k, reduction="none")`` of every row for every label k.

    What a risk under label noise needs: with the losses for every possible label, the expected loss under any
    transition matrix is a weighted sum (see :func:`symmetric_noise_risk`)."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ValueError(f"logits must be a 2-D tensor (N, K), got {getattr(logits, 'shape', type(logits).__name__)}")
    n, k = logits.shape
    with torch.no_grad():
        return np.stack([loss_fn(logits, torch.full((n,), c, dtype=torch.long), reduction="none").cpu().numpy()
                         for c in range(k)], axis=-1)


def symmetric_noise_risk(losses, labels, eta: float) -> np.ndarray:
    r"""The risk under symmetric noise of rate :math:`\eta`, averaged over the samples (the last-but-one axis):
    :math:`\frac1n\sum_i (1-\eta)\,\ell(x_i, y_i) + \frac{\eta}{K-1}\sum_{k\ne y_i}\ell(x_i, k)`.

    ``losses``: ``(..., n, K)`` from :func:`loss_for_every_label` (leading axes e.g. one per hypothesis);
    ``labels``: the ``n`` clean labels. Ghosh et al. 2017, Theorem 1: a symmetric loss has the same minimiser of
    this risk as of the clean one while :math:`\eta < 1 - 1/K`."""
    losses = np.asarray(losses, dtype=float)
    labels = np.asarray(labels)
    eta = _check_rate(eta)
    if losses.ndim < 2 or labels.shape != losses.shape[-2:-1]:
        raise ValueError(f"losses must be (..., n, K) with n = len(labels) = {labels.shape}, got {losses.shape}")
    k = _check_k(losses.shape[-1])
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must lie in [0, {k}), got range [{labels.min()}, {labels.max()}]")
    clean = np.take_along_axis(losses, np.broadcast_to(labels[:, None], losses.shape[:-1] + (1,)), -1)[..., 0]
    others = losses.sum(-1) - clean
    return ((1.0 - eta) * clean + eta / (k - 1) * others).mean(-1)
