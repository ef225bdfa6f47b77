"""Chapter 09's data, evaluators and threshold reading (lossnotes.studies.multilabel)."""
import numpy as np
import pytest
import torch
from torch import nn

from lossnotes.experiments import Protocol, run_comparison
from lossnotes.studies import multilabel as ML


@pytest.fixture(scope="module")
def mosaics():
    return ML.make_mosaics("test", 400, seed=1)


def test_mosaics_are_plain_multilabel_with_long_tailed_labels(mosaics):
    assert mosaics.x.shape == (400, 1, 28, 28) and mosaics.y.shape == (400, 10)
    assert set(torch.unique(mosaics.y).tolist()) <= {0.0, 1.0}
    empty = mosaics.y.sum(1) == 0
    assert 0 < float(empty.float().mean()) < 0.25, "some images hold no garment (rows without labels)"
    counts = mosaics.label_counts()
    assert counts[0] > 4 * counts[-1] > 0, "T-shirt common, ankle boot rare"
    assert mosaics.classes[0].lower().startswith("t-shirt")


@pytest.mark.parametrize("flip", [0.0, 0.2])
def test_imbalanced_binary_keeps_the_ratio_and_flips_both_ways(flip):
    d = ML.make_imbalanced_binary("test", 2, n_negative=2000, ratio=50, flip=flip, seed=3)
    assert d.y.shape == (2040, 1)
    assert int(d.y.sum()) == int(d.y_clean.sum()) == 40
    wrong = d.y != d.y_clean
    assert int(wrong.sum()) == 2 * round(flip * 40)
    assert int((wrong & (d.y_clean > 0)).sum()) == round(flip * 40)
    with pytest.raises(ValueError, match="flip"):
        ML.make_imbalanced_binary("test", 2, n_negative=100, flip=1.0)


class _Oracle(nn.Module):
    """Logits +-5 from the labels stored in the input's first pixel row (a perfect scorer)."""

    def forward(self, x):
        return 10.0 * x[:, 0, 0, :10] - 5.0


def _labelled(y):
    x = torch.zeros(len(y), 1, 28, 28)
    x[:, 0, 0, :y.shape[1]] = y
    return ML.LabelData(x=x, y=y, y_clean=y.clone())


def test_evaluators_score_a_perfect_model_perfectly(mosaics):
    scores = ML.multilabel_scores(_Oracle(), _labelled(mosaics.y))
    assert scores["map"] == pytest.approx(100.0) and scores["micro_f1"] == pytest.approx(100.0)
    assert scores["n_pred_pos"] == int(mosaics.y.sum())
    yb = (torch.rand(300, 1, generator=torch.Generator().manual_seed(0)) < 0.1).float()
    b = ML.binary_scores(_Oracle(), _labelled(yb))
    assert b["auc"] == pytest.approx(100.0) and b["f1"] == pytest.approx(100.0)


def test_best_threshold_finds_the_separating_score():
    y = np.array([[0], [0], [1], [1], [0]])
    s = np.array([[0.1], [0.35], [0.6], [0.9], [0.2]])
    t = ML.best_threshold(y, s)
    assert 0.35 <= t < 0.6


def test_frequency_groups_cover_every_label_once():
    groups = ML.frequency_groups([50, 5, 30, 1, 20, 10, 40, 2, 3, 60])
    assert sorted(sum(groups.values(), [])) == list(range(10))
    assert 9 in groups["common"] and 3 in groups["rare"]


def test_a_tiny_comparison_runs_and_reads_thresholds(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSNOTES_CACHE", str(tmp_path))
    train = ML.make_imbalanced_binary("test", 2, n_negative=500, ratio=10, seed=0)
    test = ML.make_imbalanced_binary("test", 2, n_negative=300, ratio=10, seed=1)
    make = ML.functools.partial(ML.mlp_model, 784, 16, 1)
    arms = {"BCE": ML.loss_arm("sigmoid_bce", make, batch_size=64),
            "AUC-M": ML.loss_arm("auc_margin", make, batch_size=64)}
    comp = run_comparison(arms, train, test, epochs=2, evaluator=ML.binary_scores, progress=False,
                          protocol=Protocol(lr_grid=(3e-3,), seeds=(0,), metric="auc", n_jobs=1, cache=False))
    table = ML.threshold_table(comp, train, test)
    assert set(table.arm) == {"BCE", "AUC-M"} and table.f1.between(0, 100).all()
    assert comp.summary(["auc"]).auc.between(40, 100).all()
