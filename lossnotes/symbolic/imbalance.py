r"""Symbolic twins of :mod:`lossnotes.losses.imbalance`, written from the papers' formulas literally
(softmax probabilities, :math:`1 - p_y`, class counts and priors as exact rationals where they are given)."""
from __future__ import annotations

import sympy as sp

from .core import as_list, as_rows, log_softmax_row, softmax_row

__all__ = ["focal_loss"]


def _num(x):
    return sp.nsimplify(x, rational=True) if isinstance(x, float) else sp.sympify(x)


def _vector(values):
    return None if values is None else [_num(float(v)) for v in as_list(values)]


def _rows(z, target):
    return list(zip(as_rows(z), as_list(target)))


def focal_loss(z, target, *, gamma=2.0, alpha=None):
    r""":math:`-\alpha_y (1 - p_y)^\gamma \log p_y`."""
    g, a = _num(gamma), _vector(alpha)
    out = []
    for row, y in _rows(z, target):
        loss = -(1 - softmax_row(row)[y]) ** g * log_softmax_row(row)[y]
        out.append(loss if a is None else a[y] * loss)
    return out
