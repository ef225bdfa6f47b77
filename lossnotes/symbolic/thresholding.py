r"""Symbolic twins of :mod:`lossnotes.losses.thresholding` (Wang et al. 2023, HingeABL, and the losses it
compares). ``target`` is a 0/1 (N, C) matrix, column 0 = TH; only columns 1.. are read (except by the
official Balanced Softmax, which treats column 0 as an ordinary label)."""
from __future__ import annotations

import sympy as sp

from .core import as_list, as_rows, log_sigmoid, logsumexp, sigmoid, softplus

__all__ = ["atl", "sat", "mean_sat", "hinge_abl", "aml", "balanced_softmax", "adaptive_focal",
           "distances"]

_OFFICIAL_NUM_RELATIONS = 96


def _pairs(z, target):
    """Per sample: (row, list of positive flags for relations 1..C-1)."""
    rows, ts = as_rows(z), as_list(target)
    if rows and ts and not isinstance(ts[0], list):
        ts = [ts]
    return [(row, [bool(v) for v in t[1:]]) for row, t in zip(rows, ts)]


def distances(row, pos):
    r""":math:`d_r` of Eq. (8) for one sample: ``s_r - s_TH`` for positives, ``s_TH - s_r`` for negatives."""
    th = row[0]
    return [(s - th) if p else (th - s) for s, p in zip(row[1:], pos)]


def atl(z, target):
    r"""Eq. (3)-(5): :math:`-\sum_{\mathcal P}\log\frac{e^{s_r}}{\sum_{\mathcal P\cup TH}e^{s}}
    -\log\frac{e^{s_{TH}}}{\sum_{\mathcal N\cup TH}e^{s}}`, written literally with softmaxes."""
    out = []
    for row, pos in _pairs(z, target):
        th, s = row[0], row[1:]
        p_set = [th] + [v for v, p in zip(s, pos) if p]
        n_set = [th] + [v for v, p in zip(s, pos) if not p]
        l1 = sum(logsumexp(p_set) - v for v, p in zip(s, pos) if p)
        out.append(l1 + logsumexp(n_set) - th)
    return out


def sat(z, target):
    r"""Eq. (7): :math:`-\sum_r \log\sigma(-d_r)` with the paper's :math:`\sigma(x) = 1/(1+e^{x})`."""
    paper_sigma = lambda x: 1 / (1 + sp.exp(x))   # noqa: E731  the paper's convention, Sec. 3.1
    return [sum(-sp.log(paper_sigma(-d)) for d in distances(row, pos)) for row, pos in _pairs(z, target)]


def mean_sat(z, target, *, variant="paper"):
    r"""Eq. (11): :math:`\frac1{N_p}\sum_{\mathcal P}\mathrm{sp}(-d) + \frac1{N_n}\sum_{\mathcal N}\mathrm{sp}(-d)`
    (``official``: :math:`N_n = 96 - N_p`)."""
    out = []
    for row, pos in _pairs(z, target):
        d = distances(row, pos)
        n_p = sum(pos)
        n_n = (_OFFICIAL_NUM_RELATIONS if variant == "official" else len(pos)) - n_p
        lp = sum((softplus(-di) for di, p in zip(d, pos) if p), sp.S.Zero)
        ln = sum((softplus(-di) for di, p in zip(d, pos) if not p), sp.S.Zero)
        out.append((lp / n_p if n_p else 0) + (ln / n_n if n_n > 0 else 0))
    return out


def _normalised(ws, ls):
    num = sum((w * l for w, l in zip(ws, ls)), sp.S.Zero)
    den = sum(ws, sp.S.Zero)
    if den == 0:
        return sp.S.Zero
    return sp.Piecewise((num / den, den > 0), (0, True))


def hinge_abl(z, target, *, margin=5.0, variant="paper"):
    r"""Eq. (9)-(10): :math:`\sum_r w_r\,\mathrm{sp}(-d_r) / \sum_r w_r`, :math:`w_r=\max(0, m-d_r)`
    (0 when all weights vanish); ``official``: normalised separately over positives and negatives."""
    m = sp.nsimplify(margin)
    out = []
    for row, pos in _pairs(z, target):
        d = distances(row, pos)
        w = [sp.Max(0, m - di) for di in d]
        ell = [softplus(-di) for di in d]
        if variant == "paper":
            out.append(_normalised(w, ell))
        else:
            pw = [(wi, li) for wi, li, p in zip(w, ell, pos) if p]
            nw = [(wi, li) for wi, li, p in zip(w, ell, pos) if not p]
            out.append(_normalised([a for a, _ in pw], [b for _, b in pw])
                       + _normalised([a for a, _ in nw], [b for _, b in nw]))
    return out


def aml(z, target, *, margin=1.0):
    r"""Eq. (12): :math:`\sum_r \max(0, m - d_r)`."""
    m = sp.nsimplify(margin)
    return [sum(sp.Max(0, m - d) for d in distances(row, pos)) for row, pos in _pairs(z, target)]


def balanced_softmax(z, target, *, variant="paper"):
    r""":math:`\log(e^{s_{TH}} + \sum_{\mathcal N}e^{s}) - s_{TH} + \log(e^{-s_{TH}} + \sum_{\mathcal P}e^{-s}) + s_{TH}`;
    ``official``: anchor 0 and column 0 an ordinary label."""
    out = []
    rows, ts = as_rows(z), as_list(target)
    for row, t in zip(rows, ts):
        if variant == "paper":
            th, s, pos = row[0], row[1:], [bool(v) for v in t[1:]]
            neg_part = logsumexp([th] + [v for v, p in zip(s, pos) if not p]) - th
            pos_part = logsumexp([-th] + [-v for v, p in zip(s, pos) if p]) + th
        else:
            pos = [bool(v) for v in t]
            neg_part = logsumexp([sp.S.Zero] + [v for v, p in zip(row, pos) if not p])
            pos_part = logsumexp([sp.S.Zero] + [-v for v, p in zip(row, pos) if p])
        out.append(neg_part + pos_part)
    return out


def adaptive_focal(z, target, *, gamma=1.0, variant="paper"):
    r""":math:`-\sum_{\mathcal P}(1-P_r)^\gamma\log P_r - \log\frac{e^{s_{TH}}}{\sum_{\mathcal N\cup TH}e^{s}}`,
    :math:`P_r = \sigma(s_r - s_{TH})`; ``official``: weight :math:`1 + (1-P_r)^\gamma`."""
    g = sp.nsimplify(gamma)
    out = []
    for row, pos in _pairs(z, target):
        th, s = row[0], row[1:]
        l1 = sp.S.Zero
        for v, p in zip(s, pos):
            if p:
                weight = (1 - sigmoid(v - th)) ** g
                if variant == "official":
                    weight = 1 + weight
                l1 += -weight * log_sigmoid(v - th)
        l2 = logsumexp([th] + [v for v, p in zip(s, pos) if not p]) - th
        out.append(l1 + l2)
    return out
