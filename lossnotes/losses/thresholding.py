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
from .validation import checks_output, check_choice, check_logits, check_multihot_target, check_scalar, compute_dtype

__all__ = ["atl", "sat", "mean_sat", "hinge_abl", "aml", "balanced_softmax", "adaptive_focal",
           "compile_thresholding", "threshold_predict", "zero_threshold_predict", "decision_rule", "threshold_distances",
           "OFFICIAL_NUM_RELATIONS"]

#: The number of relations the official MeanSAT hard-codes (``n_num = 96 - p_num``, Re-DocRED's 96).
OFFICIAL_NUM_RELATIONS = 96


# ---- shared pieces ----------------------------------------------------------------------------------

def _inputs(logits, target):
    """Checked ``(z, t)``: z in the compute dtype, t the target as 0/1 values of z's dtype (the caller's own
    tensor when it already is one: read only)."""
    check_logits(logits, min_classes=2)
    z = logits.to(compute_dtype(logits))
    t = check_multihot_target(target, logits.shape, dtype=z.dtype)
    if t.device != z.device:
        raise ValueError(f"target is on {t.device} but logits are on {z.device}")
    return z, t


def threshold_distances(logits, target) -> torch.Tensor:
    r"""The signed distances :math:`d_r` of Eq. (8), shape ``(N, C-1)`` (relations only)."""
    z, t = _inputs(logits, target)
    u = z[:, 1:] - z[:, :1]
    return torch.where(t[:, 1:] != 0, u, -u)


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
    top_p = torch.where(pos, x, zero).amax(1, keepdim=True).clamp_min(0).detach()
    top_n = torch.where(pos, zero, x).amax(1, keepdim=True).clamp_min(0).detach()
    e = torch.exp(x - torch.where(pos, top_p, top_n))               # every entry <= 0 after its shift
    s_p = (e * pos).sum(1, keepdim=True)
    s_n = e.sum(1, keepdim=True) - s_p
    den_p, den_n = torch.exp(-top_p) + s_p, torch.exp(-top_n) + s_n
    return (top_p + torch.log(den_p)).squeeze(1), (top_n + torch.log(den_n)).squeeze(1)


# ---- one autograd Function for all seven: closed-form gradient, stored by the forward pass ------------
#
# The forward pass computes the per-sample losses and (when the logits need a gradient) the closed-form
# gradient d loss_i / d z_i without recording a graph, in as few passes over the (N, C) matrix as we could
# make it (benchmarks/bench_losses.py). The target is used as a float 0/1 matrix ``t`` (a view of the
# caller's tensor when it is float already); selections are arithmetic (``addcmul`` with t, or
# ``threshold_backward`` for "where w > 0"), never ``torch.where`` on a bool mask, which is slow on CPU; the
# gradient is written straight into one (N, C) buffer, and the backward pass scales it in place (times a
# per-row factor where the loss has one, e.g. HingeABL's 1/W). On the CPU (eager) the rows without a
# positive (94% of Re-DocRED's pairs) are treated apart: ATL, Balanced Softmax and AFL compute their
# positives' term only on the other rows, and SAT, MeanSAT, HingeABL and AML first take every row as a
# "no relation" row (x = -d = u, no sign flips) and then recompute the rows with a positive. On a GPU, where
# finding those rows would wait for the device, and under torch.compile every row takes the general formula.
# Higher-order derivatives (create_graph=True, e.g. the Hessians of the convexity checks) are taken through
# the differentiable reference formulas (_reference below), so both paths are checked against each other and
# against the SymPy twins.

