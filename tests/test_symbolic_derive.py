"""lossnotes.symbolic.derive: each helper on a case where it must say yes and one where it must say no."""
import pytest
import sympy as sp

from lossnotes import symbolic
from lossnotes.symbolic import (bregman, composite_log_partition, derivatives_latex, generic_primitive, is_zero,
                                provably_nonneg, zero_generic)

z, s, t = sp.symbols("z s t", real=True)
a = sp.Symbol("a", positive=True)
Q = sp.Function("Q")


def test_exported_from_symbolic():
    for name in ("is_zero", "provably_nonneg", "zero_generic", "bregman", "composite_log_partition",
                 "generic_primitive", "derivatives_latex", "flatten_generic"):
        assert name in symbolic.__all__ and callable(getattr(symbolic, name))


def test_is_zero_yes_and_no():
    assert is_zero(sp.cosh(z) ** 2 - sp.sinh(z) ** 2 - 1)                      # needs the rewrite in exponentials
    assert is_zero(symbolic.sigmoid(z) + symbolic.sigmoid(-z) - 1)
    assert not is_zero(sp.cosh(z) - sp.sinh(z))                                 # e^{-z}, not 0
    assert not is_zero(symbolic.sigmoid(z) - sp.Rational(1, 2))


def test_provably_nonneg_yes_and_no():
    assert provably_nonneg(sp.exp(z) * (1 + z ** 2))
    assert provably_nonneg(sp.cosh(z))
    assert not provably_nonneg(sp.sinh(z))                                      # negative for z < 0
    assert not provably_nonneg(z ** 3)


def test_zero_generic_yes_and_no():
    H, p = composite_log_partition(Q, [z, s])
    assert zero_generic(sp.diff(H, z) - sp.diff(Q(z), z) * p[0], Q, [z, s])    # Theorem 2: h_k = q(z_k) p_k
    assert not zero_generic(sp.diff(H, z) - p[0], Q, [z, s])                   # without q it is not the link
    assert not zero_generic(sp.diff(Q(z), z, 2), Q, [z])


def test_bregman_is_zero_at_the_target_and_not_symmetric():
    loss = bregman(sp.exp, sp.exp, z, s)
    assert loss.subs(z, s) == 0 and is_zero(sp.diff(loss, z).subs(z, s))
    assert not is_zero(loss - bregman(sp.exp, sp.exp, s, z))                  # D_H(a, b) != D_H(b, a) for exp


def test_composite_log_partition_gamma_and_probabilities():
    g = sp.Symbol("gamma", positive=True)
    H, p = composite_log_partition(lambda v: v, [z, s, t], g)
    assert is_zero(sum(p) - 1)
    assert is_zero(sp.diff(H, z) - p[0])                                       # Q = identity: the standard Softmax
    assert not is_zero(H - sp.log(sp.exp(z) + sp.exp(s) + sp.exp(t)))         # gamma != 1 changes the primitive


def test_generic_primitive_differentiates_to_h_only():
    h = sp.Function("h")
    H = generic_primitive(h)
    assert sp.diff(H(z), z) == h(z)
    assert sp.diff(H(2 * z), z) == 2 * h(2 * z)
    assert sp.diff(H(z), z, 2) != h(z)


def test_derivatives_latex():
    out = derivatives_latex(sp.log(1 + sp.exp(z)) - s * z, [z])
    assert set(out) == {"value", "gradient", "hessian"}
    assert "e^{z}" in out["hessian"] or "e^{- z}" in out["hessian"] or "cosh" in out["hessian"]
    two = derivatives_latex(z ** 2 * s, [z, s])
    assert two["hessian"] == sp.latex(sp.Matrix([[2 * s, 2 * z], [2 * z, 0]]))
    with pytest.raises(ValueError, match="variables"):
        derivatives_latex(z, [])
