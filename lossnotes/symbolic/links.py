r"""SymPy twins of :mod:`lossnotes.links` (same names, same parameters).

``sigmoid_link(alpha, beta).H(z)`` is the primitive as a SymPy expression of ``z`` (a symbol or number);
``h`` and ``dh`` are its first and second derivatives, taken by SymPy, so a twin is defined by its primitive
alone and ``h = H'`` holds by construction. The scaling view of a composite loss is ``Q = alpha*H`` and
``q = Q'``. Capped links use ``Piecewise`` with the same second-order continuation as the torch links.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

__all__ = ["SymLink", "sigmoid_link", "identity_link", "exp_link", "anti_exp_link", "sinh_link", "cosh_link",
           "tanh_link", "smelu_link", "huber_link", "step_link", "sign_link", "power_link"]

_U = sp.Symbol("u", real=True)


@dataclass(frozen=True)
class SymLink:
    r"""A link given by its primitive in :math:`x`: :math:`H(z) = G(\alpha(z-\beta))/\alpha`."""

    name: str
    alpha: sp.Expr
    beta: sp.Expr
    G: Callable          # G(x) -> SymPy expression (uncapped shape)
    cap_low: sp.Expr | None = None
    cap_high: sp.Expr | None = None
    params: dict = field(default_factory=dict)

    def x(self, z):
        return self.alpha * (z - self.beta)

    def _G(self, x):
        """G with the second-order continuation beyond the caps."""
        g = sp.diff(self.G(_U), _U)
        dg = sp.diff(g, _U)

        def taylor(c):
            return self.G(c) + g.subs(_U, c) * (x - c) + dg.subs(_U, c) * (x - c) ** 2 / 2

        pieces = []
        if self.cap_high is not None:
            pieces.append((taylor(self.cap_high), x > self.cap_high))
        if self.cap_low is not None:
            pieces.append((taylor(self.cap_low), x < self.cap_low))
        if not pieces:
            return self.G(x)
        return sp.Piecewise(*pieces, (self.G(x), True))

    def H(self, z):
        return self._G(self.x(z)) / self.alpha

    def h(self, z):
        return self._derivative(z, 1)

    def dh(self, z):
        return self._derivative(z, 2)

    def _derivative(self, z, order):
        t = sp.Dummy("t", real=True)
        return sp.diff(self.H(t), t, order).subs(t, z)

    def Q(self, z):
        return self.alpha * self.H(z)

    def q(self, z):
        return self.alpha * self.h(z)

    def dq(self, z):
        return self.alpha * self.dh(z)


def _num(v):
    """An exact rational from a Python number's decimal form (0.35 -> 7/20)."""
    return sp.Rational(repr(float(v)))


def _link(name, G, alpha, beta, *, cap_low=None, cap_high=None, **params):
    all_params = {**params, "alpha": alpha, "beta": beta}
    if cap_low is not None or cap_high is not None:
        all_params["cap"] = float(cap_high if cap_high is not None else -cap_low)
    return SymLink(name, _num(alpha), _num(beta), G,
                   None if cap_low is None else _num(cap_low), None if cap_high is None else _num(cap_high),
                   all_params)


def sigmoid_link(alpha=1.0, beta=0.0):
    return _link("sigmoid_link", lambda x: sp.log(1 + sp.exp(x)), alpha, beta)


def identity_link(alpha=1.0, beta=0.0):
    return _link("identity_link", lambda x: x ** 2 / 2, alpha, beta)


def exp_link(alpha=1.0, beta=0.0, cap=20.0):
    return _link("exp_link", sp.exp, alpha, beta, cap_high=cap)


def anti_exp_link(alpha=1.0, beta=0.0, cap=20.0):
    return _link("anti_exp_link", lambda x: sp.exp(-x), alpha, beta, cap_low=-cap)


def sinh_link(alpha=1.0, beta=0.0, cap=20.0):
    return _link("sinh_link", sp.cosh, alpha, beta, cap_low=-cap, cap_high=cap)


def cosh_link(alpha=1.0, beta=0.0, cap=20.0):
    return _link("cosh_link", sp.sinh, alpha, beta, cap_low=-cap, cap_high=cap)


def tanh_link(alpha=1.0, beta=0.0):
    return _link("tanh_link", lambda x: sp.log(sp.cosh(x)), alpha, beta)


def smelu_link(c=1.0, alpha=1.0, beta=0.0):
    c_ = _num(c)
    return _link("smelu_link", lambda x: sp.Piecewise((0, x <= -c_), ((x + c_) ** 2 / (4 * c_), x <= c_), (x, True)),
                 alpha, beta, c=c)


def huber_link(c=1.0, alpha=1.0, beta=0.0):
    c_ = _num(c)
    return _link("huber_link", lambda x: sp.Piecewise((-c_ * x - c_ ** 2 / 2, x < -c_), (x ** 2 / 2, x <= c_),
                                                      (c_ * x - c_ ** 2 / 2, True)), alpha, beta, c=c)


def step_link(alpha=1.0, beta=0.0):
    return _link("step_link", lambda x: sp.Piecewise((0, x <= 0), (x, True)), alpha, beta)


def sign_link(alpha=1.0, beta=0.0):
    return _link("sign_link", lambda x: sp.Piecewise((-x, x <= 0), (x, True)), alpha, beta)


def power_link(d=1.0, c=0.0, alpha=1.0, beta=0.0):
    d_, c_ = _num(d), _num(c)
    return _link("power_link", lambda x: sp.Piecewise((-(-x) ** (d_ + 1) / (d_ + 1), x < 0),
                                                      (x ** (d_ + 1) / (d_ + 1), True)) + c_ * x,
                 alpha, beta, d=d, c=c)
