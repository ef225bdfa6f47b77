"""Identities and limits of the multi-label losses (lossnotes.losses.multilabel) that the battery does not cover:
BCE equals torch's fused op (with pos_weight); ASL's limits (BCE, sigmoid focal); the sigmoid focal loss with
gamma = 0 is alpha-weighted BCE; ZLPR is the official Balanced Softmax, its paper form on shifted logits, and BCE
for one label, with decision threshold 0; the official ASL caps a label's term; bad targets."""
import math

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import lossnotes.losses as L
from lossnotes import symbolic as S


def _batch(n=32, c=7, scale=3.0, seed=0, p=0.3):
    g = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(n, c, generator=g, dtype=torch.float64)
    y = (torch.rand(n, c, generator=g) < p).double()
    y[0] = 0.0                                   # a row without labels
    return z, y


def test_sigmoid_bce_equals_torch_with_and_without_pos_weight():
    z, y = _batch()
    ref = F.binary_cross_entropy_with_logits(z, y, reduction="none").sum(1)
    torch.testing.assert_close(L.sigmoid_bce(z, y, reduction="none"), ref)
    w = torch.linspace(0.5, 4.0, 7, dtype=torch.float64)
    ref_w = F.binary_cross_entropy_with_logits(z, y, pos_weight=w, reduction="none").sum(1)
    torch.testing.assert_close(L.sigmoid_bce(z, y, pos_weight=w, reduction="none"), ref_w)
    torch.testing.assert_close(L.sigmoid_bce(z, y), ref.mean())


def test_asl_limits_are_bce_and_sigmoid_focal():
    z, y = _batch(seed=1)
    bce = L.sigmoid_bce(z, y, reduction="none")
    torch.testing.assert_close(L.asymmetric_loss(z, y, gamma_pos=0.0, gamma_neg=0.0, clip=0.0, reduction="none"), bce)
    for gamma in (0.5, 1.0, 2.0, 4.0):
        torch.testing.assert_close(
            L.asymmetric_loss(z, y, gamma_pos=gamma, gamma_neg=gamma, clip=0.0, reduction="none"),
            L.sigmoid_focal(z, y, gamma=gamma, alpha=None, reduction="none"))
    # ... and the defaults differ from both
    assert not torch.allclose(L.asymmetric_loss(z, y), L.sigmoid_bce(z, y))


def test_sigmoid_focal_gamma_zero_is_alpha_weighted_bce_and_matches_the_probability_form():
    z, y = _batch(seed=2)
    alpha = 0.25
    weights = torch.where(y > 0, alpha, 1 - alpha)
    ref = (weights * F.binary_cross_entropy_with_logits(z, y, reduction="none")).sum(1)
    torch.testing.assert_close(L.sigmoid_focal(z, y, gamma=0.0, alpha=alpha, reduction="none"), ref)
    p = torch.sigmoid(z)
    pt = torch.where(y > 0, p, 1 - p)
    ref2 = (weights * (1 - pt) ** 2 * -torch.log(pt)).sum(1)           # RetinaNet / torchvision's form
    torch.testing.assert_close(L.sigmoid_focal(z, y, reduction="none"), ref2)


def test_asl_hard_threshold_zeroes_easy_negatives():
    z = torch.tensor([[-3.0, math.log(0.04 / 0.96), 0.0]], dtype=torch.float64, requires_grad=True)   # p = .047, .04, .5
    y = torch.zeros(1, 3, dtype=torch.float64)
    loss = L.asymmetric_loss(z, y, reduction="sum")
    (g,) = torch.autograd.grad(loss, z)
    loss = loss.detach()
    assert g[0, 0] == 0 and g[0, 1] == 0 and g[0, 2] > 0, "negatives with p <= m = 0.05 are discarded"
    p_m = 0.5 - 0.05
    assert math.isclose(float(loss), -(p_m ** 4) * math.log(1 - p_m), rel_tol=1e-12)


def test_asl_official_caps_a_label_and_agrees_elsewhere():
    z, y = _batch(seed=3, scale=2.0)
    torch.testing.assert_close(L.asymmetric_loss(z, y, variant="official"), L.asymmetric_loss(z, y))
    far = torch.tensor([[-40.0]], dtype=torch.float64)
    pos = torch.ones(1, 1, dtype=torch.float64)
    assert math.isclose(float(L.asymmetric_loss(far, pos, variant="official")), -math.log(1e-8), rel_tol=1e-9)
    assert math.isclose(float(L.asymmetric_loss(far, pos)), 40.0, rel_tol=1e-9)


def test_zlpr_is_official_balanced_softmax_and_its_paper_form_on_shifted_logits():
    z, y = _batch(seed=4)
    torch.testing.assert_close(L.zlpr(z, y, reduction="none"), L.balanced_softmax(z, y, variant="official",
                                                                                  reduction="none"))
    # the paper form anchors at a threshold logit s_TH (column 0, ATLOP convention): ZLPR of s - s_TH
    yt = y.clone()
    yt[:, 0] = (yt[:, 1:].sum(1) == 0).double()
    torch.testing.assert_close(L.balanced_softmax(z, yt, reduction="none"),
                               L.zlpr(z[:, 1:] - z[:, :1], yt[:, 1:], reduction="none"))


def test_zlpr_with_one_label_is_bce_and_its_threshold_is_zero():
    z, y = _batch(c=1, seed=5)
    torch.testing.assert_close(L.zlpr(z, y, reduction="none"), L.sigmoid_bce(z, y, reduction="none"))
    t = sp.symbols("t", positive=True)
    zz = sp.Matrix([[sp.Rational(3, 2), -1, sp.Rational(1, 2)]])
    assert sp.limit(S.zlpr(t * zz, [[1, 0, 1]])[0], t, sp.oo) == 0        # positives > 0 > negatives
    assert sp.limit(S.zlpr(t * zz, [[1, 1, 1]])[0], t, sp.oo) == sp.oo    # a positive below 0


@pytest.mark.parametrize("fn", [L.sigmoid_bce, L.sigmoid_focal, L.asymmetric_loss, L.zlpr])
def test_class_indices_are_rejected_with_a_hint(fn):
    z, _ = _batch()
    with pytest.raises(ValueError, match="one_hot"):
        fn(z.float(), torch.randint(0, 7, (32,)))


@pytest.mark.parametrize("fn", [L.sigmoid_bce, L.sigmoid_focal, L.asymmetric_loss, L.zlpr])
def test_rows_without_labels_are_allowed(fn):
    z, y = _batch()
    out = fn(z, torch.zeros_like(y), reduction="none")
    assert torch.isfinite(out).all() and out.shape == (32,)
