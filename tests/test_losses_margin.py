"""Margin softmax family: limit cases (m = 1 / m = 0 give plain softmax), psi, the ArcFace fallback,
the cosine range check, and numerics at cos = +-1."""
from __future__ import annotations

import math

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from lossnotes import symbolic as S
from lossnotes.losses import (am_softmax, arcface, arcface_target, check_cosine, cosine_logits, l2_softmax,
                              large_margin_softmax, lsoftmax_psi, safe_sine, softmax_cross_entropy, sphereface,
                              unchecked, weighted_softmax)


def _fw(n=12, c=4, d=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(n, d, generator=g, dtype=dtype)
    w = torch.randn(c, d, generator=g, dtype=dtype)
    y = torch.randint(0, c, (n,), generator=g)
    return x, w, y


def test_weighted_softmax_is_weighted_cross_entropy():
    x, w, y = _fw()
    z = x @ w.T
    cw = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(weighted_softmax(z, y, class_weight=cw, reduction=reduction),
                                   F.cross_entropy(z, y, weight=cw, reduction=reduction))
    with pytest.raises(ValueError, match="class_weight"):
        weighted_softmax(z, y, class_weight=None)


def test_m1_l_softmax_is_softmax_on_wx_and_m1_sphereface_on_normalised_w():
    x, w, y = _fw()
    torch.testing.assert_close(large_margin_softmax(x, w, y, m=1, reduction="none"),
                               F.cross_entropy(x @ w.T, y, reduction="none"))
    w_hat = w / w.norm(dim=1, keepdim=True)
    torch.testing.assert_close(sphereface(x, w, y, m=1, reduction="none"),
                               F.cross_entropy(x @ w_hat.T, y, reduction="none"))


def test_larger_m_gives_a_larger_loss():
    x, w, y = _fw(n=64)
    losses = [float(large_margin_softmax(x, w, y, m=m)) for m in (1, 2, 3, 4)]
    assert losses == sorted(losses)
    losses = [float(sphereface(x, w, y, m=m)) for m in (1, 2, 3, 4)]
    assert losses == sorted(losses)


def test_m0_am_softmax_and_arcface_are_softmax_on_scaled_cosines():
    x, w, y = _fw()
    cos = cosine_logits(x, w)
    for s in (1.0, 30.0, 64.0):
        ref = F.cross_entropy(s * cos, y, reduction="none")
        torch.testing.assert_close(am_softmax(cos, y, s=s, m=0.0, reduction="none"), ref)
        torch.testing.assert_close(arcface(cos, y, s=s, m=0.0, reduction="none"), ref)


def test_am_softmax_subtracts_m_from_the_target_cosine():
    x, w, y = _fw()
    cos = cosine_logits(x, w)
    shifted = cos - 0.35 * F.one_hot(y, 4)
    torch.testing.assert_close(am_softmax(cos, y, reduction="none"), F.cross_entropy(30 * shifted, y, reduction="none"))


def test_l2_softmax_rescales_features_to_alpha():
    x, w, y = _fw()
    b = torch.tensor([0.1, 0.0, -0.3, 0.2], dtype=torch.float64)
    f = 7.0 * x / x.norm(dim=1, keepdim=True)
    torch.testing.assert_close(l2_softmax(x, w, y, alpha=7.0, bias=b), F.cross_entropy(f @ w.T + b, y))
    # invariant to the feature norm
    torch.testing.assert_close(l2_softmax(10 * x, w, y), l2_softmax(x, w, y))


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_psi_matches_the_paper_and_is_continuous_and_decreasing(m):
    theta = torch.linspace(0, math.pi, 2001, dtype=torch.float64)
    got = lsoftmax_psi(torch.cos(theta), m)
    k = torch.clamp(torch.floor(theta * m / math.pi), max=m - 1)
    want = (-1) ** k * torch.cos(m * theta) - 2 * k
    torch.testing.assert_close(got, want, atol=1e-9, rtol=0)
    assert torch.all(got[1:] <= got[:-1] + 1e-12), "psi decreases on [0, pi]"
    assert got.diff().abs().max() < 0.05, "no jumps"
    assert float(got[0]) == pytest.approx(1.0) and float(got[-1]) == pytest.approx(-(2 * m - 1))
    # the twin's Piecewise (in theta) agrees
    th = sp.Symbol("theta", real=True)
    f = sp.lambdify(th, S.psi(th, m), "numpy")
    torch.testing.assert_close(torch.as_tensor(f(theta.numpy())), want, atol=1e-9, rtol=0)


def test_psi_gradient_is_finite_at_cos_plus_minus_one():
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        c = torch.tensor([-1.0, 1.0], dtype=dtype, requires_grad=True)
        (g,) = torch.autograd.grad(lsoftmax_psi(c, 4).sum(), c)
        assert torch.isfinite(g).all()


@pytest.mark.parametrize("m", [2, 3, 4, 5])
def test_psi_closed_form_gradient_matches_the_twin_and_has_a_second_derivative(m):
    """lsoftmax_psi's backward is the closed form (-1)^k m U_{m-1}(c); check it against the twin's d/dc,
    with gradcheck, and that a second derivative (gradgradcheck) flows through it."""
    c = torch.linspace(-0.999, 0.999, 301, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(lsoftmax_psi(c, m).sum(), c)
    th = sp.Symbol("theta", real=True)
    dpsi_dtheta = sp.lambdify(th, sp.diff(S.psi(th, m), th), "numpy")
    theta = torch.arccos(c.detach()).numpy()
    want = torch.as_tensor(dpsi_dtheta(theta)) / -torch.sin(torch.as_tensor(theta))   # dpsi/dc = psi'(t) / (-sin t)
    torch.testing.assert_close(g, want, atol=1e-7, rtol=1e-7)
    x = torch.tensor([-0.9, -0.3, 0.2, 0.95], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: lsoftmax_psi(v, m), (x,))
    assert torch.autograd.gradgradcheck(lambda v: lsoftmax_psi(v, m), (x,))


def test_arcface_fallback_beyond_pi_minus_m():
    m = 0.5
    theta = torch.linspace(0, math.pi, 4001, dtype=torch.float64)
    cos = torch.cos(theta)
    phi = arcface_target(cos, m)
    inside = theta < math.pi - m - 1e-9
    torch.testing.assert_close(phi[inside], torch.cos(theta[inside] + m))
    beyond = theta > math.pi - m + 1e-9
    torch.testing.assert_close(phi[beyond], cos[beyond] - m * math.sin(m))
    assert torch.all(phi.diff() <= 1e-12), "monotone decreasing, unlike cos(theta + m)"
    assert torch.any(torch.cos(theta + m).diff() > 0), "the plain formula turns back up past pi - m"
    # the reference fallback jumps at theta = pi - m, by 1 - cos m - m sin m
    jump = -math.cos(m) - m * math.sin(m) + 1.0
    assert jump == pytest.approx(-0.1173, abs=1e-4)
    easy = arcface_target(cos, m, easy_margin=True)
    torch.testing.assert_close(easy[cos <= 0], cos[cos <= 0])


def test_cosine_range_check_and_tolerance():
    y = torch.tensor([0, 1])
    ok = torch.tensor([[1.0 + 1e-7, -1.0 - 1e-7], [0.3, 0.2]])
    assert torch.isfinite(arcface(ok, y))
    assert check_cosine(ok).dtype == torch.float32          # checked, not clamped (the losses clamp the target column)
    for bad in (torch.tensor([[1.01, 0.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [-1.001, 0.0]])):
        with pytest.raises(ValueError, match="cosine"):
            am_softmax(bad, y)
        with pytest.raises(ValueError, match="cosine"):
            arcface(bad, y)
    # bf16 rounding of a normalised dot product is accepted
    half = torch.tensor([[1.0 + 2 ** -7, 0.0], [0.0, 0.0]], dtype=torch.bfloat16)
    assert torch.isfinite(arcface(half, y))
    with unchecked():   # value checks off: clamped, still finite
        assert torch.isfinite(arcface(torch.tensor([[1.5, 0.0], [0.0, 0.0]]), y))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("easy_margin", [False, True])
def test_arcface_has_no_nan_at_cos_plus_minus_one(dtype, easy_margin):
    cos = torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.5, -1.0, -1.0]], dtype=dtype, requires_grad=True)
    y = torch.tensor([0, 0, 1])
    loss = arcface(cos, y, easy_margin=easy_margin)
    (g,) = torch.autograd.grad(loss, cos)
    assert torch.isfinite(loss) and torch.isfinite(g).all()
    assert safe_sine(torch.tensor([1.0, -1.0])).min() > 0


