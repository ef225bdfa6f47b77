"""Chapter 07's study helpers: population minimisers with known closed forms, temperature scaling of a comparison's
runs, and the claim verdict."""
from __future__ import annotations

import functools

import numpy as np
import torch

import lossnotes.losses as L
from lossnotes.experiments import Arm, Protocol, run_comparison
from lossnotes.models import MLP
from lossnotes.studies import calibration as SC
from lossnotes.train import TensorData

QS = np.array([0.55, 0.7, 0.9, 0.97])


def test_calibration_map_of_proper_losses_is_the_identity():
    np.testing.assert_allclose(SC.calibration_map(L.softmax_cross_entropy, QS), QS, atol=2e-4)
    np.testing.assert_allclose(SC.calibration_map(SC.mdca_risk(1.0), QS, risk=True), QS, atol=2e-4)


def test_calibration_map_of_label_smoothing_is_the_smoothed_target():
    ls = functools.partial(L.softmax_cross_entropy, label_smoothing=0.2)
    np.testing.assert_allclose(SC.calibration_map(ls, QS), 0.8 * QS + 0.1, atol=2e-4)


def test_focal_is_under_confident_and_poly1_over_confident():
    focal = SC.calibration_map(functools.partial(L.focal_loss, gamma=3.0), QS)
    poly = SC.calibration_map(L.poly1_ce, QS)
    assert np.all((focal > 0.5) & (focal < QS)) and np.all(poly > QS)


def test_plain_encouraging_loss_has_no_minimiser_above_one_half():
    assert np.isnan(SC.calibration_map(functools.partial(L.encouraging_loss, log_end=1.0), QS)).all()
    assert np.isfinite(SC.calibration_map(L.encouraging_loss, QS)).all()


def test_minimiser_in_three_classes():
    q = np.array([0.6, 0.3, 0.1])
    np.testing.assert_allclose(SC.minimiser(L.softmax_cross_entropy, q), q, atol=1e-6)
    ls = functools.partial(L.softmax_cross_entropy, label_smoothing=0.3)
    np.testing.assert_allclose(SC.minimiser(ls, q), 0.7 * q + 0.1, atol=1e-6)
    # squentropy is not shift-invariant: minimised over all three logits, convex, so every start agrees
    a = SC.minimiser(L.squentropy, q, starts=("log_q",))
    b = SC.minimiser(L.squentropy, q, starts=("zeros",))
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert a[0] < q[0]


def _toy():
    g = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(3, 6, generator=g)
    y = torch.arange(450) % 3
    x = centres[y] + 2.0 * torch.randn(450, 6, generator=g)
    return TensorData(x[:300], y[:300]), TensorData(x[300:], y[300:])


def test_temperature_scaled_comparison():
    from lossnotes.calibration import calibration_scores

    train, test = _toy()
    arms = {"CE": Arm(functools.partial(MLP, 6, (64,), 3), L.SoftmaxCrossEntropy()),
            "LS": Arm(functools.partial(MLP, 6, (64,), 3), L.SoftmaxCrossEntropy(label_smoothing=0.1))}
    protocol = Protocol(lr_grid=(0.01,), seeds=(0, 1), cache=False, n_jobs=1)
    comp = run_comparison(arms, train, test, epochs=3, protocol=protocol, evaluator=calibration_scores,
                          train_kwargs={"optimizer": "adam", "batch_size": 32}, device="cpu", progress=False)
    frame, logits = SC.temperature_scaled(comp, train, test)
    assert len(frame) == 2 * 2 * 2 * 2                        # arms x seeds x selections x stages
    assert set(frame.stage) == {"raw", "TS"} and (frame["T"] > 0).all()
    raw = frame[frame.stage == "raw"].reset_index(drop=True)
    ts = frame[frame.stage == "TS"].reset_index(drop=True)
    np.testing.assert_allclose(raw.acc, ts.acc)                # a temperature never changes the arg-max
    summ = SC.summarise(frame, scale={"ece": 100})
    assert len(summ) == 2 * 2 * 2 and summ["ece ci95"].notna().all()
    assert set(logits) == {(a, s, sel) for a in arms for s in (0, 1) for sel in ("best-val", "last")}


def test_claim_verdict():
    assert SC.claim_verdict({"mean": -2.0, "ci95": 1.0}, lower_is_better=True) == 1.0
    assert SC.claim_verdict({"mean": 2.0, "ci95": 1.0}, lower_is_better=True) == 0.0
    assert SC.claim_verdict({"mean": 0.5, "ci95": 1.0}, lower_is_better=False) == 0.5
    assert SC.claim_verdict({"mean": 3.0, "ci95": None}, lower_is_better=False) == 0.5
