r"""Bias-stationarity relations of Li et al. 2020 ("On the Learning Property of Logistic and Softmax
Losses for Deep Neural Networks", AAAI), Eq. (8)-(10).

If the output layer has a bias :math:`b_k` per class and the class-weighted loss of Eq. (1) is at a
stationary point, :math:`\partial L/\partial b_k = 0` gives, for every class k (Eq. 8/9),

.. math::
    \lambda_k N_k (1 - \bar p_{k\to k}) = \sum_{j\neq k} \lambda_j N_j\, \bar p_{j\to k},

with :math:`\bar p_{i\to j}` the mean over the training samples of class i of the predicted probability
of class j. On the training set this is an identity at the optimum (not an approximation); the paper's
":math:`\approx`" is the step to the population means. The derivation holds for softmax (SML) and, class by
class, for one-vs-all sigmoids (LGL, ``lossnotes.losses.logistic_ova``) alike.
"""
from __future__ import annotations

import torch

from .losses.validation import (check_class_target, check_class_weight, check_float_tensor, check_scalar,
                                compute_dtype, value_checks_enabled)

__all__ = ["mean_probabilities", "eq9_sides", "eq10_sides", "negative_hardness", "pooled_negative_probability"]


def _check_probs(probs, target, name="probs"):
    """probs (N, K) floating point in [0, 1] and target (N,) integer labels in [0, K), returned as int64."""
    check_float_tensor(probs, name, ndim=2)
    n, k = probs.shape
    if isinstance(target, torch.Tensor) and target.dim() == 1 and target.shape[0] != n:
        raise ValueError(f"target has {target.shape[0]} samples but {name} has {n} rows")
    target = check_class_target(target, n, k)
    if value_checks_enabled() and bool(((probs < 0) | (probs > 1)).any()):
        raise ValueError(f"{name} must hold probabilities in [0, 1] (softmax or sigmoid outputs, not logits); "
                         f"got values in [{float(probs.min()):g}, {float(probs.max()):g}]")
    return probs.to(compute_dtype(probs)), target


def _class_sums(probs, target, num_classes):
    """(S, counts): S[i, j] = sum over samples of class i of probs[:, j]; counts[i] = N_i."""
    sums = torch.zeros(num_classes, probs.shape[1], dtype=probs.dtype, device=probs.device)
    sums.index_add_(0, target, probs)
    counts = torch.bincount(target, minlength=num_classes).to(probs.dtype)
    return sums, counts


def mean_probabilities(probs, target, num_classes: int | None = None) -> torch.Tensor:
    r"""Class-conditional mean predicted probabilities :math:`P_{ij} = \bar p_{i\to j}` (Li et al. 2020, Eq. 9).

    .. math:: \bar p_{i\to j} = \frac{1}{N_i}\sum_{x\in S_i} f_j(x)

    Args:
        probs: ``(N, K)`` class probabilities of the model: the softmax for SML, the per-class sigmoid
            for LGL (rows then need not sum to 1). Probabilities, not logits.
        target: ``(N,)`` integer labels in ``[0, K)``.
        num_classes: K; defaults to ``probs.shape[1]`` and must equal it when given.

    Returns:
        ``(K, K)`` tensor; row i of a class with no samples is NaN.
    """
    probs, target = _check_probs(probs, target)
    k = probs.shape[1]
    if num_classes is not None:
        num_classes = check_scalar(num_classes, "num_classes", low=1, integer=True)
        if num_classes != k:
            raise ValueError(f"num_classes is {num_classes} but probs has {k} columns")
    sums, counts = _class_sums(probs, target, k)
    return sums / counts[:, None]          # 0/0 = NaN for empty classes


