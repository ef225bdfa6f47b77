r"""Symbolic twins of :mod:`lossnotes.losses.surrogates`, and the batch-level pieces the chapter derives with.

A batch-level loss has no per-sample value: a twin returns N copies of :math:`\frac1N\sum_c L_c`, the shares
``reduction="none"`` gives (their sum is the batch's :math:`\sum_c L_c`). :func:`per_label` returns the
:math:`L_c` themselves.
"""
from __future__ import annotations

import sympy as sp

from .core import as_list, sigmoid

__all__ = ["dice_loss", "anyloss", "auc_margin", "auc_square", "per_label", "anyloss_approximation",
           "auc_min_max_objective"]


def _columns(z, target):
    """Per label: (list of scores sigma(z_ic) over the batch, list of 0/1 flags)."""
    ts = as_list(target)
    if ts and not isinstance(ts[0], list):
        ts = [ts]
    n, c = z.shape
    return [([sigmoid(z[i, j]) for i in range(n)], [bool(ts[i][j]) for i in range(n)]) for j in range(c)]


def _share(per_label_losses, n):
    total = sum(per_label_losses, sp.S.Zero)
    return [total / n] * n


def anyloss_approximation(p, amplifier=73.0):
    r""":math:`A(p) = 1 / (1 + e^{-L(p - 1/2)})` (Han et al. 2024)."""
    return 1 / (1 + sp.exp(-sp.nsimplify(amplifier) * (p - sp.Rational(1, 2))))


def _dice(col, smooth):
    p, y = col
    eps = sp.nsimplify(smooth)
    inter = sum((pi for pi, yi in zip(p, y) if yi), sp.S.Zero)
    denom = sum(p, sp.S.Zero) + sum(y) + eps
    return 1 - (2 * inter + eps) / denom


def _anyloss(col, metric, amplifier, beta):
    p, y = col
    a = [anyloss_approximation(pi, amplifier) for pi in p]
    pos = sum(y)
    neg = len(y) - pos
    tp = sum((ai for ai, yi in zip(a, y) if yi), sp.S.Zero)
    fp = sum((ai for ai, yi in zip(a, y) if not yi), sp.S.Zero)
    fn, tn = pos - tp, neg - fp
    if metric in ("f1", "fbeta"):
        b2 = 1 if metric == "f1" else sp.nsimplify(beta) ** 2
        return 1 - (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp)
    if metric == "accuracy":
        return 1 - (tp + tn) / len(y)
    tpr = tp / pos if pos else sp.S.One
    tnr = tn / neg if neg else sp.S.One
    if metric == "balanced_accuracy":
        return 1 - (tpr + tnr) / 2
    return 1 - sp.sqrt(tpr * tnr)


def _moments(col):
    h, y = col
    hp = [hi for hi, yi in zip(h, y) if yi]
    hn = [hi for hi, yi in zip(h, y) if not yi]
    mp, mn = sum(hp) / len(hp), sum(hn) / len(hn)
    vp = sum((v - mp) ** 2 for v in hp) / len(hp)
    vn = sum((v - mn) ** 2 for v in hn) / len(hn)
    return len(hp), len(hn), mp, mn, vp, vn


def _auc(col, margin, variant, hinge):
    h, y = col
    if all(y) or not any(y):
        return sp.S.Zero
    n_pos, n_neg, mp, mn, vp, vn = _moments(col)
    gap = sp.nsimplify(margin) - (mp - mn)
    value = vp + vn + (sp.Max(gap, 0) if hinge else gap) ** 2
    if variant == "official":
        share = sp.Rational(n_pos, len(y))
        value = share * (1 - share) * value
    return value


def per_label(name, z, target, **hp):
    """The per-label losses :math:`L_c` of the surrogate ``name`` (``"dice_loss"``, ``"anyloss"``, ...)."""
    cols = _columns(z, target)
    if name == "dice_loss":
        return [_dice(col, hp.get("smooth", 1.0)) for col in cols]
    if name == "anyloss":
        return [_anyloss(col, hp.get("metric", "f1"), hp.get("amplifier", 73.0), hp.get("beta", 1.0)) for col in cols]
    if name in ("auc_margin", "auc_square"):
        return [_auc(col, hp.get("margin", 1.0), hp.get("variant", "paper"), name == "auc_margin") for col in cols]
    raise ValueError(f"name must be a surrogate of this module, got {name!r}")


def dice_loss(z, target, *, smooth=1.0):
    r"""N shares of :math:`\sum_c 1 - (2\sum_i p y + \varepsilon)/(\sum_i p + \sum_i y + \varepsilon)`."""
    return _share(per_label("dice_loss", z, target, smooth=smooth), z.shape[0])


def anyloss(z, target, *, metric="f1", amplifier=73.0, beta=1.0):
    r"""N shares of :math:`\sum_c 1 - \mathrm{metric}(TN_c, FN_c, FP_c, TP_c)` on :math:`A(\sigma(z))`."""
    return _share(per_label("anyloss", z, target, metric=metric, amplifier=amplifier, beta=beta), z.shape[0])


def auc_margin(z, target, *, margin=1.0, variant="paper"):
    r"""N shares of :math:`\sum_c \mathrm{Var}_+ + \mathrm{Var}_- + [m - \bar h_+ + \bar h_-]_+^2`."""
    return _share(per_label("auc_margin", z, target, margin=margin, variant=variant), z.shape[0])


def auc_square(z, target, *, margin=1.0, variant="paper"):
    r"""N shares of :math:`\sum_c \mathrm{Var}_+ + \mathrm{Var}_- + (m - \bar h_+ + \bar h_-)^2`."""
    return _share(per_label("auc_square", z, target, margin=margin, variant=variant), z.shape[0])


def auc_min_max_objective(h_pos, h_neg, a, b, alpha, margin):
    r"""Yuan et al.'s min-max objective on given positive and negative scores:
    :math:`\mathbb E_+[(h-a)^2] + \mathbb E_-[(h-b)^2] + 2\alpha(m - \mathbb E_+ h + \mathbb E_- h) - \alpha^2`."""
    ep = sum((h - a) ** 2 for h in h_pos) / len(h_pos)
    en = sum((h - b) ** 2 for h in h_neg) / len(h_neg)
    gap = margin - sum(h_pos) / len(h_pos) + sum(h_neg) / len(h_neg)
    return ep + en + 2 * alpha * gap - alpha ** 2
