"""The benchmark script runs (one tiny repetition) and its DocRED-like target has the stated shape."""
import importlib.util
from pathlib import Path

import pytest
import torch

from lossnotes.registry import all_losses

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_losses.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_losses", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docred_like_target_follows_the_atlop_convention(bench):
    t = bench.docred_like_target(20000, 97, seed=1)
    assert t.dtype == torch.float32 and t.shape == (20000, 97)
    na = t[:, 0] == 1
    assert torch.equal(na, t[:, 1:].sum(1) == 0), "column 0 set exactly when no relation is"
    assert 0.93 < float(na.float().mean()) < 0.95
    per_row = t[~na, 1:].sum(1)
    assert per_row.min() >= 1 and per_row.max() <= 3 and float(per_row.mean()) < 1.2
    freq = t[:, 1:].sum(0)
    assert freq[0] > 5 * freq[-10:].mean(), "long-tailed relation frequencies"


@pytest.mark.parametrize("family", sorted({s.family for s in all_losses()}))
def test_benchmark_rows_have_finite_ratios(bench, family):
    rows = bench.bench("cpu", repeats=1, family=family, shapes=[(64, 11)])
    assert rows and all(r["time_ratio_checked"] > 0 and r["saved_ratio"] >= 0 for r in rows)
    assert {r["loss"] for r in rows} >= {"atl", "hinge_abl"} if family == "thresholding" else True