def _lse1_masked(x, t, *, inside, grad, out=None):
    r"""Row-wise :math:`\log(1 + \sum_{j \in S} e^{x_j})` over the set :math:`S = \{j: t_j = 1\}`
    (``inside``) or :math:`\{j: t_j = 0\}`, with one exp: members are shifted by the set's maximum (at
    least 0, the "1" being in every set), so nothing overflows and a set never underflows to an empty sum.

    ``x`` is consumed. Returns ``(lse, p)``: with ``grad``, ``p`` (in ``out``, or else in ``x``'s buffer)
    holds :math:`\partial\,\mathrm{lse}/\partial x_j = e^{x_j}/(1 + \sum_S e^{x})` on S and 0 elsewhere;
    else None."""
    def keep(m):                                                    # m * [j in S], in place
        return m.mul_(t) if inside else m.addcmul_(m, t, value=-1.0)
    top = keep(x).amax(1, keepdim=True).clamp_min_(0)               # non-members are 0 here
    e = keep(x.sub_(top).exp_())
    den = torch.exp(-top).add_(e.sum(1, keepdim=True))
    lse = top.add_(den.log()).squeeze(1)
    if not grad:
        return lse, None
    return lse, (e.mul_(den.reciprocal_()) if out is None else torch.mul(e, den.reciprocal_(), out=out))


def _two_set_lse(x, pf, *, grad):
    r"""Row-wise :math:`\log(1 + \sum_{P} e^{x})` and :math:`\log(1 + \sum_{Q} e^{x})` for the two sets
    P (``pf == 1``) and Q (the rest), with ONE exp over the matrix: each entry is shifted by the maximum of
    its own set (at least 0), so nothing overflows and no set underflows. ``x`` is consumed. Returns
    ``(lse_p, lse_q, p)``; with ``grad``, ``p`` holds :math:`\partial(\mathrm{lse}_P + \mathrm{lse}_Q)/\partial x_j
    = e^{x_j}/(1+\sum_{\mathrm{set}(j)} e^{x})` in ``x``'s buffer; else ``p`` is None. (Used where every row
    has members in both sets: the official Balanced Softmax, whose column 0 is a label.)"""
    buf = x * pf
    top_p = buf.amax(1, keepdim=True).clamp_min_(0)
    top_q = torch.sub(x, buf, out=buf).amax(1, keepdim=True).clamp_min_(0)
    e = x.sub_(top_q).addcmul_(pf, top_q - top_p).exp_()
    s_p = torch.mul(e, pf, out=buf).sum(1, keepdim=True)
    s_q = e.sum(1, keepdim=True).sub_(s_p)
    den_p, den_q = torch.exp(-top_p).add_(s_p), torch.exp(-top_q).add_(s_q)
    lse_p, lse_q = (top_p + torch.log(den_p)).squeeze(1), (top_q + torch.log(den_q)).squeeze(1)
    p = None
    if grad:
        inv_p, inv_q = den_p.reciprocal_(), den_q.reciprocal_()
        ep = torch.mul(e, pf, out=buf)
        p = e.mul_(inv_q).addcmul_(ep, inv_p - inv_q)
    return lse_p, lse_q, p


def _rows_with_positives(pf):
    """Indices of the rows of the (N, R) 0/1 matrix ``pf`` that hold a positive."""
    return pf.sum(1).nonzero().squeeze(1)                           # a sum is 3x faster than amax here


