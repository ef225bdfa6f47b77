"""Symbolic twins of :mod:`lossnotes.losses.softmax` (Li et al. 2020)."""
from __future__ import annotations

import sympy as sp

from .core import as_list, as_rows, log_softmax_row, sigmoid, softplus, stop_gradient

__all__ = ["softmax_cross_entropy", "logistic_ova", "lgl_inr"]


def _weights(class_weight, c):
    return [sp.S.One] * c if class_weight is None else [sp.Float(float(w)) for w in as_list(class_weight)]


def softmax_cross_entropy(z, target, *, class_weight=None, label_smoothing=0.0):
    r"""Per-sample :math:`w_y(1-\varepsilon)(-\log p_y) + \frac{\varepsilon}{C}\sum_j w_j(-\log p_j)`."""
    rows, ys = as_rows(z), as_list(target)
    c = len(rows[0])
    w = _weights(class_weight, c)
    eps = sp.nsimplify(label_smoothing)
    out = []
    for row, y in zip(rows, ys):
        logp = log_softmax_row(row)
        loss = w[y] * (1 - eps) * (-logp[y])
        if eps != 0:
            loss += eps / c * sum(wj * (-lp) for wj, lp in zip(w, logp))
        out.append(loss)
    return out


def logistic_ova(z, target, *, class_weight=None):
    r"""Per-sample :math:`w_y[\mathrm{sp}(-z_y) + \sum_{k\neq y}\mathrm{sp}(z_k)]`."""
    rows, ys = as_rows(z), as_list(target)
    w = _weights(class_weight, len(rows[0]))
    return [w[y] * sum(softplus(-v) if k == y else softplus(v) for k, v in enumerate(row))
            for row, y in zip(rows, ys)]


def lgl_inr(z, target, *, beta=1.0, variant="paper"):
    r"""Per-sample contributions to :math:`\sum_k L_k` of Eq. (11); lambda is ``stop_gradient``-ed
    for ``variant="paper"`` and uses ``log(p + 1e-7)`` for ``variant="official"``."""
    rows, ys = as_rows(z), as_list(target)
    c = len(rows[0])
    beta = sp.nsimplify(beta)
    members = {j: [i for i, y in enumerate(ys) if y == j] for j in range(c)}
    present = [j for j in range(c) if members[j]]
    pbar = {(j, k): sum(sigmoid(rows[i][k]) for i in members[j]) / len(members[j])
            for j in present for k in range(c)}
    if variant == "paper":
        pbar = {key: stop_gradient(v) for key, v in pbar.items()}
        pos_log = lambda v: softplus(-v)   # noqa: E731
        neg_log = softplus
    else:
        pos_log = lambda v: -sp.log(sigmoid(v) + sp.Float(1e-7))        # noqa: E731
        neg_log = lambda v: -sp.log(1 - sigmoid(v) + sp.Float(1e-7))    # noqa: E731

    def lam(j, k):
        negs = [i for i in present if i != k]
        return sp.exp(beta * pbar[j, k]) / sum(sp.exp(beta * pbar[i, k]) for i in negs)

    out = []
    for row, y in zip(rows, ys):
        loss = pos_log(row[y]) + sum(lam(y, k) * neg_log(row[k]) for k in range(c) if k != y)
        out.append(loss / len(members[y]))
    return out
