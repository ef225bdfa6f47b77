r"""Batch-level surrogates of evaluation metrics (chapter 09): soft Dice, AnyLoss, AUC-M, AUC-square.

The target is a plain multi-label 0/1 matrix ``(N, C)`` (``(N, 1)`` for a binary task). Each loss is computed
per label over the batch, :math:`L_c`, from the scores :math:`p = \sigma(z)`, and

* ``reduction="mean"`` (the loss to train with) is the average over the labels, :math:`\frac1C\sum_c L_c`;
* ``reduction="sum"`` is :math:`\sum_c L_c`;
* ``reduction="none"`` gives an ``(N,)`` tensor that sums to :math:`\sum_c L_c`: a batch-level loss has no
  per-sample value, so every sample gets the same share :math:`\frac1N\sum_c L_c` (the same convention for every
  loss here; :func:`lossnotes.losses.lgl_inr` is the other batch-level loss of the package).

A label whose batch holds no positive or no negative has no AUC: its :math:`L_c` is 0 for ``auc_margin`` and
``auc_square``. Dice and AnyLoss are defined for such labels (see each function).

Sources:

* Milletari, Navab & Ahmadi, "V-Net", 3DV 2016, arXiv:1606.04797 (soft Dice); for multi-label sound event
  detection, "Improving Polyphonic Sound Event Detection on Multichannel Recordings with the Sørensen-Dice
  Coefficient Loss and Transfer Learning" (2021; the catalogue's #111).
* Han, Moniz & Chawla, "AnyLoss: Transforming Classification Metrics into Loss Functions", 2024,
  arXiv:2405.14745.
* Yuan, Yan, Sonka & Yang, "Large-scale Robust Deep AUC Maximization: A New Surrogate Loss and Empirical
  Studies on Medical Image Classification", ICCV 2021, arXiv:2012.03173 (AUC-M; official code
  LibAUC, github.com/Optimization-AI/LibAUC, ``AUCMLoss``). AUC-square: Ying, Wen & Lyu, "Stochastic Online
  AUC Maximization", NeurIPS 2016.
"""
from __future__ import annotations

import torch

from .reduction import reduce_loss
from .validation import check_choice, check_logits, check_multilabel_target, check_reduction, check_scalar, compute_dtype

__all__ = ["dice_loss", "anyloss", "auc_margin", "auc_square", "anyloss_approximation", "ANYLOSS_METRICS",
           "soft_confusion"]

#: The confusion-matrix metrics :func:`anyloss` turns into losses (loss = 1 - metric).
ANYLOSS_METRICS = ("f1", "fbeta", "accuracy", "balanced_accuracy", "gmean")
_TINY = 1e-12


def _setup(logits, target, reduction):
    check_logits(logits)
    z = logits.to(compute_dtype(logits))
    y = check_multilabel_target(target, logits.shape, dtype=z.dtype)
    check_reduction(reduction)
    return z, y


def _reduce(per_label, n, reduction):
    """The per-label losses (C,) reduced as the module doc says."""
    total = per_label.sum()
    if reduction == "none":
        return (total / n).expand(n).clone()
    return reduce_loss(total.reshape(1), reduction, denominator=float(per_label.shape[0]))


def dice_loss(logits, target, *, smooth=1.0, reduction="mean"):
    r"""Soft Dice loss per label over the batch (Milletari et al. 2016; used for multi-label sound event detection in the catalogue's #111).

    .. math::
        L_c = 1 - \frac{2\sum_i p_{ic}y_{ic} + \varepsilon}{\sum_i p_{ic} + \sum_i y_{ic} + \varepsilon},
        \qquad p = \sigma(z)

    At hard predictions :math:`p \in \{0, 1\}` and :math:`\varepsilon = 0` it is :math:`1 - F_1` of label c
    (:math:`2TP/(2TP + FP + FN)`). ``smooth`` :math:`\varepsilon \ge 0` (1 in the catalogue) keeps a label
    with no positive and no predicted positive at 0 instead of 0/0; with :math:`\varepsilon = 0` such a label
    counts as 0.
    """
    z, y = _setup(logits, target, reduction)
    eps = check_scalar(smooth, "smooth", low=0.0)
    p = torch.sigmoid(z)
    inter = (p * y).sum(0)
    denom = p.sum(0) + y.sum(0) + eps
    # 1 - (2 I + eps) / D = (D - 2 I - eps) / D, with 0/0 read as 0
    per_label = (denom - 2 * inter - eps) / denom.clamp(min=_TINY)
    return _reduce(per_label, z.shape[0], reduction)