def _fast(kind, z, t, hp, need_grad):
    """``(per-sample loss (N,), gradient (N, C) or None, row factor (N, 1) or None)`` in closed form: the
    gradient of loss_i is ``gradient[i] * factor[i]`` (the backward pass multiplies the factor in together with
    the incoming gradient, saving a pass). ``t`` is the target as float 0/1 (N, C) in z's dtype, read only."""
    variant = hp.get("variant", "paper")
    G = torch.empty_like(z) if need_grad else None
    if kind == "balanced_softmax" and variant == "official":
        x = torch.addcmul(z, z, t, value=-2.0)                      # -z on labels, z elsewhere
        lp, ln, p = _two_set_lse(x, t, grad=need_grad)
        if need_grad:
            torch.addcmul(p, p, t, value=-2.0, out=G)
        return lp + ln, G, None
    pf = t[:, 1:]                                                   # positives (a view)
    g = G[:, 1:] if need_grad else None                             # the relations' gradient goes here
    u = z[:, 1:] - z[:, :1]                                         # s_r - s_TH, contiguous: in-place exp on a
                                                                    # strided view (g) is 2x slower
    factor = None
    if not _split_rows(z):                                          # every row through the general formula
        if kind in ("atl", "balanced_softmax", "adaptive_focal"):
            pos_loss, pos_grad = _positive_part(kind, u.clone(), pf, hp, need_grad)
            loss, _ = _lse1_masked(u, pf, inside=False, grad=need_grad, out=g)
            loss.add_(pos_loss)
            if need_grad:
                g.add_(pos_grad)
        else:
            loss, gx = _signed_x_loss(kind, u, pf, hp, need_grad)
            if need_grad:
                g.copy_(gx)
    else:
        rows = _rows_with_positives(pf)                             # 6% of Re-DocRED's pairs
        ur, tr = u.index_select(0, rows), pf.index_select(0, rows)  # before u is consumed
        if kind in ("atl", "balanced_softmax", "adaptive_focal"):
            loss, _ = _lse1_masked(u, pf, inside=False, grad=need_grad, out=g)  # log(1 + sum_N e^u): Eq. (4)
            if rows.numel():
                pos_loss, pos_grad = _positive_part(kind, ur, tr, hp, need_grad)
                loss.index_add_(0, rows, pos_loss)
                if need_grad:
                    g.index_add_(0, rows, pos_grad)
        else:
            # Functions of x = -d_r (Eq. 8). On a row without a positive x = u, so the whole matrix is first
            # taken as such rows (no sign flips); the rows with a positive are then recomputed and copied in.
            loss, _, factor = _x_loss(kind, u, None, hp, need_grad, out=g)
            if rows.numel():
                loss_r, g_r = _signed_x_loss(kind, ur, tr, hp, need_grad)
                loss.index_copy_(0, rows, loss_r)
                if need_grad:
                    g.index_copy_(0, rows, g_r)
                    if factor is not None:
                        factor.index_fill_(0, rows, 1.0)
    if need_grad:
        G[:, 0] = -g.sum(1)                                         # s_TH enters every u_r with sign -1
    return loss, G, factor


def _split_rows(z) -> bool:
    """Whether _fast treats the rows without a positive apart (CPU, eager). Not on a GPU, where finding
    those rows (``nonzero``) waits for the device, nor under torch.compile, which fuses the dense form."""
    return z.device.type == "cpu" and not torch.compiler.is_compiling()


def _signed_x_loss(kind, u, t, hp, need_grad):
    """SAT, MeanSAT, HingeABL or AML on rows given with their positives t: loss and gradient in u (u is
    consumed; x = u (1 - 2t) = -d_r)."""
    x = u.addcmul_(u, t, value=-2.0)
    loss, gx, factor = _x_loss(kind, x, t, hp, need_grad, out=x)
    if not need_grad:
        return loss, None
    if factor is not None:
        gx.mul_(factor)
    return loss, gx.addcmul_(gx, t, value=-2.0)                     # d/du = d/dx (1 - 2t)


def _positive_part(kind, u, t, hp, need_grad):
    r"""The positives' term of ATL, Balanced Softmax or AFL, and its gradient in u (0 off the positives; a row
    without a positive gives 0, so the CPU path passes only the rows that have one):

    - ATL: :math:`|\mathcal P|\log(1+\sum_{\mathcal P} e^{u}) - \sum_{\mathcal P} u` (Eq. 3 with u = s - s_TH);
    - Balanced Softmax: :math:`\log(1+\sum_{\mathcal P} e^{-u})`;
    - AFL: :math:`\sum_{\mathcal P} w_r\,\mathrm{softplus}(-u_r)`, :math:`w = \sigma(-u)^\gamma` (+1 official)."""
    if kind == "atl":
        n_pos = t.sum(1, keepdim=True)
        sum_pos_u = torch.mul(u, t).sum(1)
        lse, p = _lse1_masked(u, t, inside=True, grad=need_grad)
        loss = lse.mul_(n_pos.squeeze(1)).sub_(sum_pos_u)
        return loss, (p.mul_(n_pos).sub_(t) if need_grad else None)          # n_p p - 1 on P
    if kind == "balanced_softmax":
        lse, p = _lse1_masked(u.neg_(), t, inside=True, grad=need_grad)
        return lse, (p.neg_() if need_grad else None)
    gamma, official = hp["gamma"], hp.get("variant", "paper") == "official"
    sp = F.softplus(u)                                              # -log sigma(-u)
    nll = sp - u                                                    # softplus(-u) = -log P_r
    focal = torch.exp(sp.mul_(-gamma)) if gamma else torch.ones_like(u)   # (1 - P_r)^gamma
    weight = focal + 1.0 if official else focal
    loss = torch.mul(weight, nll).mul_(t).sum(1)                   # (mul + sum: half linalg.vecdot's time)
    if not need_grad:
        return loss, None
    prob = torch.sigmoid(u)                                         # P_r
    dw_nll = focal.mul(prob).mul_(nll) if gamma else None           # -(dw/du) nll / gamma
    grad = weight.mul_(prob - 1.0)                                  # w dnll/du (may overwrite focal)
    if gamma:
        grad.sub_(dw_nll, alpha=gamma)
    return loss, grad.mul_(t)


