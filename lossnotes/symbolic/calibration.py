r"""Symbolic twins of :mod:`lossnotes.losses.calibration`, written from the papers' formulas literally
(softmax probabilities, :math:`1 - p_y`, piecewise definitions as ``Piecewise``, the runner-up of dual focal as
a ``Max`` over the classes ranked below the target), not from the torch code's log-space rewrites."""
from __future__ import annotations

import sympy as sp

from .core import as_list, as_rows, log_softmax_row, softmax_row

__all__ = ["focal_sample_dependent", "dual_focal", "poly1_ce", "squentropy", "encouraging_loss",
           "confidence_penalty", "mdca_ce", "mdca", "encouraging_bonus"]

_ENCOURAGING_OFFICIAL_CLAMP = sp.Rational(1, 10 ** 5)


def _num(x):
    return sp.nsimplify(x, rational=True) if isinstance(x, float) else sp.sympify(x)


def _rows(z, target):
    return list(zip(as_rows(z), as_list(target)))


def focal_sample_dependent(z, target, *, gamma_low=5.0, gamma_high=3.0, threshold=0.2):
    r""":math:`-(1 - p_y)^{\gamma(p_y)}\log p_y`, :math:`\gamma = \gamma_{\rm low}` for :math:`p_y <` threshold."""
    g_lo, g_hi, thr = _num(gamma_low), _num(gamma_high), _num(threshold)
    out = []
    for row, y in _rows(z, target):
        p, logp = softmax_row(row)[y], log_softmax_row(row)[y]
        out.append(sp.Piecewise((-(1 - p) ** g_lo * logp, p < thr), (-(1 - p) ** g_hi * logp, True)))
    return out


def dual_focal(z, target, *, gamma=5.0):
    r""":math:`-(1 - p_y + p_j)^\gamma \log p_y`, :math:`p_j = \max\{p_k : p_k < p_y\}` (0 if none)."""
    g = _num(gamma)
    out = []
    for row, y in _rows(z, target):
        p = softmax_row(row)
        runner_up = sp.Max(0, *[sp.Piecewise((pk, pk < p[y]), (0, True)) for k, pk in enumerate(p) if k != y])
        out.append(-(1 - p[y] + runner_up) ** g * log_softmax_row(row)[y])
    return out


def poly1_ce(z, target, *, epsilon=1.0):
    r""":math:`-\log p_y + \epsilon(1 - p_y)`."""
    eps = _num(epsilon)
    return [-log_softmax_row(row)[y] + eps * (1 - softmax_row(row)[y]) for row, y in _rows(z, target)]


def squentropy(z, target):
    r""":math:`-\log p_y + \frac{1}{K-1}\sum_{k\ne y} z_k^2`."""
    out = []
    for row, y in _rows(z, target):
        k = len(row)
        out.append(-log_softmax_row(row)[y] + sum(v ** 2 for j, v in enumerate(row) if j != y) / (k - 1))
    return out


def encouraging_bonus(p, *, log_end=0.75, variant="paper"):
    r"""The bonus :math:`b(p)`: :math:`\log(1 - p)` up to LE, its tangent line after (official: 1 - p clamped at 1e-5)."""
    le = _num(log_end)
    log1m = sp.log(sp.Max(1 - p, _ENCOURAGING_OFFICIAL_CLAMP)) if variant == "official" else sp.log(1 - p)
    if le == 1:
        return log1m
    return sp.Piecewise((sp.log(1 - le) - (p - le) / (1 - le), p > le), (log1m, True))


def encouraging_loss(z, target, *, log_end=0.75, variant="paper"):
    r""":math:`-\log p_y + b(p_y)`."""
    return [-log_softmax_row(row)[y] + encouraging_bonus(softmax_row(row)[y], log_end=log_end, variant=variant)
            for row, y in _rows(z, target)]


def confidence_penalty(z, target, *, beta=0.1):
    r""":math:`-\log p_y - \beta H(p)`, :math:`H(p) = -\sum_k p_k \log p_k`."""
    b = _num(beta)
    out = []
    for row, y in _rows(z, target):
        p, logp = softmax_row(row), log_softmax_row(row)
        out.append(-logp[y] + b * sum(pk * lk for pk, lk in zip(p, logp)))
    return out


def mdca(z, target):
    r""":math:`\frac1K\sum_j |\frac1N\sum_i p_{ij} - \frac1N\sum_i 1[y_i = j]|` of the batch (one expression)."""
    rows, ys = as_rows(z), as_list(target)
    n, k = len(rows), len(rows[0])
    probs = [softmax_row(row) for row in rows]
    return sum(sp.Abs(sum(p[j] for p in probs) / n - sp.Rational(sum(1 for y in ys if y == j), n))
               for j in range(k)) / k


def mdca_ce(z, target, *, beta=1.0):
    r"""Per sample :math:`-\log p_{iy_i} + \beta\,\mathrm{MDCA}` (the batch term counted once per sample)."""
    term = _num(beta) * mdca(z, target)
    return [-log_softmax_row(row)[y] + term for row, y in _rows(z, target)]
