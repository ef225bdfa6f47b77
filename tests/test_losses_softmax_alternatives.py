"""Softmax alternatives: the limits, invariances and special cases the chapter relies on."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import lossnotes.losses as L


def _logits(n=8, c=5, scale=2.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, c, generator=g, dtype=torch.float64), torch.arange(n) % c


def test_hinges_and_perceptron():
    z, y = _logits()
    cs = L.multiclass_hinge(z, y, reduction="none")
    ww = L.multiclass_hinge(z, y, variant="weston_watkins", reduction="none")
    assert torch.all(ww >= cs) and torch.all(cs >= 0)
    torch.testing.assert_close(L.multiclass_hinge(z, y, margin=0.0, reduction="none"),
                               L.perceptron_loss(z, y, reduction="none"))
    wide = z.scatter(1, y[:, None], z.amax(1, keepdim=True) + 1.0)          # the target leads by exactly 1
    assert float(L.multiclass_hinge(wide, y)) == 0.0
    assert float(L.perceptron_loss(z.scatter(1, y[:, None], z.amax(1, keepdim=True)), y)) == 0.0


def test_perceptron_and_hinge_are_limits_of_scaled_fenchel_young_losses():
    z, y = _logits()
    t = 1e-4
    perceptron = L.perceptron_loss(z, y, reduction="none")
    for loss in (L.softmax_cross_entropy, L.sparsemax_loss, L.entmax15_loss):
        torch.testing.assert_close(t * loss(z / t, y, reduction="none"), perceptron, atol=1e-3, rtol=0)
    cost = 1.0 - F.one_hot(y, 5).double()                                     # margin 1 on the wrong classes
    torch.testing.assert_close(t * F.cross_entropy((z + cost) / t, y, reduction="none"),
                               L.multiclass_hinge(z, y, reduction="none"), atol=1e-3, rtol=0)


def test_spherical_z_loss_is_invariant_to_positive_affine_maps():
    z, y = _logits()
    ref = L.spherical_z_loss(z, y, a=1.0, b=2.0, reduction="none")
    torch.testing.assert_close(L.spherical_z_loss(3.7 * z - 11.0, y, a=1.0, b=2.0, reduction="none"), ref)
    assert not torch.allclose(L.spherical_z_loss(-z, y, a=1.0, b=2.0, reduction="none"), ref)
    flat = torch.zeros(2, 4, requires_grad=True)
    loss = L.spherical_z_loss(flat, torch.tensor([0, 1]), a=1.0, b=2.0)
    assert torch.isfinite(loss) and torch.isfinite(torch.autograd.grad(loss, flat)[0]).all()
    assert float(loss.detach()) == pytest.approx(math.log1p(math.exp(2.0)))


def test_logsumexp_z_loss():
    z, y = _logits()
    torch.testing.assert_close(L.logsumexp_z_loss(z, y, coef=0.0), F.cross_entropy(z, y))
    lse = torch.logsumexp(z, 1)
    torch.testing.assert_close(L.logsumexp_z_loss(z, y, coef=0.5, reduction="none"),
                               F.cross_entropy(z, y, reduction="none") + 0.5 * lse ** 2)
    shifted = L.logsumexp_z_loss(z - lse[:, None], y, coef=0.5, reduction="none")   # log Z = 0: CE alone
    torch.testing.assert_close(shifted, F.cross_entropy(z, y, reduction="none"))


def test_harmonic_loss_scale_invariance_and_class_centres():
    g = torch.Generator().manual_seed(1)
    x, w, y = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g,
                                                                               dtype=torch.float64), torch.arange(6) % 4
    ref = L.harmonic_loss(x, w, y, n=3.0, reduction="none")
    torch.testing.assert_close(L.harmonic_loss(7.5 * x, 7.5 * w, y, n=3.0, reduction="none"), ref)
    d = torch.cdist(x, w)
    torch.testing.assert_close(torch.softmax(L.harmonic_logits(x, w, n=3.0), 1),
                               d ** -3.0 / (d ** -3.0).sum(1, keepdim=True))
    at_centre = w[y] + 1e-9
    assert float(L.harmonic_loss(at_centre, w, y, n=3.0)) < 1e-20
    x_req = w[y].clone().requires_grad_(True)                                 # exactly at the centre: finite
    loss = L.harmonic_loss(x_req, w, y, n=3.0)
    assert float(loss.detach()) == 0.0 and torch.isfinite(torch.autograd.grad(loss, x_req)[0]).all()


def test_taylor_softmax():
    z, y = _logits()
    f = 1 + z + z ** 2 / 2
    torch.testing.assert_close(L.taylor_softmax_ce(z, y, reduction="none"),
                               -torch.log(f.gather(1, y[:, None]).squeeze(1) / f.sum(1)))
    torch.testing.assert_close(L.taylor_softmax(z).sum(1), torch.ones(8, dtype=torch.float64))
    with pytest.raises(ValueError, match="even"):
        L.taylor_softmax_ce(z, y, order=3)
    assert "taylor_ce" in L.taylor_softmax_ce.__doc__ and "taylor_softmax_ce" in L.taylor_ce.__doc__


def test_sparse_softmax_ce():
    z, y = _logits()
    torch.testing.assert_close(L.sparse_softmax_ce(z, y, k=5), F.cross_entropy(z, y))
    torch.testing.assert_close(L.sparse_softmax_ce(z, y, k=50), F.cross_entropy(z, y))
    zz = torch.tensor([[3.0, 2.0, 1.0, -1.0]], dtype=torch.float64)
    inside = L.sparse_softmax_ce(zz, torch.tensor([1]), k=2)
    assert float(inside) == pytest.approx(-math.log(math.exp(2) / (math.exp(3) + math.exp(2))))
    p = L.sparse_softmax(zz, k=2)
    assert p[0, 2:].eq(0).all() and float(p.sum()) == pytest.approx(1.0)
    assert float(-torch.log(p[0, 1])) == pytest.approx(float(inside))      # the CE of the map when y is inside
    torch.testing.assert_close(L.sparse_softmax(z, k=9), torch.softmax(z, 1))
    outside = L.sparse_softmax_ce(zz, torch.tensor([3]), k=2)
    assert float(outside) == pytest.approx(math.log(math.exp(3) + math.exp(2) + math.exp(-1)) + 1.0)
