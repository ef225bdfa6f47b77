"""Calibration metrics: against torchmetrics (equal-width ECE and MCE), against a plain-loop reference written
from the definitions (equal-mass ECE, classwise ECE), on cases with a known answer, and temperature scaling."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lossnotes import calibration as cal


def _logits(n=2000, k=5, seed=0, scale=2.5):
    g = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(n, k, generator=g, dtype=torch.float64)
    y = torch.distributions.Categorical(logits=z / 1.7).sample()          # over-confident logits by design
    return z, y


def _loop_ece(conf, hit, edges_of):
    """ECE by a plain loop over bins given as boolean masks."""
    total = 0.0
    for mask in edges_of(conf):
        if mask.sum():
            total += mask.sum() / len(conf) * abs(hit[mask].mean() - conf[mask].mean())
    return total


def test_ece_and_mce_agree_with_torchmetrics():
    tm = pytest.importorskip("torchmetrics.functional.classification")
    for seed in range(3):
        z, y = _logits(seed=seed)
        p = torch.softmax(z, 1)
        for n_bins in (10, 15):
            ref_ece = float(tm.multiclass_calibration_error(p.float(), y, num_classes=5, n_bins=n_bins, norm="l1"))
            ref_mce = float(tm.multiclass_calibration_error(p.float(), y, num_classes=5, n_bins=n_bins, norm="max"))
            assert math.isclose(cal.expected_calibration_error(z, y, n_bins=n_bins), ref_ece, abs_tol=1e-5)
            assert math.isclose(cal.maximum_calibration_error(z, y, n_bins=n_bins), ref_mce, abs_tol=1e-5)


def test_equal_mass_and_classwise_ece_agree_with_a_loop_reference():
    z, y = _logits(n=1003, seed=4)
    p = torch.softmax(z, 1).numpy()
    conf, pred = p.max(1), p.argmax(1)
    hit = (pred == y.numpy()).astype(float)

    def mass_bins(c, n_bins=15):
        edges = np.quantile(c, np.linspace(0, 1, n_bins + 1))
        for b in range(n_bins):
            yield (c >= edges[b]) & ((c < edges[b + 1]) if b < n_bins - 1 else (c <= edges[-1]))

    def width_bins(c, n_bins=15):
        for b in range(n_bins):
            hi = (b + 1) / n_bins
            yield (c >= b / n_bins) & ((c < hi) if b < n_bins - 1 else (c <= 1.0))

    assert math.isclose(cal.expected_calibration_error(z, y, binning="mass"), _loop_ece(conf, hit, mass_bins), rel_tol=1e-12)
    assert math.isclose(cal.expected_calibration_error(z, y), _loop_ece(conf, hit, width_bins), rel_tol=1e-12)
    cw = np.mean([_loop_ece(p[:, k], (y.numpy() == k).astype(float), width_bins) for k in range(p.shape[1])])
    assert math.isclose(cal.classwise_calibration_error(z, y), cw, rel_tol=1e-12)
    sizes = cal.calibration_bins(z, y, binning="mass")["count"]
    assert sizes.max() - sizes.min() <= 2 and sizes.sum() == len(y)


def test_known_answers():
    # every prediction right with confidence 1: calibrated
    y = torch.arange(10) % 3
    assert cal.expected_calibration_error(torch.nn.functional.one_hot(y, 3).double(), y) == 0.0
    # confidence 0.9 everywhere, accuracy 0.6: ECE = MCE = 0.3 in every binning
    p = torch.tensor([[0.9, 0.1]] * 10, dtype=torch.float64)
    y = torch.tensor([0] * 6 + [1] * 4)
    for binning in cal.BINNINGS:
        assert math.isclose(cal.expected_calibration_error(p, y, binning=binning), 0.3, rel_tol=1e-12)
        assert math.isclose(cal.maximum_calibration_error(p, y, binning=binning), 0.3, rel_tol=1e-12)
    # labels drawn from the model's own probabilities: ECE shrinks towards 0 as N grows
    g = torch.Generator().manual_seed(3)
    z = 2 * torch.randn(200_000, 4, generator=g, dtype=torch.float64)
    y = torch.distributions.Categorical(logits=z).sample()
    assert cal.expected_calibration_error(z, y) < 0.01
    assert cal.classwise_calibration_error(z, y) < 0.005


def test_probabilities_are_told_from_logits():
    z, y = _logits(n=50, seed=5)
    p = torch.softmax(z, 1)
    assert math.isclose(cal.expected_calibration_error(z, y), cal.expected_calibration_error(p, y), rel_tol=1e-12)
    torch.testing.assert_close(cal.probabilities(p), p)
    with pytest.raises(ValueError, match="from_logits"):
        cal.probabilities(z, from_logits=False)


@pytest.mark.parametrize("bad,exc,match", [
    (lambda z, y: (z[:, :1], y), ValueError, "scores"),
    (lambda z, y: (z, y[:-1]), ValueError, "target"),
    (lambda z, y: (z, y.double()), TypeError, "target"),
    (lambda z, y: (z, y + 10), ValueError, "target"),
    (lambda z, y: (z.long(), y), TypeError, "scores"),
    (lambda z, y: (torch.full_like(z, float("nan")), y), ValueError, "finite"),
])
def test_bad_input_is_named(bad, exc, match):
    z, y = _logits(n=20, seed=6)
    with pytest.raises(exc, match=match):
        cal.expected_calibration_error(*bad(z, y))
    with pytest.raises(ValueError, match="n_bins"):
        cal.expected_calibration_error(z, y, n_bins=0)
    with pytest.raises(ValueError, match="binning"):
        cal.expected_calibration_error(z, y, binning="quantile")


def test_temperature_scaling_recovers_the_temperature_and_lowers_ece():
    g = torch.Generator().manual_seed(7)
    true = 2.0 * torch.randn(20_000, 6, generator=g, dtype=torch.float64)
    y = torch.distributions.Categorical(logits=true).sample()
    for t_true in (0.5, 3.0):
        logits = true / t_true                          # a model whose logits are off by a factor
        t = cal.fit_temperature(logits, y)
        assert math.isclose(t, 1.0 / t_true, rel_tol=0.05), (t, 1 / t_true)
        assert cal.expected_calibration_error(logits / t, y) < 0.5 * cal.expected_calibration_error(logits, y)
    # the fitted T minimises the NLL on a grid around it
    t = cal.fit_temperature(true / 3.0, y)
    nll = lambda s: float(torch.nn.functional.cross_entropy(true / 3.0 / s, y))   # noqa: E731
    assert nll(t) <= min(nll(t * 0.97), nll(t * 1.03))
    with pytest.raises(ValueError, match="bounds"):
        cal.fit_temperature(true, y, bounds=(2.0, 1.0))


def test_calibration_scores_is_a_protocol_evaluator():
    from lossnotes.train import TensorData

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    data = TensorData(torch.randn(30, 4), torch.arange(30) % 3)
    s = cal.calibration_scores(model, data)
    assert {"acc", "nll", "ece", "ece_mass", "mce", "cw_ece", "top_share", "majority", "finite"} <= set(s)
    assert 0 <= s["ece"] <= 1 and s["finite"] == 1.0 and math.isclose(s["majority"], 1 / 3)


def test_reliability_diagram_draws_and_returns_the_bins():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z, y = _logits(n=500, seed=8)
    fig, axes = plt.subplots(1, 2)
    for ax, binning in zip(axes, cal.BINNINGS):
        bins = cal.reliability_diagram(ax, z, y, binning=binning, label="toy")
        assert bins["count"].sum() == 500
        assert "ECE" in ax.get_title()
    plt.close(fig)
