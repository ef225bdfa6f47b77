"""Links (lossnotes.links) against their SymPy twins, and the identities the matching losses rest on.

The registered matching losses themselves go through the common battery (tests/test_battery.py)."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

import lossnotes.losses as L
from lossnotes import links

LINKS = [links.sigmoid_link(), links.sigmoid_link(2.0, 1.5), links.identity_link(0.5, -1.0),
         links.exp_link(0.7, 0.5), links.exp_link(1.0, 0.0, cap=2.0), links.anti_exp_link(0.5, -1.0),
         links.anti_exp_link(1.0, 0.0, cap=1.5), links.sinh_link(), links.sinh_link(1.0, 0.5, cap=2.5),
         links.cosh_link(0.5), links.tanh_link(1.5, 0.5), links.smelu_link(1.0), links.smelu_link(0.5, 2.0, 1.0),
         links.huber_link(0.7, 1.0, -0.5), links.step_link(1.0, 0.5), links.sign_link(),
         links.power_link(2.0, 1.0), links.power_link(1.0, 0.5, 0.5, 1.0)]
IDS = [repr(k) for k in LINKS]
# a grid that avoids the kinks of the piecewise links (they sit at multiples of 0.25 here)
GRID = torch.linspace(-6.0, 6.0, 97, dtype=torch.float64) + 0.0123


def _twin_values(link, fn_name):
    z = sp.Symbol("z", real=True)
    expr = getattr(link.twin(), fn_name)(z)
    f = sp.lambdify(z, expr, "numpy")
    return np.broadcast_to(np.asarray(f(GRID.numpy()), dtype=np.float64), GRID.shape)


@pytest.mark.parametrize("link", LINKS, ids=IDS)
@pytest.mark.parametrize("fn_name", ["h", "H", "dh", "q", "Q", "dq"])
def test_link_matches_its_twin(link, fn_name):
    got = getattr(link, fn_name)(GRID).numpy()
    np.testing.assert_allclose(got, _twin_values(link, fn_name), rtol=1e-10, atol=1e-10,
                               err_msg=f"{link!r}.{fn_name} differs from its SymPy twin")


@pytest.mark.parametrize("link", LINKS, ids=IDS)
def test_h_is_the_derivative_of_H_and_dh_of_h(link):
    z = GRID.clone().requires_grad_(True)
    (dH,) = torch.autograd.grad(link.H(z).sum(), z)
    torch.testing.assert_close(dH, link.h(GRID))
    if link.name not in ("step_link", "sign_link"):        # derivative 0 a.e. (a jump at 0)
        z = GRID.clone().requires_grad_(True)
        (dh,) = torch.autograd.grad(link.h(z).sum(), z)
        torch.testing.assert_close(dh, link.dh(GRID))


@pytest.mark.parametrize("link", [k for k in LINKS if k.monotone], ids=[repr(k) for k in LINKS if k.monotone])
def test_monotone_links_are_non_decreasing_with_convex_primitive(link):
    h = link.h(GRID)
    assert bool((h[1:] >= h[:-1] - 1e-12).all())
    assert bool((link.dh(GRID) >= 0).all())


def test_non_monotone_shapes_are_flagged_and_rejected_by_matching_loss():
    assert not links.cosh_link().monotone and not links.power_link(2.0).monotone
    with pytest.raises(ValueError, match="non-decreasing"):
        L.matching_loss(torch.zeros(3), torch.ones(3), links.cosh_link())


@pytest.mark.parametrize("link", [k for k in LINKS if k.ginv is not None], ids=[repr(k) for k in LINKS if k.ginv])
def test_inverse_undoes_the_link(link):
    z = torch.linspace(-1.5, 1.5, 31, dtype=torch.float64) / link.alpha + link.beta
    torch.testing.assert_close(link.inverse(link.h(z)), z)


def test_links_without_an_inverse_say_so():
    with pytest.raises(NotImplementedError, match="inverse"):
        links.smelu_link().inverse(torch.zeros(1))


@pytest.mark.parametrize("make", [links.exp_link, links.anti_exp_link, links.sinh_link, links.cosh_link])
def test_capped_links_are_continuous_at_the_cap_and_finite_far_beyond(make):
    link = make(1.0, 0.0, cap=3.0)
    for edge in (-3.0, 3.0):
        z = torch.tensor([edge - 1e-9, edge + 1e-9], dtype=torch.float64)
        for fn in (link.h, link.H, link.dh):
            a, b = fn(z)
            assert abs(float(a - b)) < 1e-6 * max(1.0, abs(float(a)))
    far = torch.tensor([-1e4, 1e4], dtype=torch.float32, requires_grad=True)
    loss = L.composite_softmax(far[None], torch.zeros(1, 2), q=link) if not link.monotone else \
        L.matching_loss(far, torch.zeros(2), link)
    (grad,) = torch.autograd.grad(loss, far)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_huber_link_is_2c_smelu_minus_c_and_its_loss_2c_times():
    c, alpha, beta = 0.7, 1.3, 0.4
    huber, smelu = links.huber_link(c, alpha, beta), links.smelu_link(c, alpha, beta)
    torch.testing.assert_close(huber.h(GRID), 2 * c * smelu.h(GRID) - c)
    pred, target = torch.randn(50, dtype=torch.float64) * 3, torch.randn(50, dtype=torch.float64) * 3
    torch.testing.assert_close(L.matching_loss(pred, target, huber, reduction="none"),
                               2 * c * L.matching_loss(pred, target, smelu, reduction="none"))


def test_get_link_names_and_errors():
    assert repr(links.get_link("sinh")) == "sinh_link(alpha=1, beta=0, cap=20)"
    with pytest.raises(ValueError, match="link"):
        links.get_link("cubic")
    with pytest.raises(TypeError, match="Link"):
        links.get_link(torch.sigmoid)
    with pytest.raises(ValueError, match="alpha"):
        links.sigmoid_link(alpha=0.0)
    with pytest.raises(ValueError, match="cap"):
        links.exp_link(cap=-1.0)
    with pytest.raises(TypeError, match="z"):
        links.sigmoid_link().h(torch.arange(3))


# ---- the matching losses' identities ---------------------------------------------------------------

def _randn(*shape, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("link", [k for k in LINKS if k.monotone], ids=[repr(k) for k in LINKS if k.monotone])
def test_matching_gradient_is_h_pred_minus_h_target(link):
    pred, target = _randn(40, seed=1).requires_grad_(True), _randn(40, seed=2)
    loss = L.matching_loss(pred, target, link, reduction="sum")
    (grad,) = torch.autograd.grad(loss, pred)
    torch.testing.assert_close(grad, link.h(pred.detach()) - link.h(target))
    assert float(L.matching_loss(target, target, link)) == 0.0
    assert bool((L.matching_loss(pred.detach(), target, link, reduction="none") >= -1e-12).all())


def test_matching_loss_on_n_by_k_is_the_sum_of_scalar_losses():
    link = links.exp_link(0.5, 1.0)
    pred, target = _randn(6, 4, seed=3), _randn(6, 4, seed=4)
    per_sample = L.matching_loss(pred, target, link, reduction="none")
    torch.testing.assert_close(per_sample, L.matching_loss(pred.ravel(), target.ravel(), link,
                                                            reduction="none").reshape(6, 4).sum(1))


def test_matching_loss_is_proper_minimised_at_inverse_of_expected_link():
    """Proposition 1: argmin E L(s_hat, S) = h^{-1}(E h(S))."""
    link = links.sigmoid_link(1.5, 0.5)
    scores = torch.tensor([-2.0, 0.5, 3.0], dtype=torch.float64)
    probs = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    s_hat = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([s_hat], max_iter=200, tolerance_grad=1e-14, tolerance_change=0.0,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (probs.double() * L.matching_loss(s_hat.expand(3), scores, link, reduction="none")).sum()
        loss.backward()
        return loss

    opt.step(closure)
    expected = link.inverse((probs.double() * link.h(scores)).sum())
    assert abs(float(s_hat.detach()) - float(expected)) < 1e-8


def test_sigmoid_ce_has_the_sigmoid_matching_gradient():
    """(E.2)."""
    pred, target = _randn(30, seed=5).requires_grad_(True), _randn(30, seed=6)
    g_ce = torch.autograd.grad(L.sigmoid_ce(pred, target, alpha=2.0, beta=0.5, reduction="sum"), pred)[0]
    g_m = torch.autograd.grad(L.matching_loss(pred, target, links.sigmoid_link(2.0, 0.5), reduction="sum"), pred)[0]
    torch.testing.assert_close(g_ce, g_m)


def test_softmax_matching_and_score_ce_share_their_gradient_and_equal_the_bregman_form():
    """(E.9)-(E.11), and (26) with the Softmax primitive."""
    pred, target = _randn(8, 5, seed=7).requires_grad_(True), _randn(8, 5, seed=8)
    kw = dict(alpha=2.0, beta=0.7, gamma=0.5)
    g1 = torch.autograd.grad(L.softmax_matching_loss(pred, target, **kw, reduction="sum"), pred)[0]
    g2 = torch.autograd.grad(L.softmax_score_ce(pred, target, **kw, reduction="sum"), pred)[0]
    torch.testing.assert_close(g1, g2)
    torch.testing.assert_close(L.softmax_matching_loss(pred, target, **kw, reduction="none"),
                               L.bregman_loss(pred, target, primitive=L.softmax_primitive(**kw), reduction="none"))
    shifted = L.softmax_matching_loss(pred + 3.0, target + 3.0, **kw, reduction="none")
    torch.testing.assert_close(shifted, L.softmax_matching_loss(pred, target, **kw, reduction="none"))


def test_composite_softmax_is_the_bregman_loss_of_its_primitive():
    q = links.sinh_link(0.5, 1.0)
    pred, target = _randn(8, 4, seed=9), _randn(8, 4, seed=10)
    torch.testing.assert_close(L.composite_softmax(pred, target, q=q, gamma=0.7, reduction="none"),
                               L.bregman_loss(pred, target, primitive=L.composite_primitive(q, 0.7),
                                              reduction="none"))


def test_composite_sigmoid_is_the_two_class_composite_softmax_with_a_fixed_class():
    """D18: the composite Sigmoid is the K = 2 composite Softmax with the second class at Q = 0."""
    q = links.identity_link(1.0, 0.0)            # Q(z) = z^2/2, so Q(0) = 0 for the fixed class
    pred, target = _randn(20, seed=11), _randn(20, seed=12)
    two = lambda v: torch.stack([v, torch.zeros_like(v)], 1)   # noqa: E731
    torch.testing.assert_close(L.composite_sigmoid(pred, target, q=q, reduction="none"),
                               L.composite_softmax(two(pred), two(target), q=q, reduction="none"))


def test_composite_link_is_the_gradient_of_the_primitive_and_sensitivity_its_diagonal():
    """Theorem 2 (h_k = q(z_k) p_k) and (C.6)."""
    q, gamma = links.exp_link(0.8, 0.5), 0.6
    z = _randn(3, 4, seed=13, scale=1.0).requires_grad_(True)
    (grad,) = torch.autograd.grad(L.composite_primitive(q, gamma)(z).sum(), z)
    torch.testing.assert_close(grad, L.composite_link(z.detach(), q, gamma=gamma))
    for i in range(3):
        jac = torch.autograd.functional.jacobian(lambda v: L.composite_link(v, q, gamma=gamma), z[i].detach())
        torch.testing.assert_close(torch.diagonal(jac), L.composite_sensitivity(z[i].detach(), q, gamma=gamma))


def test_score_targets_are_validated():
    pred = torch.zeros(4, 3)
    with pytest.raises(TypeError, match="score"):
        L.composite_softmax(pred, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="shape"):
        L.matching_loss(pred, torch.zeros(4, 2), "sigmoid")
    with pytest.raises(ValueError, match="target"):
        L.matching_loss(pred, torch.zeros(4, 3).fill_(float("nan")), "sigmoid")
    with pytest.raises(ValueError, match="pred"):
        L.composite_softmax(torch.zeros(4), torch.zeros(4))          # composite Softmax needs (N, K)
