r"""Multi-label losses without a threshold class (chapter 09): sigmoid BCE, sigmoid focal, ASL, ZLPR.

The target is a plain multi-label 0/1 matrix ``(N, C)`` (bool, integer or float; a row may be all zeros; no
threshold column, unlike the ATLOP convention of :mod:`lossnotes.losses.thresholding`). Each loss sums over
the C labels of a sample and then reduces over the samples, as :func:`lossnotes.losses.logistic_ova` does.
Everything is computed from :math:`\mathrm{softplus}` (:math:`-\log\sigma(z) = \mathrm{sp}(-z)`), never from an
``exp`` of a raw logit.

Sources:

* Lin, Goyal, Girshick, He & Dollár, "Focal Loss for Dense Object Detection", ICCV 2017, arXiv:1708.02002
  (the sigmoid focal loss, Eq. 5, :math:`\gamma = 2`, :math:`\alpha = 0.25`).
* Ridnik, Ben-Baruch, Zamir, Noy, Friedman, Protter & Zelnik-Manor, "Asymmetric Loss For Multi-Label
  Classification", ICCV 2021, arXiv:2009.14119 (ASL; official code github.com/Alibaba-MIIL/ASL).
* Su, Zhu, Murtadha, Pan, Wen & Liu, "ZLPR: A Novel Loss for Multi-label Classification",
  arXiv:2208.02955, 2022 (zero-bounded log-sum-exp & pairwise rank-based loss).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .reduction import reduce_loss
from .validation import (checks_output, check_choice, check_class_weight, check_logits, check_multilabel_target,
                         check_scalar, compute_dtype)

__all__ = ["sigmoid_bce", "sigmoid_focal", "asymmetric_loss", "zlpr"]

#: The official ASL code clamps probabilities at this value before the log (``eps=1e-8``).
ASL_OFFICIAL_EPS = 1e-8


def _setup(logits, target):
    """Checked ``(z, y)``: logits in the compute dtype, the target as 0/1 values of that dtype."""
    check_logits(logits)
    z = logits.to(compute_dtype(logits))
    return z, check_multilabel_target(target, logits.shape, dtype=z.dtype)


def _focal_weight(log_base, gamma):
    r""":math:`b^\gamma` from :math:`\log b` (``gamma`` a float or a tensor of them); 1 where :math:`\gamma = 0`."""
    if isinstance(gamma, float) and gamma == 0.0:
        return None
    return torch.exp(gamma * log_base)


@checks_output
def sigmoid_bce(logits, target, *, pos_weight=None, reduction="mean"):
    r"""Binary cross-entropy on each label's sigmoid, summed over the labels of a sample.

    .. math::
        \ell_i = \sum_{c=1}^{C}\Bigl[w_c\,y_{ic}\,\mathrm{sp}(-z_{ic}) + (1-y_{ic})\,\mathrm{sp}(z_{ic})\Bigr],
        \qquad \mathrm{sp}(x) = \log(1 + e^{x})

    The logistic loss per label (one-vs-all; Li et al. 2020, Eq. 1 with sigmoid outputs, for several
    labels per sample). ``pos_weight`` :math:`w` (``(C,)``, >= 0) weighs each label's positive term, as
    ``torch.nn.functional.binary_cross_entropy_with_logits`` does (whose fused kernel computes it); ``w_c =
    n^-_c / n^+_c`` balances a rare label. The decision rule is :math:`z_{ic} > 0`.
    """
    z, y = _setup(logits, target)
    w = check_class_weight(pos_weight, z.shape[1], like=z, name="pos_weight")
    per_sample = F.binary_cross_entropy_with_logits(z, y, pos_weight=w, reduction="none").sum(1)
    return reduce_loss(per_sample, reduction)


@checks_output
def sigmoid_focal(logits, target, *, gamma=2.0, alpha=0.25, reduction="mean"):
    r"""Sigmoid focal loss (Lin et al. 2017, Eq. 5), summed over the labels of a sample.

    .. math::
        \ell_i = \sum_c -\alpha_t\,(1-p_t)^{\gamma}\log p_t,\qquad
        p_t = \begin{cases}\sigma(z_{ic}) & y_{ic}=1\\ 1-\sigma(z_{ic}) & y_{ic}=0\end{cases},\qquad
        \alpha_t = \begin{cases}\alpha & y_{ic}=1\\ 1-\alpha & y_{ic}=0\end{cases}

    Computed as :math:`\alpha_t\,e^{-\gamma\,\mathrm{sp}(s)}\,\mathrm{sp}(-s)` with :math:`s = (2y-1)z`
    (:math:`\log p_t = -\mathrm{sp}(-s)`, :math:`\log(1-p_t) = -\mathrm{sp}(s)`). The focal weight is not
    detached (as in RetinaNet and ``torchvision.ops.sigmoid_focal_loss``, which sums the same terms).

    Args:
        gamma: :math:`\gamma \ge 0`; 0 gives :math:`\alpha`-weighted BCE.
        alpha: :math:`\alpha\in[0, 1]`, the weight of the positive term (0.25 in the paper, which
            down-weights positives once :math:`\gamma` has down-weighted the many easy negatives);
            ``None``: no weighting (:math:`\alpha_t = 1`).
    """
    z, y = _setup(logits, target)
    g = check_scalar(gamma, "gamma", low=0.0)
    a = None if alpha is None else check_scalar(alpha, "alpha", low=0.0, high=1.0)
    return reduce_loss(_SigmoidFocal.apply(z, y, g, a), reduction)


class _SigmoidFocal(torch.autograd.Function):
    r"""Per-sample sigmoid focal loss with its gradient computed in the forward pass (one fused chain of
    element-wise ops instead of autograd's graph; first derivatives only; the 0/1 target enters as a float mask,
    since ``torch.where`` on a bool mask is ~50x slower than a multiplication on the CPU). With :math:`s = \pm z`,
    :math:`q = 1 - p_t = e^{-\mathrm{sp}(s)}`, :math:`w = q^\gamma`, :math:`\ell = \alpha_t w\,\mathrm{sp}(-s)`:
    :math:`\partial\ell/\partial s = -\alpha_t w\,[\gamma(1-q)\,\mathrm{sp}(-s) + q]`."""

    @staticmethod
    def forward(ctx, z, y, gamma, alpha):
        sign = y.mul(2.0).sub_(1.0)                         # +1 positive, -1 negative
        s = z * sign
        sp_s = F.softplus(s)
        nll = sp_s - s                                      # sp(-s) = -log p_t
        if gamma == 0.0:
            w = None
            terms = nll.clone()
        else:
            w = torch.exp(sp_s * -gamma)                    # (1 - p_t)^gamma
            terms = w * nll
        a_t = None if alpha is None else y.mul(2.0 * alpha - 1.0).add_(1.0 - alpha)
        if a_t is not None:
            terms.mul_(a_t)
        if ctx.needs_input_grad[0]:
            q = torch.exp(-sp_s)                            # 1 - p_t
            # d loss / d s = -a_t w [gamma (1 - q) sp(-s) + q]; d s / d z = +-1
            grad = q if w is None else torch.addcmul(q, 1.0 - q, nll, value=gamma).mul_(w)
            if a_t is not None:
                grad.mul_(a_t)
            ctx.save_for_backward(grad.mul_(sign).neg_())
        return terms.sum(1)

    @staticmethod
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        return grad * grad_out[:, None], None, None, None


@checks_output
def asymmetric_loss(logits, target, *, gamma_pos=0.0, gamma_neg=4.0, clip=0.05, reduction="mean",
                    variant="paper"):
    r"""Asymmetric loss (ASL), Ridnik et al. 2021 (asymmetric focusing and probability shifting), summed over the labels of a sample.

    .. math::
        \ell_i = \sum_c \Bigl[-y_{ic}\,(1-p)^{\gamma_+}\log p
                 - (1-y_{ic})\,p_m^{\gamma_-}\log(1-p_m)\Bigr],\qquad
        p = \sigma(z_{ic}),\quad p_m = \max(p - m, 0)

    Positives get a focal term with :math:`\gamma_+`; negatives a stronger one, :math:`\gamma_-`, on the
    *shifted* probability :math:`p_m`: a negative with :math:`p \le m` (an easy one, or a missing label)
    contributes nothing (hard threshold). With :math:`\gamma_\pm = 0, m = 0` this is BCE
    (:func:`sigmoid_bce`), with :math:`\gamma_+ = \gamma_- = \gamma, m = 0` the sigmoid focal loss without
    :math:`\alpha` (:func:`sigmoid_focal` with ``alpha=None``). :math:`\log(1-p_m) =
    \log\min(\sigma(-z) + m, 1)`; for :math:`m = 0` it is :math:`-\mathrm{sp}(z)`.

    ``variant="official"`` follows ``AsymmetricLoss`` in github.com/Alibaba-MIIL/ASL
    (``src/loss_functions/losses.py``): both probabilities are clamped at ``eps = 1e-8`` before the log, so a
    label's term is capped at :math:`-\log 10^{-8} \approx 18.4` (with zero gradient beyond). The official
    module returns the sum over the batch (our ``reduction="sum"``); its focal weight is not detached in the
    current code (an older version detached it).

    Args:
        gamma_pos: :math:`\gamma_+ \ge 0` (paper: 0).
        gamma_neg: :math:`\gamma_- \ge 0` (paper: 4).
        clip: the probability margin :math:`m \in [0, 1)` (paper: 0.05).
    """
    z, y = _setup(logits, target)
    gp = check_scalar(gamma_pos, "gamma_pos", low=0.0)
    gn = check_scalar(gamma_neg, "gamma_neg", low=0.0)
    m = check_scalar(clip, "clip", low=0.0, high=1.0, high_open=True)
    check_choice(variant, "variant", ("paper", "official"))
    if variant == "paper":
        return reduce_loss(_AsymmetricLoss.apply(z, y, gp, gn, m), reduction)
    pos = y > 0
    # the official code, in probability space as written there
    log_p = torch.log(torch.sigmoid(z).clamp(min=ASL_OFFICIAL_EPS))
    log_1m_pm = torch.log(torch.clamp(torch.sigmoid(-z) + m, max=1.0).clamp(min=ASL_OFFICIAL_EPS))
    # focal weights: (1 - p)^gamma_pos = exp(gamma_pos log sigma(-z)); p_m^gamma_neg, 0 where p_m = 0
    w_pos = _focal_weight(-F.softplus(z), gp)
    nll_pos = -log_p if w_pos is None else -w_pos * log_p
    if gn == 0.0:
        nll_neg = -log_1m_pm
    else:
        if m == 0.0:
            w_neg = torch.exp(-gn * F.softplus(-z))           # p^gamma in log space (p may underflow)
        else:
            p_m = torch.sigmoid(z) - m
            alive = p_m > 0
            safe = torch.where(alive, p_m, 1.0)               # no log(0) or 0 ** gamma in the backward pass
            w_neg = torch.where(alive, torch.exp(gn * torch.log(safe)), 0.0)
        nll_neg = -w_neg * log_1m_pm
    terms = torch.where(pos, nll_pos, nll_neg)
    return reduce_loss(terms.sum(1), reduction)


class _AsymmetricLoss(torch.autograd.Function):
    r"""Per-sample ASL (paper form) with its gradient computed in the forward pass (first derivatives only).
    With :math:`p = \sigma(z)`, :math:`q = 1 - p`, :math:`\mathrm{sp}` = softplus: a positive's term
    :math:`q^{\gamma_+}\mathrm{sp}(-z)` has :math:`\partial_z = -q^{\gamma_+}[\gamma_+ p\,\mathrm{sp}(-z) + q]`; a negative's
    :math:`p_m^{\gamma_-} l`, :math:`l = -\log(1 - p_m)`, has :math:`\partial_z = pq\,[\gamma_- p_m^{\gamma_-} l / p_m
    + p_m^{\gamma_-}/(1 - p_m)]` where :math:`p_m > 0` and 0 elsewhere (for :math:`m = 0`:
    :math:`p^{\gamma_-}[\gamma_- q\,\mathrm{sp}(z) + p]`)."""

    @staticmethod
    def forward(ctx, z, y, gamma_pos, gamma_neg, clip):
        sp_z = F.softplus(z)                                  # -log(1 - p)
        sp_mz = sp_z - z                                      # -log p
        p, q = torch.exp(-sp_mz), torch.exp(-sp_z)
        want_grad = ctx.needs_input_grad[0]
        if gamma_pos == 0.0:
            t_pos, g_pos = sp_mz, (q.neg() if want_grad else None)
        else:
            w = torch.exp(sp_z * -gamma_pos)
            t_pos = w * sp_mz
            g_pos = torch.addcmul(q, p, sp_mz, value=gamma_pos).mul_(w).neg_() if want_grad else None
        if clip == 0.0:
            w = None if gamma_neg == 0.0 else torch.exp(sp_mz * -gamma_neg)      # p^gamma_neg
            t_neg = sp_z if w is None else w * sp_z
            if want_grad:
                g_neg = p if w is None else torch.addcmul(p, q, sp_z, value=gamma_neg).mul_(w)
        else:
            p_m = (p - clip).clamp_(min=0.0)
            l = torch.log1p(-p_m).neg_()                      # -log(1 - p_m); 1 - p_m >= clip > 0
            w = None if gamma_neg == 0.0 else p_m.pow(gamma_neg)
            t_neg = l if w is None else w * l
            if want_grad:
                inv = torch.reciprocal(1.0 - p_m)
                if w is None:                                 # the hard threshold: 0 where p_m = 0
                    g_neg = inv.mul_(torch.sign(p_m))
                else:                                         # w = 0 there already (gamma_neg > 0)
                    tiny = torch.finfo(p_m.dtype).tiny
                    g_neg = torch.addcmul(inv, l, p_m.clamp(min=tiny).reciprocal_(), value=gamma_neg).mul_(w)
                g_neg = g_neg.mul_(p).mul_(q)
        # y * positive + (1 - y) * negative, with a float mask (torch.where on a bool mask is slow on the CPU)
        if want_grad:
            ctx.save_for_backward(torch.addcmul(g_neg, y, g_pos - g_neg))
        return torch.addcmul(t_neg, y, t_pos - t_neg).sum(1)

    @staticmethod
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        return grad * grad_out[:, None], None, None, None, None


def zlpr(logits, target, *, reduction="mean"):
    r"""ZLPR, the zero-bounded log-sum-exp & pairwise rank-based loss (Su et al. 2022).

    .. math::
        \ell_i = \log\Bigl(1 + \sum_{j\in\Omega^-_i} e^{z_{ij}}\Bigr)
               + \log\Bigl(1 + \sum_{j\in\Omega^+_i} e^{-z_{ij}}\Bigr)

    with :math:`\Omega^\pm_i` the positive and negative labels of sample i. It is the multi-label "softmax +
    cross-entropy" with a fixed threshold logit 0 added to both sets: every positive is ranked above 0, every
    negative below, and the decision rule is :math:`z_{ij} > 0` (no threshold to tune). It is
    :func:`lossnotes.losses.balanced_softmax` with ``variant="official"`` (DocuNet's
    ``multilabel_categorical_crossentropy``), and the paper form of that loss is ZLPR of the logits minus the
    learned threshold logit :math:`s_{TH}` (chapter 03). For one label (C = 1) it is BCE. Convex in the logits.
    """
    z, y = _setup(logits, target)
    ny = 1.0 - y
    # one exp pass: u = -z on the positives, z on the negatives, each set shifted by its own max (and 0);
    # float masks, not torch.where on a bool mask (~50x slower than a multiplication on the CPU)
    u = z * ny.sub(y)
    with torch.no_grad():
        big = 0.25 * torch.finfo(z.dtype).max                 # masks a set out of the max
        mu_neg = u.sub(y, alpha=big).amax(1, keepdim=True).clamp_(min=0.0)
        mu_pos = u.sub(ny, alpha=big).amax(1, keepdim=True).clamp_(min=0.0)
        shift = torch.addcmul(mu_neg, y, mu_pos - mu_neg)
    e = torch.exp(u - shift)
    s_pos = (e * y).sum(1)
    s_neg = (e * ny).sum(1)
    mu_neg, mu_pos = mu_neg[:, 0], mu_pos[:, 0]
    per_sample = torch.log(torch.exp(-mu_neg) + s_neg) + mu_neg + torch.log(torch.exp(-mu_pos) + s_pos) + mu_pos
    return reduce_loss(per_sample, reduction)


def _register():
    from .. import symbolic
    from ..registry import LossSpec, register

    common = dict(family="multilabel", target_kind="multilabel")
    variant_bad = [({"variant": "code"}, ValueError, "variant")]
    register(LossSpec(
        name="sigmoid_bce", fn=sigmoid_bce, twin=symbolic.sigmoid_bce,
        paper="Binary cross-entropy per label (the logistic loss; e.g. Li et al. 2020, Eq. 1 with sigmoid outputs)",
        equation="sum_c [w_c y sp(-z) + (1 - y) sp(z)]", defaults={"pos_weight": None},
        claims=frozenset({"convex", "classification_calibrated"}),
        test_params=({}, {"pos_weight": [0.5, 2.0, 1.0, 4.0, 0.0]}),
        bad_params=[({"pos_weight": [1.0, 2.0]}, ValueError, "pos_weight"),
                    ({"pos_weight": [1.0, -1.0, 1.0, 1.0, 1.0]}, ValueError, "pos_weight"),
                    ({"pos_weight": "balanced"}, TypeError, "pos_weight")], **common))
    register(LossSpec(
        name="sigmoid_focal", fn=sigmoid_focal, twin=symbolic.sigmoid_focal,
        paper="Lin, Goyal, Girshick, He & Dollar 2017, Focal Loss for Dense Object Detection (ICCV)",
        equation="Eq. (5), sigmoid form with alpha_t", defaults={"gamma": 2.0, "alpha": 0.25},
        test_params=({}, {"gamma": 0.0, "alpha": None}, {"gamma": 0.5, "alpha": 0.75}, {"gamma": 3.0, "alpha": None}),
        bad_params=[({"gamma": -1.0}, ValueError, "gamma"), ({"alpha": 1.5}, ValueError, "alpha"),
                    ({"alpha": "0.25"}, TypeError, "alpha")], **common))
    register(LossSpec(
        name="asymmetric_loss", fn=asymmetric_loss, twin=symbolic.asymmetric_loss,
        paper="Ridnik et al. 2021, Asymmetric Loss For Multi-Label Classification (ICCV)",
        equation="asymmetric focusing gamma+/gamma- and probability shift m (the ASL definition)",
        defaults={"gamma_pos": 0.0, "gamma_neg": 4.0, "clip": 0.05, "variant": "paper"},
        test_params=({}, {"gamma_pos": 1.0, "gamma_neg": 2.0, "clip": 0.0}, {"gamma_neg": 0.5, "clip": 0.2},
                     {"gamma_neg": 0.0}, {"variant": "official"}),
        bad_params=variant_bad + [({"gamma_pos": -1.0}, ValueError, "gamma_pos"),
                                  ({"gamma_neg": -0.5}, ValueError, "gamma_neg"),
                                  ({"clip": 1.0}, ValueError, "clip"), ({"clip": -0.1}, ValueError, "clip")],
        **common))
    register(LossSpec(
        name="zlpr", fn=zlpr, twin=symbolic.zlpr,
        paper="Su et al. 2022, ZLPR: A Novel Loss for Multi-label Classification (arXiv:2208.02955)",
        equation="log(1 + sum_neg e^z) + log(1 + sum_pos e^-z) (the ZLPR definition)", defaults={},
        claims=frozenset({"convex"}), **common))


_register()