def _x_loss(kind, x, pf, hp, need_grad, out):
    r"""SAT, MeanSAT, HingeABL or AML as a function of :math:`x = -d_r`: ``(loss (N,), gradient in x or None,
    row factor (N, 1) or None)``. x is consumed. ``pf``: the positives (0/1), or None for rows that have none
    (then MeanSAT's and the official HingeABL's two groups are one). With pf None the gradient is written
    into ``out``; with pf it may be anywhere."""
    if kind == "aml":
        hinge = x.add_(hp["margin"]).clamp_min_(0)                  # max(0, m - d_r)
        return hinge.sum(1), (torch.sign(hinge, out=out) if need_grad else None), None   # d/dx = [m - d_r > 0]
    nll = F.softplus(x)                                             # -log sigma(d_r)
    variant = hp.get("variant", "paper")
    if kind == "sat":
        return nll.sum(1), (torch.sigmoid(x, out=out) if need_grad else None), None
    if kind == "mean_sat":
        return _mean_sat(x, nll, pf, variant, need_grad, out)
    if kind == "hinge_abl":
        return _hinge_balance(x, nll, pf, hp["margin"], variant == "official" and pf is not None, need_grad, out)
    raise AssertionError(kind)


def _mean_sat(x, nll, pf, variant, need_grad, out):
    r"""MeanSAT's :math:`\sum_r a_r\,\mathrm{softplus}(x_r)` with :math:`a = 1/N_p` on the positives and
    :math:`1/N_n` on the negatives, and its gradient in x, :math:`a\,\sigma(x)` (without positives:
    :math:`\sigma(x)` and the row factor :math:`1/N_n`)."""
    n_all = OFFICIAL_NUM_RELATIONS if variant == "official" else x.shape[1]
    if pf is None:
        a_n = 1.0 / max(n_all, 1)
        loss = nll.sum(1).mul_(a_n)
        if not need_grad:
            return loss, None, None
        return loss, torch.sigmoid(x, out=out), torch.full((x.shape[0], 1), a_n, dtype=x.dtype, device=x.device)
    n_pos = pf.sum(1, keepdim=True)
    a_p, a_n = 1.0 / n_pos.clamp_min(1), 1.0 / (n_all - n_pos).clamp_min_(1)
    s_all = nll.sum(1, keepdim=True)
    s_pos = torch.mul(nll, pf).sum(1, keepdim=True)
    loss = s_all.mul_(a_n).addcmul_(s_pos, a_p - a_n).squeeze(1)
    if not need_grad:
        return loss, None, None
    s = torch.sigmoid(x, out=nll).mul_(a_n)                         # a_n sigma, then + (a_p - a_n) sigma on P
    return loss, s.addcmul_(torch.mul(s, pf, out=x), a_p / a_n - 1.0), None