def anyloss_approximation(probabilities, amplifier=73.0):
    r"""AnyLoss's approximation of the 0/1 prediction (Han et al. 2024):
    :math:`A(p) = \sigma\bigl(L\,(p - \tfrac12)\bigr) = 1/(1 + e^{-L(p - 0.5)})`."""
    amp = check_scalar(amplifier, "amplifier", low=0.0, low_open=True)
    return torch.sigmoid(amp * (probabilities - 0.5))


def soft_confusion(logits, target, *, amplifier=73.0):
    r"""The soft confusion matrix of AnyLoss per label: ``(TN, FN, FP, TP)``, each ``(C,)``, from
    :math:`A = A(\sigma(z))`: :math:`TP = \sum_i yA`, :math:`FN = \sum_i y(1-A)`, :math:`FP = \sum_i (1-y)A`,
    :math:`TN = \sum_i (1-y)(1-A)`."""
    z, y = _setup(logits, target, "mean")
    a = anyloss_approximation(torch.sigmoid(z), amplifier)
    tp = (y * a).sum(0)
    fp = ((1 - y) * a).sum(0)
    pos = y.sum(0)
    return z.shape[0] - pos - fp, pos - tp, fp, tp


def _rate(hits, total):
    """hits / total, and 1 where total is 0 (nothing to miss)."""
    return torch.where(total > 0, hits / total.clamp(min=_TINY), torch.ones_like(hits))


def anyloss(logits, target, *, metric="f1", amplifier=73.0, beta=1.0, reduction="mean"):
    r"""AnyLoss (Han et al. 2024): one minus a confusion-matrix metric of the approximated predictions.

    .. math::
        A_{ic} = \frac{1}{1 + e^{-L(\sigma(z_{ic}) - 1/2)}},\quad
        TP_c = \sum_i y_{ic}A_{ic},\ FN_c = \sum_i y_{ic}(1 - A_{ic}),\
        FP_c = \sum_i (1-y_{ic})A_{ic},\ TN_c = \sum_i (1-y_{ic})(1-A_{ic}),\qquad
        L_c = 1 - \mathrm{metric}(TN_c, FN_c, FP_c, TP_c)

    ``metric``: ``"f1"`` :math:`\frac{2TP}{2TP + FP + FN}` (the paper's main loss), ``"fbeta"``
    :math:`\frac{(1+\beta^2)TP}{(1+\beta^2)TP + \beta^2 FN + FP}`, ``"accuracy"`` :math:`\frac{TP + TN}{N}`,
    ``"balanced_accuracy"`` :math:`\frac12(\frac{TP}{TP+FN} + \frac{TN}{TN+FP})`, ``"gmean"``
    :math:`\sqrt{\frac{TP}{TP+FN}\cdot\frac{TN}{TN+FP}}` (the paper's Sec. 3.2 metrics). The amplifier
    :math:`L` (73 in the paper) sharpens :math:`A` towards the 0/1 prediction at :math:`p = 1/2`; the chapter
    derives how fast the soft F1 approaches the hard one as :math:`L` grows. A label with no positive in the
    batch: F1/F-beta read 0/0 as 1 - metric = 0 when nothing is predicted either; rates of an empty class are 1.
    """
    z, y = _setup(logits, target, reduction)
    check_choice(metric, "metric", ANYLOSS_METRICS)
    amp = check_scalar(amplifier, "amplifier", low=0.0, low_open=True)
    b = check_scalar(beta, "beta", low=0.0, low_open=True)
    a = torch.sigmoid(amp * (torch.sigmoid(z) - 0.5))
    pos = y.sum(0)
    neg = z.shape[0] - pos
    tp = (y * a).sum(0)
    fp = ((1 - y) * a).sum(0)
    fn = pos - tp
    tn = neg - fp
    if metric in ("f1", "fbeta"):
        b2 = 1.0 if metric == "f1" else b * b
        errors = b2 * fn + fp
        per_label = errors / ((1 + b2) * tp + errors).clamp(min=_TINY)       # 1 - F_beta, 0/0 read as 0
    elif metric == "accuracy":
        per_label = (fn + fp) / z.shape[0]
    else:
        tpr, tnr = _rate(tp, pos), _rate(tn, neg)
        if metric == "balanced_accuracy":
            per_label = 1 - (tpr + tnr) / 2
        else:
            per_label = 1 - torch.sqrt((tpr * tnr).clamp(min=_TINY))
    return _reduce(per_label, z.shape[0], reduction)


