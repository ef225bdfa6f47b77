"""Li et al. 2020 simulations (Sim1, Sim2, Table 1) and the multi-modality-neglect example."""
from __future__ import annotations

import math

import pytest
import torch

from lossnotes.data import Dataset
from lossnotes.losses import lgl_inr_weights, logistic_ova
from lossnotes.models import MLP
from lossnotes.stationarity import eq10_sides
from lossnotes.synthetic import (TABLE1_PAPER, fit_binary, lbfgs_fit, multimodal_negatives, negative_hardness,
                                 pooled_negative_probability, sim1, sim2, table1, table1_lambda_settings)


def _within(sample_value, expected, se, z=5.0):
    assert abs(sample_value - expected) < z * se, (sample_value, expected, se)


# ------------------------------------------------------------------------------------ generators

@pytest.mark.parametrize("gen, d", [(sim1, 1), (sim2, 3)])
def test_shapes_dtypes_counts_and_seed(gen, d):
    data = gen(30, 70, seed=3)
    assert isinstance(data, Dataset)
    assert data.x.shape == (100, d) and data.x.dtype == torch.float32
    assert data.y.shape == (100,) and data.y.dtype == torch.int64
    assert data.class_counts() == [30, 70]
    again = gen(30, 70, seed=3)
    assert torch.equal(data.x, again.x) and torch.equal(data.y, again.y)
    assert not torch.equal(data.x, gen(30, 70, seed=4).x)
    assert not torch.equal(data.y[:30], torch.zeros(30, dtype=torch.long))      # shuffled, not sorted


def test_sim1_is_normal_plus_uniform():
    n = 40000
    data = sim1(n, n, seed=0)
    var = 1.0 + 0.5 ** 2 / 12                       # N(., 1) + U(width 0.5), independent
    for c, mean in ((1, -1.5 + 0.25), (0, 1.5 - 0.25)):
        x = data.x[data.y == c, 0].double()
        _within(float(x.mean()), mean, math.sqrt(var / n))
        _within(float(x.var()), var, var * math.sqrt(2.0 / n))
    # the uniform shifts: class 1 right of N(-1.5, 1) by 0.25, class 0 left of N(1.5, 1) by 0.25 (not a mixture)
    x1 = data.x[data.y == 1, 0].double()
    _within(float((x1 > -1.25).double().mean()), 0.5, 0.5 / math.sqrt(n))


@pytest.mark.parametrize("sigma_is, var1", [("cov", 1.2), ("std", 1.44)])
def test_sim2_gaussians(sigma_is, var1):
    n = 20000
    data = sim2(n, n, seed=1, sigma_is=sigma_is)
    for c, mean, var in ((1, 0.0, var1), (0, 1.0, 1.0)):
        x = data.x[data.y == c].double()
        for j in range(3):
            _within(float(x[:, j].mean()), mean, math.sqrt(var / n))
            _within(float(x[:, j].var()), var, var * math.sqrt(2.0 / n))
        cov = torch.cov(x.T)
        off = cov[~torch.eye(3, dtype=torch.bool)]
        assert off.abs().max() < 5 * var / math.sqrt(n)


def test_multimodal_negatives_layout():
    data = multimodal_negatives(500, seed=0)
    assert data.num_classes == 4 and data.classes[:2] == ["target", "hard"]
    assert data.x.shape == (2000, 2) and data.class_counts() == [500] * 4
    means = torch.stack([data.x[data.y == c].double().mean(0) for c in range(4)])
    dist = torch.cdist(means, means)
    assert abs(float(dist[0, 1]) - 2.0) < 0.3                        # hard_gap
    assert float(dist[0, 2:].min()) > 6.0                            # easy classes far
    assert torch.allclose(means.norm(dim=1), torch.full((4,), 4.0, dtype=torch.float64), atol=0.3)
    assert torch.equal(multimodal_negatives(500, seed=0).x, data.x)
    uneven = multimodal_negatives([5, 6, 7, 8, 9], seed=1, num_easy=3)
    assert uneven.class_counts() == [5, 6, 7, 8, 9] and uneven.classes[-1] == "easy3"


def test_multimodal_negatives_hard_class_is_hidden_by_pooling_and_found_by_inr_weights():
    data = multimodal_negatives(200, seed=2)
    x, y = data.x.double(), data.y
    torch.manual_seed(0)
    model = MLP(2, hidden=(), num_classes=4).double()
    lbfgs_fit(model, lambda z, t: logistic_ova(z, t, reduction="sum"), x, y, max_iter=200)
    with torch.no_grad():
        logits = model(x)
    probs = torch.sigmoid(logits)
    hard = negative_hardness(probs, y, 0)
    assert math.isnan(float(hard[0]))
    assert float(hard[1]) > 5 * float(hard[2:].max())               # the hard class stands out ...
    assert float(pooled_negative_probability(probs, y, 0)) < 0.5 * float(hard[1])   # ... the pooled mean hides it
    lam = lgl_inr_weights(logits, y, beta=10.0)[:, 0]                # LGL-INR weights for target class 0
    assert int(lam.argmax()) == 1


# --------------------------------------------------------------------------------------- fitting

@pytest.mark.parametrize("lam", [(0.5, 0.5), (10 / 11, 1 / 11), (1.0, 3.0)])
def test_fit_binary_logistic_makes_eq10_an_identity_on_training_data(lam):
    data = sim1(200, 2000, seed=5)
    fit = fit_binary("logistic", data, lambda0=lam[0], lambda1=lam[1], seed=0)
    p = fit.prob(data)
    assert p.shape == (2200,) and p.dtype == torch.float64 and bool(((p >= 0) & (p <= 1)).all())
    assert fit.model.fit_info["grad_max"] < 1e-7                     # convex: converged
    lhs, rhs = eq10_sides(p, data.y, *lam)
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-4)


