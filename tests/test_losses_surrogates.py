"""Identities of the batch-level surrogates (lossnotes.losses.surrogates) that the battery does not cover:
soft Dice at hard predictions is 1 - F1; AnyLoss's soft F1 tends to the hard F1 as the amplifier grows and the
other metrics match scikit-learn's at hard predictions; AUC-square is the mean over positive-negative pairs;
AUC-M's closed form is the min-max value and beats any other alpha; labels with one class contribute 0;
the reductions of a batch-level loss."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, fbeta_score, recall_score

import lossnotes.losses as L
from lossnotes.losses.surrogates import soft_confusion


def _batch(n=40, c=5, scale=3.0, seed=0, p=0.3):
    g = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(n, c, generator=g, dtype=torch.float64)
    y = (torch.rand(n, c, generator=g) < p).double()
    y[0], y[1] = 1.0, 0.0                        # every label has both classes
    return z, y


def _hard(z, big=200.0):
    """Logits whose sigmoid is 0 or 1 in float64: the hard predictions z > 0."""
    return torch.where(z > 0, big, -big).double()


def test_dice_at_hard_predictions_is_one_minus_f1():
    z, y = _batch()
    per_label_f1 = f1_score(y.numpy(), (z > 0).numpy(), average=None, zero_division=1.0)
    got = L.dice_loss(_hard(z), y, smooth=0.0)
    assert math.isclose(float(got), float(np.mean(1 - per_label_f1)), rel_tol=1e-12)


@pytest.mark.parametrize("metric,sk", [
    ("f1", lambda t, p: f1_score(t, p)),
    ("fbeta", lambda t, p: fbeta_score(t, p, beta=2.0)),
    ("accuracy", accuracy_score),
    ("balanced_accuracy", balanced_accuracy_score),
    ("gmean", lambda t, p: math.sqrt(recall_score(t, p) * recall_score(1 - t, 1 - p))),
])
def test_anyloss_at_hard_predictions_is_one_minus_the_metric(metric, sk):
    z, y = _batch(c=1, seed=1)
    got = L.anyloss(_hard(z), y, metric=metric, beta=2.0)
    ref = 1 - sk(y.numpy().ravel().astype(int), (z > 0).numpy().ravel().astype(int))
    assert math.isclose(float(got), ref, rel_tol=1e-9, abs_tol=1e-12)


def test_anyloss_f1_tightens_as_the_amplifier_grows_within_the_derived_bound():
    z, y = _batch(n=400, c=1, scale=2.0, seed=2)
    z = z + 0.2 * torch.sign(z)                   # every p at least sigma(0.2) - 1/2 ~ 0.05 from 1/2
    hard_f1 = f1_score(y.numpy().ravel(), (z > 0).numpy().ravel())
    p = torch.sigmoid(z)
    delta = float((p - 0.5).abs().min())
    gaps = []
    for amp in (5.0, 20.0, 73.0, 300.0):
        soft = 1 - float(L.anyloss(z, y, amplifier=amp))
        gap = abs(soft - hard_f1)
        n, n_pos = len(y), float(y.sum())
        bound = (2 + n / n_pos) / (1 + math.exp(amp * delta))
        assert gap <= bound + 1e-12
        gaps.append(gap)
    assert gaps[-1] < 1e-3 < gaps[0], "the soft F1 reaches the hard one as the amplifier grows"


def test_soft_confusion_sums_to_the_batch():
    z, y = _batch(seed=3)
    tn, fn, fp, tp = soft_confusion(z, y)
    torch.testing.assert_close(tn + fn + fp + tp, torch.full((5,), 40.0, dtype=torch.float64))
    torch.testing.assert_close(tp + fn, y.sum(0))


def test_auc_square_is_the_mean_over_positive_negative_pairs():
    z, y = _batch(seed=4)
    h = torch.sigmoid(z)
    for margin in (1.0, 0.3):
        per_label = []
        for c in range(5):
            hp, hn = h[y[:, c] > 0, c], h[y[:, c] == 0, c]
            per_label.append(((margin - hp[:, None] + hn[None, :]) ** 2).mean())
        torch.testing.assert_close(L.auc_square(z, y, margin=margin), torch.stack(per_label).mean())


def test_auc_margin_closed_form_is_the_min_max_value():
    z, y = _batch(seed=5, scale=1.0)
    h = torch.sigmoid(z[:, 0])
    hp, hn = h[y[:, 0] > 0], h[y[:, 0] == 0]
    m = 1.0

    def objective(a, b, alpha):
        return ((hp - a) ** 2).mean() + ((hn - b) ** 2).mean() + 2 * alpha * (m - hp.mean() + hn.mean()) - alpha ** 2

    closed = L.auc_margin(z[:, :1], y[:, :1])
    alpha_star = max(0.0, float(m - hp.mean() + hn.mean()))
    torch.testing.assert_close(closed, objective(hp.mean(), hn.mean(), alpha_star))
    for alpha in np.linspace(0, 2, 41):                     # alpha* maximises ...
        assert float(objective(hp.mean(), hn.mean(), alpha)) <= float(closed) + 1e-12
    for shift in (-0.2, 0.1, 0.3):                           # ... and a, b minimise
        assert float(objective(hp.mean() + shift, hn.mean() - shift, alpha_star)) >= float(closed)


def test_auc_margin_hinge_stops_pulling_separated_pairs_and_auc_square_does_not():
    z = torch.tensor([[8.0], [7.0], [-8.0], [-7.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1.0], [1.0], [0.0], [0.0]], dtype=torch.float64)
    (g_m,) = torch.autograd.grad(L.auc_margin(z, y, margin=0.5), z)
    (g_s,) = torch.autograd.grad(L.auc_square(z, y, margin=0.5), z)
    gap_grad = lambda g: float(g[:2].sum() - g[2:].sum())   # noqa: E731
    assert abs(gap_grad(g_m)) < abs(gap_grad(g_s)) * 1e-2
    assert gap_grad(g_s) > 0, "AUC-square pushes the separated positives back towards the margin"


def test_official_auc_variants_weigh_by_the_batch_share():
    z, y = _batch(seed=6)
    p = y.mean(0)
    for fn in (L.auc_margin, L.auc_square):
        torch.testing.assert_close(fn(z, y, variant="official", reduction="sum"),
                                   (p * (1 - p) * torch.stack([fn(z[:, c:c + 1], y[:, c:c + 1]) for c in range(5)])).sum())


def test_a_label_with_one_class_in_the_batch_has_no_auc_loss():
    z, y = _batch(seed=7)
    y[:, 2] = 0.0
    full = L.auc_margin(z, y, reduction="sum")
    rest = L.auc_margin(z[:, [0, 1, 3, 4]], y[:, [0, 1, 3, 4]], reduction="sum")
    torch.testing.assert_close(full, rest)


@pytest.mark.parametrize("fn", [L.dice_loss, L.anyloss, L.auc_margin, L.auc_square])
def test_batch_level_reductions(fn):
    z, y = _batch(seed=8)
    total = fn(z, y, reduction="sum")
    none = fn(z, y, reduction="none")
    assert none.shape == (40,) and torch.allclose(none, none[0].expand(40))
    torch.testing.assert_close(none.sum(), total)
    torch.testing.assert_close(fn(z, y), total / 5)
