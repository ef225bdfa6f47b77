r"""Symbolic twins of :mod:`lossnotes.losses.imbalance`, written from the papers' formulas literally
(softmax probabilities, :math:`1 - p_y`, class counts and priors as exact rationals where they are given)."""
from __future__ import annotations

import sympy as sp

from .core import as_list, as_rows, log_softmax_row, sigmoid, softmax_row, softplus

__all__ = ["focal_loss", "effective_number", "class_balanced_weights", "class_balanced_loss", "logit_adjusted_ce",
           "balanced_softmax_ce", "ldam_margins", "ldam", "vs_loss"]


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


def _ce(row, y):
    return -log_softmax_row(row)[y]


def effective_number(n, beta):
    r""":math:`E_n = (1 - \beta^n)/(1 - \beta)` (Cui et al. 2019, Definition 1 / Proposition 1)."""
    return (1 - beta ** n) / (1 - beta)


def class_balanced_weights(class_counts, *, beta=0.9999):
    r""":math:`w_k = C\,E_{n_k}^{-1} / \sum_j E_{n_j}^{-1}` (:math:`\beta = 0`: all 1)."""
    n = [sp.Integer(int(v)) for v in as_list(class_counts)]
    b = _num(beta)
    inv = [1 / effective_number(nk, b) for nk in n]
    return [len(n) * v / sum(inv) for v in inv]


def class_balanced_loss(z, target, *, class_counts, beta=0.9999, loss_type="softmax", gamma=1.0):
    r""":math:`w_y L(z, y)` with softmax CE, one-vs-all sigmoid CE or sigmoid focal :math:`L`."""
    w, g = class_balanced_weights(class_counts, beta=beta), _num(gamma)
    out = []
    for row, y in _rows(z, target):
        if loss_type == "softmax":
            base = _ce(row, y)
        else:
            zt = [v if k == y else -v for k, v in enumerate(row)]
            base = sum((1 - sigmoid(t)) ** (g if loss_type == "focal" else 0) * -sp.log(sigmoid(t)) for t in zt)
        out.append(w[y] * base)
    return out


def _log_prior(class_prior):
    return [sp.log(_num(float(v))) for v in as_list(class_prior)]


def logit_adjusted_ce(z, target, *, class_prior, tau=1.0):
    r""":math:`-\log \mathrm{softmax}(z + \tau \log \pi)_y`."""
    t, lp = _num(tau), _log_prior(class_prior)
    return [_ce([v + t * l for v, l in zip(row, lp)], y) for row, y in _rows(z, target)]


def balanced_softmax_ce(z, target, *, class_prior):
    r""":math:`-\log \frac{\pi_y e^{z_y}}{\sum_k \pi_k e^{z_k}}`, written with the prior as a factor."""
    pi = [_num(float(v)) for v in as_list(class_prior)]
    out = []
    for row, y in _rows(z, target):
        out.append(-sp.log(pi[y] * sp.exp(row[y]) / sum(p * sp.exp(v) for p, v in zip(pi, row))))
    return out


def ldam_margins(class_counts, *, max_margin=0.5):
    r""":math:`\Delta_k = C'/n_k^{1/4}` with :math:`\max_k \Delta_k` = ``max_margin``."""
    n = [sp.Integer(int(v)) for v in as_list(class_counts)]
    raw = [nk ** sp.Rational(-1, 4) for nk in n]
    top = max(raw, key=lambda v: float(v))
    return [_num(max_margin) * v / top for v in raw]


def ldam(z, target, *, class_counts, max_margin=0.5, s=30.0, class_weight=None):
    r""":math:`-w_y \log \frac{e^{s(z_y - \Delta_y)}}{e^{s(z_y - \Delta_y)} + \sum_{k \ne y} e^{s z_k}}`."""
    delta, sc = ldam_margins(class_counts, max_margin=max_margin), _num(s)
    w = _vector(class_weight)
    out = []
    for row, y in _rows(z, target):
        u = [sc * (v - (delta[y] if k == y else 0)) for k, v in enumerate(row)]
        loss = -sp.log(sp.exp(u[y]) / sum(sp.exp(v) for v in u))
        out.append(loss if w is None else w[y] * loss)
    return out


def vs_loss(z, target, *, class_prior, gamma=0.2, tau=1.0):
    r""":math:`-\log \mathrm{softmax}(\Delta \odot z + \iota)_y`, :math:`\Delta_k = (\pi_k/\pi_{\max})^\gamma`,
    :math:`\iota_k = \tau \log \pi_k`."""
    pi = [_num(float(v)) for v in as_list(class_prior)]
    top = max(pi)
    g, t = _num(gamma), _num(tau)
    return [_ce([(p / top) ** g * v + t * sp.log(p) for p, v in zip(pi, row)], y) for row, y in _rows(z, target)]
