"""The calibration family: limit cases, the papers' definitions written out naively, and what the battery cannot
see (the runner-up of dual focal, the jump of FLSD-53, the batch term of MDCA)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import lossnotes.losses as L


def _batch(n=64, c=7, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, c, generator=g, dtype=torch.float64), torch.randint(0, c, (n,), generator=g)


def test_flsd_equals_focal_with_the_gamma_of_each_sample():
    z, y = _batch()
    p_y = torch.softmax(z, 1).gather(1, y[:, None]).squeeze(1)
    low = p_y < 0.2
    assert low.any() and (~low).any()
    got = L.focal_sample_dependent(z, y, reduction="none")
    torch.testing.assert_close(got[low], L.focal_loss(z[low], y[low], gamma=5.0, reduction="none"))
    torch.testing.assert_close(got[~low], L.focal_loss(z[~low], y[~low], gamma=3.0, reduction="none"))
    same = L.focal_sample_dependent(z, y, gamma_low=2.0, gamma_high=2.0, reduction="none")
    torch.testing.assert_close(same, L.focal_loss(z, y, gamma=2.0, reduction="none"))


def test_flsd_jumps_at_the_threshold():
    """Just below p_y = 0.2 gamma is 5, just above 3: the loss drops by a factor (1 - p)^2."""
    def logits_for(p):   # two classes: p_y = p
        return torch.tensor([[math.log(p / (1 - p)), 0.0]], dtype=torch.float64)
    below = L.focal_sample_dependent(logits_for(0.2 - 1e-9), torch.tensor([0]))
    above = L.focal_sample_dependent(logits_for(0.2 + 1e-9), torch.tensor([0]))
    assert math.isclose(float(above) * 0.8 ** 2, float(below), rel_tol=1e-6)


def _dual_focal_reference(z, y, gamma):
    """The official code's definition, with plain probabilities."""
    p = torch.softmax(z, 1)
    p_y = p.gather(1, y[:, None]).squeeze(1)
    p_j = torch.where(p < p_y[:, None], p, torch.zeros_like(p)).amax(1)
    return -(1 - p_y + p_j) ** gamma * torch.log(p_y)


def test_dual_focal_matches_the_reference_and_uses_the_class_ranked_after_the_target():
    z, y = _batch(seed=1)
    for gamma in (0.0, 1.0, 5.0):
        torch.testing.assert_close(L.dual_focal(z, y, gamma=gamma, reduction="none"), _dual_focal_reference(z, y, gamma))
    # the target second of three: p_j is the third class, not the top one
    z1 = torch.tensor([[3.0, 1.0, -1.0]], dtype=torch.float64)
    p = torch.softmax(z1, 1)[0]
    expected = -(1 - p[1] + p[2]) ** 5 * torch.log(p[1])
    torch.testing.assert_close(L.dual_focal(z1, torch.tensor([1])), expected)
    # the target last: p_j = 0, the factor is (1 - p_y)^gamma, as for focal
    torch.testing.assert_close(L.dual_focal(z1, torch.tensor([2])), L.focal_loss(z1, torch.tensor([2]), gamma=5.0))


def test_dual_focal_gamma_zero_and_poly1_epsilon_zero_are_ce():
    z, y = _batch(seed=2)
    ce = F.cross_entropy(z, y, reduction="none")
    torch.testing.assert_close(L.dual_focal(z, y, gamma=0.0, reduction="none"), ce)
    torch.testing.assert_close(L.poly1_ce(z, y, epsilon=0.0, reduction="none"), ce)
    torch.testing.assert_close(L.confidence_penalty(z, y, beta=0.0, reduction="none"), ce)
    torch.testing.assert_close(L.mdca_ce(z, y, beta=0.0, reduction="none"), ce)


def test_poly1_and_squentropy_and_confidence_penalty_as_written():
    z, y = _batch(seed=3)
    p = torch.softmax(z, 1)
    p_y = p.gather(1, y[:, None]).squeeze(1)
    ce = F.cross_entropy(z, y, reduction="none")
    torch.testing.assert_close(L.poly1_ce(z, y, epsilon=2.0, reduction="none"), ce + 2.0 * (1 - p_y))
    k = z.shape[1]
    squares = ((z ** 2).sum(1) - z.gather(1, y[:, None]).squeeze(1) ** 2) / (k - 1)
    torch.testing.assert_close(L.squentropy(z, y, reduction="none"), ce + squares)
    entropy = -(p * torch.log(p)).sum(1)
    torch.testing.assert_close(L.confidence_penalty(z, y, beta=0.3, reduction="none"), ce - 0.3 * entropy)


