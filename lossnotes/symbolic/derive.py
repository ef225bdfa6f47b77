"""Derivation helpers: decide identities and signs with SymPy, build Bregman and composite primitives.

These are the tools the chapters use to turn a paper's claim into an ``assert`` that could fail:

* :func:`is_zero` and :func:`provably_nonneg` answer "is this identically 0 / provably >= 0?" with a yes only
  when SymPy proves it (a "no" means "not proved", which an assert then reports);
* :func:`zero_generic` decides identities that contain an *undefined* function ``Q`` (a generic log-score
  transform) by replacing ``Q, Q', Q''`` with plain symbols, so the identity holds for every ``Q``;
* :func:`bregman` is the scalar matching loss (Shamir & Warmuth, Eq. 2), :func:`composite_log_partition` the
  composite Softmax primitive and probabilities (Eqs. 16-17, C.3-C.4), :func:`generic_primitive` a primitive
  ``H`` with ``H' = h`` and nothing else assumed;
* :func:`derivatives_latex` returns a loss's value, gradient and Hessian as LaTeX, ready for slides.
"""
from __future__ import annotations

from typing import Callable, Sequence

import sympy as sp

__all__ = ["is_zero", "provably_nonneg", "flatten_generic", "zero_generic", "bregman", "composite_log_partition",
           "generic_primitive", "derivatives_latex"]


def is_zero(expr) -> bool:
    """True when SymPy proves ``expr == 0``: ``simplify``, then ``simplify`` of the expansion in exponentials."""
    expr = sp.sympify(expr)
    if sp.simplify(expr) == 0:
        return True
    return sp.simplify(sp.expand(expr.rewrite(sp.exp))) == 0


def provably_nonneg(expr) -> bool:
    """True when SymPy's assumption system proves ``expr >= 0`` (as given, simplified, or factored in exponentials).

    The answer depends on the assumptions of the symbols (``positive=True``, ``real=True``); ``False`` means
    "not proved", not "negative somewhere".
    """
    expr = sp.sympify(expr)
    for form in (expr, sp.simplify(expr), sp.factor(sp.simplify(expr.rewrite(sp.exp)))):
        if form.is_nonnegative:
            return True
    return False


def flatten_generic(expr, Q, variables: Sequence[sp.Symbol]):
    """Replace ``Q(v), Q'(v), Q''(v)`` of the undefined function ``Q`` by plain symbols, for each ``v``.

    ``Q(v_i)`` becomes ``log(E_i)`` with ``E_i > 0``, ``Q'(v_i)`` becomes ``b_i`` and ``Q''(v_i)`` becomes ``c_i``
    (both real). An identity in a generic ``Q`` then becomes a rational identity that ``sp.cancel`` decides.
    """
    expr = sp.sympify(expr).doit()
    for i, v in enumerate(variables):
        E, b, c = sp.Symbol(f"E_{i}", positive=True), sp.Symbol(f"b_{i}", real=True), sp.Symbol(f"c_{i}", real=True)
        expr = expr.subs(sp.Derivative(Q(v), (v, 2)), c).subs(sp.Derivative(Q(v), v), b).subs(Q(v), sp.log(E))
    return expr


def zero_generic(expr, Q, variables: Sequence[sp.Symbol]) -> bool:
    """True when ``expr`` is identically 0 for every twice-differentiable ``Q`` (see :func:`flatten_generic`)."""
    return sp.cancel(sp.expand(flatten_generic(expr, Q, variables))) == 0


def bregman(H: Callable, h: Callable, a, b):
    """Scalar matching loss (Shamir & Warmuth, Eq. 2): :math:`D_H(a, b) = H(a) - H(b) - (a - b)\\,h(b)`, ``h = H'``."""
    return H(a) - H(b) - (a - b) * h(b)


def composite_log_partition(Q: Callable, zs: Sequence, gamma=1):
    """Composite Softmax primitive and probabilities (Shamir & Warmuth, Eqs. 16-17, C.3-C.4).

    Returns ``(H, p)`` with :math:`H(\\mathbf z) = \\gamma\\log\\sum_k e^{Q(z_k)/\\gamma}` and
    :math:`p_k = e^{Q(z_k)/\\gamma} / \\sum_l e^{Q(z_l)/\\gamma}`.
    """
    terms = [sp.exp(Q(v) / gamma) for v in zs]
    total = sum(terms)
    return gamma * sp.log(total), [t / total for t in terms]


def generic_primitive(h, name: str = "H"):
    """A SymPy function class ``H`` with ``H'(x) = h(x)`` and nothing else assumed (``h`` an undefined function)."""

    def fdiff(self, argindex=1):
        return h(self.args[0])

    return type(name, (sp.Function,), {"fdiff": fdiff})


def derivatives_latex(expr, variables: Sequence[sp.Symbol], *, simplify: bool = True) -> dict[str, str]:
    """The value, gradient and Hessian of ``expr`` in ``variables`` as LaTeX strings (keys ``value``,
    ``gradient``, ``hessian``), simplified unless ``simplify=False``; paste them into slides."""
    variables = list(variables)
    if not variables:
        raise ValueError("variables must name at least one symbol")
    tidy = sp.simplify if simplify else (lambda e: e)
    grad = sp.Matrix([tidy(sp.diff(expr, v)) for v in variables])
    hess = sp.Matrix(len(variables), len(variables), lambda i, j: tidy(sp.diff(expr, variables[i], variables[j])))
    return {"value": sp.latex(tidy(expr)), "gradient": sp.latex(grad), "hessian": sp.latex(hess)}
