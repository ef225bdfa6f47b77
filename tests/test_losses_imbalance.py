"""Limits and identities of the imbalance losses (lossnotes.losses.imbalance) that the battery does not
cover: focal with gamma = 0 is CE, alpha weights each sample, the focal factor at p_y -> 1."""
import pytest
import torch
import torch.nn.functional as F

import lossnotes.losses as L
from lossnotes.losses import imbalance as I


def _batch(n=16, c=6, scale=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, c, generator=g, dtype=torch.float64)), torch.randint(0, c, (n,), generator=g)


def _p_y(z, y):
    return torch.softmax(z, 1).gather(1, y[:, None]).squeeze(1)


def test_focal_gamma_zero_is_cross_entropy():
    z, y = _batch()
    torch.testing.assert_close(L.focal_loss(z, y, gamma=0.0, reduction="none"),
                               F.cross_entropy(z, y, reduction="none"))
    torch.testing.assert_close(L.focal_loss(z, y, gamma=0.0), F.cross_entropy(z, y))


@pytest.mark.parametrize("gamma", [0.5, 2.0, 5.0])
def test_focal_is_the_paper_formula_and_alpha_weights_samples(gamma):
    z, y = _batch(seed=1)
    p = _p_y(z, y)
    expected = -(1 - p) ** gamma * torch.log(p)
    torch.testing.assert_close(L.focal_loss(z, y, gamma=gamma, reduction="none"), expected)
    alpha = torch.linspace(0.1, 2.0, 6, dtype=torch.float64)
    torch.testing.assert_close(L.focal_loss(z, y, gamma=gamma, alpha=alpha, reduction="none"), alpha[y] * expected)
    # mean divides by N, not by the summed alphas (the paper normalises by the number of samples)
    torch.testing.assert_close(L.focal_loss(z, y, gamma=gamma, alpha=alpha), (alpha[y] * expected).mean())


def test_focal_down_weights_easy_samples_below_cross_entropy():
    z, y = _batch(seed=2)
    ce = F.cross_entropy(z, y, reduction="none")
    fl = L.focal_loss(z, y, reduction="none")
    assert torch.all(fl <= ce) and torch.all(fl >= 0)
    easy = _p_y(z, y) > 0.9
    assert easy.any() and torch.all(fl[easy] < 0.01 * ce[easy])


def test_focal_is_finite_and_exact_when_p_y_rounds_to_one():
    z = torch.tensor([[40.0, 0.0, -3.0]], requires_grad=True)          # 1 - p_y ~ 4e-18, below float32's eps
    y = torch.tensor([0])
    loss = L.focal_loss(z, y, gamma=2.0)
    (grad,) = torch.autograd.grad(loss, z)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    one_minus = torch.exp(torch.tensor([0.0, -3.0]) - 40.0).sum()
    assert torch.isclose(loss, one_minus ** 2 * one_minus, rtol=1e-3)    # -log p_y ~ 1 - p_y there


def test_focal_lives_in_the_imbalance_module():
    assert L.focal_loss is I.focal_loss and "focal_loss" in I.__all__
