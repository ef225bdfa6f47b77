"""Chapter 04d's distillation study (lossnotes.studies.distillation) on tiny synthetic data, in seconds."""
from __future__ import annotations

import functools
import math
import pickle

import numpy as np
import pytest
import torch

from lossnotes import experiments as E
from lossnotes.models import MLP
from lossnotes.records import Recorder
from lossnotes.studies import distillation as D


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(E, "_cache_dir", lambda: tmp_path / "cache")
    return tmp_path / "cache"


def tiny(n=240, k=4, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, k, generator=g) * 2
    teacher = x @ w + 3.0                               # an offset the shift-invariant losses cannot see
    labels = teacher.argmax(1)
    return D.ScoreData(x, teacher, labels)


def test_losses_pickle_and_centred_square_ignores_row_shifts():
    cands = D.student_candidates(alpha_unit=0.5, beta=1.0, temperatures=(1, 2), alpha_multipliers=(1, 2))
    assert len(cands) == 2 + 2 + 4 * 2
    pred, target = torch.randn(5, 4, requires_grad=True), torch.randn(5, 4)
    for c in cands:
        fn = pickle.loads(pickle.dumps(c.fn))
        assert torch.isfinite(fn(pred, target)), c.arm_name
        assert E._describe_callable(c.fn) == E._describe_callable(fn)      # stable cache key
    shifted = target + torch.randn(5, 1) * 10
    assert D.centred_square(shifted, target) == pytest.approx(0.0, abs=1e-10)
    assert D.centred_square(pred, target, reduction="none").shape == (5,)
    with pytest.raises(ValueError, match="reduction"):
        D.centred_square(pred, target, reduction="avg")
    with pytest.raises(ValueError, match="same length"):
        D.ScoreData(torch.zeros(3, 2), torch.zeros(2, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="same length"):
        D.student_candidates(alpha_unit=1.0, beta=0.0, temperatures=(1,), alpha_multipliers=(1, 2))


def test_link_scale_and_score_data():
    t = torch.tensor([[3.0, 2.0, 1.0, 0.0], [1.0, 5.0, 0.0, 2.0]])
    sigma, unit, beta = D.link_scale(t)
    assert unit == pytest.approx(1 / sigma) and beta == 1.0   # third largest: 1 and 2; torch.median: the lower
    ds = E.take(D.score_data(type("DS", (), {"x": torch.zeros(2, 3), "y": torch.tensor([0, 1])})(), t), [1])
    assert ds.labels.tolist() == [1] and torch.equal(ds.y, t[1:])


def test_fidelity_scores_of_the_teacher_itself():
    data = tiny()

    class Copy(torch.nn.Module):
        def forward(self, x):
            return data.y[: len(x)] - 7.0           # the teacher's scores shifted: perfect ranks, centred error 0

    s = D.fidelity_scores(Copy(), D.ScoreData(data.x, data.y, data.labels), "cpu")
    assert s["agree1"] == s["agree3"] == s["overlap3"] == pytest.approx(1.0)
    assert s["ndcg3"] == pytest.approx(1.0) and s["acc"] == 1.0
    assert s["cmse_top3"] == pytest.approx(0.0, abs=1e-9) and s["cmse_rest"] == pytest.approx(0.0, abs=1e-9)
    assert set(D.METRICS) <= set(s) and s["finite"] == 1.0


def test_resolve_and_accuracy_verdicts():
    assert D.resolve(0.02, 0.01) == "a better"
    assert D.resolve(0.02, 0.03) == "unresolved"
    assert D.resolve(-0.05, 0.01) == "b better"
    assert D.resolve(0.05, None) == "unresolved"                     # one seed: no interval, no verdict
    assert D.resolve(-0.5, 0.1, higher_is_better=False) == "a better"  # a lower error
    assert D.accuracy_verdict(-0.004, 0.003, 0.01) == "matched"
    assert D.accuracy_verdict(-0.03, 0.01, 0.01) == "worse"
    assert D.accuracy_verdict(-0.01, 0.02, 0.01) == "undecided"
    assert D.overall_verdict(["a better"] * 3, "matched").startswith("held:")
    assert D.overall_verdict(["a better", "unresolved"], "matched").startswith("held in part")
    assert D.overall_verdict(["b better", "unresolved"], "matched").startswith("contradicted")
    assert D.overall_verdict(["unresolved"] * 2, "undecided").startswith("unresolved")
    assert D.overall_verdict(["a better", "b better"], "matched").startswith("mixed")


def test_run_study_chooses_value_and_lr_on_validation_and_reuses_the_first_seed(cache):
    data = tiny()
    train, test = E.take(data, range(200)), E.take(data, range(200, 240))
    _, unit, beta = D.link_scale(train.y)
    cands = D.student_candidates(alpha_unit=unit, beta=beta, temperatures=(1, 4), alpha_multipliers=(1, 2))
    cands = [c for c in cands if c.loss.startswith(("(a)", "(b')", "(e)"))]
    protocol = E.Protocol(lr_grid=(1e-3, 3e-2), seeds=(0, 1, 2), metric="agree1", n_jobs=1)
    study = D.run_study(cands, train, test, make_model=functools.partial(MLP, 6, (8,), 4), epochs=3,
                        protocol=protocol, train_kwargs={"batch_size": 20, "optimizer": "adam"}, device="cpu",
                        tag="test-distill", progress=False)
    comp = study.comparison
    assert list(comp.arms) == ["(a) CE, temperature T", "(b') centred square", "(e) composite, q = sigmoid"]
    assert len(study.grid) == 2 * 2 + 2 + 2 * 2                      # values x lrs per loss
    for loss, c in study.chosen.items():
        part = study.grid[(study.grid.loss == loss) & study.grid["lr chosen"]]
        best = part.loc[part["val agree1"].idxmax()]
        assert best.value == c.label and comp.chosen_lr[loss] == best.lr
    # the first seed's final run is the tuning run, read back from the cache
    first = [r for r in comp.final if r.seed == 0]
    assert all(r.cached for r in first) and not any(r.cached for r in comp.final if r.seed != 0)
    summ = comp.summary(list(D.METRICS))
    assert set(summ.arm) == set(comp.arms) and (summ["agree1 ci95"] > 0).all()
    d = D.paired_difference(comp, "(e) composite, q = sigmoid", "(a) CE, temperature T", "agree1")
    runs = comp.runs(["agree1"])
    runs = runs[runs.selection == "best-val"].set_index(["arm", "seed"])["agree1"]
    by_hand = np.mean([runs[("(e) composite, q = sigmoid", s)] - runs[("(a) CE, temperature T", s)] for s in (0, 1, 2)])
    assert d["mean"] == pytest.approx(by_hand) and len(d["seeds"]) == 3
    verdict = D.thesis_verdict(study)
    assert verdict["selective"] == "(e) composite, q = sigmoid" and len(verdict["rows"]) == 6
    assert any(verdict["overall"].startswith(w) for w in ("held", "contradicted", "mixed", "unresolved"))

    rec = Recorder("04_test", quick=True, device="cpu")
    D.record_study(rec, study, table="T", diff_table="Tdiff", setting="tiny", reference="(a) CE, temperature T")
    rec.add(table="teacher", row="teacher", metric="test accuracy", ours=0.9, setting="tiny", seeds=[0])
    assert len([r for r in rec.records if r.table == "T"]) == 3 * 2 * len(D.METRICS)
    assert all(r.lr is not None and r.selection for r in rec.records if r.table in ("T", "Tdiff"))
    assert len([r for r in rec.records if r.table == "Tdiff"]) == 2 * len(D.METRICS)
    text = D.discussion_markdown(rec.records, table="T", diff_table="Tdiff", teacher_table="teacher")
    assert "| (e) composite, q = sigmoid |" in text and "Against (a) CE, temperature T" in text
    assert "nan" not in text.lower()


def test_discussion_of_records_that_predate_the_protocol():
    rec = Recorder("04_test", quick=True, device="cpu")
    rec.add(table="T", row="(a) softmax CE (E.11)", metric="top-1 agreement", ours=0.9, setting="old", seeds=[0])
    text = D.discussion_markdown(rec.records, table="T", diff_table="Tdiff", teacher_table="teacher")
    assert "predate" in text