def _hinge_balance(x, nll, pf, margin, official, need_grad, out):
    r"""HingeABL's :math:`\sum w\ell/\sum w` (paper) or the same over positives plus over negatives
    (official), with :math:`w = \max(0, m + x)`, :math:`\ell = \mathrm{softplus}(x)`, :math:`x = -d`, and its
    gradient in x: :math:`[\mathbb 1_{w>0}(\ell - L) + w\sigma(x)] / W` with L, W the group's ratio and sum
    (paper: without the 1/W, returned as the row factor)."""
    w = torch.clamp_min(x, -margin).add_(margin)
    wl = torch.mul(w, nll)
    if not official:
        wsum = w.sum(1, keepdim=True)
        inv = torch.where(wsum > 0, wsum, torch.ones_like(wsum)).reciprocal_()   # (N, 1); 0 loss when W = 0
        ratio = wl.sum(1, keepdim=True).mul_(inv)
        loss = ratio.squeeze(1)
    else:
        w_all, wl_all = w.sum(1, keepdim=True), wl.sum(1, keepdim=True)
        w_p = wl.copy_(w).mul_(pf).sum(1, keepdim=True)
        r_p = torch.mul(nll, w, out=wl).mul_(pf).sum(1, keepdim=True)
        w_n, r_n = w_all.sub_(w_p), wl_all.sub_(r_p)
        i_p = torch.where(w_p > 0, w_p, torch.ones_like(w_p)).reciprocal_()
        i_n = torch.where(w_n > 0, w_n, torch.ones_like(w_n)).reciprocal_()
        r_p.mul_(i_p), r_n.mul_(i_n)
        loss = (r_p + r_n).squeeze(1)
    if not need_grad:
        return loss, None, None
    gx = nll.addcmul_(w, torch.sigmoid(x, out=wl))                  # l + w sigma(x)
    if not official:
        gx.sub_(ratio)
        return loss, torch.ops.aten.threshold_backward.grad_input(gx, w, 0.0, grad_input=out), inv
    gx.sub_(r_n).addcmul_(pf, r_n - r_p)                            # each entry's group ratio and 1/W
    gx = torch.ops.aten.threshold_backward.grad_input(gx, w, 0.0, grad_input=x)
    return loss, gx.mul_(i_n).addcmul_(torch.mul(gx, pf, out=wl), i_p / i_n - 1.0), None


_COMPILE = {"enabled": False, "fn": None}


def compile_thresholding(enabled: bool = True) -> None:
    """Run the seven losses' closed-form pass through ``torch.compile`` (off by default).

    Inductor fuses the elementwise passes into a few kernels (every row through the general formula, no
    data-dependent shapes). On the project's 2-core CPU at the DocRED shape (16384 x 97) that mostly helps
    HingeABL (2.4-2.7x ``F.cross_entropy`` instead of 3.6-3.9x); the others are within 10-20% of their eager
    pass (``benchmarks/results/``, ``--compile``); a GPU, where each eager pass is a kernel launch, is where
    it should pay. The price: a compilation of a few seconds for each loss, variant and dtype (and once more
    when the batch size first changes, after which N is dynamic), and a working C++ compiler (CPU) or Triton
    (CUDA). Off by default, so notebooks and tests start at once. Values and gradients equal the eager pass
    (``tests/test_losses_thresholding.py``)."""
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    _COMPILE["enabled"] = enabled


def _closed_form():
    if not _COMPILE["enabled"]:
        return _fast
    if _COMPILE["fn"] is None:
        _COMPILE["fn"] = torch.compile(_fast)      # static first; a second shape makes N dynamic
    return _COMPILE["fn"]


class _ThresholdLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, t, kind, hp):
        with torch.no_grad():
            loss, grad, factor = _closed_form()(kind, z, t, hp, need_grad=z.requires_grad)
        ctx.kind, ctx.hp, ctx.grad_used = kind, hp, False
        empty = torch.empty(0)
        ctx.save_for_backward(z, t, grad if grad is not None else empty, factor if factor is not None else empty)
        return loss

    @staticmethod
    def backward(ctx, grad_out):
        z, t, grad, factor = ctx.saved_tensors
        if torch.is_grad_enabled():               # create_graph=True: a differentiable gradient
            with torch.enable_grad():
                ref = _reference(ctx.kind, z, t != 0, ctx.hp)
                (g,) = torch.autograd.grad(ref, z, grad_out, create_graph=True)
            return g, None, None, None
        if ctx.grad_used:                         # a second backward through a retained graph: the stored
            with torch.no_grad():                 # gradient was scaled by the first, so compute it again
                _, grad, factor = _closed_form()(ctx.kind, z, t, ctx.hp, need_grad=True)
                factor = factor if factor is not None else torch.empty(0)
        # The stored gradient is scaled in place, once: one pass and no allocation, where a fresh (N, C)
        # result would cost a second pass on the CPU (its pages are new). ``.data`` keeps the saved tensor's
        # version, so that a later backward can still unpack it; the flag above makes it recompute instead.
        ctx.grad_used = True
        scale = grad_out[:1].squeeze(0) if grad_out.stride(0) == 0 else grad_out[:, None]   # 'mean'/'sum': one value
        if factor.numel():
            scale = factor * scale                                  # (N, 1): the rows' factor from _fast
        grad.data.mul_(scale)
        return grad, None, None, None


