r"""Softmax and logistic losses (Li et al. 2020, "On the Learning Property of Logistic and Softmax Losses
for Deep Neural Networks", AAAI).

SML is softmax cross-entropy; LGL is the sum of K one-vs-all logistic losses; LGL-INR re-weights LGL's
negative sub-classes inside each mini-batch (Eq. 11). All three work in log space.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .reduction import reduce_loss
from .validation import (checks_output, check_choice, check_class_target, check_class_weight, check_logits,
                         check_reduction, check_scalar, compute_dtype)

__all__ = ["softmax_cross_entropy", "logistic_ova", "lgl_inr", "lgl_inr_weights"]


def _weighted_mean_denominator(class_weight, target):
    return None if class_weight is None else class_weight[target].sum()


@checks_output
def softmax_cross_entropy(logits, target, *, class_weight=None, label_smoothing=0.0, reduction="mean"):
    r"""Softmax cross-entropy (SML), optionally class-weighted and label-smoothed.

    .. math::
        \ell_i = w_{y_i}(1-\varepsilon)\,\bigl(-\log \mathrm{softmax}(z_i)_{y_i}\bigr)
                 + \frac{\varepsilon}{C}\sum_j w_j\,\bigl(-\log \mathrm{softmax}(z_i)_j\bigr)

    Li et al. 2020, Eq. (1) with the softmax link; the weighted form is their class re-weighting with
    ``class_weight`` = :math:`\lambda`. Same value as ``torch.nn.functional.cross_entropy``, whose fused kernel
    computes it.

    Args:
        logits: ``(N, C)`` floating point.
        target: ``(N,)`` integer class indices in ``[0, C)``.
        class_weight: optional ``(C,)`` non-negative weights :math:`w`.
        label_smoothing: :math:`\varepsilon \in [0, 1]`.
        reduction: ``"mean"`` (weighted sum over :math:`\sum_i w_{y_i}`, as torch), ``"sum"`` or ``"none"``.
    """
    check_logits(logits)
    n, c = logits.shape
    target = check_class_target(target, n, c)
    eps = check_scalar(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    z = logits.to(compute_dtype(logits))
    w = check_class_weight(class_weight, c, like=z)
    check_reduction(reduction)
    # torch's fused kernel computes exactly this formula (weights and smoothing included)
    if w is None and reduction != "none":
        return F.cross_entropy(z, target, label_smoothing=eps, reduction=reduction)
    per_sample = F.cross_entropy(z, target, weight=w, label_smoothing=eps, reduction="none")
    return reduce_loss(per_sample, reduction, denominator=_weighted_mean_denominator(w, target))


@checks_output
def logistic_ova(logits, target, *, class_weight=None, reduction="mean"):
    r"""Logistic loss, one-vs-all (LGL): the K binary logistic losses of a sample, summed.

    .. math::
        \ell_i = w_{y_i}\Bigl[\log(1+e^{-z_{i y_i}}) + \sum_{k\neq y_i}\log(1+e^{z_{ik}})\Bigr]

    Li et al. 2020, Eq. (1) with sigmoid outputs (Sec. "Logistic loss"); ``class_weight`` is the class
    weight :math:`\lambda_{y_i}` of Eq. (8)-(10), applied to the whole sample.

    Args:
        logits: ``(N, C)`` floating point.
        target: ``(N,)`` integer class indices in ``[0, C)``.
        class_weight: optional ``(C,)`` non-negative weights.
        reduction: ``"mean"`` (weighted sum over :math:`\sum_i w_{y_i}`), ``"sum"`` or ``"none"``.
    """
    check_logits(logits)
    n, c = logits.shape
    target = check_class_target(target, n, c)
    z = logits.to(compute_dtype(logits))
    w = check_class_weight(class_weight, c, like=z)
    # softplus(z) for every class, then swap in softplus(-z) = softplus(z) - z at the target.
    z_target = z.gather(1, target[:, None]).squeeze(1)
    per_sample = F.softplus(z).sum(1) - z_target
    if w is not None:
        per_sample = per_sample * w[target]
    return reduce_loss(per_sample, reduction, denominator=_weighted_mean_denominator(w, target))


def lgl_inr_weights(logits, target, *, beta=1.0, detach=True):
    r"""The in-batch negative-class weights :math:`\lambda` of LGL-INR (Li et al. 2020, Sec. LGL-INR).

    Returns ``(C, C)``: entry ``[j, k]`` is :math:`\lambda_j` in the loss of binary problem ``k``,

    .. math::
        \bar p_{jk} = \frac{1}{|S^{MB}_j|}\sum_{x\in S^{MB}_j}\sigma(z_k(x)),\qquad
        \lambda_{jk} = \frac{e^{\beta \bar p_{jk}}}{\sum_{i\neq k,\ i \in \text{batch}} e^{\beta \bar p_{ik}}}

    over the classes ``j != k`` present in the batch; 0 on the diagonal and for absent classes. (A table for
    inspection: :func:`lgl_inr` itself only builds the rows of the classes in the batch, ``(K, C)``.)
    """
    check_logits(logits)
    n, c = logits.shape
    target = check_class_target(target, n, c)
    beta = check_scalar(beta, "beta", low=0.0)
    z = logits.to(compute_dtype(logits))
    with torch.set_grad_enabled(torch.is_grad_enabled() and not detach):
        classes, inverse, counts, lam = _inr_weights(z, target, beta)
        return z.new_zeros(c, c).index_put((classes,), lam)


def _inr_weights(z, target, beta):
    r"""``(classes (K,), inverse (N,), counts (K,), lam (K, C))`` for the K classes present in the batch:
    ``lam[a, k]`` is :math:`\lambda_{j k}` for ``j = classes[a]``; memory O(K C), never O(C^2)."""
    c = z.shape[1]
    classes, inverse, counts = torch.unique(target, sorted=True, return_inverse=True, return_counts=True)
    k = classes.shape[0]
    # per-class sums of sigmoid(z) by one sort and a segment sum (index_add_ is several times slower on CPU)
    order = torch.argsort(inverse)
    prob_sums = torch.segment_reduce(torch.sigmoid(z)[order], "sum", lengths=counts, axis=0)     # (K, C)
    pbar = prob_sums / counts.to(z.dtype)[:, None]                                               # [a, k]
    # masked softmax over the present classes j: j = k (the 'diagonal' (a, classes[a])) gets -inf, weight 0
    score = (beta * pbar).index_put((torch.arange(k, device=z.device), classes),
                                    torch.tensor(float("-inf"), dtype=z.dtype, device=z.device))
    if k > 1:
        return classes, inverse, counts, torch.softmax(score, dim=0)
    # one class in the batch: its own column has no negative (weight 0); the others have it alone (weight 1)
    return classes, inverse, counts, torch.isfinite(score).to(z.dtype)


@checks_output
def lgl_inr(logits, target, *, beta=1.0, reduction="mean", variant="paper"):
    r"""LGL with in-negative-class re-weighting (LGL-INR), Li et al. 2020, Eq. (11).

    For each class k, with :math:`S_j` the batch samples of class j and :math:`N_j=|S_j|`:

    .. math::
        L_k = -\frac{1}{N_k}\sum_{x\in S_k}\log\sigma(z_k(x))
              - \sum_{j\neq k}\lambda_{jk}\frac{1}{N_j}\sum_{x\in S_j}\log\bigl(1-\sigma(z_k(x))\bigr)

    with :math:`\lambda_{jk}` from :func:`lgl_inr_weights`. The loss of the batch is :math:`\sum_k L_k`.
    Sample i (class y) contributes :math:`\frac{1}{N_y}[\mathrm{sp}(-z_{iy}) + \sum_{k\ne y}\lambda_{yk}\,\mathrm{sp}(z_{ik})]`
    (sp = softplus); ``reduction="none"`` returns these ``(N,)`` contributions, ``"sum"`` their total
    :math:`\sum_k L_k` (the official code's value), ``"mean"`` the mean over the C classes, :math:`\frac1C\sum_k L_k`.

    ``beta`` >= 0 is the temperature: 0 weights the negatives equally (in-negative balanced LGL);
    large beta puts all weight on the hardest negative (approximately one-vs-one).

    ``variant="paper"`` (default) treats :math:`\lambda` as weights (no gradient through them) and works in
    log space. ``variant="official"`` follows github.com/Dichoto/LGL-INR (``LGLINR.py``, default
    ``detach_weight=False``): the gradient also flows through :math:`\lambda`, and logs are taken as
    ``log(p + 1e-7)``.
    """
    check_logits(logits)
    n, c = logits.shape
    target = check_class_target(target, n, c)
    beta = check_scalar(beta, "beta", low=0.0)
    check_choice(variant, "variant", ("paper", "official"))
    z = logits.to(compute_dtype(logits))
    with torch.set_grad_enabled(torch.is_grad_enabled() and variant == "official"):
        _, inverse, counts, lam = _inr_weights(z, target, beta)       # lam: (K, C), the batch's classes only
    z_target = z.gather(1, target[:, None]).squeeze(1)
    if variant == "paper":
        neg_log = F.softplus(z)            # -log(1 - sigmoid(z))
        pos = F.softplus(-z_target)        # -log(sigmoid(z_y))
    else:
        neg_log = -torch.log(1.0 - torch.sigmoid(z) + 1e-7)
        pos = -torch.log(torch.sigmoid(z_target) + 1e-7)
    lam_rows = lam[inverse]                # [i, k] = lambda_{y_i, k}, zero at k = y_i
    per_sample = (pos + (lam_rows * neg_log).sum(1)) / counts[inverse].to(z.dtype)
    return reduce_loss(per_sample, reduction, denominator=float(c))


def _register():
    from .. import symbolic
    from ..registry import LossSpec, register

    paper = "Li et al. 2020, On the Learning Property of Logistic and Softmax Losses for Deep Neural Networks (AAAI)"
    weights = [0.5, 2.0, 1.0, 0.25, 3.0]
    bad_weight = [
        ({"class_weight": [1.0, 2.0]}, ValueError, "class_weight"),
        ({"class_weight": [1.0, -1.0, 1.0, 1.0, 1.0]}, ValueError, "class_weight"),
        ({"class_weight": [1.0, float("nan"), 1.0, 1.0, 1.0]}, ValueError, "class_weight"),
        ({"class_weight": "uniform"}, TypeError, "class_weight"),
    ]

    def weighted_denominator(logits, target, class_weight=None, **_):
        return None if class_weight is None else float(sum(class_weight[int(t)] for t in target))

    register(LossSpec(
        name="softmax_cross_entropy", fn=softmax_cross_entropy, twin=symbolic.softmax_cross_entropy,
        family="softmax", paper=paper, equation="Eq. (1), softmax outputs (SML)",
        defaults={"class_weight": None, "label_smoothing": 0.0},
        claims=frozenset({"convex", "classification_calibrated", "proper"}),
        test_params=({}, {"class_weight": weights}, {"label_smoothing": 0.1},
                     {"class_weight": weights, "label_smoothing": 0.3}),
        bad_params=bad_weight + [({"label_smoothing": -0.1}, ValueError, "label_smoothing"),
                                 ({"label_smoothing": 1.5}, ValueError, "label_smoothing")],
        mean_denominator=weighted_denominator,
    ))
    register(LossSpec(
        name="logistic_ova", fn=logistic_ova, twin=symbolic.logistic_ova,
        family="softmax", paper=paper, equation="Eq. (1), sigmoid outputs, one-vs-all (LGL)",
        defaults={"class_weight": None},
        claims=frozenset({"convex", "classification_calibrated"}),
        test_params=({}, {"class_weight": weights}),
        bad_params=bad_weight,
        mean_denominator=weighted_denominator,
    ))
    register(LossSpec(
        name="lgl_inr", fn=lgl_inr, twin=symbolic.lgl_inr,
        family="softmax", paper=paper, equation="Eq. (11) with the in-batch lambda_j (Sec. LGL-INR)",
        defaults={"beta": 1.0, "variant": "paper"},
        claims=frozenset({"batch_level"}),
        test_params=({}, {"beta": 0.0}, {"beta": 4.0}, {"variant": "official"}, {"beta": 2.5, "variant": "official"}),
        bad_params=[({"beta": -1.0}, ValueError, "beta"), ({"beta": float("inf")}, ValueError, "beta"),
                    ({"beta": "1"}, TypeError, "beta"), ({"variant": "code"}, ValueError, "variant")],
        mean_denominator=lambda logits, target, **_: float(logits.shape[1]),
    ))


_register()
