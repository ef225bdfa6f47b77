r"""Symbolic twins of :mod:`lossnotes.losses.matching` (Shamir & Warmuth). ``z`` is an (N, K) Matrix of
predictions, ``target`` concrete real scores of the same shape; links and scaling functions are given as
:class:`lossnotes.links.Link` objects (or names) and turned into their SymPy twins here."""
from __future__ import annotations

import sympy as sp

from .core import as_list, as_rows, sigmoid, softplus

__all__ = ["matching_loss", "composite_sigmoid", "composite_softmax", "bregman_loss", "sigmoid_ce",
           "composite_sigmoid_ce", "composite_softmax_ce", "softmax_matching_loss", "softmax_score_ce",
           "reweighted_square"]


def _sym(link, name="link"):
    from ..links import get_link

    return get_link(link, name).twin()


def _pairs(z, target):
    """Per sample: (list of prediction entries, list of target scores as exact-ish Floats)."""
    rows, ts = as_rows(z), as_list(target)
    if rows and ts and not isinstance(ts[0], list):
        ts = [[t] for t in ts] if len(rows) == len(ts) and len(rows[0]) == 1 else [ts]
    return [(row, [sp.Float(float(v), 30) for v in t]) for row, t in zip(rows, ts)]


def matching_loss(z, target, *, link):
    r""":math:`\sum_k H(\hat s_k) - H(s_k) - (\hat s_k - s_k)h(s_k)` (Eq. 2, 28)."""
    L = _sym(link)
    return [sum(L.H(a) - L.H(b) - (a - b) * L.h(b) for a, b in zip(row, t)) for row, t in _pairs(z, target)]


def composite_sigmoid(z, target, *, q="exp", gamma=1.0):
    r""":math:`\sum_k \gamma\,\mathrm{sp}(Q(\hat s_k)/\gamma) - \gamma\,\mathrm{sp}(Q(s_k)/\gamma)
    - (\hat s_k - s_k)q(s_k)\sigma(Q(s_k)/\gamma)` (Eq. 24, G.1)."""
    Qf, g = _sym(q, "q"), sp.nsimplify(gamma)
    return [sum(g * softplus(Qf.Q(a) / g) - g * softplus(Qf.Q(b) / g) - (a - b) * Qf.q(b) * sigmoid(Qf.Q(b) / g)
                for a, b in zip(row, t)) for row, t in _pairs(z, target)]


def _lse(values):
    return sp.log(sum(sp.exp(v) for v in values))


def composite_softmax(z, target, *, q="exp", gamma=1.0):
    r""":math:`\gamma\,\mathrm{lse}(Q(\hat s)/\gamma) - \gamma\,\mathrm{lse}(Q(s)/\gamma) - \sum_k(\hat s_k - s_k)q(s_k)p_k(s)`
    (Eq. 29, C.5), with the softmax written out."""
    Qf, g = _sym(q, "q"), sp.nsimplify(gamma)
    out = []
    for row, t in _pairs(z, target):
        Qs = [Qf.Q(b) / g for b in t]
        total = sum(sp.exp(v) for v in Qs)
        p = [sp.exp(v) / total for v in Qs]
        out.append(g * _lse([Qf.Q(a) / g for a in row]) - g * sp.log(total)
                   - sum((a - b) * Qf.q(b) * pk for a, b, pk in zip(row, t, p)))
    return out


def bregman_loss(z, target, *, primitive):
    r""":math:`H(\hat s) - H(s) - \sum_k(\hat s_k - s_k)\,\partial_k H(s)` (Eq. 26), with the gradient by SymPy."""
    out = []
    for row, t in _pairs(z, target):
        u = sp.symbols(f"u0:{len(t)}", real=True)
        H_u = primitive.twin(list(u))
        at_s = dict(zip(u, t))
        grad = [sp.diff(H_u, ui).subs(at_s) for ui in u]
        out.append(primitive.twin(row) - H_u.subs(at_s) - sum((a - b) * gk for a, b, gk in zip(row, t, grad)))
    return out