def _class_moments(h, y):
    """Per label: positives' and negatives' counts, means and (population) variances of the scores h."""
    n_pos = y.sum(0)
    n_neg = h.shape[0] - n_pos
    mu_pos = (h * y).sum(0) / n_pos.clamp(min=1)
    mu_neg = (h * (1 - y)).sum(0) / n_neg.clamp(min=1)
    var_pos = (y * (h - mu_pos) ** 2).sum(0) / n_pos.clamp(min=1)
    var_neg = ((1 - y) * (h - mu_neg) ** 2).sum(0) / n_neg.clamp(min=1)
    return n_pos, n_neg, mu_pos, mu_neg, var_pos, var_neg


def _auc_objective(logits, target, margin, reduction, variant, hinge):
    z, y = _setup(logits, target, reduction)
    m = check_scalar(margin, "margin", low=0.0)
    check_choice(variant, "variant", ("paper", "official"))
    h = torch.sigmoid(z)
    n_pos, n_neg, mu_pos, mu_neg, var_pos, var_neg = _class_moments(h, y)
    gap = m - (mu_pos - mu_neg)
    gap = torch.clamp(gap, min=0.0) if hinge else gap
    per_label = var_pos + var_neg + gap ** 2
    if variant == "official":
        p = n_pos / z.shape[0]
        per_label = p * (1 - p) * per_label
    both = (n_pos > 0) & (n_neg > 0)
    per_label = torch.where(both, per_label, torch.zeros_like(per_label))
    return _reduce(per_label, z.shape[0], reduction)


def auc_margin(logits, target, *, margin=1.0, reduction="mean", variant="paper"):
    r"""AUC-M, the AUC margin loss (Yuan et al. 2021), with its min-max form solved in closed form per batch.

    The paper's min-max objective on scores :math:`h = \sigma(z)`,

    .. math::
        \min_{a, b}\max_{\alpha\ge0}\ \mathbb E_+[(h-a)^2] + \mathbb E_-[(h-b)^2]
            + 2\alpha\,(m - \mathbb E_+[h] + \mathbb E_-[h]) - \alpha^2,

    has its inner solutions in closed form on a batch: :math:`a = \bar h_+`, :math:`b = \bar h_-`,
    :math:`\alpha = [m - \bar h_+ + \bar h_-]_+`, which gives the AUC margin loss

    .. math::
        L_c = \mathrm{Var}_+(h) + \mathrm{Var}_-(h) + \bigl[m - (\bar h_+ - \bar h_-)\bigr]_+^2

    (population variances and means of label c's positives and negatives in the batch; 0 when the batch has
    only one of them). The chapter checks the closed form against the min-max objective in SymPy.

    ``variant="official"``: LibAUC's ``AUCMLoss`` (``version="v1"``, the default) weighs the objective by
    :math:`p(1-p)`, :math:`p` the positives' share of the batch (its default ``imratio=None``); there
    :math:`a, b, \alpha` are parameters that the PESG optimiser updates (descent for a, b, ascent for
    :math:`\alpha`), so at each step they are not at the closed-form solution used here.

    Args:
        margin: :math:`m \ge 0` (1.0 in the paper and LibAUC, for scores in [0, 1]).
    """
    return _auc_objective(logits, target, margin, reduction, variant, hinge=True)


