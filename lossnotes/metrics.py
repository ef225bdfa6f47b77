"""Classification metrics: thin wrappers over scikit-learn.

Inputs may be torch tensors, numpy arrays or lists. ``y_true`` holds class indices ``(N,)``; ``y_pred``
holds class indices ``(N,)`` or scores/logits ``(N, C)``, which are turned into indices by argmax.

Score-fidelity metrics (distillation: how well a student's score vectors reproduce a teacher's) take two
``(N, K)`` score arrays: :func:`top_k_agreement`, :func:`top_k_overlap`, :func:`rank_relevance` with
:func:`ndcg_at_k`, and :func:`topk_mse`. Top-k sets are taken by a stable sort on descending scores, so tied
scores go to the lower class index.
"""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

__all__ = ["accuracy", "f1", "confusion", "per_class_accuracy", "verification", "top_k_agreement", "top_k_overlap",
           "rank_relevance", "ndcg_at_k", "topk_mse", "centred_mse"]


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


# -- score fidelity (distillation) ------------------------------------------------------------------------------

def _score_matrix(a, name) -> np.ndarray:
    """A finite real ``(N, K)`` float64 array with ``N >= 1`` and ``K >= 2``."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    try:
        a = np.asarray(a)
    except (TypeError, ValueError) as err:  # e.g. ragged lists
        raise ValueError(f"{name} must be an (N, K) array of real scores: {err}") from err
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must hold real scores (int or float), got dtype {a.dtype}")
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 2:
        raise ValueError(f"{name} must be a 2-D (N, K) score array with N >= 1 and K >= 2, got shape {a.shape}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return a


def _score_pair(a, b, name_a, name_b):
    a, b = _score_matrix(a, name_a), _score_matrix(b, name_b)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same (N, K) shape, got {a.shape} and {b.shape}")
    return a, b


def _check_k(k, high, num_classes, name="k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(k).__name__}")
    if not 1 <= k <= high:
        raise ValueError(f"{name} must be in [1, {high}] for K={num_classes} classes, got {k}")
    return int(k)


def _top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean ``(N, K)``: True on each row's ``k`` largest scores (stable: ties go to the lower index)."""
    idx = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    mask = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(mask, idx, True, axis=1)
    return mask


def top_k_agreement(student_scores, teacher_scores, k: int = 1) -> float:
    r"""Fraction of samples whose top-``k`` class **set** under the student equals the teacher's.

    .. math:: \mathrm{agree}@k = \frac1N\sum_n \mathbb 1\bigl[S_k(\hat{\mathbf s}_n) = S_k(\mathbf s_n)\bigr]

    where :math:`S_k(\mathbf z)` is the set of the ``k`` largest entries of :math:`\mathbf z` (order inside the set
    ignored; ties go to the lower class index). ``k=1`` is the usual top-1 agreement (same argmax); ``k=K`` is 1.

    Args:
        student_scores, teacher_scores: ``(N, K)`` real scores (e.g. logits), tensors, arrays or lists.
        k: int in ``[1, K]``.
    """
    s, t = _score_pair(student_scores, teacher_scores, "student_scores", "teacher_scores")
    k = _check_k(k, s.shape[1], s.shape[1])
    return float((_top_k_mask(s, k) == _top_k_mask(t, k)).all(axis=1).mean())


def top_k_overlap(student_scores, teacher_scores, k: int = 3) -> float:
    r"""Mean fraction of the teacher's top-``k`` classes that are also in the student's top ``k``.

    .. math:: \mathrm{overlap}@k = \frac1N\sum_n \frac{|S_k(\hat{\mathbf s}_n) \cap S_k(\mathbf s_n)|}{k}

    (notation of :func:`top_k_agreement`). It lies in ``[0, 1]``; at ``k=1`` it equals ``top_k_agreement(..., 1)``.
    """
    s, t = _score_pair(student_scores, teacher_scores, "student_scores", "teacher_scores")
    k = _check_k(k, s.shape[1], s.shape[1])
    return float((_top_k_mask(s, k) & _top_k_mask(t, k)).sum(axis=1).mean() / k)


def rank_relevance(teacher_scores, k: int = 3) -> np.ndarray:
    r"""Graded relevance from a teacher's ranking, for :func:`ndcg_at_k`: ``(N, K)`` float64 with

    .. math:: \mathrm{rel}_{nj} = \max\bigl(0,\; k + 1 - r_n(j)\bigr)

    where :math:`r_n(j) \in \{1, \dots, K\}` is class ``j``'s rank under the teacher's scores of sample ``n`` (1 =
    largest; ties go to the lower class index). The teacher's top class gets grade ``k``, its ``k``-th gets 1, every
    other class 0. Rank grades weigh the order inside the top ``k`` evenly; softmax probabilities of a confident
    teacher would put almost all the gain on the top class and make NDCG nearly top-1 agreement.
    """
    t = _score_matrix(teacher_scores, "teacher_scores")
    k = _check_k(k, t.shape[1], t.shape[1])
    idx = np.argsort(-t, axis=1, kind="stable")[:, :k]
    rel = np.zeros(t.shape)
    np.put_along_axis(rel, idx, np.broadcast_to(np.arange(k, 0, -1, dtype=np.float64), idx.shape), axis=1)
    return rel