def test_fit_binary_mlp_eq10_identity_and_determinism():
    data = sim2(100, 1000, seed=6)
    fits = [fit_binary("mlp", data, lambda0=0.5, lambda1=0.5, seed=3, max_iter=30) for _ in range(2)]
    lhs, rhs = eq10_sides(fits[0].prob(data), data.y, 0.5, 0.5)
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-4)
    assert float(rhs) == pytest.approx(10.0)
    assert torch.equal(fits[0].prob(data.x), fits[1].prob(data.x))
    assert fits[0].model.fit_info["bias_grad_max"] < 1e-12
    w0 = fits[0].model.body[1].weight
    other = fit_binary("mlp", data, lambda0=0.5, lambda1=0.5, seed=4, max_iter=1)
    assert not torch.equal(w0, other.model.body[1].weight)


@pytest.mark.parametrize("kwargs, word", [
    ({"model_kind": "svm"}, "model_kind"), ({"lambda0": 0.0}, "lambda0"), ({"lambda1": -1.0}, "lambda1"),
    ({"seed": -1}, "seed"), ({"max_iter": 0}, "max_iter"),
])
def test_fit_binary_bad_inputs(kwargs, word):
    args = {"model_kind": "logistic", "lambda0": 1.0, "lambda1": 1.0, "seed": 0} | kwargs
    kind = args.pop("model_kind")
    with pytest.raises(ValueError, match=word):
        fit_binary(kind, sim1(5, 5, seed=0), **args)


_BAD_TABLE = [
    (lambda: sim1(-1, 5, seed=0), "n0"), (lambda: sim1(5, 2.5, seed=0), "n1"), (lambda: sim1(0, 0, seed=0), "n0"),
    (lambda: sim1(5, 5, seed=-3), "seed"), (lambda: sim2(5, 5, seed=0, sigma_is="var"), "sigma_is"),
    (lambda: multimodal_negatives(-1, seed=0), "n_per_subclass"),
    (lambda: multimodal_negatives([1, 2], seed=0), "n_per_subclass"),
    (lambda: multimodal_negatives(5, seed=0, hard_gap=0.0), "hard_gap"),
    (lambda: multimodal_negatives(5, seed=0, num_easy=0), "num_easy"),
    (lambda: table1_lambda_settings(0, 10, True), "n0"),
    (lambda: table1_lambda_settings(10, 10, "yes"), "as_printed"),
    (lambda: table1("sim3", runs=1), "sim"),
    (lambda: table1("sim1", runs=0), "runs"),
    (lambda: table1("sim1", runs=1, lambda_settings="fixed"), "lambda_settings"),
    (lambda: table1("sim1", runs=1, lambda_settings=[(0.5, 0.0)]), "lambda1"),
    (lambda: table1("sim1", runs=1, n_train=(10,)), "n_train"),
]


@pytest.mark.parametrize("call, word", _BAD_TABLE, ids=[case[-1] for case in _BAD_TABLE])
def test_generator_and_table_bad_inputs(call, word):
    with pytest.raises(ValueError, match=word):
        call()


# --------------------------------------------------------------------------------------- Table 1

def _rhs(settings, n0, n1):
    return [l1 * n1 / (l0 * n0) for l0, l1 in settings]


def test_table1_lambda_settings_printed_vs_corrected():
    printed = table1_lambda_settings(1000, 10000, as_printed=True)
    corrected = table1_lambda_settings(1000, 10000, as_printed=False)
    for settings in (printed, corrected):
        assert all(l0 + l1 == pytest.approx(1.0) for l0, l1 in settings)
    assert printed[1][0] == pytest.approx(1000 / 11000) and printed[2][0] == pytest.approx(2000 / 12000)
    assert _rhs(printed, 1000, 10000) == pytest.approx([10.0, 100.0, 50.0])        # not the printed RHS
    assert _rhs(corrected, 1000, 10000) == pytest.approx(list(TABLE1_PAPER["rhs"]))  # 10, 1, 0.5
    assert _rhs(table1_lambda_settings(300, 700, False), 300, 700) == pytest.approx([7 / 3, 1.0, 0.5])


def test_table1_small_run():
    kw = dict(runs=2, n_train=(60, 600), n_test=(50, 50), seed=1, progress=False)
    df = table1("sim1", **kw)
    assert len(df) == 6 and list(df.setting.unique()) == ["1/2", "N1/(N0+N1)", "2N1/(2N1+N0)"]
    assert {"lhs_train", "lhs_test", "rhs", "p00_test", "p11_test", "run", "lambda0", "lambda1"} <= set(df.columns)
    assert df.rhs.tolist()[:3] == pytest.approx([10.0, 1.0, 0.5])
    assert ((df.lhs_train - df.rhs).abs() / df.rhs).max() < 1e-4
    assert df.lhs_test.notna().all() and (df.lhs_test > 0).all()
    assert df.drop(columns="seconds").equals(table1("sim1", **kw).drop(columns="seconds"))   # same seed, same table
    mixed = table1("sim2", runs=1, n_train=(50, 500), n_test=(30, 30), progress=False, max_iter=10,
                   lambda_settings=["N0/(N0+N1)", (0.25, 0.75)])
    assert mixed.rhs.tolist() == pytest.approx([100.0, 30.0])
    assert ((mixed.lhs_train - mixed.rhs).abs() / mixed.rhs).max() < 1e-4
