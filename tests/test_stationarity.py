"""Bias-stationarity relations of Li et al. 2020, Eq. (8)-(10): definitions, and exactness at the optimum."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lossnotes.losses import logistic_ova, softmax_cross_entropy
from lossnotes.models import MLP
from lossnotes.stationarity import (eq9_sides, eq10_sides, mean_probabilities, negative_hardness,
                                    pooled_negative_probability)
from lossnotes.synthetic import fit_binary, lbfgs_fit, sim1


def _three_class(n=(40, 120, 25), seed=0):
    """Overlapping 2-D Gaussians (not separable, so the optimum is finite), float64."""
    g = torch.Generator().manual_seed(seed)
    means = torch.tensor([[0.0, 0.0], [1.2, 0.3], [0.2, 1.4]], dtype=torch.float64)
    x = torch.cat([means[c] + torch.randn(m, 2, generator=g, dtype=torch.float64) for c, m in enumerate(n)])
    y = torch.cat([torch.full((m,), c) for c, m in enumerate(n)])
    return x, y


def _random_probs(n=30, k=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, k, generator=g, dtype=torch.float64), 1)
    y = torch.randint(0, k, (n,), generator=g)
    y[:k] = torch.arange(k)
    return probs, y


# ------------------------------------------------------------------------------------ definitions

def test_mean_probabilities_by_hand_and_nan_row_for_empty_class():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.1, 0.8, 0.1]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    p = mean_probabilities(probs, y, 3)
    torch.testing.assert_close(p[0], torch.tensor([0.6, 0.25, 0.15], dtype=torch.float64))
    torch.testing.assert_close(p[1], probs[2])
    assert torch.isnan(p[2]).all()


def test_eq9_sides_match_the_formula_with_mean_probabilities():
    probs, y = _random_probs()
    w = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)
    p = mean_probabilities(probs, y)
    n = torch.bincount(y, minlength=4).double()
    for lam in (None, w):
        lhs, rhs = eq9_sides(probs, y, class_weight=lam)
        l = torch.ones(4, dtype=torch.float64) if lam is None else lam
        exp_lhs = l * n * (1 - p.diagonal())
        exp_rhs = torch.stack([sum(l[j] * n[j] * p[j, k] for j in range(4) if j != k) for k in range(4)])
        torch.testing.assert_close(lhs, exp_lhs)
        torch.testing.assert_close(rhs, exp_rhs)


def test_eq9_with_an_empty_class_has_no_nan():
    probs, y = _random_probs()
    y = torch.where(y == 3, torch.zeros_like(y), y)
    lhs, rhs = eq9_sides(probs, y)
    assert torch.isfinite(lhs).all() and torch.isfinite(rhs).all()
    assert lhs[3] == 0


def test_eq10_is_eq9_for_two_classes():
    g = torch.Generator().manual_seed(3)
    p1 = torch.rand(50, generator=g, dtype=torch.float64)
    y = (torch.rand(50, generator=g) < 0.3).long()
    lam0, lam1 = 0.7, 0.2
    lhs10, rhs10 = eq10_sides(p1, y, lam0, lam1)
    lhs9, rhs9 = eq9_sides(torch.stack([1 - p1, p1], 1), y, class_weight=[lam0, lam1])
    torch.testing.assert_close(lhs10 / rhs10, lhs9[0] / rhs9[0])
    n0, n1 = int((y == 0).sum()), int((y == 1).sum())
    assert float(rhs10) == pytest.approx(lam1 * n1 / (lam0 * n0))
    assert float(lhs10) == pytest.approx(float(p1[y == 0].mean() / (1 - p1[y == 1]).mean()))
    torch.testing.assert_close(eq10_sides(p1[:, None], y, lam0, lam1)[0], lhs10)   # (N, 1) accepted


def test_negative_hardness_and_pooled_probability():
    probs, y = _random_probs()
    h = negative_hardness(probs, y, 2)
    p = mean_probabilities(probs, y)
    assert math.isnan(float(h[2]))
    torch.testing.assert_close(h[[0, 1, 3]], p[[0, 1, 3], 2])
    pooled = pooled_negative_probability(probs, y, 2)
    torch.testing.assert_close(pooled, probs[y != 2, 2].mean())


# ----------------------------------------------------------------------------- exact at the optimum

def _fit_linear(loss, x, y, k, class_weight, bias=True):
    model = MLP(2, hidden=(), num_classes=k).double()
    if not bias:
        model.head = nn.Linear(2, k, bias=False).double()
    info = lbfgs_fit(model, lambda z, t: loss(z, t, class_weight=class_weight, reduction="sum"), x, y,
                     max_iter=300)
    with torch.no_grad():
        logits = model(x)
    return logits, info


def _rel(a, b):
    return float(((a - b).abs() / b.abs().clamp_min(1e-300)).max())


@pytest.mark.parametrize("weighted", [False, True])
def test_eq9_holds_exactly_for_sml_at_the_optimum(weighted):
    x, y = _three_class()
    w = torch.tensor([2.0, 0.5, 3.0], dtype=torch.float64) if weighted else None
    torch.manual_seed(0)
    logits, info = _fit_linear(softmax_cross_entropy, x, y, 3, w)
    assert info["grad_max"] < 1e-8
    lhs, rhs = eq9_sides(torch.softmax(logits, 1), y, class_weight=w)
    assert _rel(lhs, rhs) < 1e-6


@pytest.mark.parametrize("weighted", [False, True])
def test_eq9_holds_exactly_for_lgl_with_sigmoid_probabilities(weighted):
    x, y = _three_class(seed=4)
    w = torch.tensor([0.3, 1.0, 2.5], dtype=torch.float64) if weighted else None
    torch.manual_seed(1)
    logits, info = _fit_linear(logistic_ova, x, y, 3, w)
    assert info["grad_max"] < 1e-8
    lhs, rhs = eq9_sides(torch.sigmoid(logits), y, class_weight=w)
    assert _rel(lhs, rhs) < 1e-6
    # the softmax of LGL's logits is not what LGL's stationarity constrains
    lhs_s, rhs_s = eq9_sides(torch.softmax(logits, 1), y, class_weight=w)
    assert _rel(lhs_s, rhs_s) > 1e-3


def test_eq9_needs_the_output_bias():
    x, y = _three_class()
    torch.manual_seed(0)
    logits, info = _fit_linear(softmax_cross_entropy, x + 3.0, y, 3, None, bias=False)
    assert info["grad_max"] < 1e-8                      # a true optimum, but of a model without bias
    lhs, rhs = eq9_sides(torch.softmax(logits, 1), y)
    assert _rel(lhs, rhs) > 1e-3


def test_eq10_inverse_frequency_weights_equalise_the_class_confidences():
    data = sim1(150, 1500, seed=7)
    n0, n1 = data.class_counts()
    fit = fit_binary("logistic", data, lambda0=1.0 / n0, lambda1=1.0 / n1, seed=0)
    p = fit.prob(data)
    lhs, rhs = eq10_sides(p, data.y, 1.0 / n0, 1.0 / n1)
    assert float(rhs) == pytest.approx(1.0)
    assert float(lhs) == pytest.approx(1.0, rel=1e-8)
    p00, p11 = float((1 - p[data.y == 0]).mean()), float(p[data.y == 1].mean())
    assert p00 == pytest.approx(p11, rel=1e-8)
    # unweighted: the majority class (1, ten times larger) is predicted more confidently
    plain = fit_binary("logistic", data, lambda0=1.0, lambda1=1.0, seed=0).prob(data)
    assert float(plain[data.y == 1].mean()) > float((1 - plain[data.y == 0]).mean()) + 0.05


# ------------------------------------------------------------------------------------- bad inputs

_BAD_INPUTS = [
    (lambda p, y: mean_probabilities(p[0], y), ValueError, "probs"),
    (lambda p, y: mean_probabilities(p * 3 - 1, y), ValueError, "probs"),
    (lambda p, y: mean_probabilities(p, y[:-1]), ValueError, "target"),
    (lambda p, y: mean_probabilities(p, y.double()), TypeError, "target"),
    (lambda p, y: mean_probabilities(p, y + 4), ValueError, "target"),
    (lambda p, y: mean_probabilities(p, y, 3), ValueError, "num_classes"),
    (lambda p, y: mean_probabilities((p * 10).long(), y), TypeError, "probs"),
    (lambda p, y: eq9_sides(p, y, class_weight=[1.0, 2.0]), ValueError, "class_weight"),
    (lambda p, y: eq9_sides(p, y, class_weight=[1.0, -2.0, 1.0, 1.0]), ValueError, "class_weight"),
    (lambda p, y: eq10_sides(p[:, :2], y.clamp(max=1), 1.0, 1.0), ValueError, "probs1"),
    (lambda p, y: eq10_sides(p[:, 0], y, 1.0, 1.0), ValueError, "target"),
    (lambda p, y: eq10_sides(p[:, 0], torch.zeros_like(y), 1.0, 1.0), ValueError, "target"),
    (lambda p, y: eq10_sides(p[:, 0], y.clamp(max=1), 0.0, 1.0), ValueError, "lambda0"),
    (lambda p, y: eq10_sides(p[:, 0], y.clamp(max=1), 1.0, -1.0), ValueError, "lambda1"),
    (lambda p, y: eq10_sides(p[:, 0] + 1, y.clamp(max=1), 1.0, 1.0), ValueError, "probs1"),
    (lambda p, y: negative_hardness(p, y, 4), ValueError, "k"),
]


@pytest.mark.parametrize("call, exc, word", _BAD_INPUTS, ids=[case[-1] for case in _BAD_INPUTS])
def test_bad_inputs_name_the_argument(call, exc, word):
    probs, y = _random_probs()
    with pytest.raises(exc, match=word):
        call(probs, y)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8])
def test_every_integer_label_dtype_gives_the_int64_result(dtype):
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(12, 3, generator=g, dtype=torch.float64), 1)
    target = torch.arange(12) % 3
    for fn, args in ((mean_probabilities, ()), (negative_hardness, (1,)), (pooled_negative_probability, (1,))):
        want = fn(probs, target, *args)
        got = fn(probs, target.to(dtype), *args)
        for a, b in zip(want if isinstance(want, tuple) else (want,), got if isinstance(got, tuple) else (got,)):
            torch.testing.assert_close(a, b, equal_nan=True)
    torch.testing.assert_close(eq9_sides(probs, target.to(dtype), torch.ones(3, dtype=torch.float64)),
                               eq9_sides(probs, target, torch.ones(3, dtype=torch.float64)))
    p1 = probs[:, 1] / probs[:, :2].sum(1)
    torch.testing.assert_close(eq10_sides(p1, (target % 2).to(dtype), 1.0, 1.0), eq10_sides(p1, target % 2, 1.0, 1.0))