def sigmoid_ce(z, target, *, alpha=1.0, beta=0.0):
    r""":math:`\sum_k [\mathrm{sp}(\hat x_k) - \sigma(x_{s,k})\hat x_k]/\alpha` (E.1)."""
    a, b = sp.nsimplify(alpha), sp.nsimplify(beta)
    return [sum((softplus(a * (u - b)) - sigmoid(a * (v - b)) * a * (u - b)) / a for u, v in zip(row, t))
            for row, t in _pairs(z, target)]


def composite_sigmoid_ce(z, target, *, q="exp"):
    r""":math:`\sum_k \mathrm{sp}(Q(\hat s_k)) - \sigma(Q(s_k))\,Q(\hat s_k)` (E.3)."""
    Qf = _sym(q, "q")
    return [sum(softplus(Qf.Q(u)) - sigmoid(Qf.Q(v)) * Qf.Q(u) for u, v in zip(row, t))
            for row, t in _pairs(z, target)]


def composite_softmax_ce(z, target, *, q="exp"):
    r""":math:`\log\sum_k e^{Q(\hat s_k)} - \sum_k p_k(s)\,Q(\hat s_k)` (E.5)."""
    Qf = _sym(q, "q")
    out = []
    for row, t in _pairs(z, target):
        Qs = [sp.exp(Qf.Q(v)) for v in t]
        out.append(_lse([Qf.Q(u) for u in row]) - sum(e / sum(Qs) * Qf.Q(u) for e, u in zip(Qs, row)))
    return out


def _softmax_H(alpha, beta, gamma, rho, k):
    a, b, g = (sp.nsimplify(v) for v in (alpha, beta, gamma))
    rho = [1] * k if rho is None else [sp.Float(float(r), 30) for r in as_list(rho)]

    def H(row):
        return g * sp.log(sum(r ** (1 / g) * sp.exp(a * (v - b) / g) for r, v in zip(rho, row)))

    def p(row):
        e = [r ** (1 / g) * sp.exp(a * (v - b) / g) for r, v in zip(rho, row)]
        return [ei / sum(e) for ei in e]

    return a, b, H, p


def softmax_matching_loss(z, target, *, alpha=1.0, beta=0.0, gamma=1.0, rho=None):
    r""":math:`H(\hat s) - H(s) - \alpha\sum_k(\hat s_k - s_k)p_k(s)` with
    :math:`H = \gamma\log\sum_k\rho_k^{1/\gamma}e^{\alpha(z_k-\beta)/\gamma}` (E.9)."""
    out = []
    for row, t in _pairs(z, target):
        a, _, H, p = _softmax_H(alpha, beta, gamma, rho, len(t))
        out.append(H(row) - H(t) - a * sum((u - v) * pk for u, v, pk in zip(row, t, p(t))))
    return out


def softmax_score_ce(z, target, *, alpha=1.0, beta=0.0, gamma=1.0, rho=None):
    r""":math:`H(\hat s) - \alpha\sum_k(\hat s_k - \beta)p_k(s)` (E.11)."""
    out = []
    for row, t in _pairs(z, target):
        a, b, H, p = _softmax_H(alpha, beta, gamma, rho, len(t))
        out.append(H(row) - a * sum((u - b) * pk for u, pk in zip(row, p(t))))
    return out


def reweighted_square(z, target, *, weight_by="target", kappa=0.5, delta=0.5, s_min=-3.0):
    r""":math:`\sum_k w(\cdot)(\hat s_k - s_k)^2` with :math:`w(z) = \kappa(z - s_{\min} + \delta)` (App. E.1)."""
    kap, dl, lo = (sp.nsimplify(v) for v in (kappa, delta, s_min))

    def w(v):
        return kap * (v - lo + dl)

    weight = {"target": lambda u, v: w(v), "pred": lambda u, v: w(u), "both": lambda u, v: w(u) * w(v)}[weight_by]
    return [sum(weight(u, v) * (u - v) ** 2 for u, v in zip(row, t)) for row, t in _pairs(z, target)]