def test_squentropy_is_not_shift_invariant_but_ce_is():
    z, y = _batch(seed=4)
    assert not torch.allclose(L.squentropy(z + 1.0, y), L.squentropy(z, y))
    torch.testing.assert_close(F.cross_entropy(z + 1.0, y), F.cross_entropy(z, y))


def test_encouraging_loss_plain_bonus_is_the_log_odds_and_the_conservative_one_is_its_tangent():
    z, y = _batch(seed=5)
    p_y = torch.softmax(z, 1).gather(1, y[:, None]).squeeze(1)
    torch.testing.assert_close(L.encouraging_loss(z, y, log_end=1.0, reduction="none"), torch.log((1 - p_y) / p_y))
    le = 0.75
    got = L.encouraging_loss(z, y, reduction="none")
    tangent = -torch.log(p_y) + math.log(1 - le) - (p_y - le) / (1 - le)
    plain = torch.log((1 - p_y) / p_y)
    high = p_y > le
    assert high.any() and (~high).any()
    torch.testing.assert_close(got[high], tangent[high])
    torch.testing.assert_close(got[~high], plain[~high])
    # the tangent line lies above log(1 - p) (the log is concave): the conservative bonus rewards less
    assert torch.all(got[high] >= plain[high])


def test_encouraging_loss_official_clamp_only_matters_at_log_end_one():
    z = torch.tensor([[30.0, 0.0, 0.0], [1.0, 0.5, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 0])
    plain = L.encouraging_loss(z, y, log_end=1.0, reduction="none")
    official = L.encouraging_loss(z, y, log_end=1.0, variant="official", reduction="none")
    assert float(plain[0]) < math.log(1e-5) - 10                  # -log p ~ 0, log(1 - p) ~ -29.3
    assert math.isclose(float(official[0]), -float(torch.log_softmax(z, 1)[0, 0]) + math.log(1e-5), rel_tol=1e-9)
    torch.testing.assert_close(plain[1], official[1])
    torch.testing.assert_close(L.encouraging_loss(z, y, variant="official"), L.encouraging_loss(z, y))


def test_mdca_is_the_batch_gap_between_mean_confidence_and_label_share():
    z, y = _batch(n=32, c=4, seed=6)
    p = torch.softmax(z, 1)
    share = torch.stack([(y == j).double().mean() for j in range(4)])
    expected = (p.mean(0) - share).abs().mean()
    torch.testing.assert_close(L.mdca(z, y), expected)
    torch.testing.assert_close(L.mdca_ce(z, y, beta=2.0), F.cross_entropy(z, y) + 2.0 * expected)
    # batch level: a sample's loss depends on the others
    z2 = z.clone()
    z2[1:] = -z2[1:]
    assert not torch.isclose(L.mdca_ce(z, y, reduction="none")[0], L.mdca_ce(z2, y, reduction="none")[0])
    # perfectly calibrated on average: mean confidence equals the label shares -> 0
    uniform = torch.zeros(8, 4, dtype=torch.float64)
    assert float(L.mdca(uniform, torch.arange(8) % 4)) == 0.0


def test_losses_train_a_linear_model_down():
    """Every loss of the family decreases on a separable toy under plain gradient descent."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(200, 5, generator=g)
    w_true = torch.randn(5, 3, generator=g)
    y = (x @ w_true).argmax(1)
    for fn in (L.focal_sample_dependent, L.dual_focal, L.poly1_ce, L.squentropy, L.encouraging_loss,
               L.confidence_penalty, L.mdca_ce):
        w = torch.zeros(5, 3, requires_grad=True)
        opt = torch.optim.SGD([w], lr=0.5)
        acc0 = float(((x @ w).argmax(1) == y).float().mean())
        for _ in range(100):
            opt.zero_grad()
            fn(x @ w, y).backward()
            opt.step()
        acc = float(((x @ w).argmax(1) == y).float().mean())
        assert acc > 0.9 and acc > acc0, f"{fn.__name__}: accuracy {acc:.2f}"


@pytest.mark.parametrize("fn", [L.focal_sample_dependent, L.dual_focal, L.encouraging_loss])
def test_finite_when_p_y_rounds_to_one_in_float32(fn):
    z = torch.tensor([[200.0, 0.0, -50.0], [-200.0, 0.0, 10.0]], requires_grad=True)
    y = torch.tensor([0, 0])
    loss = fn(z, y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, z)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
