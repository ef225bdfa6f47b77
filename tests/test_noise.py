"""Label-noise transforms (lossnotes.noise): transition matrices, realised flip rates, seeding, the memorisation
probe and evaluator."""
import numpy as np
import pytest
import torch

from lossnotes import noise
from lossnotes.experiments import validation_split


def _labels(n_per_class=500, k=10):
    return np.repeat(np.arange(k), n_per_class)


@pytest.mark.parametrize("eta", [0.0, 0.2, 0.4, 0.8])
def test_symmetric_flip_rate_and_transition_matrix(eta):
    y = _labels()
    t = noise.symmetric_transition(10, eta)
    assert np.allclose(t.sum(1), 1) and np.allclose(np.diag(t), 1 - eta)
    noisy = noise.flip_labels(y, t, seed=3)
    assert abs((noisy != y).mean() - eta) <= 1 / 500        # exact per class up to rounding
    emp = noise.empirical_transition(y, noisy, 10)
    assert np.allclose(np.diag(emp), 1 - eta, atol=1 / 500)
    if eta:
        off = emp[~np.eye(10, dtype=bool)]
        assert np.abs(off - eta / 9).max() < 0.04            # uniform over the other classes (sampling error)


def test_asymmetric_flips_only_the_pairs():
    y = _labels()
    t = noise.asymmetric_transition(10, 0.4)
    noisy = noise.flip_labels(y, t, seed=0)
    emp = noise.empirical_transition(y, noisy, 10)
    for a, b in noise.FASHION_PAIRS:
        assert emp[a, b] == pytest.approx(0.4) and emp[b, a] == pytest.approx(0.4)
        assert emp[a, a] == pytest.approx(0.6)
    for c in (1, 3, 8, 9):
        assert emp[c, c] == 1.0
    np.testing.assert_allclose(emp, t, atol=1e-12)
    assert (noisy != y).mean() == pytest.approx(0.4 * 6 / 10)


def test_flips_are_seeded():
    y = _labels(100)
    t = noise.symmetric_transition(10, 0.5)
    assert (noise.flip_labels(y, t, seed=1) == noise.flip_labels(y, t, seed=1)).all()
    assert (noise.flip_labels(y, t, seed=1) != noise.flip_labels(y, t, seed=2)).any()


@pytest.mark.parametrize("call,match", [
    (lambda: noise.symmetric_transition(10, 1.5), "eta"),
    (lambda: noise.symmetric_transition(10, "0.2"), "eta"),
    (lambda: noise.symmetric_transition(1, 0.2), "num_classes"),
    (lambda: noise.asymmetric_transition(10, 0.2, [(1, 1)]), "pairs"),
    (lambda: noise.asymmetric_transition(10, 0.2, [(1, 2), (2, 3)]), "pairs"),
    (lambda: noise.asymmetric_transition(10, 0.2, [(1, 12)]), "pairs"),
    (lambda: noise.transition_matrix("uniform", 10, 0.2), "kind"),
    (lambda: noise.flip_labels([0, 1], np.ones((2, 2))), "transition"),
    (lambda: noise.flip_labels([0, 5], np.eye(2)), "y"),
    (lambda: noise.flip_labels([0, 1], np.eye(2), seed=-1), "seed"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


class _Data:
    def __init__(self, n=300, k=3):
        g = torch.Generator().manual_seed(0)
        self.y = torch.arange(n) % k
        self.x = torch.randn(n, 4, generator=g) + 3 * torch.nn.functional.one_hot(self.y, 4).float()
        self.classes = [str(i) for i in range(k)]
        self.name = "toy"


def test_noisy_dataset_splits_with_its_clean_labels_and_probe_scores():
    noisy = noise.make_noisy(_Data(), "symmetric", 0.4, seed=0)
    assert noisy.noise_rate() == pytest.approx(0.4, abs=0.01)
    fit, val = validation_split(noisy, 0.1, seed=0)
    assert len(fit) + len(val) == len(noisy)
    assert (fit.y != fit.y_clean).float().mean() == pytest.approx(0.4, abs=0.05)
    probe = noise.probe_from(_Data(60), fit, n=50)
    assert (probe.probe_noisy != probe.probe_clean).all() and len(probe.probe_x) == 50

    class Oracle(torch.nn.Module):                 # predicts the clean class from the one-hot bump
        def forward(self, x):
            return x[:, :3]
    scores = noise.memorisation_scores(Oracle(), probe)
    assert scores["probe_clean"] > 0.9 and scores["memorised"] < 0.1 and "acc" in scores


def test_memorisation_scores_report_the_ceiling_of_noisy_labels():
    import torch
    from lossnotes.models import MLP
    from lossnotes.noise import NoisyDataset, memorisation_scores

    y_clean = torch.arange(40) % 4
    y = y_clean.clone()
    y[:10] = (y[:10] + 1) % 4                                     # a quarter of the labels flipped
    data = NoisyDataset(torch.randn(40, 3), y, y_clean, ["a", "b", "c", "d"])
    scores = memorisation_scores(MLP(3, hidden=(), num_classes=4), data)
    assert scores["ceiling"] == 0.75


def test_loss_for_every_label_and_symmetric_noise_risk_by_hand():
    import torch.nn.functional as F

    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    table = noise.loss_for_every_label(F.cross_entropy, logits)
    assert table.shape == (2, 3)
    np.testing.assert_allclose(table[1, 1], F.cross_entropy(logits[1:], torch.tensor([1])).item())
    labels = np.array([0, 1])
    want = np.mean([(1 - 0.3) * table[i, y] + 0.3 / 2 * (table[i].sum() - table[i, y]) for i, y in enumerate(labels)])
    np.testing.assert_allclose(noise.symmetric_noise_risk(table, labels, 0.3), want)
    stacked = noise.symmetric_noise_risk(np.stack([table, 2 * table]), labels, 0.3)      # one risk per hypothesis
    np.testing.assert_allclose(stacked, [want, 2 * want])
    np.testing.assert_allclose(noise.symmetric_noise_risk(table, labels, 0.0), table[[0, 1], labels].mean())
    with pytest.raises(ValueError, match="losses must be"):
        noise.symmetric_noise_risk(table, np.array([0, 1, 2]), 0.3)
    with pytest.raises(ValueError, match="labels must lie"):
        noise.symmetric_noise_risk(table, np.array([0, 3]), 0.3)
    with pytest.raises(ValueError, match="eta"):
        noise.symmetric_noise_risk(table, labels, 1.5)
    with pytest.raises(ValueError, match="logits"):
        noise.loss_for_every_label(F.cross_entropy, logits[0])


def test_label_sum_is_constant_exactly_for_symmetric_losses():
    import sympy as sp

    from lossnotes import symbolic as S

    for k in (2, 3):
        _, total = S.label_sum(S.normalized_ce, k)
        assert sp.simplify(total - 1) == 0
        z, total = S.label_sum(S.softmax_cross_entropy, k)
        at = {v: i for i, v in enumerate(z)}
        assert abs(float(sp.diff(total, z[0]).subs(at))) > 0.1        # CE's sum moves with z
    with pytest.raises(ValueError, match="num_classes"):
        S.label_sum(S.normalized_ce, 1)