def test_cosine_logits_handles_zero_rows():
    x = torch.zeros(2, 3, requires_grad=True)
    w = torch.randn(4, 3, requires_grad=True)
    cos = cosine_logits(x, w)
    assert torch.equal(cos, torch.zeros(2, 4))
    cos.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(w.grad).all()


def test_feature_losses_train_to_separate_classes():
    """A few SGD steps on a linearly separable toy problem reduce every margin loss."""
    x, _, y = _fw(n=64, c=3, d=2, seed=1)
    x = x + 4 * F.one_hot(y, 3).double()[:, :2]
    for fn in (large_margin_softmax, sphereface, l2_softmax):
        w = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
        first = float(fn(x, w, y).detach())
        opt = torch.optim.SGD([w], lr=0.01)
        for _ in range(100):
            opt.zero_grad()
            fn(x, w, y).backward()
            opt.step()
        assert float(fn(x, w, y)) < first


def test_margin_losses_are_larger_than_plain_softmax_on_the_same_cosines():
    x, w, y = _fw(n=64)
    cos = cosine_logits(x, w)
    plain = softmax_cross_entropy(30 * cos, y)
    assert am_softmax(cos, y) > plain
    assert arcface(cos, y, s=30.0) > plain


def test_margin_lambda_follows_the_official_schedule():
    from lossnotes.losses import margin_lambda
    assert margin_lambda(0) == 1000.0
    assert margin_lambda(10) == pytest.approx(1000.0 / (1 + 0.12 * 10))
    assert margin_lambda(10**6) == 5.0                               # floored at lambda_min
    assert margin_lambda(100, gamma=0.0) == 1000.0
    with pytest.raises(ValueError, match="iteration"):
        margin_lambda(-1)
    with pytest.raises(ValueError, match="lambda_min"):
        margin_lambda(0, lambda_min=-1.0)