def auc_square(logits, target, *, margin=1.0, reduction="mean", variant="paper"):
    r"""AUC-square, the square surrogate of AUC (Ying et al. 2016; the baseline of Yuan et al. 2021).

    .. math::
        L_c = \mathbb E_{i\in+,\,j\in-}\bigl[(m - h_i + h_j)^2\bigr]
            = \mathrm{Var}_+(h) + \mathrm{Var}_-(h) + \bigl[m - (\bar h_+ - \bar h_-)\bigr]^2

    over the pairs of a positive and a negative of label c in the batch (the identity is checked in the
    chapter); the same as :func:`auc_margin` without the hinge, so a pair already separated by more than
    :math:`m` is still pulled back (Yuan et al.'s argument for AUC-M). ``variant="official"``: the
    :math:`p(1-p)` weighting of LibAUC, as for :func:`auc_margin`.
    """
    return _auc_objective(logits, target, margin, reduction, variant, hinge=False)


def _register():
    from .. import symbolic
    from ..registry import LossSpec, register

    common = dict(family="surrogates", target_kind="multilabel", claims=frozenset({"batch_level", "bounded"}),
                  mean_denominator=lambda logits, target, **_: float(logits.shape[1]))
    variant_bad = [({"variant": "code"}, ValueError, "variant")]
    register(LossSpec(
        name="dice_loss", fn=dice_loss, twin=symbolic.dice_loss,
        paper="Milletari et al. 2016, V-Net (soft Dice); the Sorensen-Dice loss for polyphonic sound event "
              "detection (2021, catalogue #111)", equation="1 - (2 sum p y + eps) / (sum p + sum y + eps), per label over the batch",
        defaults={"smooth": 1.0}, test_params=({}, {"smooth": 0.0}, {"smooth": 0.5}),
        bad_params=[({"smooth": -1.0}, ValueError, "smooth"), ({"smooth": "1"}, TypeError, "smooth")], **common))
    register(LossSpec(
        name="anyloss", fn=anyloss, twin=symbolic.anyloss,
        paper="Han et al. 2024, AnyLoss: Transforming Classification Metrics into Loss Functions (arXiv:2405.14745)",
        equation="A(p) = 1/(1 + e^{-L(p - 0.5)}), soft confusion matrix, loss = 1 - metric",
        defaults={"metric": "f1", "amplifier": 73.0, "beta": 1.0},
        test_params=({}, {"amplifier": 5.0}, {"metric": "fbeta", "beta": 2.0, "amplifier": 3.0},
                     {"metric": "accuracy", "amplifier": 4.0}, {"metric": "balanced_accuracy", "amplifier": 6.0},
                     {"metric": "gmean", "amplifier": 2.0}),
        bad_params=[({"metric": "auc"}, ValueError, "metric"), ({"amplifier": 0.0}, ValueError, "amplifier"),
                    ({"beta": -1.0}, ValueError, "beta")], **common))
    auc_paper = ("Yuan, Yan, Sonka & Yang 2021, Large-scale Robust Deep AUC Maximization: A New Surrogate Loss "
                 "and Empirical Studies on Medical Image Classification (ICCV)")
    register(LossSpec(
        name="auc_margin", fn=auc_margin, twin=symbolic.auc_margin, paper=auc_paper,
        equation="AUC margin loss; its min-max form with a, b, alpha in closed form per batch",
        defaults={"margin": 1.0, "variant": "paper"},
        test_params=({}, {"margin": 0.3}, {"margin": 0.0}, {"variant": "official"}),
        bad_params=variant_bad + [({"margin": -1.0}, ValueError, "margin")], **common))
    register(LossSpec(
        name="auc_square", fn=auc_square, twin=symbolic.auc_square, paper=auc_paper,
        equation="square loss over positive-negative pairs (Ying et al. 2016)",
        defaults={"margin": 1.0, "variant": "paper"},
        test_params=({}, {"margin": 0.5}, {"variant": "official"}),
        bad_params=variant_bad + [({"margin": -1.0}, ValueError, "margin")], **common))


_register()
