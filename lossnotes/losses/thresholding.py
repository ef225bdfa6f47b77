r"""Thresholding losses for multi-label document-level relation extraction (Wang et al. 2023, "Adaptive
Hinge Balance Loss for Document-Level Relation Extraction", Findings of EMNLP; github.com/Jize-W/HingeABL).

All seven losses take ``logits`` and a multi-hot ``target`` of shape ``(N, C)`` in the ATLOP convention:
column 0 is the threshold class TH, columns ``1..C-1`` are the relations :math:`\mathcal R`. Only columns
``1..C-1`` of ``target`` are read (the positives :math:`\mathcal P_T`; the negatives :math:`\mathcal N_T` are
the other relations); ``target[:, 0]`` (1 exactly for "no relation") is accepted and ignored, as the
official code does. Everything is written with the signed distance to the threshold (Eq. 8)

.. math::
    d_r = \begin{cases} s_r - s_{TH} & r\in\mathcal P_T\\ s_{TH} - s_r & r\in\mathcal N_T\end{cases}

so :math:`d_r > 0` when relation r is on the right side of the threshold. The paper writes
:math:`\sigma(x) = 1/(1+e^{x})` (Sec. 3.1), so its :math:`-\log\sigma(-d_r)` is the standard
:math:`-\log\sigma_{std}(d_r) = \mathrm{softplus}(-d_r)`.

Numerics: log space throughout (softplus, log-sigmoid, and a masked log-sum-exp whose mask fills with 0,
which is always inside the set because every set also holds the threshold, :math:`e^{0}` after the shift),
so no ``exp`` of a raw logit and no ``±1e30`` masks; float16/bfloat16 inputs are computed in float32.

Decision rules (what ``predict`` each loss implies): every loss here except the official Balanced Softmax
trains :math:`s_r` against :math:`s_{TH}`, so its rule is ATLOP's "relations scoring above TH, else NA"
(:func:`threshold_predict`); the official Balanced Softmax (DocuNet's code) trains against the constant 0
and predicts "relations scoring above 0" (:func:`zero_threshold_predict`). :func:`decision_rule` maps a
loss name (and variant) to its rule.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .reduction import reduce_loss
from .validation import check_choice, check_logits, check_multihot_target, check_scalar, compute_dtype

__all__ = ["atl", "sat", "mean_sat", "hinge_abl", "aml", "balanced_softmax", "adaptive_focal",
           "threshold_predict", "zero_threshold_predict", "decision_rule", "threshold_distances",
           "OFFICIAL_NUM_RELATIONS"]

#: The number of relations the official MeanSAT hard-codes (``n_num = 96 - p_num``, Re-DocRED's 96).
OFFICIAL_NUM_RELATIONS = 96


# ---- shared pieces ----------------------------------------------------------------------------------

def _inputs(logits, target):
    """Checked (z, positive mask over relations (N, C-1), s_TH (N, 1)) in the compute dtype."""
    check_logits(logits, min_classes=2)
    mask = check_multihot_target(target, logits.shape)
    z = logits.to(compute_dtype(logits))
    return z, mask[:, 1:], z[:, :1]


def threshold_distances(logits, target) -> torch.Tensor:
    r"""The signed distances :math:`d_r` of Eq. (8), shape ``(N, C-1)`` (relations only)."""
    z, pos, th = _inputs(logits, target)
    u = z[:, 1:] - th
    return torch.where(pos, u, -u)


def _lse1(x, mask):
    r""":math:`\log(1 + \sum_{j\in\text{mask}} e^{x_j})` per row, shift by the (detached) set maximum.

    Members are shifted to ``<= 0`` and non-members replaced by 0 before the ``exp``, so nothing
    overflows and no ``inf * 0`` reaches the backward pass."""
    xm = torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))
    top = xm.amax(1, keepdim=True).clamp_min(0).detach()          # >= 0: the "1" is in the set
    e = torch.exp(xm - top) * mask
    return (top + torch.log(torch.exp(-top) + e.sum(1, keepdim=True))).squeeze(1)


def _lse1_split(x, pos):
    r"""``(lse over pos, lse over ~pos)`` of :func:`_lse1` with ONE exp over the matrix: each entry is
    shifted by the maximum of its own set (positives or negatives)."""
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    top_p = torch.where(pos, x, zero).amax(1, keepdim=True).clamp_min(0)
    top_n = torch.where(pos, zero, x).amax(1, keepdim=True).clamp_min(0)
    top_p, top_n = top_p.detach(), top_n.detach()
    e = torch.exp(x - torch.where(pos, top_p, top_n))               # every entry <= 0 after its shift
    s_p = (e * pos).sum(1, keepdim=True)
    s_n = e.sum(1, keepdim=True) - s_p
    lse_p = top_p + torch.log(torch.exp(-top_p) + s_p)
    lse_n = top_n + torch.log(torch.exp(-top_n) + s_n)
    return lse_p.squeeze(1), lse_n.squeeze(1)


def _finish(per_sample, reduction):
    return reduce_loss(per_sample, reduction)


# ---- the losses -------------------------------------------------------------------------------------

def atl(logits, target, *, reduction="mean"):
    r"""Adaptive Thresholding Loss (ATL), Zhou et al. 2021 (ATLOP), as written in Wang et al. 2023 Eq. (3)-(5).

    .. math::
        \mathcal L_1 = -\sum_{r\in\mathcal P_T}\log\frac{e^{s_r}}{\sum_{r'\in\mathcal P_T\cup\{TH\}} e^{s_{r'}}},
        \qquad
        \mathcal L_2 = -\log\frac{e^{s_{TH}}}{\sum_{r'\in\mathcal N_T\cup\{TH\}} e^{s_{r'}}},
        \qquad \mathcal L_{ATL} = \mathcal L_1 + \mathcal L_2

    Computed with :math:`u_r = s_r - s_{TH}` as
    :math:`|\mathcal P_T|\log(1+\sum_{\mathcal P_T}e^{u}) - \sum_{\mathcal P_T}u + \log(1+\sum_{\mathcal N_T}e^{u})`
    (Eq. 6 is the second term), one exp over the matrix. The official code (ATLOP ``ATLoss`` and HingeABL
    ``get_at_loss``) computes the same function with ``±1e30`` masks (float32 only), so there is no
    ``variant``. Decision rule: :func:`threshold_predict`.

    Args:
        logits: ``(N, C)``, column 0 = TH.
        target: ``(N, C)`` multi-hot, column 0 = TH (ignored).
        reduction: ``"mean"`` (over pairs), ``"sum"`` or ``"none"``.
    """
    z, pos, th = _inputs(logits, target)
    u = z[:, 1:] - th
    lse_p, lse_n = _lse1_split(u, pos)
    n_pos = pos.sum(1).to(z.dtype)
    per_sample = n_pos * lse_p - (u * pos).sum(1) + lse_n
    return _finish(per_sample, reduction)


def sat(logits, target, *, reduction="mean"):
    r"""Separate Adaptive Thresholding (SAT), Wang et al. 2023 Eq. (7)-(8).

    .. math::
        \mathcal L = -\sum_{r\in\mathcal R}\log\sigma(-d_r)
                   = \sum_{r\in\mathcal R}\log\bigl(1 + e^{-d_r}\bigr)

    with the paper's :math:`\sigma(x)=1/(1+e^{x})`. Each relation is compared with TH on its own (a binary
    logistic loss on :math:`s_r - s_{TH}`). The official ``get_sat_loss`` computes
    ``-log(exp(s)/(exp(s)+exp(s_TH)) + 1e-30)``: the same function up to a cap of 69.1 per relation and
    ``exp`` overflow (NaN) for scores above 88 in float32, so there is no ``variant``.
    Decision rule: :func:`threshold_predict`.
    """
    d = threshold_distances(logits, target)
    return _finish(F.softplus(-d).sum(1), reduction)


def mean_sat(logits, target, *, reduction="mean", variant="paper"):
    r"""MeanSAT, Wang et al. 2023 Appendix D, Eq. (11): SAT with positives and negatives each averaged.

    .. math::
        \mathcal L = \frac{1}{N_p}\sum_{r\in\mathcal P}\log(1+e^{-d_r})
                   + \frac{1}{N_n}\sum_{r\in\mathcal N}\log(1+e^{-d_r})

    :math:`N_p = |\mathcal P_T|`, :math:`N_n = |\mathcal N_T| = C-1-N_p`; an empty set contributes 0.
    ``variant="official"`` follows ``get_mean_sat_loss``: :math:`N_n` is hard-coded as ``96 - N_p``
    (Re-DocRED's 96 relations), which equals the paper's value only when C = 97.
    Decision rule: :func:`threshold_predict`.
    """
    check_choice(variant, "variant", ("paper", "official"))
    z, pos, th = _inputs(logits, target)
    u = z[:, 1:] - th
    loss = F.softplus(-torch.where(pos, u, -u))
    n_pos = pos.sum(1).to(z.dtype)
    n_neg = (OFFICIAL_NUM_RELATIONS if variant == "official" else pos.shape[1]) - n_pos
    lp = (loss * pos).sum(1)
    ln = loss.sum(1) - lp
    per_sample = lp / n_pos.clamp_min(1) + ln / n_neg.clamp_min(1)
    return _finish(per_sample, reduction)


def hinge_abl(logits, target, *, margin=5.0, reduction="mean", variant="paper"):
    r"""Adaptive Hinge Balance Loss (HingeABL), Wang et al. 2023 Eq. (9)-(10).

    .. math::
        w_r = \max(0, m - d_r), \qquad
        \mathcal L = -\sum_{r\in\mathcal R}\frac{w_r}{\sum_{r'\in\mathcal R} w_{r'}}\log\sigma(-d_r)
                   = \frac{\sum_r w_r \log(1+e^{-d_r})}{\sum_r w_r}

    (0 when every :math:`w_r = 0`, i.e. every relation is beyond the margin). The weights are not
    detached (the paper's Appendix E differentiates through them; so does the official code).

    ``variant="official"`` follows ``get_relu_sat_loss``: the hinge weights are normalised **separately**
    over the positives and over the negatives,
    :math:`\frac{\sum_{\mathcal P} w_r\ell_r}{\sum_{\mathcal P} w_r} + \frac{\sum_{\mathcal N} w_r\ell_r}{\sum_{\mathcal N} w_r}`
    (each 0 when its weights sum to 0), which gives the positives of a pair as much total weight as all its
    negatives together: a MeanSAT with hinge weights rather than Eq. (10).

    Args:
        margin: :math:`m > 0` (the paper uses 5; :math:`2m` is the widest margin between classes).
    Decision rule: :func:`threshold_predict`.
    """
    m = check_scalar(margin, "margin", low=0.0, low_open=True)
    check_choice(variant, "variant", ("paper", "official"))
    z, pos, th = _inputs(logits, target)
    u = z[:, 1:] - th
    d = torch.where(pos, u, -u)
    w = F.relu(m - d)
    wl = w * F.softplus(-d)
    if variant == "paper":
        den = w.sum(1)
        per_sample = wl.sum(1) / torch.where(den > 0, den, torch.ones_like(den))
    else:
        wp, wlp = (w * pos).sum(1), (wl * pos).sum(1)
        wn, wln = w.sum(1) - wp, wl.sum(1) - wlp
        one = torch.ones_like(wp)
        per_sample = wlp / torch.where(wp > 0, wp, one) + wln / torch.where(wn > 0, wn, one)
    return _finish(per_sample, reduction)


def aml(logits, target, *, margin=1.0, reduction="mean"):
    r"""Adaptive Margin Loss (AML), Wei & Li 2022, as written in Wang et al. 2023 Eq. (12).

    .. math::
        \mathcal L = \sum_{r\in\mathcal R}\max(0, m - d_r)

    The official ``get_margin_loss`` computes this with :math:`m = 1` hard-coded (it also builds the two
    ATL terms and discards them), so the default ``margin=1.0`` is the official one and there is no
    ``variant``. Convex and piecewise linear in the logits (Appendix E, Eq. 13-14).

    Args:
        margin: :math:`m > 0`.
    Decision rule: :func:`threshold_predict`.
    """
    m = check_scalar(margin, "margin", low=0.0, low_open=True)
    d = threshold_distances(logits, target)
    return _finish(F.relu(m - d).sum(1), reduction)


def balanced_softmax(logits, target, *, reduction="mean", variant="paper"):
    r"""Balanced Softmax (Zhang et al. 2021, DocuNet; the multi-label "softmax + CE" of circle loss / ZLPR).

    .. math::
        \mathcal L = \log\Bigl(e^{s_{TH}} + \sum_{r\in\mathcal N_T} e^{s_r}\Bigr) - s_{TH}
                   + \log\Bigl(e^{-s_{TH}} + \sum_{r\in\mathcal P_T} e^{-s_r}\Bigr) + s_{TH}
                   = \log\Bigl(1 + \sum_{r\in\mathcal N_T} e^{-d_r}\Bigr) + \log\Bigl(1 + \sum_{r\in\mathcal P_T} e^{-d_r}\Bigr)

    Wang et al. 2023 compare against it (Tables 3, 4, 7) but print no equation; the default anchors the
    form at the threshold logit :math:`s_{TH}` like every other loss here (decision rule
    :func:`threshold_predict`). ``variant="official"`` is what ``get_balance_loss`` (DocuNet's
    ``multilabel_categorical_crossentropy``) computes: the anchor is the constant 0 and column 0 is an
    ordinary label (its target is 1 for NA pairs),

    .. math::
        \log\Bigl(1 + \sum_{j:\,y_j=0} e^{s_j}\Bigr) + \log\Bigl(1 + \sum_{j:\,y_j=1} e^{-s_j}\Bigr),
        \quad j = 0..C-1,

    with the decision rule "relations scoring above 0" (:func:`zero_threshold_predict`). Here ``target[:, 0]``
    is read.
    """
    check_choice(variant, "variant", ("paper", "official"))
    if variant == "paper":
        z, pos, th = _inputs(logits, target)
        u = z[:, 1:] - th
        x = torch.where(pos, -u, u)            # = -d
    else:
        check_logits(logits, min_classes=2)
        pos = check_multihot_target(target, logits.shape)
        z = logits.to(compute_dtype(logits))
        x = torch.where(pos, -z, z)
    lse_p, lse_n = _lse1_split(x, pos)
    return _finish(lse_p + lse_n, reduction)


def adaptive_focal(logits, target, *, gamma=1.0, reduction="mean", variant="paper"):
    r"""Adaptive Focal Loss (AFL), Tan et al. 2022 (KD-DocRE), compared in Wang et al. 2023 Tables 3, 4, 7.

    .. math::
        P_r = \frac{e^{s_r}}{e^{s_r} + e^{s_{TH}}} = \sigma_{std}(d_r),\qquad
        \mathcal L = -\sum_{r\in\mathcal P_T}(1-P_r)^{\gamma}\log P_r
                     \;-\; \log\frac{e^{s_{TH}}}{\sum_{r'\in\mathcal N_T\cup\{TH\}} e^{s_{r'}}}

    The positives get a focal term against TH alone; the negatives are ranked below TH as ATL's
    :math:`\mathcal L_2` (Eq. 4). Wang et al. print no equation; this is Tan et al.'s. The focal weight is
    not detached. ``variant="official"`` follows ``get_af_loss`` (KD-DocRE's code): the positive weight is
    :math:`1 + (1-P_r)^{\gamma}` instead of :math:`(1-P_r)^{\gamma}` (with :math:`\gamma=1` hard-coded there),
    i.e. plain cross-entropy plus the focal term.

    Args:
        gamma: :math:`\gamma \ge 0`; 0 gives ATL's :math:`\mathcal L_2` plus a per-relation binary CE.
    Decision rule: :func:`threshold_predict`.
    """
    g = check_scalar(gamma, "gamma", low=0.0)
    check_choice(variant, "variant", ("paper", "official"))
    z, pos, th = _inputs(logits, target)
    u = z[:, 1:] - th
    nll = F.softplus(-u)                                  # -log P_r
    weight = torch.exp(g * F.logsigmoid(-u)) if g else torch.ones_like(u)   # (1 - P_r)^gamma
    if variant == "official":
        weight = 1.0 + weight
    l1 = (weight * nll * pos).sum(1)
    l2 = _lse1(u, ~pos)
    return _finish(l1 + l2, reduction)


# ---- decision rules ---------------------------------------------------------------------------------

def _predict(logits, threshold, top_k):
    check_logits(logits, min_classes=2)
    if top_k is not None:
        top_k = check_scalar(top_k, "top_k", low=1, integer=True)
    s = logits[:, 1:]
    keep = s > threshold
    if top_k is not None and top_k < s.shape[1]:
        kth = s.topk(top_k, dim=1).values[:, -1:]
        keep = keep & (s >= kth)
    out = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
    out[:, 1:] = keep
    out[:, 0] = ~keep.any(1)
    return out


def threshold_predict(logits, top_k=None) -> torch.Tensor:
    r"""ATLOP's decision rule: relation r is predicted when :math:`s_r > s_{TH}`; at most ``top_k`` of them
    (the highest; ATLOP/HingeABL evaluate with ``num_labels=4``); TH (column 0) when none is.
    Returns a bool multi-hot ``(N, C)`` in the same convention as the targets."""
    return _predict(logits, logits[:, :1], top_k)


def zero_threshold_predict(logits, top_k=None) -> torch.Tensor:
    r"""The official Balanced Softmax rule: relation r is predicted when :math:`s_r > 0`
    (column 0 plays no part); TH when none is."""
    return _predict(logits, 0.0, top_k)


def decision_rule(name: str, variant: str = "paper"):
    """The decision rule a registered thresholding loss implies (a function ``(logits, top_k=None)``)."""
    names = ("atl", "sat", "mean_sat", "hinge_abl", "aml", "balanced_softmax", "adaptive_focal")
    check_choice(name, "name", names)
    check_choice(variant, "variant", ("paper", "official"))
    if name == "balanced_softmax" and variant == "official":
        return zero_threshold_predict
    return threshold_predict


# ---- registration -----------------------------------------------------------------------------------

def _register():
    from .. import symbolic
    from ..registry import LossSpec, register

    paper = ("Wang, Le, Peng & Chen 2023, Adaptive Hinge Balance Loss for Document-Level Relation "
             "Extraction (Findings of EMNLP)")
    bad_variant = [({"variant": "code"}, ValueError, "variant")]
    bad_margin = [({"margin": 0.0}, ValueError, "margin"), ({"margin": -1.0}, ValueError, "margin"),
                  ({"margin": float("nan")}, ValueError, "margin"), ({"margin": "5"}, TypeError, "margin")]
    common = dict(family="thresholding", paper=paper, target_kind="multihot")
    register(LossSpec(
        name="atl", fn=atl, twin=symbolic.atl, equation="Eq. (3)-(5) (Zhou et al. 2021, ATLOP)",
        defaults={}, claims=frozenset({"convex"}), test_params=({},), **common))
    register(LossSpec(
        name="sat", fn=sat, twin=symbolic.sat, equation="Eq. (7)-(8)",
        defaults={}, claims=frozenset({"convex"}), test_params=({},), **common))
    register(LossSpec(
        name="mean_sat", fn=mean_sat, twin=symbolic.mean_sat, equation="Appendix D, Eq. (11)",
        defaults={"variant": "paper"}, claims=frozenset({"convex"}),
        test_params=({}, {"variant": "official"}), bad_params=bad_variant, **common))
    register(LossSpec(
        name="hinge_abl", fn=hinge_abl, twin=symbolic.hinge_abl, equation="Eq. (9)-(10)",
        defaults={"margin": 5.0, "variant": "paper"}, claims=frozenset(),
        test_params=({}, {"margin": 1.0}, {"variant": "official"}, {"margin": 2.0, "variant": "official"}),
        bad_params=bad_margin + bad_variant,
        notes="Not convex in the logits (the normaliser); the per-class term without it is (App. E).",
        **common))
    register(LossSpec(
        name="aml", fn=aml, twin=symbolic.aml, equation="Eq. (12) (Wei & Li 2022)",
        defaults={"margin": 1.0}, claims=frozenset({"convex"}),
        test_params=({}, {"margin": 5.0}), bad_params=bad_margin, **common))
    register(LossSpec(
        name="balanced_softmax", fn=balanced_softmax, twin=symbolic.balanced_softmax,
        equation="Zhang et al. 2021 (DocuNet), Balanced Softmax; no equation in Wang et al.",
        defaults={"variant": "paper"}, claims=frozenset({"convex"}),
        test_params=({}, {"variant": "official"}), bad_params=bad_variant, **common))
    register(LossSpec(
        name="adaptive_focal", fn=adaptive_focal, twin=symbolic.adaptive_focal,
        equation="Tan et al. 2022 (KD-DocRE), adaptive focal loss; no equation in Wang et al.",
        defaults={"gamma": 1.0, "variant": "paper"}, claims=frozenset(),
        test_params=({}, {"gamma": 0.0}, {"gamma": 2.0}, {"variant": "official"}),
        bad_params=[({"gamma": -1.0}, ValueError, "gamma"), ({"gamma": float("inf")}, ValueError, "gamma")]
        + bad_variant, **common))


_register()
