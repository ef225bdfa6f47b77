r"""Symbolic twins of :mod:`lossnotes.losses.margin`, written from the papers' formulas in :math:`\theta`
(with ``acos``), independently of the torch code (which works with polynomials of :math:`\cos\theta`).

Twins of the features/weight losses take two matrices, ``twin(x, W, target, **hp)`` with ``x`` (N, d) and
``W`` (C, d); twins of the cosine losses take ``twin(cos, target, **hp)``.
"""
from __future__ import annotations

import sympy as sp

from .core import as_list, as_rows, log_softmax_row
from .softmax import softmax_cross_entropy

__all__ = ["weighted_softmax", "large_margin_softmax", "sphereface", "l2_softmax", "am_softmax", "arcface",
           "psi", "psi_of_cos", "arcface_phi"]


def psi(theta, m: int):
    r"""L-Softmax's :math:`\psi(\theta) = (-1)^k\cos(m\theta) - 2k` on :math:`[k\pi/m, (k+1)\pi/m]`, a
    Piecewise in :math:`\theta \in [0, \pi]`."""
    m = int(m)
    pieces = [((-1) ** k * sp.cos(m * theta) - 2 * k, theta <= sp.pi * (k + 1) / m) for k in range(m - 1)]
    pieces.append(((-1) ** (m - 1) * sp.cos(m * theta) - 2 * (m - 1), True))
    return sp.Piecewise(*pieces)


def psi_of_cos(c, m: int):
    r""":math:`\psi(\arccos c)`, the pieces selected by comparing :math:`c` with :math:`\cos(k\pi/m)`."""
    m = int(m)
    theta = sp.acos(c)
    pieces = [((-1) ** k * sp.cos(m * theta) - 2 * k, c >= sp.cos(sp.pi * (k + 1) / m)) for k in range(m - 1)]
    pieces.append(((-1) ** (m - 1) * sp.cos(m * theta) - 2 * (m - 1), True))
    return sp.Piecewise(*pieces) if m > 1 else pieces[0][0]


def arcface_phi(c, m, *, easy_margin: bool = False):
    r"""ArcFace's target cosine: :math:`\cos(\arccos c + m)`, with insightface's fallback
    :math:`c - m\sin m` where :math:`c \le \cos(\pi - m)` (or :math:`c` where :math:`c \le 0` with
    ``easy_margin``)."""
    arc = sp.cos(sp.acos(c) + m)
    if easy_margin:
        return sp.Piecewise((arc, c > 0), (c, True))
    return sp.Piecewise((arc, c > sp.cos(sp.pi - m)), (c - m * sp.sin(m), True))


def _norm(v):
    return sp.sqrt(sum(e ** 2 for e in v))


def _dot(a, b):
    return sum(p * q for p, q in zip(a, b))


def _ce(row, y):
    return -log_softmax_row(row)[y]


def weighted_softmax(z, target, *, class_weight):
    r"""Per-sample :math:`-w_y\log p_y`."""
    return softmax_cross_entropy(z, target, class_weight=class_weight)


def _multiplicative(x, W, target, m, lam, normalize_weight):
    xs, ws, ys = as_rows(x), as_rows(W), as_list(target)
    lam = sp.nsimplify(lam)
    if normalize_weight:
        ws = [[e / _norm(w) for e in w] for w in ws]
    out = []
    for xi, y in zip(xs, ys):
        row = [_dot(w, xi) for w in ws]
        radius = _norm(ws[y]) * _norm(xi)
        row[y] = (lam * row[y] + radius * psi_of_cos(row[y] / radius, m)) / (1 + lam)
        out.append(_ce(row, y))
    return out


def large_margin_softmax(x, W, target, *, m=2, lam=0.0):
    r"""Per-sample L-Softmax: target logit :math:`(\lambda W_y^\top x + \|W_y\|\|x\|\psi(\theta_y))/(1+\lambda)`,
    others :math:`W_j^\top x` (:math:`\lambda = 0`: the paper's loss)."""
    return _multiplicative(x, W, target, m, lam, normalize_weight=False)


def sphereface(x, W, target, *, m=4, lam=0.0):
    r"""Per-sample A-Softmax: L-Softmax with :math:`\|W_j\| = 1`."""
    return _multiplicative(x, W, target, m, lam, normalize_weight=True)


def l2_softmax(x, W, target, *, alpha=16.0, bias=None):
    r"""Per-sample CE of :math:`W(\alpha x/\|x\|) + b`."""
    xs, ws, ys = as_rows(x), as_rows(W), as_list(target)
    alpha = sp.nsimplify(alpha)
    b = [sp.S.Zero] * len(ws) if bias is None else [sp.Float(float(v)) for v in as_list(bias)]
    out = []
    for xi, y in zip(xs, ys):
        f = [alpha * e / _norm(xi) for e in xi]
        out.append(_ce([_dot(w, f) + bj for w, bj in zip(ws, b)], y))
    return out


def am_softmax(cos, target, *, s=30.0, m=0.35):
    r"""Per-sample CE of :math:`s(\cos\theta_j - m[j = y])`."""
    s, m = sp.nsimplify(s), sp.nsimplify(m)
    out = []
    for row, y in zip(as_rows(cos), as_list(target)):
        out.append(_ce([s * (c - m) if j == y else s * c for j, c in enumerate(row)], y))
    return out


def arcface(cos, target, *, s=64.0, m=0.5, easy_margin=False):
    r"""Per-sample CE of :math:`s\cos\theta_j` with the target's replaced by :math:`s\,\phi(\theta_y)`
    (:func:`arcface_phi`)."""
    s, m = sp.nsimplify(s), sp.nsimplify(m)
    out = []
    for row, y in zip(as_rows(cos), as_list(target)):
        out.append(_ce([s * arcface_phi(c, m, easy_margin=easy_margin) if j == y else s * c
                        for j, c in enumerate(row)], y))
    return out
