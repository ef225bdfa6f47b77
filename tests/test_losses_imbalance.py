"""Limits and identities of the imbalance losses (lossnotes.losses.imbalance) that the battery does not
cover: focal with gamma = 0 is CE, alpha weights each sample, the focal factor at p_y -> 1; balanced softmax is
logit adjustment at tau = 1; VS's two limits; effective-number weights between uniform and inverse frequency;
LDAM's margins and the official code's form; the DRW schedule and its epoch state; argument checks."""
import math
import pickle

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


COUNTS = torch.tensor([1000, 400, 160, 64, 25, 10])
PRIOR = COUNTS.double() / COUNTS.sum()


def test_balanced_softmax_is_logit_adjustment_at_tau_one_and_la_at_tau_zero_is_ce():
    z, y = _batch()
    torch.testing.assert_close(L.balanced_softmax_ce(z, y, class_prior=PRIOR, reduction="none"),
                               L.logit_adjusted_ce(z, y, class_prior=PRIOR, tau=1.0, reduction="none"))
    torch.testing.assert_close(L.logit_adjusted_ce(z, y, class_prior=PRIOR, tau=0.0), F.cross_entropy(z, y))
    torch.testing.assert_close(L.logit_adjusted_ce(z, y, class_prior=PRIOR, tau=0.7),
                               F.cross_entropy(z + 0.7 * torch.log(PRIOR), y))


def test_vs_limits():
    z, y = _batch(seed=3)
    torch.testing.assert_close(L.vs_loss(z, y, class_prior=PRIOR, gamma=0.0, tau=0.6, reduction="none"),
                               L.logit_adjusted_ce(z, y, class_prior=PRIOR, tau=0.6, reduction="none"))
    scale = (COUNTS.double() / COUNTS.max()) ** 0.3
    torch.testing.assert_close(L.vs_loss(z, y, class_prior=PRIOR, gamma=0.3, tau=0.0, reduction="none"),
                               F.cross_entropy(scale * z, y, reduction="none"))
    assert L.vs_loss(z, y, class_prior=PRIOR, gamma=0.0, tau=0.0) == pytest.approx(float(F.cross_entropy(z, y)))


def test_effective_number_weights_run_from_uniform_to_inverse_frequency():
    torch.testing.assert_close(I.class_balanced_weights(COUNTS, beta=0.0), torch.ones(6, dtype=torch.float64))
    inverse = 1.0 / COUNTS.double()
    inverse = inverse * 6 / inverse.sum()
    near_one = I.class_balanced_weights(COUNTS, beta=1 - 1e-9)
    torch.testing.assert_close(near_one, inverse, rtol=1e-5, atol=0)
    for beta in (0.9, 0.99, 0.999, 0.9999):
        w = I.class_balanced_weights(COUNTS, beta=beta)
        assert w.sum().item() == pytest.approx(6.0)
        assert torch.all(w[1:] >= w[:-1])                       # rarer class, larger weight
        e = (1 - beta ** COUNTS.double()) / (1 - beta)            # the paper's effective number, directly
        torch.testing.assert_close(w, (1 / e) * 6 / (1 / e).sum())
    # beta = 0.9999 at these counts sits between uniform and inverse frequency
    w = I.class_balanced_weights(COUNTS, beta=0.9999)
    assert 1.0 < w[-1] / w[0] < inverse[-1] / inverse[0]


def test_class_balanced_loss_forms():
    z, y = _batch(seed=4)
    w = I.class_balanced_weights(COUNTS, beta=0.999)
    torch.testing.assert_close(L.class_balanced_loss(z, y, class_counts=COUNTS, beta=0.999, reduction="none"),
                               w[y] * F.cross_entropy(z, y, reduction="none"))
    onehot = F.one_hot(y, 6).double()
    bce = F.binary_cross_entropy_with_logits(z, onehot, reduction="none")
    torch.testing.assert_close(L.class_balanced_loss(z, y, class_counts=COUNTS, beta=0.999, loss_type="sigmoid",
                                                     reduction="none"), w[y] * bce.sum(1))
    p = torch.sigmoid(z)
    pt = torch.where(onehot == 1, p, 1 - p)
    torch.testing.assert_close(L.class_balanced_loss(z, y, class_counts=COUNTS, beta=0.999, loss_type="focal",
                                                     gamma=2.0, reduction="none"), w[y] * ((1 - pt) ** 2 * bce).sum(1))
    # beta = 0: the plain losses
    torch.testing.assert_close(L.class_balanced_loss(z, y, class_counts=COUNTS, beta=0.0), F.cross_entropy(z, y))


