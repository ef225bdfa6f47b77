"""Classification metrics: thin wrappers over scikit-learn.

Inputs may be torch tensors, numpy arrays or lists. ``y_true`` holds class indices ``(N,)``; ``y_pred``
holds class indices ``(N,)`` or scores/logits ``(N, C)``, which are turned into indices by argmax.
"""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

__all__ = ["accuracy", "f1", "confusion", "per_class_accuracy", "verification"]


def _as_numpy(a, name):
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D class indices or 2-D scores, got shape {a.shape}")
    return a


def _labels(y_true, y_pred):
    t, p = _as_numpy(y_true, "y_true"), _as_numpy(y_pred, "y_pred")
    if t.ndim != 1:
        raise ValueError(f"y_true must be 1-D class indices, got shape {t.shape}")
    if p.ndim == 2:
        p = p.argmax(axis=1)
    if len(t) != len(p):
        raise ValueError(f"y_true and y_pred must have the same length, got {len(t)} and {len(p)}")
    return t, p


def _check_num_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes <= 0:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")


def accuracy(y_true, y_pred) -> float:
    """Fraction of correct predictions (``sklearn.metrics.accuracy_score``)."""
    return float(skm.accuracy_score(*_labels(y_true, y_pred)))


def f1(y_true, y_pred, average: str = "micro", num_classes: int | None = None) -> float:
    """F1 score (``sklearn.metrics.f1_score``); ``average`` is ``"micro"``, ``"macro"`` or ``"weighted"``.

    With ``num_classes``, labels are ``range(num_classes)`` (classes absent from both count as F1 0 in
    the macro average); otherwise the labels present in either argument. Undefined F1 counts as 0.
    """
    if average not in ("micro", "macro", "weighted"):
        raise ValueError(f"average must be 'micro', 'macro' or 'weighted', got {average!r}")
    labels = None
    if num_classes is not None:
        _check_num_classes(num_classes)
        labels = list(range(num_classes))
    t, p = _labels(y_true, y_pred)
    return float(skm.f1_score(t, p, labels=labels, average=average, zero_division=0))


def _labels_in_range(y_true, y_pred, num_classes):
    _check_num_classes(num_classes)
    t, p = _labels(y_true, y_pred)
    for name, a in (("y_true", t), ("y_pred", p)):
        if len(a) and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name} must hold labels in [0, {num_classes}), got range "
                             f"[{a.min()}, {a.max()}]")
    return t, p


def confusion(y_true, y_pred, num_classes: int) -> np.ndarray:
    """``(num_classes, num_classes)`` counts (``sklearn.metrics.confusion_matrix``, labels
    ``range(num_classes)``); row = true class, column = predicted class."""
    t, p = _labels_in_range(y_true, y_pred, num_classes)
    return skm.confusion_matrix(t, p, labels=list(range(num_classes)))


def per_class_accuracy(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Accuracy on each true class, i.e. its recall (``sklearn.metrics.recall_score``, ``average=None``),
    shape ``(num_classes,)``; NaN for a class with no true samples."""
    t, p = _labels_in_range(y_true, y_pred, num_classes)
    return skm.recall_score(t, p, labels=list(range(num_classes)), average=None, zero_division=np.nan)


def verification(embeddings, labels, *, far: float = 1e-3, max_pairs: int = 500_000, seed: int = 0) -> dict:
    """Face-verification-style scores from embeddings: is a pair of samples of the same class?

    Every pair ``i < j`` (or ``max_pairs`` of them drawn at random, seeded, when there are more) is scored by
    the cosine similarity of its two embeddings; ``sklearn.metrics.roc_curve`` / ``roc_auc_score`` on
    "same class" give the ROC AUC and the true-accept rate at the largest threshold whose false-accept rate
    is at most ``far`` (TAR@FAR). Returns ``{"roc_auc", "tar_at_far", "far", "threshold", "pairs"}``.
    """
    x = _as_numpy(embeddings, "embeddings").astype(np.float64)
    y = _as_numpy(labels, "labels")
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"embeddings must be (N, d) and labels (N,), got {x.shape} and {y.shape}")
    if len(x) < 2:
        raise ValueError("verification needs at least 2 samples")
    if not 0.0 < far < 1.0:
        raise ValueError(f"far must be in (0, 1), got {far!r}")
    if isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs <= 0:
        raise ValueError(f"max_pairs must be a positive int, got {max_pairs!r}")
    n = len(x)
    total = n * (n - 1) // 2
    if total <= max_pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, n, max_pairs)
        j = (i + rng.integers(1, n, max_pairs)) % n          # j != i
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.finfo(np.float64).tiny)
    score = np.einsum("kd,kd->k", unit[i], unit[j])
    same = y[i] == y[j]
    if same.all() or not same.any():
        raise ValueError("verification needs both same-class and different-class pairs")
    fpr, tpr, thr = skm.roc_curve(same, score)
    k = int(np.searchsorted(fpr, far, side="right")) - 1      # last point with FAR <= far
    return {"roc_auc": float(skm.roc_auc_score(same, score)), "tar_at_far": float(tpr[k]), "far": far,
            "threshold": float(thr[k]), "pairs": int(len(score))}
