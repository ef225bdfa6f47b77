r"""Symbolic twins of :mod:`lossnotes.losses.fenchel_young`.

The entmax maps are piecewise: their threshold :math:`\tau(z)` is a different closed form on each support,
and which form applies depends on the values. :class:`EntmaxThreshold` is a SymPy function whose value is
found numerically (its own float64 bisection to the last bit, independent of the torch code's sort and
bisection) and whose derivative is the implicit-function one, exact on the support:

.. math::
    \frac{\partial\tau}{\partial z_k} = (\alpha - 1)\,\frac{s_k}{\sum_j s_j},\qquad
    s_j = [(\alpha - 1) z_j - \tau]_+^{(2-\alpha)/(\alpha-1)} = p_j^{2-\alpha}.

So SymPy differentiates a loss through :math:`\tau` exactly wherever the support does not change: the twins
are exact away from the breakpoints (where a logit enters or leaves the support), which is where they are
tested. For sparsemax an explicit form with no numerics exists, :func:`sparsemax_threshold_max`
(:math:`\tau = \max_{S\ne\emptyset} (\sum_{j\in S} z_j - 1)/|S|`); the chapter checks the two agree.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import sympy as sp

from .core import as_list, as_rows, logsumexp

__all__ = ["sparsemax_loss", "entmax15_loss", "entmax_loss", "fenchel_young_loss", "EntmaxThreshold",
           "entmax_row", "sparsemax_threshold_max", "tsallis_fy_row", "sparsemax_on_support", "entmax15_on_support"]


def _num(x):
    return sp.nsimplify(x, rational=True) if isinstance(x, float) else sp.sympify(x)


def _numeric_threshold(alpha, *zs):
    r"""Float64 :math:`\tau` with :math:`\sum_j [(\alpha-1) z_j - \tau]_+^{1/(\alpha-1)} = 1`, bisected to
    adjacent floats (the residual is decreasing in :math:`\tau`)."""
    a = float(alpha)
    x = (a - 1.0) * np.array([float(v) for v in zs], dtype=np.float64)

    def residual(tau):
        return float(np.sum(np.maximum(x - tau, 0.0) ** (1.0 / (a - 1.0)))) - 1.0

    lo, hi = x.max() - 1.0, x.max() - (1.0 / len(x)) ** (a - 1.0)
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if residual(mid) >= 0:
            lo = mid
        else:
            hi = mid
    return lo if abs(residual(lo)) <= abs(residual(hi)) else hi


def _positive_part_power(u, e):
    r""":math:`[u]_+^e` (0 outside the support, also for :math:`e = 0`)."""
    return sp.Piecewise((u ** e, u > 0), (0, True))


class EntmaxThreshold(sp.Function):
    r""":math:`\tau_\alpha(z)`, arguments ``(alpha, z_0, ..., z_{K-1})``: the value by bisection, the derivative
    :math:`(\alpha-1)\,s_k/\sum_j s_j` with :math:`s_j = p_j^{2-\alpha}` (implicit function theorem)."""

    _imp_ = staticmethod(_numeric_threshold)

    def fdiff(self, argindex=1):
        if argindex == 1:
            raise sp.ArgumentIndexError(self, argindex)
        alpha, zs = self.args[0], self.args[1:]
        s = [_positive_part_power((alpha - 1) * v - self, (2 - alpha) / (alpha - 1)) for v in zs]
        return (alpha - 1) * s[argindex - 2] / sum(s)

    def _eval_evalf(self, prec):
        return sp.Float(_numeric_threshold(*[float(a) for a in self.args]), prec)

    def _latex(self, printer):
        return r"\tau_{" + printer._print(self.args[0]) + "}"


def entmax_row(row, alpha):
    r""":math:`\alpha`-entmax of one sample as SymPy expressions: :math:`[(\alpha-1) z_j - \tau]_+^{1/(\alpha-1)}`
    (softmax at :math:`\alpha = 1`)."""
    alpha = _num(alpha)
    if alpha == 1:
        total = sum(sp.exp(v) for v in row)
        return [sp.exp(v) / total for v in row]
    tau = EntmaxThreshold(alpha, *row)
    return [_positive_part_power((alpha - 1) * v - tau, 1 / (alpha - 1)) for v in row]


def sparsemax_threshold_max(row):
    r""":math:`\tau(z) = \max_{\emptyset\ne S\subseteq[K]} \frac{\sum_{j\in S} z_j - 1}{|S|}`: sparsemax's threshold
    with no numerics (:math:`\sum_{j\in S}(z_j - \tau) \le \sum_j [z_j - \tau]_+ = 1` for every :math:`S`, with
    equality at the support). :math:`2^K - 1` terms: for teaching at small :math:`K`."""
    row = list(row)
    terms = [(sum(row[j] for j in s) - 1) / len(s) for k in range(1, len(row) + 1) for s in combinations(range(len(row)), k)]
    return sp.Max(*terms)


def sparsemax_on_support(row, support, y):
    r"""``(p, loss)`` of sparsemax in closed form on the region where its support is ``support`` (indices):
    :math:`\tau = (\sum_{j\in S} z_j - 1)/|S|`, :math:`p_j = z_j - \tau` on :math:`S`, 0 elsewhere, and the
    Fenchel-Young loss :math:`\sum_j p_j(z_j - z_y) + \frac12(1 - \lVert p\rVert^2)` for target ``y``. Polynomial:
    SymPy simplifies identities on it exactly."""
    row = list(row)
    tau = (sum(row[j] for j in support) - 1) / sp.Integer(len(support))
    p = [row[j] - tau if j in support else sp.Integer(0) for j in range(len(row))]
    loss = sum(pj * (v - row[y]) for pj, v in zip(p, row)) + (1 - sum(pj ** 2 for pj in p)) / 2
    return p, loss


def entmax15_on_support(row, support, y):
    r"""``(p, loss)`` of 1.5-entmax in closed form on the region where its support is ``support``: with
    :math:`x = z/2`, :math:`\sum_{j\in S}(x_j - \tau)^2 = 1` gives
    :math:`\tau = \bigl(\sum_S x - \sqrt{(\sum_S x)^2 - |S|(\sum_S x^2 - 1)}\bigr)/|S|` (the smaller root: every
    :math:`x_j - \tau` on the support is positive), :math:`p_j = (x_j - \tau)^2`; the Tsallis-1.5 Fenchel-Young loss."""
    row = list(row)
    x = [v / 2 for v in row]
    k, s1, s2 = len(support), sum(x[j] for j in support), sum(x[j] ** 2 for j in support)
    tau = (s1 - sp.sqrt(s1 ** 2 - k * (s2 - 1))) / k
    p = [(x[j] - tau) ** 2 if j in support else sp.Integer(0) for j in range(len(row))]
    loss = (sum(pj * (v - row[y]) for pj, v in zip(p, row))
            + sp.Rational(4, 3) * (1 - sum(pj ** sp.Rational(3, 2) for pj in p)))
    return p, loss


def tsallis_fy_row(row, y, alpha):
    r"""The Fenchel-Young loss of the Tsallis :math:`\alpha` negentropy for one sample,
    :math:`\sum_j p_j(z_j - z_y) + (1 - \sum_j p_j^\alpha)/(\alpha(\alpha-1))` (:math:`\log\sum e^{z} - z_y`
    at :math:`\alpha = 1`)."""
    alpha = _num(alpha)
    if alpha == 1:
        return logsumexp(row) - row[y]
    tau = EntmaxThreshold(alpha, *row)
    u = [(alpha - 1) * v - tau for v in row]
    p = [_positive_part_power(uj, 1 / (alpha - 1)) for uj in u]
    p_alpha = [_positive_part_power(uj, alpha / (alpha - 1)) for uj in u]
    return sum(pj * (v - row[y]) for pj, v in zip(p, row)) + (1 - sum(p_alpha)) / (alpha * (alpha - 1))


def _rows(z, target):
    return list(zip(as_rows(z), as_list(target)))


def sparsemax_loss(z, target):
    r""":math:`\sum_j p_j(z_j - z_y) + \frac12(1 - \lVert p\rVert^2)`, :math:`p = [z - \tau]_+`."""
    return [tsallis_fy_row(row, y, 2) for row, y in _rows(z, target)]


def entmax15_loss(z, target):
    r"""The Tsallis-1.5 Fenchel-Young loss."""
    return [tsallis_fy_row(row, y, sp.Rational(3, 2)) for row, y in _rows(z, target)]


def entmax_loss(z, target, *, alpha=1.5, n_iter=60):
    r"""The Tsallis-:math:`\alpha` Fenchel-Young loss (``n_iter`` is the torch code's; the twin's threshold is exact)."""
    return [tsallis_fy_row(row, y, alpha) for row, y in _rows(z, target)]


def fenchel_young_loss(z, target, *, regularizer="shannon", alpha=1.5):
    r""":math:`L_\Omega(z; y)` for the named regulariser."""
    a = {"shannon": 1, "sparsemax": 2, "entmax15": sp.Rational(3, 2), "tsallis": alpha}[regularizer]
    return [tsallis_fy_row(row, y, a) for row, y in _rows(z, target)]