def test_ldam_margins_and_the_official_form():
    delta = I.ldam_margins(COUNTS, max_margin=0.5)
    assert delta.max().item() == pytest.approx(0.5) and int(delta.argmax()) == 5
    # two classes: Delta_1 / Delta_2 = (n_2 / n_1)^(1/4)
    assert (delta[0] / delta[3]).item() == pytest.approx((64 / 1000) ** 0.25)
    z, y = _batch(seed=5, scale=0.5)
    w = torch.linspace(0.5, 2.0, 6, dtype=torch.float64)
    # the official code: x_m = x - m_list[target] at the target, then F.cross_entropy(s * output, weight=w)
    out = z.clone()
    out[torch.arange(len(y)), y] -= delta.double()[y]
    torch.testing.assert_close(L.ldam(z, y, class_counts=COUNTS, class_weight=w),
                               F.cross_entropy(30.0 * out, y, weight=w))
    torch.testing.assert_close(L.ldam(z, y, class_counts=COUNTS, max_margin=0.0, s=1.0), F.cross_entropy(z, y))


def test_drw_schedule_and_epoch_state():
    uniform = torch.ones(6, dtype=torch.float64)
    cb = I.class_balanced_weights(COUNTS, beta=0.9999)
    torch.testing.assert_close(I.drw_class_weight(COUNTS, 159), uniform)
    torch.testing.assert_close(I.drw_class_weight(COUNTS, 160), cb)
    drw = I.DeferredReweighting(COUNTS, epochs=4, defer_epoch=2, s=1.0)
    z, y = _batch(seed=6, scale=0.5)
    seen = []
    for epoch in range(4):
        seen.append(float(drw(z, y)))
        drw.step(epoch)
    assert drw.epoch == 0                                            # ready for the next run
    plain = float(L.ldam(z, y, class_counts=COUNTS, s=1.0))
    weighted = float(L.ldam(z, y, class_counts=COUNTS, s=1.0, class_weight=cb))
    assert seen == pytest.approx([plain, plain, weighted, weighted])
    clone = pickle.loads(pickle.dumps(drw))
    assert float(clone(z, y)) == pytest.approx(plain)


def test_drw_through_the_trainer_callbacks():
    from lossnotes.train import train

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = torch.cat([torch.zeros(48), torch.ones(12), torch.full((4,), 2)]).long()
    data = type("D", (), {"x": x, "y": y})()
    drw = I.DeferredReweighting(torch.bincount(y), epochs=3, defer_epoch=1, s=1.0)
    weights = []
    history = train(torch.nn.Linear(4, 3), drw, data, epochs=3, batch_size=16, progress=False, device="cpu",
                    callbacks=[lambda e, m, h: weights.append(drw.class_weight()), drw.step])
    assert len(history.train_loss) == 3 and all(math.isfinite(v) for v in history.train_loss)
    assert torch.equal(weights[0], torch.ones(3, dtype=torch.float64))        # epoch 0 ran unweighted
    assert weights[1][2] > weights[1][0]                                      # epochs 1, 2 re-weighted
    assert drw.epoch == 0


def test_post_hoc_adjustment_is_the_balanced_bayes_rule():
    g = torch.Generator().manual_seed(7)
    posterior = torch.softmax(2 * torch.randn(200, 6, generator=g, dtype=torch.float64), 1)
    z = torch.log(posterior)
    adjusted = I.logit_adjust(z, PRIOR)
    assert torch.equal(adjusted.argmax(1), (posterior / PRIOR).argmax(1))
    assert not torch.equal(z.argmax(1), adjusted.argmax(1))
    torch.testing.assert_close(I.logit_adjust(z, PRIOR, tau=0.0), z)


@pytest.mark.parametrize("bad,exc,match", [
    ([5, 4, True], TypeError, "class_counts"), ([5.0, 4.0, 3.0], TypeError, "class_counts"),
    (torch.tensor([[5, 4, 3]]), ValueError, "class_counts"), (torch.tensor([5, 0, 3]), ValueError, ">= 1"),
])
def test_class_counts_are_checked(bad, exc, match):
    with pytest.raises(exc, match=match):
        I.class_balanced_weights(bad)


def test_class_prior_is_checked_and_may_be_a_list():
    z, y = _batch(c=3)
    assert torch.isfinite(L.logit_adjusted_ce(z, y, class_prior=[0.5, 0.3, 0.2]))
    with pytest.raises(ValueError, match="sum to 1"):
        L.logit_adjusted_ce(z, y, class_prior=[50, 30, 20])
    with pytest.raises(TypeError, match="class_prior"):
        L.logit_adjusted_ce(z, y, class_prior=torch.tensor([5, 3, 2]))
    with pytest.raises(ValueError, match="class_prior"):
        I.logit_adjust(z, torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="epoch"):
        I.drw_class_weight(COUNTS, -1)
