r"""Symbolic twins of :mod:`lossnotes.losses.softmax_alternatives`, from the papers' formulas.

The hinges and the perceptron are maxima written as :math:`\max(a, b) = (a + b + |a - b|)/2` (exact
everywhere; the derivative, through :math:`\mathrm{sign}`, is the gradient away from the kinks). The sparse
softmax's set :math:`\mathrm{top}_k(z)` is written with :class:`Step` indicators (class :math:`j` is in when
fewer than :math:`k` logits exceed :math:`z_j`), exact away from ties, where it is tested.
"""
from __future__ import annotations

import sympy as sp

from .core import as_list, as_rows, logsumexp

__all__ = ["multiclass_hinge", "perceptron_loss", "spherical_z_loss", "logsumexp_z_loss", "harmonic_loss",
           "taylor_polynomial", "taylor_softmax_ce", "sparse_softmax_ce", "Step"]


def _num(x):
    return sp.nsimplify(x, rational=True) if isinstance(x, float) else sp.sympify(x)


def _rows(z, target):
    return list(zip(as_rows(z), as_list(target)))


def _max(*args):
    r""":math:`\max` of the arguments as nested :math:`(a + b + |a - b|)/2` (differentiable away from ties)."""
    out = args[0]
    for v in args[1:]:
        out = (out + v + sp.Abs(out - v)) / 2
    return out


def multiclass_hinge(z, target, *, margin=1.0, variant="crammer_singer"):
    r""":math:`\max(0, \max_{k\ne y} m + z_k - z_y)` or :math:`\sum_{k\ne y}\max(0, m + z_k - z_y)`."""
    m = _num(margin)
    out = []
    for row, y in _rows(z, target):
        viol = [m + v - row[y] for k, v in enumerate(row) if k != y]
        out.append(_max(0, *viol) if variant == "crammer_singer" else sum(_max(0, v) for v in viol))
    return out


def perceptron_loss(z, target):
    r""":math:`\max_k z_k - z_y`."""
    return [_max(*row) - row[y] for row, y in _rows(z, target)]


def spherical_z_loss(z, target, *, a, b):
    r""":math:`\frac1a\log(1 + e^{a(b - \tilde z_y)})`, :math:`\tilde z = (z - \mu)/\sigma` (population std)."""
    a, b = _num(a), _num(b)
    out = []
    for row, y in _rows(z, target):
        k = len(row)
        mu = sum(row) / k
        sigma = sp.sqrt(sum((v - mu) ** 2 for v in row) / k)
        out.append(sp.log(1 + sp.exp(a * (b - (row[y] - mu) / sigma))) / a)
    return out


def logsumexp_z_loss(z, target, *, coef=1e-4):
    r""":math:`\log Z - z_y + c\,(\log Z)^2`."""
    c = _num(coef)
    return [logsumexp(row) - row[y] + c * logsumexp(row) ** 2 for row, y in _rows(z, target)]


def harmonic_loss(features, weight, target, *, n):
    r""":math:`-\log\bigl(d_y^{-n}/\sum_k d_k^{-n}\bigr)`, :math:`d_k = \lVert x - w_k\rVert_2`."""
    n = _num(n)
    out = []
    for x, y in _rows(features, target):
        d2 = [sum((xi - wi) ** 2 for xi, wi in zip(x, weight.row(k))) for k in range(weight.rows)]
        inv = [dk2 ** (-n / 2) for dk2 in d2]                     # d_k^{-n}
        out.append(-sp.log(inv[y] / sum(inv)))
    return out


def taylor_polynomial(v, order):
    r""":math:`\sum_{i=0}^{t} v^i / i!`."""
    return sum(v ** i / sp.factorial(i) for i in range(int(order) + 1))


def taylor_softmax_ce(z, target, *, order=2):
    r""":math:`-\log\bigl(f(z_y)/\sum_j f(z_j)\bigr)`, :math:`f` the order-:math:`t` Taylor polynomial of exp."""
    out = []
    for row, y in _rows(z, target):
        f = [taylor_polynomial(v, order) for v in row]
        out.append(-sp.log(f[y] / sum(f)))
    return out


def _step_value(x):
    return 1.0 if float(x) > 0 else 0.0


class Step(sp.Function):
    r""":math:`\mathbb 1[x > 0]`: derivative 0 (exact away from the jump at 0, where the twins are not used)."""

    nargs = 1
    _imp_ = staticmethod(_step_value)

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _eval_evalf(self, prec):
        return sp.Float(_step_value(self.args[0].evalf(prec)), prec)


def sparse_softmax_ce(z, target, *, k):
    r""":math:`\log\sum_{j\in T} e^{z_j} - z_y`, :math:`T = \mathrm{top}_k(z)\cup\{y\}`."""
    out = []
    for row, y in _rows(z, target):
        kk = min(int(k), len(row))
        above = [sum(Step(row[i] - row[j]) for i in range(len(row)) if i != j) for j in range(len(row))]
        member = [1 if j == y else Step(kk - sp.Rational(1, 2) - above[j]) for j in range(len(row))]
        out.append(sp.log(sum(m * sp.exp(v) for m, v in zip(member, row))) - row[y])
    return out
