"""SymPy building blocks shared by the symbolic twins and reusable in teaching.

A twin is a function ``twin(z, target, **hyper_parameters) -> list of SymPy expressions``: ``z`` is a SymPy
``Matrix`` of shape (N, C) (see :func:`logit_symbols`), ``target`` concrete values (class indices, a 0/1
matrix or real scores), and the list holds the N per-sample losses, the same numbers the torch loss
returns with ``reduction="none"``.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import sympy as sp

__all__ = [
    "logit_symbols", "logit_vector", "StopGradient", "stop_gradient", "softplus", "sigmoid",
    "log_sigmoid", "logsumexp", "log_softmax_row", "softmax_row", "gradient", "hessian", "latex",
    "lambdify", "evaluate", "evaluate_gradient", "as_rows", "as_list", "label_sum",
]


def logit_symbols(n: int, c: int, name: str = "z") -> sp.Matrix:
    """An (n, c) Matrix of real symbols ``z_{i,j}`` (row i = sample, column j = class)."""
    return sp.Matrix(n, c, lambda i, j: sp.Symbol(f"{name}_{{{i},{j}}}", real=True))


def logit_vector(c: int, name: str = "z") -> sp.Matrix:
    """A (1, c) Matrix of real symbols ``z_0 .. z_{c-1}``: one sample's logits."""
    return sp.Matrix(1, c, lambda _, j: sp.Symbol(f"{name}_{j}", real=True))


class StopGradient(sp.Function):
    """``stop_gradient(x)``: equal to x in value, derivative 0 (torch's ``.detach()``)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _eval_evalf(self, prec):
        return self.args[0]._eval_evalf(prec)

    def _latex(self, printer):
        return r"\operatorname{sg}\left(" + printer._print(self.args[0]) + r"\right)"


def stop_gradient(x):
    return StopGradient(x)


def softplus(x):
    r""":math:`\log(1 + e^{x})`."""
    return sp.log(1 + sp.exp(x))


def sigmoid(x):
    return 1 / (1 + sp.exp(-x))


def log_sigmoid(x):
    return -softplus(-x)


def logsumexp(row: Iterable) -> sp.Expr:
    return sp.log(sum(sp.exp(v) for v in row))


def log_softmax_row(row: Sequence) -> list:
    lse = logsumexp(row)
    return [v - lse for v in row]


def softmax_row(row: Sequence) -> list:
    total = sum(sp.exp(v) for v in row)
    return [sp.exp(v) / total for v in row]


def as_rows(z) -> list[list]:
    """The rows of a SymPy Matrix (or a 1-D sequence, taken as one sample) as lists of entries."""
    if isinstance(z, sp.MatrixBase):
        return [list(z.row(i)) for i in range(z.rows)]
    return [list(z)]


def as_list(values) -> list:
    """Concrete target values (tensor, array, list, scalar) as a (nested) Python list."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    return arr.tolist() if arr.ndim else [arr.item()]


def gradient(expr, variables) -> sp.Matrix:
    """Column vector of first derivatives of ``expr`` with respect to ``variables`` (flattened)."""
    vs = list(variables)
    return sp.Matrix([sp.diff(expr, v) for v in vs])


def hessian(expr, variables) -> sp.Matrix:
    return sp.hessian(expr, list(variables))


def label_sum(twin, num_classes: int, **hp) -> tuple[sp.Matrix, sp.Expr]:
    r"""``(z, S)`` with :math:`S(z) = \sum_{k=1}^{K}\ell(z, k)`, one sample's loss summed over every label.

    A loss is *symmetric* (Ghosh, Kumar & Sastry 2017, Eq. 3) when :math:`S` is a constant: then it is
    noise-tolerant under symmetric label noise. ``twin`` is a loss's SymPy twin, ``hp`` its hyper-parameters."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    z = logit_vector(num_classes)
    return z, sum(twin(z, [k], **hp)[0] for k in range(num_classes))


def latex(expr, **kwargs) -> str:
    """LaTeX of an expression or matrix, for notebooks and lecture notes."""
    return sp.latex(expr, **kwargs)


_NUMPY_MODULES = [{"StopGradient": lambda x: x}, "numpy"]


def lambdify(variables, exprs):
    """``sympy.lambdify`` that knows :class:`StopGradient` (identity in value)."""
    return sp.lambdify(list(variables), exprs, modules=_NUMPY_MODULES, cse=True)


def evaluate(exprs, z: sp.Matrix, values) -> np.ndarray:
    """Evaluate per-sample expressions at logits ``values`` (array of z's shape) in float64."""
    f = lambdify(list(z), list(exprs))
    return np.asarray(f(*np.asarray(values, dtype=np.float64).ravel()), dtype=np.float64)


def evaluate_gradient(exprs, z: sp.Matrix, values) -> np.ndarray:
    """Gradient of the summed per-sample expressions with respect to z, at ``values``; shape of z."""
    total = sum(exprs)
    grads = [sp.diff(total, v) for v in z]
    f = lambdify(list(z), grads)
    out = np.asarray(f(*np.asarray(values, dtype=np.float64).ravel()), dtype=np.float64)
    return out.reshape(z.shape)