def _run(kind, logits, target, hp, reduction):
    z, t = _inputs(logits, target)
    if z.requires_grad:
        per_sample = _ThresholdLoss.apply(z, t, kind, hp)
    else:
        per_sample = _closed_form()(kind, z, t, hp, need_grad=False)[0]
    return reduce_loss(per_sample, reduction)


# ---- the reference formulas (differentiable; used for higher-order derivatives) ---------------------

def _reference(kind, z, mask, hp):
    variant = hp.get("variant", "paper")
    if kind == "balanced_softmax" and variant == "official":
        lse_p, lse_n = _lse1_split(torch.where(mask, -z, z), mask)
        return lse_p + lse_n
    pos = mask[:, 1:]
    u = z[:, 1:] - z[:, :1]
    d = torch.where(pos, u, -u)
    if kind == "atl":
        lse_p, lse_n = _lse1_split(u, pos)
        return pos.sum(1).to(z.dtype) * lse_p - (u * pos).sum(1) + lse_n
    if kind == "sat":
        return F.softplus(-d).sum(1)
    if kind == "mean_sat":
        loss = F.softplus(-d)
        n_pos = pos.sum(1).to(z.dtype)
        n_neg = (OFFICIAL_NUM_RELATIONS if variant == "official" else pos.shape[1]) - n_pos
        lp = (loss * pos).sum(1)
        return lp / n_pos.clamp_min(1) + (loss.sum(1) - lp) / n_neg.clamp_min(1)
    if kind == "hinge_abl":
        w = F.relu(hp["margin"] - d)
        wl = w * F.softplus(-d)
        if variant == "paper":
            den = w.sum(1)
            return wl.sum(1) / torch.where(den > 0, den, torch.ones_like(den))
        wp, wlp = (w * pos).sum(1), (wl * pos).sum(1)
        wn, wln = w.sum(1) - wp, wl.sum(1) - wlp
        one = torch.ones_like(wp)
        return wlp / torch.where(wp > 0, wp, one) + wln / torch.where(wn > 0, wn, one)
    if kind == "aml":
        return F.relu(hp["margin"] - d).sum(1)
    if kind == "balanced_softmax":
        lse_p, lse_n = _lse1_split(-d, pos)
        return lse_p + lse_n
    if kind == "adaptive_focal":
        gamma = hp["gamma"]
        weight = torch.exp(gamma * F.logsigmoid(-u)) if gamma else torch.ones_like(u)
        if variant == "official":
            weight = 1.0 + weight
        return (weight * F.softplus(-u) * pos).sum(1) + _lse1(u, ~pos)
    raise AssertionError(kind)


# ---- the losses -------------------------------------------------------------------------------------

@checks_output
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
    return _run("atl", logits, target, {}, reduction)


@checks_output
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
    return _run("sat", logits, target, {}, reduction)


@checks_output
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
    return _run("mean_sat", logits, target, {"variant": variant}, reduction)


@checks_output
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
    return _run("hinge_abl", logits, target, {"margin": m, "variant": variant}, reduction)


@checks_output
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
    return _run("aml", logits, target, {"margin": m}, reduction)


@checks_output
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
    return _run("balanced_softmax", logits, target, {"variant": variant}, reduction)


@checks_output
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
    return _run("adaptive_focal", logits, target, {"gamma": g, "variant": variant}, reduction)


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
