"""Limits and identities of the robust losses (lossnotes.losses.robust) that the battery does not cover:
GCE q -> 0 is CE and q = 1 is 1 - p_y; comp-sum's tau identities; symmetry sums (NCE sums to 1 over k, MAE
and RCE to constants, CE does not); bi-tempered t1 = t2 = 1 is CE and is bounded for t1 < 1; LDR-KL's
limits; Taylor CE approaches CE as the order grows; official variants; bad inputs."""
import math

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import lossnotes.losses as L
from lossnotes import symbolic as S


def _batch(n=16, c=6, scale=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, c, generator=g, dtype=torch.float64)), torch.randint(0, c, (n,), generator=g)


def _p_y(z, y):
    return torch.softmax(z, 1).gather(1, y[:, None]).squeeze(1)


def test_gce_limits():
    z, y = _batch()
    ce = F.cross_entropy(z, y, reduction="none")
    torch.testing.assert_close(L.generalized_ce(z, y, q=1e-7, reduction="none"), ce, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(L.generalized_ce(z, y, q=1.0, reduction="none"), 1 - _p_y(z, y))
    p, q = sp.symbols("p q", positive=True)
    assert sp.limit((1 - p ** q) / q, q, 0) == -sp.log(p)


@pytest.mark.parametrize("tau,expected", [
    (0.0, lambda z, y: 1 / _p_y(z, y) - 1),
    (1.0, lambda z, y: F.cross_entropy(z, y, reduction="none")),
    (2.0, lambda z, y: 1 - _p_y(z, y)),
    (1.7, lambda z, y: L.generalized_ce(z, y, q=0.7, reduction="none")),
    (1.2, lambda z, y: L.generalized_ce(z, y, q=0.2, reduction="none")),
])
def test_comp_sum_identities(tau, expected):
    z, y = _batch()
    torch.testing.assert_close(L.comp_sum(z, y, tau=tau, reduction="none"), expected(z, y))


@pytest.mark.parametrize("tau", [0.0, 0.5, 0.999])
def test_comp_sum_below_one_matches_its_twin(tau):
    z, y = _batch(4, 3, scale=1.5, seed=1)
    zz = z.clone().requires_grad_(True)
    got = L.comp_sum(zz, y, tau=tau, reduction="none")
    (grad,) = torch.autograd.grad(got.sum(), zz)
    sym = S.logit_symbols(4, 3)
    exprs = S.comp_sum(sym, y, tau=tau)
    np.testing.assert_allclose(S.evaluate(exprs, sym, z.numpy()), got.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(S.evaluate_gradient(exprs, sym, z.numpy()), grad.numpy(), rtol=1e-9, atol=1e-12)


def test_comp_sum_is_bounded_above_one_and_overflows_below_as_the_loss_itself_does():
    z = torch.tensor([[-1e4, 1e4, 0.0]])
    y = torch.tensor([0])
    assert float(L.comp_sum(z, y, tau=1.5)) == pytest.approx(2.0)          # 1 / (tau - 1)
    assert math.isinf(float(L.comp_sum(z, y, tau=0.0)))                     # e^{2e4}: beyond float32 and float64


def test_symmetry_sums():
    z, _ = _batch(5, 4)
    k = z.shape[1]
    per_k = lambda fn, **kw: torch.stack([fn(z, torch.full((5,), j), reduction="none", **kw) for j in range(k)]).sum(0)  # noqa: E731
    torch.testing.assert_close(per_k(L.normalized_ce), torch.ones(5, dtype=z.dtype))
    torch.testing.assert_close(per_k(L.mae_loss), torch.full((5,), 2.0 * (k - 1), dtype=z.dtype))
    torch.testing.assert_close(per_k(L.reverse_ce), torch.full((5,), 4.0 * (k - 1), dtype=z.dtype))
    torch.testing.assert_close(per_k(L.normalized_focal, gamma=2.0), torch.ones(5, dtype=z.dtype))
    ce = torch.stack([F.cross_entropy(z, torch.full((5,), j), reduction="none") for j in range(k)]).sum(0)
    assert ce.std() > 0.1                                                   # CE's sum depends on z


def test_taylor_ce_tends_to_ce():
    z, y = _batch(scale=0.5)
    ce = F.cross_entropy(z, y, reduction="none")
    gaps = [float((ce - L.taylor_ce(z, y, order=t, reduction="none")).abs().max()) for t in (1, 2, 4, 8, 32, 1000)]
    assert all(a > b for a, b in zip(gaps, gaps[1:])) and gaps[-1] < 1e-6
    torch.testing.assert_close(L.taylor_ce(z, y, order=1, reduction="none"), 1 - _p_y(z, y))


def test_bi_tempered_reduces_to_ce_and_is_bounded():
    z, y = _batch()
    torch.testing.assert_close(L.bi_tempered_logistic(z, y, t1=1.0, t2=1.0, reduction="none"),
                               F.cross_entropy(z, y, reduction="none"))
    # with label smoothing, t1 = t2 = 1 is KL(y_smooth || p): CE with soft labels minus the labels' entropy
    eps, c = 0.2, z.shape[1]
    soft = torch.full_like(z, eps / (c - 1)).scatter(1, y[:, None], 1 - eps)
    kl = (soft * (soft.log() - torch.log_softmax(z, 1))).sum(1)
    torch.testing.assert_close(L.bi_tempered_logistic(z, y, t1=1.0, t2=1.0, label_smoothing=eps, reduction="none"), kl)
    big = torch.tensor([[1e4, -1e4, 0.0, 5.0]], dtype=torch.float32)
    for t1, t2 in ((0.8, 1.2), (0.5, 2.0), (0.3, 0.7)):
        worst = float(L.bi_tempered_logistic(big, torch.tensor([1]), t1=t1, t2=t2))
        assert 0 <= worst <= 1 / (1 - t1) + 1e-5


@pytest.mark.parametrize("t", [0.3, 0.7, 1.2, 2.0, 4.0])
def test_tempered_softmax_is_normalised_and_official_is_close(t):
    z, _ = _batch(32, 10, scale=4.0)
    p = L.tempered_softmax(z, t=t)
    torch.testing.assert_close(p.sum(1), torch.ones(32, dtype=z.dtype), rtol=0, atol=1e-12)
    official = L.tempered_softmax(z, t=t, variant="official", num_iters=5)
    assert float((official.sum(1) - 1).abs().max()) < 0.2
    z32 = (1e4 * torch.sign(z)).float()
    assert torch.allclose(L.tempered_softmax(z32, t=t).sum(1), torch.ones(32), atol=1e-5)


def test_ldr_kl_limits():
    z, y = _batch()
    k, lam = z.shape[1], 0.7
    temp_ce = lam * F.cross_entropy(z / lam, y, reduction="none") - lam * math.log(k)
    torch.testing.assert_close(L.ldr_kl(z, y, lam=lam, margin=0.0, reduction="none"), temp_ce)
    margin = 1.0
    shifted = (z - z.gather(1, y[:, None]) + margin).scatter(1, y[:, None], 0.0)
    hinge = shifted.amax(1)                               # max(0, max_{k != y} c + z_k - z_y)
    small = L.ldr_kl(z, y, lam=1e-4, margin=margin, reduction="none")
    assert float((small - hinge).abs().max()) < 1e-4 * math.log(k) + 1e-9
    lam_s, u = sp.symbols("lambda u", positive=True)
    # symbolic: lam log((e^{0} + e^{u/lam}) / 2) -> max(0, u) = u for u > 0 as lam -> 0
    assert sp.limit(lam_s * sp.log((1 + sp.exp(u / lam_s)) / 2), lam_s, 0, "+") == u


def test_composites_are_sums_of_their_parts():
    z, y = _batch()
    nce, rce = L.normalized_ce(z, y, reduction="none"), L.reverse_ce(z, y, reduction="none")
    torch.testing.assert_close(L.active_passive(z, y, alpha=2.0, beta=3.0, reduction="none"), 2 * nce + 3 * rce)
    torch.testing.assert_close(L.active_passive(z, y, active="nfl", passive="mae", reduction="none"),
                               L.normalized_focal(z, y, reduction="none") + L.mae_loss(z, y, reduction="none"))
    torch.testing.assert_close(L.normalized_focal(z, y, gamma=0.0, reduction="none"), nce)
    ce = F.cross_entropy(z, y, reduction="none")
    torch.testing.assert_close(L.symmetric_ce(z, y, reduction="none"), 0.1 * ce + 1.0 * rce)


def test_official_variants():
    z, y = _batch(scale=1.0)
    torch.testing.assert_close(L.mae_loss(z, y, variant="official"), L.mae_loss(z, y) / 2)
    one_minus = 1 - _p_y(z, y)
    torch.testing.assert_close(L.reverse_ce(z, y, variant="official", reduction="none"),
                               -math.log(1e-4) * one_minus)                 # no p below 1e-7 at this scale
    zz = z.clone().requires_grad_(True)
    (g_off,) = torch.autograd.grad(L.normalized_focal(zz, y, variant="official"), zz)
    (g_pap,) = torch.autograd.grad(L.normalized_focal(zz, y), zz)
    torch.testing.assert_close(L.normalized_focal(z, y, variant="official"), L.normalized_focal(z, y))
    assert float((g_off - g_pap).abs().max()) > 1e-3                         # same value, other gradient


@pytest.mark.parametrize("call,exc,match", [
    (lambda z, y: L.comp_sum(z, y), TypeError, "tau"),
    (lambda z, y: L.comp_sum(z, y, tau=-1.0), ValueError, "tau"),
    (lambda z, y: L.generalized_ce(z, y, q=0.0), ValueError, "q"),
    (lambda z, y: L.taylor_ce(z, y, order=0), ValueError, "order"),
    (lambda z, y: L.bi_tempered_logistic(z, y, t1=1.0, t2=0.5), ValueError, "t1"),
    (lambda z, y: L.bi_tempered_logistic(z, y, t2=6.0), ValueError, "t2"),
    (lambda z, y: L.reverse_ce(z, y, log_zero=-2.0, variant="official"), ValueError, "log_zero"),
    (lambda z, y: L.active_passive(z, y, active="mae"), ValueError, "active"),
    (lambda z, y: L.ldr_kl(z, y, lam=0.0), ValueError, "lam"),
    (lambda z, y: L.normalized_ce(z[:, :1], torch.zeros_like(y)), ValueError, "logits"),
])
def test_bad_inputs(call, exc, match):
    z, y = _batch()
    with pytest.raises(exc, match=match):
        call(z, y)
