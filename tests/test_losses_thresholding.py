"""Thresholding losses (HingeABL chapter): values on hand-checkable cases, limits, the official variants
against independent float64 transcriptions of the official formulas, and the decision rules."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import lossnotes.losses as L
from lossnotes.losses.thresholding import threshold_distances
from lossnotes.registry import get

NAMES = ["atl", "sat", "mean_sat", "hinge_abl", "aml", "balanced_softmax", "adaptive_focal"]


def _batch(n=32, c=9, seed=0, scale=3.0):
    return get("atl").sample_inputs(n, c, seed=seed, scale=scale)


def sp(x):
    return math.log1p(math.exp(x))


def test_hand_case_one_positive():
    # s_TH = 1, relation 1 positive with s=3 (d=2), relation 2 negative with s=0 (d=1)
    z = torch.tensor([[1.0, 3.0, 0.0]], dtype=torch.float64)
    t = torch.tensor([[0, 1, 0]])
    assert threshold_distances(z, t).tolist() == [[2.0, 1.0]]
    atl = -math.log(math.e ** 3 / (math.e ** 3 + math.e)) - math.log(math.e / (math.e + 1))
    assert L.atl(z, t).item() == pytest.approx(atl)
    assert L.sat(z, t).item() == pytest.approx(sp(-2) + sp(-1))
    assert L.mean_sat(z, t).item() == pytest.approx(sp(-2) + sp(-1))
    w1, w2 = 5 - 2, 5 - 1
    assert L.hinge_abl(z, t).item() == pytest.approx((w1 * sp(-2) + w2 * sp(-1)) / (w1 + w2))
    assert L.aml(z, t).item() == pytest.approx(0.0)                 # both beyond margin 1
    assert L.aml(z, t, margin=3.0).item() == pytest.approx(1 + 2)
    assert L.balanced_softmax(z, t).item() == pytest.approx(math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-2)))
    p = 1 / (1 + math.exp(-2))
    assert L.adaptive_focal(z, t).item() == pytest.approx(-(1 - p) * math.log(p) - math.log(math.e / (math.e + 1)))


def test_na_pair_and_all_beyond_margin():
    z = torch.tensor([[10.0, -10.0, -10.0]], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([[1, 0, 0]])
    for name in NAMES:
        loss = getattr(L, name)(z, t)
        assert torch.isfinite(loss)
    loss = L.hinge_abl(z, t)            # every w_r = 0 -> loss 0 with zero gradient
    assert loss.item() == 0.0
    (g,) = torch.autograd.grad(loss, z)
    assert torch.all(g == 0)


def test_eq6_is_atl_l2_and_atl_is_sum_of_eq3_eq4():
    z, t = _batch()
    pos = t[:, 1:].bool()
    th, s = z[:, :1], z[:, 1:]
    l1 = torch.zeros(z.shape[0], dtype=z.dtype)
    l2 = torch.zeros(z.shape[0], dtype=z.dtype)
    for i in range(z.shape[0]):
        p_set = torch.cat([th[i], s[i][pos[i]]])
        n_set = torch.cat([th[i], s[i][~pos[i]]])
        l1[i] = sum(torch.logsumexp(p_set, 0) - v for v in s[i][pos[i]]) if pos[i].any() else 0.0
        l2[i] = torch.log1p(torch.exp(s[i][~pos[i]] - th[i]).sum())          # Eq. (6)
        assert torch.isclose(l2[i], torch.logsumexp(n_set, 0) - th[i, 0])    # Eq. (4)
    torch.testing.assert_close(L.atl(z, t, reduction="none"), l1 + l2)


def test_hinge_abl_large_margin_tends_to_sat_over_relations():
    z, t = _batch(c=6)
    big = L.hinge_abl(z, t, margin=1e6, reduction="none")
    torch.testing.assert_close(big, L.sat(z, t, reduction="none") / 5, rtol=1e-4, atol=1e-6)


def test_adaptive_focal_gamma0_is_atl_l2_plus_binary_ce():
    z, t = _batch()
    d = threshold_distances(z, t)
    pos = t[:, 1:].bool()
    ref = (F.softplus(-d) * pos).sum(1) + torch.log1p((torch.exp(-d) * ~pos).sum(1))
    torch.testing.assert_close(L.adaptive_focal(z, t, gamma=0.0, reduction="none"), ref)


# ---- official variants, transcribed independently from the official formulas (float64) ---------------

def _official_mean_sat(z, t):
    p = torch.exp(z) / (torch.exp(z) + torch.exp(z[:, :1]))
    n = 1 - p
    lab = t.double()
    p_num = lab[:, 1:].sum(1)
    pi = (-torch.log(p + 1e-30) * lab)[:, 1:].sum(1)
    ni = (-torch.log(n + 1e-30) * (1 - lab))[:, 1:].sum(1)
    return pi / (p_num + 1e-30) + ni / (96 - p_num + 1e-30)


def _official_hinge(z, t, m):
    lab = t.double()[:, 1:]
    d = threshold_distances(z, t)
    w = F.relu(m - d)
    ell = -torch.log(torch.sigmoid(d) + 1e-30)
    wp, wn = w * lab, w * (1 - lab)
    return ((wp / (wp.sum(1, keepdim=True) + 1e-30)) * ell).sum(1) + ((wn / (wn.sum(1, keepdim=True) + 1e-30)) * ell).sum(1)


def _official_balanced(z, t):
    y = t.double()
    x = (1 - 2 * y) * z
    neg = torch.cat([x - y * 1e30, torch.zeros(z.shape[0], 1, dtype=z.dtype)], 1)
    pos = torch.cat([x - (1 - y) * 1e30, torch.zeros(z.shape[0], 1, dtype=z.dtype)], 1)
    return torch.logsumexp(neg, 1) + torch.logsumexp(pos, 1)


def _official_afl(z, t):
    lab = t.double().clone()
    lab[:, 0] = 0
    p1 = torch.sigmoid(z - z[:, :1])
    l1 = -(torch.log(p1) * (1 + (1 - p1)) * lab).sum(1)
    l2 = torch.logsumexp(z - lab * 1e30, 1) - z[:, 0]
    return l1 + l2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_official_variants_match_the_official_formulas(seed):
    z, t = _batch(seed=seed, scale=2.0)
    torch.testing.assert_close(L.mean_sat(z, t, variant="official", reduction="none"), _official_mean_sat(z, t))
    torch.testing.assert_close(L.hinge_abl(z, t, variant="official", reduction="none"), _official_hinge(z, t, 5.0))
    torch.testing.assert_close(L.balanced_softmax(z, t, variant="official", reduction="none"), _official_balanced(z, t))
    torch.testing.assert_close(L.adaptive_focal(z, t, variant="official", reduction="none"), _official_afl(z, t))


def test_paper_and_official_hinge_abl_differ():
    z, t = _batch(seed=3)
    a = L.hinge_abl(z, t, reduction="none")
    b = L.hinge_abl(z, t, variant="official", reduction="none")
    has_pos = t[:, 1:].any(1)
    assert (a[has_pos] - b[has_pos]).abs().max() > 0.1


def test_fp16_inputs_far_beyond_float16_exp_range():
    z = torch.tensor([[0.0, 60.0, -60.0, 30.0]], dtype=torch.float16, requires_grad=True)
    t = torch.tensor([[0, 1, 0, 1]])
    for name in NAMES:
        loss = getattr(L, name)(z, t)
        (g,) = torch.autograd.grad(loss, z)
        assert torch.isfinite(loss) and torch.isfinite(g).all(), name


# ---- decision rules -----------------------------------------------------------------------------------

def test_threshold_predict():
    z = torch.tensor([[0.0, 1.0, -1.0, 2.0, 0.5],
                      [5.0, 1.0, 2.0, 3.0, 4.0]])
    pred = L.threshold_predict(z)
    assert pred.tolist() == [[False, True, False, True, True], [True, False, False, False, False]]
    top1 = L.threshold_predict(z, top_k=1)
    assert top1[0].tolist() == [False, False, False, True, False]
    zero = L.zero_threshold_predict(torch.tensor([[5.0, 1.0, -1.0], [-5.0, -1.0, -2.0]]))
    assert zero.tolist() == [[False, True, False], [True, False, False]]
    assert L.decision_rule("balanced_softmax", "official") is L.zero_threshold_predict
    assert L.decision_rule("hinge_abl") is L.threshold_predict
    with pytest.raises(ValueError, match="top_k"):
        L.threshold_predict(z, top_k=0)


def test_target_th_column_is_ignored_by_the_paper_forms():
    z, t = _batch()
    t2 = t.clone()
    t2[:, 0] = 1 - t2[:, 0]
    for name in NAMES:
        torch.testing.assert_close(getattr(L, name)(z, t), getattr(L, name)(z, t2))


@pytest.mark.parametrize("name,hp", [("atl", {}), ("hinge_abl", {"variant": "official"}), ("adaptive_focal", {})])
def test_compiled_closed_form_equals_the_eager_one(name, hp):
    """compile_thresholding(True) runs the same closed form through torch.compile: same values and
    gradients (skipped where torch.compile cannot build kernels, e.g. no C++ compiler)."""
    from lossnotes.losses import compile_thresholding
    from lossnotes.registry import get
    spec = get(name)
    z, t = spec.sample_inputs(64, 12, seed=3, dtype=torch.float32)
    t = t.float()
    out = []
    try:
        for enabled in (False, True):
            compile_thresholding(enabled)
            zz = z.detach().requires_grad_()
            loss = spec.call((zz,), t, **hp)
            loss.backward()
            out.append((loss.detach(), zz.grad))
    except Exception as exc:          # noqa: BLE001  (inductor's errors have no common base class)
        if "compile" in type(exc).__module__ or "inductor" in type(exc).__module__ or "dynamo" in type(exc).__module__:
            pytest.skip(f"torch.compile unavailable here: {type(exc).__name__}")
        raise
    finally:
        compile_thresholding(False)
    torch.testing.assert_close(out[1][0], out[0][0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out[1][1], out[0][1], rtol=1e-5, atol=1e-5)   # fused kernels reassociate float32 sums
    with pytest.raises(TypeError, match="enabled"):
        compile_thresholding("yes")


VARIANTS = [(n, {}) for n in NAMES] + [("mean_sat", {"variant": "official"}), ("hinge_abl", {"variant": "official"}),
                                       ("balanced_softmax", {"variant": "official"}), ("adaptive_focal", {"variant": "official"})]


@pytest.mark.parametrize("split", [True, False], ids=["rows-apart", "dense"])
@pytest.mark.parametrize("rows", ["none", "all", "some"])
@pytest.mark.parametrize("name,hp", VARIANTS)
def test_closed_form_equals_the_reference_formulas_whatever_rows_hold_a_positive(name, hp, rows, split, monkeypatch):
    """On the CPU the closed form treats the rows without a positive apart; on a GPU (and compiled) it takes
    every row through the general formula. Both, on an all-"no relation" batch, a batch without one and a
    mixed one, match the differentiable reference."""
    from lossnotes.losses import thresholding
    from lossnotes.losses.thresholding import _reference
    monkeypatch.setattr(thresholding, "_split_rows", lambda z: split)
    g = torch.Generator().manual_seed(7)
    z = (torch.randn(40, 11, generator=g, dtype=torch.float64) * 4).requires_grad_()
    t = torch.zeros(40, 11, dtype=torch.float64)
    has = {"none": torch.zeros(40, dtype=torch.bool), "all": torch.ones(40, dtype=torch.bool),
           "some": torch.rand(40, generator=g) < 0.3}[rows]
    t[:, 1:] = (torch.rand(40, 10, generator=g) < 0.25).double() * has[:, None]
    t[has, torch.randint(1, 11, (int(has.sum()),), generator=g)] = 1.0
    t[:, 0] = (t[:, 1:].sum(1) == 0).double()
    loss = getattr(L, name)(z, t, reduction="none", **hp)
    (grad,) = torch.autograd.grad(loss.sum(), z)
    full = {"margin": 5.0 if name == "hinge_abl" else 1.0, "gamma": 1.0, "variant": "paper", **hp}
    ref = _reference(name, z, t != 0, full)
    (ref_grad,) = torch.autograd.grad(ref.sum(), z)
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(grad, ref_grad)


@pytest.mark.parametrize("name", NAMES)
def test_a_second_backward_through_a_retained_graph_gives_the_same_gradient(name):
    """The first backward scales the stored closed-form gradient in place; a second one (retain_graph=True)
    must not see that buffer again."""
    z, t = _batch(seed=4)
    z = z.requires_grad_()
    for reduction, w in (("mean", None), ("none", torch.linspace(0.5, 2.0, z.shape[0], dtype=z.dtype))):
        loss = getattr(L, name)(z, t, reduction=reduction)
        first = torch.autograd.grad(loss, z, w, retain_graph=True)[0].clone()
        second = torch.autograd.grad(loss, z, w)[0]
        torch.testing.assert_close(second, first)


@pytest.mark.parametrize("bad", [0.5, -1.0, 2.0, 1.0 + 2 ** -23, 1.0 - 2 ** -24, 1e-30, 1e30, float("nan"), float("inf")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_a_multihot_target_with_any_value_other_than_0_or_1_is_rejected(bad, dtype):
    """The 0/1 check is one reduction of t(1 - t); values next to 0 and 1, and NaN/inf, must not pass it."""
    z, t = _batch(n=8, c=5)
    t = t.to(dtype)
    L.atl(z, t)                                                     # the valid target passes
    if torch.tensor(bad, dtype=dtype).item() in (0.0, 1.0):
        pytest.skip(f"{bad} rounds to 0 or 1 in {dtype}")
    t[3, 2] = bad
    with pytest.raises(ValueError, match="target"):
        L.atl(z, t)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool])
def test_integer_and_bool_multihot_targets_are_checked_by_range(dtype):
    z, t = _batch(n=8, c=5)
    torch.testing.assert_close(L.atl(z, t.to(dtype)), L.atl(z, t.float()))
    if dtype != torch.bool:
        with pytest.raises(ValueError, match="target"):
            L.atl(z, (t * 2).to(dtype))