def ndcg_at_k(scores, relevance, k: int = 3) -> float:
    r"""Mean NDCG@k of the ranking given by ``scores`` against graded ``relevance`` (``sklearn.metrics.ndcg_score``).

    With :math:`\pi_n` the classes of sample ``n`` sorted by decreasing ``scores`` and linear gain (the relevance
    itself, no :math:`2^{rel}-1`):

    .. math::
        \mathrm{DCG}@k_n = \sum_{i=1}^{k} \frac{\mathrm{rel}_{n,\pi_n(i)}}{\log_2(i+1)},\qquad
        \mathrm{NDCG}@k = \frac1N\sum_n \frac{\mathrm{DCG}@k_n}{\mathrm{IDCG}@k_n}

    where :math:`\mathrm{IDCG}@k_n` is the DCG of the ideal order (by decreasing relevance). Tied scores get the
    average gain of their tie group (scikit-learn's default); a sample whose relevance is all zero scores 0. For
    distillation pass ``relevance = rank_relevance(teacher_scores, k)``.

    Args:
        scores: ``(N, K)`` predicted scores (e.g. the student's logits).
        relevance: ``(N, K)`` non-negative graded relevance, same shape.
        k: int in ``[1, K]``.
    """
    s, rel = _score_pair(scores, relevance, "scores", "relevance")
    k = _check_k(k, s.shape[1], s.shape[1])
    if (rel < 0).any():
        raise ValueError(f"relevance must be non-negative, got a minimum of {rel.min():g}")
    # Rows without tied scores (almost every row of real-valued logits) in closed form, the rest by scikit-learn,
    # whose tie handling (average gain over a tie group) is the definition; both agree where there are no ties.
    ordered = np.sort(s, axis=1)
    tied = (np.diff(ordered, axis=1) == 0).any(axis=1)
    total = 0.0
    if (~tied).any():
        s0, rel0 = s[~tied], rel[~tied]
        discount = 1.0 / np.log2(np.arange(2, k + 2))
        top = np.argsort(-s0, axis=1)[:, :k]
        dcg = (np.take_along_axis(rel0, top, axis=1) * discount).sum(1)
        idcg = (-np.sort(-rel0, axis=1)[:, :k] * discount).sum(1)
        total += float(np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0).sum())
    if tied.any():
        total += float(skm.ndcg_score(rel[tied], s[tied], k=k)) * int(tied.sum())
    return total / len(s)


def topk_mse(student_scores, teacher_scores, k: int = 3) -> tuple[float, float]:
    r"""Mean squared score error on the teacher's top-``k`` classes and on the rest: ``(mse_top, mse_rest)``.

    .. math::
        \mathrm{MSE}_{top} = \frac{1}{Nk}\sum_n \sum_{j \in S_k(\mathbf s_n)} (\hat s_{nj} - s_{nj})^2,\qquad
        \mathrm{MSE}_{rest} = \frac{1}{N(K-k)}\sum_n \sum_{j \notin S_k(\mathbf s_n)} (\hat s_{nj} - s_{nj})^2

    with :math:`S_k(\mathbf s_n)` the teacher's ``k`` largest scores (ties to the lower index). Scores are compared
    as they are (no centring): a loss that is invariant to shifting all scores (Softmax CE) can have a large MSE
    with perfect rankings.

    Args:
        student_scores, teacher_scores: ``(N, K)`` real scores.
        k: int in ``[1, K-1]`` (both parts must be non-empty).
    """
    s, t = _score_pair(student_scores, teacher_scores, "student_scores", "teacher_scores")
    n_classes = s.shape[1]
    k = _check_k(k, n_classes - 1, n_classes)
    sq = (s - t) ** 2
    top = _top_k_mask(t, k)
    return float(sq[top].mean()), float(sq[~top].mean())


def centred_mse(student_scores, teacher_scores, k: int | None = None):
    r"""Mean squared error of **centred** scores, for losses that cannot see a constant added to a row (softmax).

    .. math:: \mathrm{cMSE}(A) = \frac{1}{N|A|}\sum_n\sum_{j\in A_n} \bigl[(\hat s_{nj} - \bar{\hat s}_{nA}) -
        (s_{nj} - \bar s_{nA})\bigr]^2, \qquad \bar{\mathbf s}_{nA} = \tfrac{1}{|A|}\textstyle\sum_{j\in A_n} s_{nj}

    ``k=None``: :math:`A` is every class (each row minus its own mean); returns one float. With ``k``: returns
    ``(mse_top, mse_rest)``, where :math:`A` is the teacher's top-``k`` classes and then the other ``K-k``, **each part
    centred on its own mean**. A softmax-trained student can sit at any offset, so the raw :func:`topk_mse` charges it
    for that offset; and a selective student may leave the scores it ignores anywhere, so centring the top part on the
    whole row's mean would charge its top scores for the ignored ones. Centred per part, the top error measures only
    the shape of the top-``k`` scores (it needs ``k >= 2`` to be non-zero), the rest error only that of the others.
    """
    s, t = _score_pair(student_scores, teacher_scores, "student_scores", "teacher_scores")
    if k is None:
        d = (s - s.mean(axis=1, keepdims=True)) - (t - t.mean(axis=1, keepdims=True))
        return float((d ** 2).mean())
    n_classes = s.shape[1]
    k = _check_k(k, n_classes - 1, n_classes)
    order = np.argsort(-t, axis=1, kind="stable")
    out = []
    for part in (order[:, :k], order[:, k:]):
        sp, tp = np.take_along_axis(s, part, axis=1), np.take_along_axis(t, part, axis=1)
        d = (sp - sp.mean(axis=1, keepdims=True)) - (tp - tp.mean(axis=1, keepdims=True))
        out.append(float((d ** 2).mean()))
    return tuple(out)
