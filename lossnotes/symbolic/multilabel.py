r"""Symbolic twins of :mod:`lossnotes.losses.multilabel`: ``twin(z, target, **hp)`` with ``z`` an (N, C) SymPy
matrix and ``target`` a 0/1 (N, C) matrix of concrete values; one expression per sample."""
from __future__ import annotations

import sympy as sp

from .core import as_list, as_rows, sigmoid, softplus

__all__ = ["sigmoid_bce", "sigmoid_focal", "asymmetric_loss", "zlpr"]

_ASL_OFFICIAL_EPS = sp.Float(1e-8)


def _pairs(z, target):
    """Per sample: (row of logits, list of 0/1 flags)."""
    rows, ts = as_rows(z), as_list(target)
    if rows and ts and not isinstance(ts[0], list):
        ts = [ts]
    return [(row, [bool(v) for v in t]) for row, t in zip(rows, ts)]


def _num(value):
    return None if value is None else sp.nsimplify(value)


def sigmoid_bce(z, target, *, pos_weight=None):
    r""":math:`\sum_c w_c y\,\mathrm{sp}(-z) + (1-y)\,\mathrm{sp}(z)`."""
    out = []
    for row, pos in _pairs(z, target):
        w = [1] * len(row) if pos_weight is None else [sp.nsimplify(float(v)) for v in as_list(pos_weight)]
        out.append(sum((w[c] * softplus(-v) if p else softplus(v)) for c, (v, p) in enumerate(zip(row, pos))))
    return out


def sigmoid_focal(z, target, *, gamma=2.0, alpha=0.25):
    r""":math:`\sum_c -\alpha_t (1-p_t)^\gamma \log p_t` written with probabilities."""
    g, a = _num(gamma), _num(alpha)
    out = []
    for row, pos in _pairs(z, target):
        total = sp.S.Zero
        for v, p in zip(row, pos):
            pt = sigmoid(v) if p else 1 - sigmoid(v)
            at = 1 if a is None else (a if p else 1 - a)
            total += -at * (1 - pt) ** g * sp.log(pt)
        out.append(total)
    return out


def asymmetric_loss(z, target, *, gamma_pos=0.0, gamma_neg=4.0, clip=0.05, variant="paper"):
    r""":math:`-y(1-p)^{\gamma_+}\log p - (1-y)\,p_m^{\gamma_-}\log(1-p_m)`, :math:`p_m=\max(p-m,0)`
    (``official``: both probabilities clamped at 1e-8 before the log)."""
    gp, gn, m = _num(gamma_pos), _num(gamma_neg), _num(clip)
    official = variant == "official"
    out = []
    for row, pos in _pairs(z, target):
        total = sp.S.Zero
        for v, p in zip(row, pos):
            q = sigmoid(v)
            if p:
                arg = sp.Max(q, _ASL_OFFICIAL_EPS) if official else q
                total += -(1 - q) ** gp * sp.log(arg)
            else:
                pm = q - m
                arg = sp.Max(1 - pm, _ASL_OFFICIAL_EPS) if official else 1 - pm
                total += sp.Piecewise((-pm ** gn * sp.log(arg), pm > 0), (0, True))
        out.append(total)
    return out


def zlpr(z, target):
    r""":math:`\log(1 + \sum_{\Omega^-} e^{z}) + \log(1 + \sum_{\Omega^+} e^{-z})`."""
    out = []
    for row, pos in _pairs(z, target):
        neg = sum((sp.exp(v) for v, p in zip(row, pos) if not p), sp.S.Zero)
        pos_ = sum((sp.exp(-v) for v, p in zip(row, pos) if p), sp.S.Zero)
        out.append(sp.log(1 + neg) + sp.log(1 + pos_))
    return out