def eq9_sides(probs, target, class_weight=None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Both sides of the bias-stationarity system, Li et al. 2020, Eq. (8)/(9), one entry per class k.

    .. math::
        \mathrm{lhs}_k = \lambda_k N_k (1 - \bar p_{k\to k}) = \lambda_k\sum_{x\in S_k}(1 - f_k(x)),\qquad
        \mathrm{rhs}_k = \sum_{j\neq k}\lambda_j N_j\, \bar p_{j\to k} = \sum_{j\ne k}\lambda_j\sum_{x\in S_j} f_k(x)

    At a stationary point of the class-weighted SML (softmax ``probs``) or LGL (sigmoid ``probs``) with an
    output bias, ``lhs == rhs`` exactly on the training set. Computed from class sums, so a class with no
    samples contributes 0 (no NaN).

    Args:
        probs: ``(N, K)`` softmax (SML) or per-class sigmoid (LGL) probabilities.
        target: ``(N,)`` integer labels in ``[0, K)``.
        class_weight: ``(K,)`` non-negative :math:`\lambda`; ``None`` means all :math:`\lambda_k = 1`.

    Returns:
        ``(lhs, rhs)``, two ``(K,)`` tensors.
    """
    probs, target = _check_probs(probs, target)
    k = probs.shape[1]
    lam = check_class_weight(class_weight, k, like=probs)
    if lam is None:
        lam = torch.ones(k, dtype=probs.dtype, device=probs.device)
    sums, counts = _class_sums(probs, target, k)     # sums[j, k] = sum_{x in S_j} f_k(x)
    weighted = lam[:, None] * sums                   # lambda_j * sum_{S_j} f_k
    diag = torch.diagonal(weighted)
    lhs = lam * counts - diag
    rhs = weighted.sum(0) - diag
    return lhs, rhs


def _check_binary_probs(probs1, target):
    check_float_tensor(probs1, "probs1", ndim=(1, 2))
    if probs1.dim() == 2:
        if probs1.shape[1] != 1:
            raise ValueError(f"probs1 must be (N,) or (N, 1): the single output P(y=1|x); got shape "
                             f"{tuple(probs1.shape)} (for (N, 2) softmax outputs pass probs[:, 1])")
        probs1 = probs1[:, 0]
    n = probs1.shape[0]
    if isinstance(target, torch.Tensor) and target.dim() == 1 and target.shape[0] != n:
        raise ValueError(f"target has {target.shape[0]} samples but probs1 has {n}")
    target = check_class_target(target, n, 2)
    if value_checks_enabled() and bool(((probs1 < 0) | (probs1 > 1)).any()):
        raise ValueError("probs1 must hold probabilities P(y=1|x) in [0, 1], not logits; "
                         f"got values in [{float(probs1.min()):g}, {float(probs1.max()):g}]")
    counts = torch.bincount(target, minlength=2)
    if value_checks_enabled() and bool((counts == 0).any()):
        raise ValueError(f"target must contain both classes 0 and 1 for Eq. (10), got counts {counts.tolist()}")
    return probs1.to(compute_dtype(probs1)), counts


def eq10_sides(probs1, target, lambda0, lambda1) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Both sides of Li et al. 2020, Eq. (10), for a binary model with one output :math:`p = P(y=1|x)`.

    .. math::
        \mathrm{lhs} = \frac{1 - \bar p_{0\to 0}}{\bar p_{1\to 0}},\qquad
        \mathrm{rhs} = \frac{\lambda_1 N_1}{\lambda_0 N_0},

    with :math:`\bar p_{0\to0}` the mean of :math:`1-p` over the class-0 samples and :math:`\bar p_{1\to0}`
    the mean of :math:`1-p` over the class-1 samples; :math:`N_0, N_1` are the class counts of ``target``.
    At a stationary point of the weighted binary cross-entropy (with output bias) lhs == rhs on the training
    data. Evaluated on other data (a test set), use the training RHS: the LHS is then an estimate of the
    population version. lhs is ``inf`` when :math:`\bar p_{1\to 0} = 0`.

    Args:
        probs1: ``(N,)`` or ``(N, 1)`` probabilities of class 1 (a sigmoid output; not logits).
        target: ``(N,)`` integer labels in {0, 1}, both present.
        lambda0, lambda1: class weights, > 0.

    Returns:
        ``(lhs, rhs)`` as 0-d tensors.
    """
    p, counts = _check_binary_probs(probs1, target)
    lambda0 = check_scalar(lambda0, "lambda0", low=0.0, low_open=True)
    lambda1 = check_scalar(lambda1, "lambda1", low=0.0, low_open=True)
    is1 = target == 1
    n0, n1 = counts.to(p.dtype)
    one_minus_p00 = p[~is1].mean()                   # 1 - mean_{S_0}(1 - p)
    p10 = (1.0 - p[is1]).mean()
    lhs = one_minus_p00 / p10
    rhs = (lambda1 * n1) / (lambda0 * n0)
    return lhs, rhs


def negative_hardness(probs, target, k: int) -> torch.Tensor:
    r"""How hard each negative class is for class k: :math:`\bar p_{j\to k}` for every class j
    (Li et al. 2020, Sec. LGL-INR, the hardness measure :math:`\bar p_j` of the "Choice of lambdas").

    Column k of :func:`mean_probabilities`, with entry k (the positives, not a negative class) set to NaN,
    as are classes with no samples. Over one mini-batch and with sigmoid ``probs`` these are the
    :math:`\bar p_j` that ``lossnotes.losses.lgl_inr_weights`` turns into :math:`\lambda_j`.

    Args:
        probs: ``(N, K)`` sigmoid (LGL) or softmax (SML) probabilities.
        target: ``(N,)`` integer labels in ``[0, K)``.
        k: the target (positive) class.

    Returns:
        ``(K,)`` tensor.
    """
    check_float_tensor(probs, "probs", ndim=2)
    k = check_scalar(k, "k", low=0, high=probs.shape[1] - 1, integer=True)
    col = mean_probabilities(probs, target)[:, k].clone()
    col[k] = float("nan")
    return col


def pooled_negative_probability(probs, target, k: int) -> torch.Tensor:
    r"""The mean predicted probability of class k over all negatives pooled, as one-vs-all LGL sees them:

    .. math:: \frac{\sum_{j\ne k} N_j \bar p_{j\to k}}{\sum_{j\ne k} N_j}

    (the right side of Li et al. 2020, Eq. 9, unweighted, divided by the number of negatives). An easy
    majority of negatives keeps it small even when one hard class has a large :math:`\bar p_{j\to k}`:
    the "multi-modality neglect" of Sec. LGL-INR. Returns a 0-d tensor (NaN without negatives).
    """
    probs, target = _check_probs(probs, target)
    k = check_scalar(k, "k", low=0, high=probs.shape[1] - 1, integer=True)
    return probs[target != k, k].mean()
