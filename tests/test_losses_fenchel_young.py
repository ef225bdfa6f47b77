"""Sparse maps and Fenchel-Young losses: what the battery does not check (the maps themselves, the paper's
properties, agreement with the entmax package where it is installed)."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import lossnotes.losses as L
from lossnotes import symbolic as S
from lossnotes.symbolic.fenchel_young import EntmaxThreshold, sparsemax_threshold_max

MAPS = {"sparsemax": (L.sparsemax, 2.0), "entmax15": (L.entmax15, 1.5),
        "bisect-1.3": (lambda z, dim=-1: L.entmax_bisect(z, 1.3, dim=dim), 1.3),
        "bisect-2.5": (lambda z, dim=-1: L.entmax_bisect(z, 2.5, dim=dim), 2.5)}


def _logits(n=7, c=6, scale=2.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, c, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("name", MAPS)
def test_maps_are_distributions_with_exact_zeros(name):
    fn, _ = MAPS[name]
    p = fn(_logits(scale=3.0))
    assert torch.all(p >= 0)
    torch.testing.assert_close(p.sum(1), torch.ones(7, dtype=torch.float64))
    assert (p == 0).any(), "a sparse map at scale 3 must give some exact zeros"


@pytest.mark.parametrize("name", MAPS)
def test_maps_gradcheck_and_dim(name):
    fn, _ = MAPS[name]
    z = _logits(4, 5, scale=1.0).requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (z,))
    torch.testing.assert_close(fn(z.detach().T, dim=0), fn(z.detach()).T)


@pytest.mark.parametrize("name", MAPS)
def test_map_backward_is_the_symmetric_psd_jacobian_of_the_twin(name):
    fn, alpha = MAPS[name]
    z = _logits(1, 5, scale=1.0, seed=3)[0]
    jac = torch.autograd.functional.jacobian(lambda v: fn(v[None])[0], z)
    torch.testing.assert_close(jac, jac.T)
    assert torch.linalg.eigvalsh(jac).min() > -1e-12
    row = list(sp.symbols("z0:5", real=True))
    p = S.entmax_row(row, alpha)
    at = dict(zip(row, z.tolist()))
    twin_jac = np.array([[float(sp.diff(pi, v).subs(at).evalf()) for v in row] for pi in p])
    np.testing.assert_allclose(jac.numpy(), twin_jac, atol=1e-9)


def test_entmax_alpha_one_is_softmax_and_two_is_sparsemax():
    z = _logits()
    torch.testing.assert_close(L.entmax_bisect(z, 1.0), torch.softmax(z, 1))
    torch.testing.assert_close(L.entmax_bisect(z, 2.0), L.sparsemax(z))
    torch.testing.assert_close(L.entmax_bisect(z, 1.5), L.entmax15(z))


def test_sparsemax_threshold_closed_form_equals_the_numeric_threshold():
    row = sp.symbols("a b c d", real=True)
    for values in ([0.3, -0.2, 1.1, 0.9], [5.0, 0.0, 0.1, -2.0], [0.1, 0.2, 0.15, 0.12]):
        at = dict(zip(row, values))
        closed = float(sparsemax_threshold_max(row).subs(at))
        numeric = float(EntmaxThreshold(2, *values).evalf())
        assert closed == pytest.approx(numeric, abs=1e-12)


def test_extreme_and_half_precision_inputs():
    z = torch.tensor([[1e4, 0.0, -1e4]], dtype=torch.float32)
    for fn, _ in MAPS.values():
        torch.testing.assert_close(fn(z), torch.tensor([[1.0, 0.0, 0.0]]))
    h = _logits(16, 5).half()
    for fn, _ in MAPS.values():
        out = fn(h)
        assert out.dtype == torch.float16
        torch.testing.assert_close(out.float(), fn(h.float()), atol=1e-3, rtol=1e-3)


def test_maps_reject_bad_input_by_name():
    with pytest.raises(TypeError, match="logits"):
        L.sparsemax(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        L.entmax15(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match="dim"):
        L.sparsemax(torch.zeros(2, 3), dim=2)
    with pytest.raises(ValueError, match="alpha"):
        L.entmax_bisect(torch.zeros(2, 3), alpha=0.5)
    with pytest.raises(ValueError, match="n_iter"):
        L.entmax_bisect(torch.zeros(2, 3), n_iter=0)


LOSSES = {"shannon": (lambda z, y, **k: L.fenchel_young_loss(z, y, **k), torch.softmax),
          "sparsemax": (L.sparsemax_loss, L.sparsemax), "entmax15": (L.entmax15_loss, L.entmax15),
          "tsallis-1.3": (lambda z, y, **k: L.entmax_loss(z, y, alpha=1.3, **k), lambda z, d=1: L.entmax_bisect(z, 1.3))}


@pytest.mark.parametrize("name", LOSSES)
def test_gradient_is_prediction_minus_one_hot_and_loss_is_nonnegative(name):
    loss_fn, map_fn = LOSSES[name]
    z = _logits().requires_grad_(True)
    y = torch.arange(7) % 6
    loss = loss_fn(z, y, reduction="none")
    (grad,) = torch.autograd.grad(loss.sum(), z)
    p = map_fn(z.detach(), 1) if name == "shannon" else map_fn(z.detach())
    torch.testing.assert_close(grad, p - F.one_hot(y, 6).double())
    assert torch.all(loss >= 0)


@pytest.mark.parametrize("name", LOSSES)
def test_hessian_is_the_maps_jacobian(name):
    loss_fn, map_fn = LOSSES[name]
    z = _logits(1, 5, scale=0.5, seed=4)
    y = torch.tensor([2])
    hess = torch.autograd.functional.hessian(lambda v: loss_fn(v, y, reduction="sum"), z).reshape(5, 5)
    prob = (lambda v: torch.softmax(v, 1)) if name == "shannon" else map_fn
    jac = torch.autograd.functional.jacobian(lambda v: prob(v[None])[0], z[0])
    torch.testing.assert_close(hess, jac)


def test_sparsemax_loss_is_zero_exactly_from_a_margin_of_one():
    y = torch.tensor([0])
    for margin, zero in ((0.99, False), (1.0, True), (1.5, True)):
        z = torch.tensor([[margin, 0.0, -0.3, 0.0]], dtype=torch.float64)
        assert (float(L.sparsemax_loss(z, y)) == 0.0) is zero, margin
    z = torch.tensor([[1.99, 0.0, -1.0]], dtype=torch.float64)            # entmax15: margin 2
    assert float(L.entmax15_loss(z, y)) > 0 and float(L.entmax15_loss(z + torch.tensor([[0.01, 0, 0]]), y)) == 0


def test_losses_match_their_special_cases():
    z, y = _logits(), torch.arange(7) % 6
    torch.testing.assert_close(L.entmax_loss(z, y, alpha=1.0), F.cross_entropy(z, y))
    torch.testing.assert_close(L.fenchel_young_loss(z, y), F.cross_entropy(z, y))
    torch.testing.assert_close(L.entmax_loss(z, y, alpha=2.0), L.sparsemax_loss(z, y))
    torch.testing.assert_close(L.entmax_loss(z, y, alpha=1.5), L.entmax15_loss(z, y))
    torch.testing.assert_close(L.fenchel_young_loss(z, y, regularizer="sparsemax"), L.sparsemax_loss(z, y))
    torch.testing.assert_close(L.fenchel_young_loss(z, y, regularizer="tsallis", alpha=1.3),
                               L.entmax_loss(z, y, alpha=1.3))
    # Martins & Astudillo's Eq. (18): -z_y + 1/2 sum_{j in S} (z_j^2 - tau^2) + 1/2
    p = L.sparsemax(z)
    support = p > 0
    tau = (z * support).sum(1).sub(1) / support.sum(1)
    eq18 = -z.gather(1, y[:, None]).squeeze(1) + 0.5 * ((z ** 2 - tau[:, None] ** 2) * support).sum(1) + 0.5
    torch.testing.assert_close(L.sparsemax_loss(z, y, reduction="none"), eq18)


def test_agrees_with_the_entmax_package():
    entmax = pytest.importorskip("entmax")
    z, y = _logits(scale=3.0), torch.arange(7) % 6
    torch.testing.assert_close(L.sparsemax(z), entmax.sparsemax(z, dim=-1))
    torch.testing.assert_close(L.entmax15(z), entmax.entmax15(z, dim=-1))
    torch.testing.assert_close(L.entmax_bisect(z, 1.3), entmax.entmax_bisect(z, 1.3))
    torch.testing.assert_close(L.sparsemax_loss(z, y, reduction="none"), entmax.sparsemax_loss(z, y))
    torch.testing.assert_close(L.entmax15_loss(z, y, reduction="none"), entmax.entmax15_loss(z, y))
    torch.testing.assert_close(L.entmax_loss(z, y, alpha=1.3, reduction="none"),
                               entmax.entmax_bisect_loss(z, y, alpha=1.3))


def test_sparse_map_benchmark_runs_and_says_when_the_peer_is_missing(monkeypatch):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sparse_maps.py"
    spec = importlib.util.spec_from_file_location("bench_sparse_maps", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.bench("cpu", repeats=1, shapes=[(32, 7)])
    assert {r["name"] for r in rows} >= {"sparsemax", "entmax15", "sparsemax_loss", "entmax_loss alpha=1.5"}
    assert all(r["ours_ratio"] > 0 for r in rows)
    if bench._entmax is not None:
        assert all(r["max_abs_diff"] < 1e-5 and r["max_abs_grad_diff"] < 1e-5 for r in rows)
    monkeypatch.setattr(bench, "_entmax", None)
    rows = bench.bench("cpu", repeats=1, shapes=[(8, 5)])
    assert all(r["entmax_ratio"] is None for r in rows) and "| - |" in bench.markdown(rows)
