"""The chapter-06 study helpers: shot groups, the long-tail evaluator (and its post-hoc adjustment), the cosine
head, the class weights, the arms (every one trains a step and DRW's schedule follows the epochs), head
statistics, and the exact population minimisers of the Fisher-consistency toy."""
from functools import partial

import pytest
import torch
import torch.nn.functional as F

import lossnotes.losses as L
from lossnotes.studies import imbalance as SI
from lossnotes.train import train

COUNTS = [500, 300, 180, 110, 65, 40, 24, 14, 9, 5]


def test_shot_groups_are_thirds_by_count():
    g = SI.shot_groups(COUNTS)
    assert g == {"many": (0, 1, 2), "medium": (3, 4, 5, 6), "few": (7, 8, 9)}
    assert SI.shot_groups([5, 50, 500, 20])["many"] == (2,)
    with pytest.raises(ValueError, match="too few"):
        SI.shot_groups([3, 2])


class _Fixed(torch.nn.Module):
    """Returns stored logits row by row (the evaluator calls predict on data.x = row indices)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits[x.long().view(-1)]


def test_long_tail_scores_balanced_groups_and_posthoc():
    y = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    logits = torch.tensor([[2.0, 0.0, 0.0]] * 4 + [[1.0, 0.9, 0.0], [0.0, 2.0, 0.0], [1.0, 0.0, 0.5], [1.0, 0.0, 0.5]])
    data = type("D", (), {"x": torch.arange(8).float(), "y": y})()
    prior = (0.6, 0.3, 0.1)
    groups = {"many": (0,), "medium": (1,), "few": (2,)}
    s = SI.long_tail_scores(_Fixed(logits), data, "cpu", class_prior=prior, groups=groups)
    assert s["acc"] == pytest.approx(5 / 8)
    assert s["balanced_acc"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert (s["many"], s["medium"], s["few"]) == pytest.approx((1.0, 0.5, 0.0))
    # post-hoc: z - log pi; class 2's rows [1, 0, 0.5] -> [1.51, 1.20, 2.80]: now right
    assert s["posthoc_few"] == pytest.approx(1.0) and s["posthoc_balanced_acc"] > s["balanced_acc"]
    assert s["majority"] == pytest.approx(0.5) and s["finite"] == 1.0


def test_cosine_head_and_class_weights():
    m = SI.cosine_cnn2c(10)
    out = m(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 10) and out.abs().max() <= 1 + 1e-6
    inv = SI.class_weights(COUNTS, "inverse")
    assert inv.sum().item() == pytest.approx(10) and inv[-1] / inv[0] == pytest.approx(100, rel=1e-5)
    sq = SI.class_weights(COUNTS, "sqrt")
    assert sq[-1] / sq[0] == pytest.approx(10, rel=1e-5)
    eff = SI.class_weights(COUNTS, "effective")
    assert 1 < eff[-1] / eff[0] < 100
    with pytest.raises(ValueError, match="kind"):
        SI.class_weights(COUNTS, "log")


def test_every_arm_trains_and_drw_follows_the_epochs():
    g = torch.Generator().manual_seed(0)
    y = torch.cat([torch.full((n // 5,), k) for k, n in enumerate(COUNTS)]).long()
    data = type("D", (), {"x": torch.rand(len(y), 1, 28, 28, generator=g), "y": y})()
    counts = torch.bincount(y, minlength=10).tolist()
    arms = SI.make_arms(counts, epochs=2)
    assert tuple(arms) == SI.ARM_NAMES and set(SI.ARM_SOURCES) == set(SI.ARM_NAMES)
    for name, arm in arms.items():
        torch.manual_seed(0)
        history = train(arm.make_model(), arm.loss_fn, data, epochs=2, batch_size=32, lr=1e-3, optimizer="adam",
                        progress=False, device="cpu", **arm.train_kwargs)
        assert all(torch.isfinite(torch.tensor(history.train_loss))), name
    drw = arms["LDAM-DRW"].loss_fn
    assert drw.defer_epoch == 1 and drw.epoch == 0 and isinstance(arms["LDAM-DRW"].make_model().head, SI.NormedLinear)
    assert SI.make_arms(counts, epochs=10, names=["LDAM-DRW"])["LDAM-DRW"].loss_fn.defer_epoch == 8
    with pytest.raises(ValueError, match="unknown arm"):
        SI.make_arms(counts, epochs=2, names=["CE", "Hinge"])


def test_head_statistics():
    m = torch.nn.Module()
    m.head = torch.nn.Linear(4, 3)
    df = SI.head_statistics(m, [30, 20, 10])
    assert list(df.columns) == ["class", "count", "log prior", "weight norm", "bias"]
    torch.testing.assert_close(torch.tensor(df["weight norm"].values), m.head.weight.detach().norm(dim=1))
    assert SI.head_statistics(SI.cosine_cnn2c(3), [30, 20, 10])["bias"].isna().all()


def test_population_minimisers_and_balanced_error():
    g = torch.Generator().manual_seed(1)
    post = torch.softmax(torch.randn(40, 3, generator=g, dtype=torch.float64) * 2, 1)
    marginal = torch.full((40,), 1 / 40, dtype=torch.float64)
    prior = (marginal[:, None] * post).sum(0)
    z = SI.population_minimiser(L.softmax_cross_entropy, post)
    torch.testing.assert_close(torch.softmax(z, 1), post, atol=1e-4, rtol=0)      # CE is proper
    z_la = SI.population_minimiser(L.logit_adjusted_ce, post, class_prior=prior)
    torch.testing.assert_close(torch.softmax(z_la, 1), post / prior / (post / prior).sum(1, keepdim=True), atol=1e-4, rtol=0)
    bayes = (post / prior).argmax(1)
    assert SI.balanced_error(bayes, post, marginal) <= SI.balanced_error(post.argmax(1), post, marginal) + 1e-12
    assert SI.balanced_error(post.argmax(1), post, marginal) >= 0
    # a perfect rule on a deterministic posterior has balanced error 0
    hard = F.one_hot(torch.arange(40) % 3, 3).double()
    assert SI.balanced_error(hard.argmax(1), hard, marginal) == pytest.approx(0.0)


def test_long_tail_setting():
    train, test, model, cosine = SI.long_tail_setting("fashion-mnist", 100, 50, test_size=200, seed=1)
    counts = train.class_counts()
    assert counts[0] == 50 and counts[-1] == 1 and counts == sorted(counts, reverse=True)
    assert len(test) == 200 and set(test.class_counts()) == {20}                 # balanced test
    assert model()(train.x[:2]).shape == (2, 10) and isinstance(cosine().head, SI.NormedLinear)
    with pytest.raises(ValueError, match="cifar10_root"):
        SI.long_tail_setting("cifar10", 100, 50)
    with pytest.raises(ValueError, match="name"):
        SI.long_tail_setting("imagenet", 100, 50)
