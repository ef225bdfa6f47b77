"""lossnotes.studies.selective_matching: the sensitivity-type rule, the design tables, the toys, the figure helpers."""
import math

import matplotlib
import numpy as np
import pytest
import torch
from scipy.special import expit

matplotlib.use("Agg")

from lossnotes import links  # noqa: E402
from lossnotes import losses as L  # noqa: E402
from lossnotes.studies import selective_matching as SM  # noqa: E402

F64 = dict(dtype=torch.float64)


@pytest.mark.parametrize("values, expected", [
    ((1.0, 1.0, 1.0), "flat"), ((1.0, 1.005, 1.0), "flat"), ((3.0, 1.0, 2.0), "high norm"),
    ((5.0, 1.0, 1.2), "low score"), ((1.0, 1.0, 5.0), "high score"), ((1.0, 5.0, 1.0), "low norm"),
    ((1.0, 1.05, 1.0), "none"), ((-0.1, 1.0, 1.0), "negative Δ"), ((9.0, 1.0, 2.0), "low score"),
])
def test_sensitivity_type_rule(values, expected):
    assert SM.sensitivity_type(*values) == expected


def test_multiclass_type_reads_top_middle_bottom():
    assert SM.multiclass_type(torch.tensor([5.0, 1.0, 1.0])) == "high score"      # class 1 holds s = 3
    assert SM.multiclass_type(torch.tensor([1.0, 1.0, 5.0])) == "low score"


def test_standard_softmax_leads_by_five_percent_and_is_no_type():
    d = SM.sensitivity_at("softmax", None, SM.S3)
    assert torch.allclose(d, torch.softmax(SM.S3, 0) * (1 - torch.softmax(SM.S3, 0)))
    assert 1.0 < float(d[0] / d[1]) < 1.1 and SM.multiclass_type(d) == "none"
    with pytest.raises(ValueError, match="kind"):
        SM.sensitivity_at("other", None, SM.S3)


def test_table1_at_beta2_is_the_papers_plus_its_remarks():
    t1 = SM.table1(SM.classify(2.0))
    for typ in SM.TYPES:
        want = set(SM.PAPER_TABLE1[typ]) | {n for n, t in SM.PAPER_REMARKS.items() if t == typ}
        assert set(t1[typ]) == want, typ
    cls = SM.classify(2.0)
    assert not cls.loc["decomposed h = e^z", "ranking sensitive"] and cls.loc["q = e^z", "ranking sensitive"]


def test_clipping_monotone_symmetric():
    g = SM.score_grid(121)
    assert SM.clips_low_scores(links.step_link(), g) and SM.clips_low_scores(links.smelu_link(1.0), g)
    assert not SM.clips_low_scores(links.exp_link(), g) and not SM.clips_low_scores(links.identity_link(), g)
    assert SM.monotone_probabilities(links.exp_link(), g) and not SM.monotone_probabilities(links.tanh_link(), g)
    assert SM.symmetric_scalar_loss(links.tanh_link(), g) and not SM.symmetric_scalar_loss(links.sigmoid_link(), g)


def test_composite_sigmoid_link_is_the_gradient_of_the_package_loss():
    g = SM.score_grid(61)
    q = links.tanh_link(1.0, 2.0)
    x = g.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(L.composite_sigmoid(x, torch.full_like(x, 1.0), q=q, reduction="sum"), x)
    h, dh = SM.composite_sigmoid_link(q, g)
    h1, _ = SM.composite_sigmoid_link(q, torch.tensor([1.0], **F64))
    assert torch.allclose(grad, h - h1, atol=1e-12)
    assert torch.allclose(dh, SM.second_derivative(lambda v: L.composite_sigmoid(
        v, torch.full_like(v, 1.0), q=q, reduction="none"), g), atol=1e-10)


def test_curves_projection_and_grid_index():
    g = SM.score_grid(241)
    curves = SM.scalar_curves(L.matching_loss, g, link=links.exp_link())
    for s, c in curves.items():
        assert abs(float(c[SM.grid_index(g, s)])) < 1e-12 and float(c.min()) >= 0
    with pytest.raises(ValueError, match="grid point"):
        SM.grid_index(g, 0.01)
    proj = SM.projection(L.composite_softmax, SM.S3, 0, g, q=links.exp_link())
    assert float(proj[SM.grid_index(g, 3.0)]) == pytest.approx(0.0, abs=1e-12)
    assert SM.latex_number(0.05) == "0.05" and SM.latex_number(2.6e54) == "2.6\\cdot 10^{54}"


def test_cosh_scan_reports_types():
    scan = SM.cosh_scan((1.0, 0.2), (0.0, 4.0), SM.score_grid(121))
    assert len(scan) == 4 and set(scan.columns) == {"alpha", "beta", "scalar", "multiclass"}
    assert scan.set_index(["alpha", "beta"]).loc[(1.0, 0.0), "multiclass"] == "high score"


def test_toy_fit_row1_fits_the_high_labels():
    X, s = SM.toy_data()
    assert X.shape == (30, 2) and torch.equal(SM.toy_data(mirror=True)[1], -s)
    w, grad = SM.fit_toy(X, s, links.sigmoid_link(2.0, 8.0))
    assert grad < 1e-8
    summary = SM.toy_summary(X, s, w)
    assert summary["mean |ŝ−s|, high group"] < 0.05 and summary["mean |ŝ−s|, low group"] > 1.0


def test_stochastic_optima_are_proposition_1():
    k = torch.arange(1, 19, **F64)
    link = links.exp_link(10.0, 0.0, cap=links.CAP_MAX)
    eh = (link.h(0.1 + 0.05 * k) + k * link.h(torch.full_like(k, 0.05))) / (k + 1)
    assert torch.allclose(link.inverse(eh), SM.stochastic_optimum_mixture(10.0, k), rtol=1e-12)
    num = SM.expected_loss_argmin(torch.tensor([0.6, 0.4], **F64), torch.tensor([0.5, 0.5], **F64),
                                  links.exp_link(5.0, 1.0, cap=links.CAP_MAX))
    assert num == pytest.approx(float(SM.stochastic_optimum_pair(5.0, 0.5, torch.tensor(0.1, **F64))), abs=1e-7)
    assert num > 0.5                                                          # pulled toward the high score


def test_optimal_offset_matches_bust():
    tau = 1e-3
    off = SM.optimal_offset(expit, -4.0, 4.0, 0.5, 1.0, tau)
    bust = (expit(1.5) - expit(0.5)) / (expit(4.0) - expit(-4.0))
    assert off / tau == pytest.approx(bust, rel=1e-2)
    assert SM.optimal_offset(np.tanh, -4.0, 4.0, 0.5, 0.0, tau) == pytest.approx(0.0, abs=1e-12)
    assert SM.optimal_offset(links.sigmoid_link(), -4.0, 4.0, 0.5, 1.0, tau) == pytest.approx(off, rel=1e-9)


def test_multiclass_figure_types():
    fig, types = SM.multiclass_figure([("q = e^z", links.exp_link()), ("q = tanh(z−2)", links.tanh_link(1, 2))],
                                      SM.score_grid(61), "test", scalar_row=True)
    assert types == {"q = e^z": "high score", "q = tanh(z−2)": "low score"}
    assert len(fig.axes) == 10
    import matplotlib.pyplot as plt
    plt.close(fig)
    assert math.isfinite(float(SM.S3.sum()))
