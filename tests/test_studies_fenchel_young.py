"""Chapter 08's study helpers: harmonic output layers, the evaluator, support tables, weight readability."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lossnotes.losses as L
from lossnotes.data import Dataset
from lossnotes.studies import fenchel_young as FYS


def _images(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.arange(n) % 10
    return Dataset(x, y, [str(i) for i in range(10)], "toy")


def test_harmonic_models_output_harmonic_logits_whose_ce_is_the_harmonic_loss():
    data = _images()
    for model in (FYS.HarmonicLinear(n=5.0), FYS.HarmonicCNN2C(n=5.0)):
        out = model(data.x)
        features = model.forward_features(data.x)
        torch.testing.assert_close(L.softmax_cross_entropy(out, data.y),
                                   L.harmonic_loss(features, model.head.weight, data.y, n=5.0))
        assert out.shape == (40, 10)


def test_taylor_model_outputs_log_f_so_its_ce_is_the_taylor_loss_and_its_argmax_the_taylor_prediction():
    data = _images()
    torch.manual_seed(0)
    model = FYS.TaylorCNN2C(order=2)
    out = model(data.x)
    z = FYS.CNN2C.forward(model, data.x)
    torch.testing.assert_close(L.softmax_cross_entropy(out, data.y), L.taylor_softmax_ce(z, data.y))
    assert torch.equal(out.argmax(1), L.taylor_softmax(z).argmax(1))
    far = torch.tensor([[-6.0, 2.0, 0.0]])                               # f(-6) = 13 > f(2) = 5
    assert int(L.taylor_logits(far).argmax(1)) == 0 and int(far.argmax(1)) == 1


def test_fy_scores_reports_log_z_and_support_sizes():
    data = _images()
    model = FYS.LinearSoftmax()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.arange(10.0) * 10)                     # one class far ahead: supports of 1
    s = FYS.fy_scores(model, data)
    assert s["support_sparsemax"] == 1.0 and s["support_entmax15"] == 1.0
    assert s["log_z"] == s["abs_log_z"] and abs(s["log_z"] - 90.0) < 1e-3
    assert abs(s["acc"] - 0.1) < 1e-6 and s["top_share"] == 1.0
    with torch.no_grad():
        model.head.bias.zero_()                                            # all equal: every class in the support
    s = FYS.fy_scores(model, data)
    assert s["support_sparsemax"] == 10.0 and abs(s["log_z"] - np.log(10)) < 1e-6


def test_fy_scores_agrees_with_the_protocols_classification_scores():
    from lossnotes.experiments import classification_scores

    data = _images()
    torch.manual_seed(0)
    model = FYS.LinearSoftmax()
    s, ref = FYS.fy_scores(model, data), classification_scores(model, data)
    assert {k: s[k] for k in ref} == pytest.approx(ref)


def test_support_table_and_readability():
    logits = torch.tensor([[3.0, 0.0, -1.0], [0.2, 0.1, 0.0]])
    t = FYS.support_table(logits, torch.tensor([0, 2]))
    assert t.support.tolist() == [1, 3] and t.correct.tolist() == [True, False]
    assert t.true_in_support.tolist() == [True, True]
    data = _images()
    means = FYS.class_mean_images(data)
    assert means.shape == (10, 784)
    np.testing.assert_allclose(FYS.weight_readability(torch.as_tensor(means), means), 1.0)
    np.testing.assert_allclose(FYS.weight_readability(-torch.as_tensor(means), means), -1.0)


def test_claim_verdicts():
    assert FYS.on_par_verdict({"mean": -0.5, "ci95": 0.3}) == 1.0
    assert FYS.on_par_verdict({"mean": -3.0, "ci95": 1.0}) == 0.0
    assert FYS.on_par_verdict({"mean": -1.0, "ci95": 0.5}) == 0.5
    assert FYS.on_par_verdict({"mean": -0.9, "ci95": None}) == 1.0
    assert FYS.beats_verdict({"mean": 2.0, "ci95": 1.0}) == 1.0
    assert FYS.beats_verdict({"mean": -2.0, "ci95": 1.0}) == 0.0
    assert FYS.beats_verdict({"mean": 0.5, "ci95": 1.0}) == 0.5 and FYS.beats_verdict({"mean": 3.0, "ci95": None}) == 0.5


def test_closed_forms_on_a_support_match_the_maps():
    import sympy as sp
    from lossnotes.symbolic.fenchel_young import entmax15_on_support, sparsemax_on_support

    z = sp.symbols("z0:3", real=True)
    for point, support, closed, fn in (([1.0, 0.6, -2.0], (0, 1), entmax15_on_support, L.entmax15),
                                       ([0.3, 0.1, -0.2], (0, 1, 2), entmax15_on_support, L.entmax15),
                                       ([0.5, 0.2, -2.0], (0, 1), sparsemax_on_support, L.sparsemax)):
        p, _ = closed(z, support, 0)
        at = dict(zip(z, point))
        ref = fn(torch.tensor([point], dtype=torch.float64))[0]
        np.testing.assert_allclose([float(sp.sympify(v).subs(at)) for v in p], ref.numpy(), atol=1e-12)