@pytest.mark.parametrize("fn", [large_margin_softmax, sphereface])
def test_lam_blends_the_margin_towards_plain_softmax(fn):
    torch.manual_seed(0)
    x, w, y = torch.randn(16, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64), torch.arange(16) % 4
    wn = w if fn is large_margin_softmax else w / w.norm(dim=1, keepdim=True)
    plain = F.cross_entropy(x @ wn.T, y)
    pure, mid, soft = fn(x, w, y, lam=0.0), fn(x, w, y, lam=5.0), fn(x, w, y, lam=1e9)
    torch.testing.assert_close(soft, plain, rtol=1e-6, atol=1e-6)
    assert plain < mid < pure, "the margin makes the loss larger; lam moves it back towards softmax"
    torch.testing.assert_close(fn(x, w, y, m=1, lam=3.0), plain)      # m = 1 has no margin to blend


def test_marginnet_anneal_steps_lambda_in_training_only():
    from lossnotes.embeddings import MarginNet
    net = MarginNet("sphereface", feature_dim=3, width=2, m=4, anneal={"base": 100.0, "gamma": 1.0, "lambda_min": 1.0})
    x, y = torch.randn(8, 1, 28, 28), torch.arange(8) % 10
    first = net.loss(net(x), y)
    assert net.iteration == 1
    net.eval()
    net.loss(net(x), y)
    assert net.iteration == 1, "evaluation does not advance the schedule"
    net.train()
    later = [net.loss(net(x), y) for _ in range(50)][-1]
    assert later > first, "as lambda decays the margin bites: same weights, larger loss"
    with pytest.raises(ValueError, match="anneal"):
        MarginNet("arcface", anneal={})
    with pytest.raises(TypeError):
        MarginNet("sphereface", anneal={"bogus": 1.0})


def test_public_angular_helpers_validate_their_inputs():
    from lossnotes.losses import arcface_target, cosine_logits, lsoftmax_psi

    with pytest.raises(ValueError, match="weight"):
        cosine_logits(torch.randn(3, 4), torch.randn(5, 3))
    with pytest.raises(TypeError, match="features"):
        cosine_logits([[1.0]], torch.randn(5, 3))
    cos = torch.rand(6) * 2 - 1
    for m in (0, 2.5, 10 ** 30):
        with pytest.raises(ValueError, match="m"):
            lsoftmax_psi(cos, m)
    with pytest.raises(TypeError, match="cos"):
        lsoftmax_psi(cos.long(), 2)
    with pytest.raises(ValueError, match="m"):
        arcface_target(cos, 4.0)
    with pytest.raises(TypeError, match="easy_margin"):
        arcface_target(cos, 0.5, easy_margin=1)
