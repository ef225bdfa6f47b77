r"""Matching losses and selective losses (Shamir & Warmuth, "Selective Matching Losses -- Not All Scores Are
Created Equal").

Targets here are **scores** (real numbers, or score vectors such as teacher logits), not class indices:
``pred`` and ``target`` are float tensors of the same shape, ``(N,)`` for one score per sample or ``(N, K)``.
Scalar losses on ``(N, K)`` act per coordinate and sum over ``K`` (the decomposed loss, Eq. 28);
``composite_softmax`` and the Softmax losses couple the ``K`` scores.

A link or scaling function is a :class:`lossnotes.links.Link` (or its short name, e.g. ``"exp"``). The
target is a constant: no gradient flows into it.

Precision: every loss here computes in float64 (float32 on MPS, which has no float64) and returns the input's
compute dtype. The Bregman form :math:`H(\hat s) - H(s) - (\hat s - s)h(s)` subtracts numbers of size
:math:`H(s)` to get a much smaller loss: at :math:`|s| \approx 10^3` float32 leaves nothing but rounding (off
by 1000x, often negative); float64 keeps 1e-13 of :math:`H` and the loss correct well past the contract's 1e4.
"""
from __future__ import annotations

from functools import partial

import torch

from .. import links as _links
from .reduction import reduce_loss
from .validation import checks_output, check_choice, check_float_tensor, check_scalar, compute_dtype, value_checks_enabled

__all__ = ["matching_loss", "composite_sigmoid", "composite_softmax", "bregman_loss", "sigmoid_ce",
           "composite_sigmoid_ce", "composite_softmax_ce", "softmax_matching_loss", "softmax_score_ce",
           "reweighted_square", "composite_probabilities", "composite_link", "composite_sensitivity",
           "check_scores", "Primitive", "softmax_primitive", "composite_primitive"]


def check_scores(pred, target, *, ndim=(1, 2), pred_name: str = "pred", target_name: str = "target"):
    """``pred`` and score ``target``: finite float tensors of the same shape, ``(N,)`` or ``(N, K)``.

    Returns both in the dtype the loss computes in (float16/bfloat16 -> float32), target detached."""
    check_float_tensor(pred, pred_name, ndim=ndim)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"{target_name} must be a torch.Tensor of real scores, got {type(target).__name__}")
    if not target.is_floating_point():
        raise TypeError(f"{target_name} must hold real scores (a float tensor shaped like {pred_name}), got dtype "
                        f"{target.dtype}; matching losses take score targets (e.g. teacher logits), not class "
                        f"indices")
    if target.shape != pred.shape:
        if target.dim() >= 1 and pred.dim() >= 1 and target.shape[0] != pred.shape[0]:
            raise ValueError(f"{target_name} has {target.shape[0]} samples but {pred_name} has {pred.shape[0]}")
        raise ValueError(f"{target_name} must have the shape of {pred_name}, {tuple(pred.shape)}, "
                         f"got {tuple(target.shape)}")
    check_float_tensor(target, target_name, ndim=ndim, deferrable=False)   # +-inf scores can give finite losses
    dtype = compute_dtype(pred)
    return pred.to(dtype), target.detach().to(dtype)


def _wide_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float32 if x.device.type == "mps" else torch.float64


def _scores(pred, target, *, ndim=(1, 2)):
    """Checked ``(s_hat, s, out_dtype)``: both in float64 (see the module docstring), ``out_dtype`` the dtype
    the result is returned in (the compute dtype of ``pred``)."""
    s_hat, s = check_scores(pred, target, ndim=ndim)
    wide = _wide_dtype(s_hat)
    return s_hat.to(wide), s.to(wide), s_hat.dtype


def _per_sample(elementwise: torch.Tensor) -> torch.Tensor:
    """(N,) stays; (N, K) is summed over K."""
    return elementwise if elementwise.dim() == 1 else elementwise.sum(1)


def _gamma(gamma):
    return check_scalar(gamma, "gamma", low=0.0, low_open=True)


@checks_output
def matching_loss(pred, target, link, *, reduction="mean"):
    r"""Matching loss of a link: the Bregman divergence of its primitive (Eq. 1-2).

    .. math::
        L_m(\hat s, s) = \int_s^{\hat s} [h(z) - h(s)]\,dz = H(\hat s) - H(s) - (\hat s - s)\,h(s),
        \qquad \frac{\partial L_m}{\partial \hat s} = h(\hat s) - h(s)

    On ``(N, K)`` scores it is the decomposed multi-class loss (Eq. 28), :math:`\sum_k D_H(\hat s_k, s_k)`.

    Args:
        pred: predictions :math:`\hat s`, ``(N,)`` or ``(N, K)``.
        target: observed scores :math:`s`, same shape (real numbers, not class indices).
        link: a non-decreasing :class:`lossnotes.links.Link` (e.g. ``sigmoid_link(alpha, beta)``) or its name.
        reduction: ``"mean"`` over samples, ``"sum"`` or ``"none"`` (``(N,)``).
    """
    s_hat, s, out = _scores(pred, target)
    link = _links.get_link(link, "link", monotone=True)
    loss = link.H(s_hat) - link.H(s) - (s_hat - s) * link.h(s)
    return reduce_loss(_per_sample(loss), reduction).to(out)


@checks_output
def composite_sigmoid(pred, target, *, q="exp", gamma=1.0, reduction="mean"):
    r"""Composite-Sigmoid selective loss (Eq. 22-25, with :math:`\gamma`: G.1).

    .. math::
        p = \sigma(Q/\gamma),\quad H = \gamma\,\mathrm{sp}(Q/\gamma),\quad h = q\,p,\qquad
        L(\hat s, s) = H(\hat s) - H(s) - (\hat s - s)\,q(s)\,p(s)

    Convex in :math:`\hat s` when :math:`Q` is convex (:math:`q` non-decreasing, Theorem 3). On ``(N, K)``
    scores it acts per coordinate and sums over K.

    Args:
        q: the scaling function, a :class:`lossnotes.links.Link` used through ``Q``/``q`` (default ``"exp"``:
            :math:`q = e^{z}`, high-score sensitivity), or a name.
        gamma: temperature :math:`\gamma > 0`.
    """
    s_hat, s, out = _scores(pred, target)
    link = _links.get_link(q, "q")
    gamma = _gamma(gamma)
    Q_s = link.Q(s)
    loss = (gamma * _links.softplus(link.Q(s_hat) / gamma) - gamma * _links.softplus(Q_s / gamma)
            - (s_hat - s) * link.q(s) * torch.sigmoid(Q_s / gamma))
    return reduce_loss(_per_sample(loss), reduction).to(out)


def composite_probabilities(z, q="exp", *, gamma=1.0):
    r"""Composite Softmax :math:`p_k(z) = \mathrm{softmax}(Q(z)/\gamma)_k` over the last dimension (Eq. 16, C.3)."""
    link = _links.get_link(q, "q")
    return torch.softmax(link.Q(z) / _gamma(gamma), dim=-1)


def composite_link(z, q="exp", *, gamma=1.0):
    r"""The composite-Softmax link :math:`h_k(z) = q(z_k)\,p_k(z)` (Theorem 2, Eq. 18)."""
    link = _links.get_link(q, "q")
    return link.q(z) * composite_probabilities(z, link, gamma=gamma)


def composite_sensitivity(z, q="exp", *, gamma=1.0):
    r"""Class sensitivity :math:`\Delta_k = \partial h_k/\partial z_k = p_k\{q'(z_k) + (1-p_k)q(z_k)^2/\gamma\}`
    (B.5, C.6). For a ``(..., 1)`` input it is the composite-Sigmoid :math:`h'` of (B.1) only after adding the
    fixed class; use it on ``(..., K)`` scores."""
    link = _links.get_link(q, "q")
    gamma = _gamma(gamma)
    p = composite_probabilities(z, link, gamma=gamma)
    return p * (link.dq(z) + (1.0 - p) * link.q(z) ** 2 / gamma)


@checks_output
def composite_softmax(pred, target, *, q="exp", gamma=1.0, reduction="mean"):
    r"""Composite-Softmax selective loss (Eq. 29-30, with :math:`\gamma`: C.3-C.5).

    .. math::
        L(\hat{\mathbf s}, \mathbf s) = \gamma\log\sum_k e^{Q(\hat s_k)/\gamma} - \gamma\log\sum_k e^{Q(s_k)/\gamma}
            - \sum_k (\hat s_k - s_k)\,q(s_k)\,p_k(\mathbf s),\qquad
        \frac{\partial L}{\partial \hat s_k} = q(\hat s_k)p_k(\hat{\mathbf s}) - q(s_k)p_k(\mathbf s)

    with :math:`p = \mathrm{softmax}(Q/\gamma)`. Convex in :math:`\hat{\mathbf s}` when :math:`Q` is convex
    (Theorem 4). Computed through ``logsumexp`` of :math:`Q`.

    Args:
        pred: predicted score vectors ``(N, K)``.
        target: observed score vectors ``(N, K)`` (e.g. teacher logits).
        q: scaling function (a :class:`lossnotes.links.Link` or name; default ``"exp"``, :math:`q = e^z`).
        gamma: temperature :math:`\gamma > 0`.
    """
    s_hat, s, out = _scores(pred, target, ndim=2)
    link = _links.get_link(q, "q")
    gamma = _gamma(gamma)
    Q_s = link.Q(s) / gamma
    p_s = torch.softmax(Q_s, dim=1)
    loss = (gamma * torch.logsumexp(link.Q(s_hat) / gamma, dim=1) - gamma * torch.logsumexp(Q_s, dim=1)
            - ((s_hat - s) * link.q(s) * p_s).sum(1))
    return reduce_loss(loss, reduction).to(out)


class Primitive:
    r"""A convex primitive :math:`H:\mathbb R^K\to\mathbb R` for :func:`bregman_loss`: ``fn`` maps torch
    ``(N, K) -> (N,)``; ``twin`` maps a list of K SymPy expressions to one expression."""

    def __init__(self, fn, twin, name: str):
        self.fn, self.twin, self.name = fn, twin, name

    def __call__(self, z):
        return self.fn(z)

    def __repr__(self) -> str:
        return self.name


def _softmax_H(z, alpha, beta, gamma):
    return gamma * torch.logsumexp(alpha * (z - beta) / gamma, dim=-1)


def _softmax_H_twin(row, alpha, beta, gamma):
    import sympy as sp

    return gamma * sp.log(sum(sp.exp(alpha * (v - beta) / gamma) for v in row))


def _composite_H(z, link, gamma):
    return gamma * torch.logsumexp(link.Q(z) / gamma, dim=-1)


def _composite_H_twin(row, link, gamma):
    import sympy as sp

    sym = link.twin()
    return gamma * sp.log(sum(sp.exp(sym.Q(v) / gamma) for v in row))


def softmax_primitive(alpha=1.0, beta=0.0, gamma=1.0) -> Primitive:
    r"""Generalised Softmax primitive :math:`H = \gamma\log\sum_k e^{\alpha(z_k-\beta)/\gamma}` (E.8, :math:`\rho=1`)."""
    alpha = check_scalar(alpha, "alpha", low=0.0, low_open=True)
    beta = check_scalar(beta, "beta")
    gamma = _gamma(gamma)
    kw = {"alpha": alpha, "beta": beta, "gamma": gamma}          # partials, not closures: picklable
    return Primitive(partial(_softmax_H, **kw), partial(_softmax_H_twin, **kw),
                     f"softmax_primitive(alpha={alpha:g}, beta={beta:g}, gamma={gamma:g})")


def composite_primitive(q="exp", gamma=1.0) -> Primitive:
    r"""Composite-Softmax primitive :math:`H = \gamma\log\sum_k e^{Q(z_k)/\gamma}` (C.3)."""
    link = _links.get_link(q, "q")
    gamma = _gamma(gamma)
    return Primitive(partial(_composite_H, link=link, gamma=gamma), partial(_composite_H_twin, link=link, gamma=gamma),
                     f"composite_primitive(q={link!r}, gamma={gamma:g})")


@checks_output
def bregman_loss(pred, target, *, primitive, reduction="mean"):
    r"""Generic multi-class matching loss of a convex primitive :math:`H` (Eq. 26-27).

    .. math::
        L(\hat{\mathbf s}, \mathbf s) = H(\hat{\mathbf s}) - H(\mathbf s) - \sum_k (\hat s_k - s_k)\,h_k(\mathbf s),
        \qquad h = \nabla H

    :math:`\nabla H(\mathbf s)` is taken by autograd. Args: ``pred``/``target`` ``(N, K)``; ``primitive``: a
    :class:`Primitive` (e.g. :func:`softmax_primitive`, :func:`composite_primitive`) or any callable
    ``(N, K) -> (N,)`` that is convex (a non-convex one gives a loss that can be negative).
    """
    s_hat, s, out = _scores(pred, target, ndim=2)
    if not callable(primitive):
        raise TypeError(f"primitive must be callable (N, K) -> (N,), got {type(primitive).__name__}")
    # h(s) by autograd, also under torch.no_grad() and torch.inference_mode() (s cloned outside inference mode
    # is a normal tensor autograd can record)
    with torch.inference_mode(False), torch.enable_grad():
        s_var = s.clone().requires_grad_(True)
        H_s = primitive(s_var)
        if H_s.shape != s.shape[:1]:
            raise ValueError(f"primitive must return one value per sample, shape ({s.shape[0]},), "
                             f"got {tuple(H_s.shape)}")
        (h_s,) = torch.autograd.grad(H_s.sum(), s_var)
    loss = primitive(s_hat) - H_s.detach() - ((s_hat - s) * h_s).sum(1)
    return reduce_loss(loss, reduction).to(out)


@checks_output
def sigmoid_ce(pred, target, *, alpha=1.0, beta=0.0, reduction="mean"):
    r"""Sigmoid cross-entropy with a score target (E.1): with :math:`x = \alpha(z-\beta)`, :math:`p = \sigma(x)`,

    .. math::
        L_{CE}(\hat s, s) = \tfrac1\alpha\bigl[\mathrm{sp}(\hat x) - p(s)\,\hat x\bigr]

    Its gradient equals the sigmoid matching loss's, :math:`\sigma(\hat x) - \sigma(x_s)` (E.2); the two losses
    differ by a term constant in :math:`\hat s`. Per coordinate, summed over K for ``(N, K)``."""
    s_hat, s, out = _scores(pred, target)
    link = _links.sigmoid_link(alpha, beta)
    x_hat = link.alpha * (s_hat - link.beta)
    loss = (_links.softplus(x_hat) - link.h(s) * x_hat) / link.alpha
    return reduce_loss(_per_sample(loss), reduction).to(out)


@checks_output
def composite_sigmoid_ce(pred, target, *, q="exp", reduction="mean"):
    r"""Composite-Sigmoid cross-entropy (E.3), with :math:`p = \sigma(Q)`:

    .. math::
        L_{CE}(\hat s, s) = \mathrm{sp}(Q(\hat s)) - p(s)\,Q(\hat s)

    Gradient :math:`q(\hat s)[p(\hat s) - p(s)]` (E.4): neither the matching gradient nor convex in general."""
    s_hat, s, out = _scores(pred, target)
    link = _links.get_link(q, "q")
    Q_hat = link.Q(s_hat)
    loss = _links.softplus(Q_hat) - torch.sigmoid(link.Q(s)) * Q_hat
    return reduce_loss(_per_sample(loss), reduction).to(out)


@checks_output
def composite_softmax_ce(pred, target, *, q="exp", reduction="mean"):
    r"""Composite-Softmax cross-entropy (E.5), with :math:`p = \mathrm{softmax}(Q)`:

    .. math::
        L_{CE}(\hat{\mathbf s}, \mathbf s) = \log\sum_k e^{Q(\hat s_k)} - \sum_k p_k(\mathbf s)\,Q(\hat s_k)

    Gradient :math:`q(\hat s_k)[p_k(\hat{\mathbf s}) - p_k(\mathbf s)]` (E.6)."""
    s_hat, s, out = _scores(pred, target, ndim=2)
    link = _links.get_link(q, "q")
    Q_hat = link.Q(s_hat)
    loss = torch.logsumexp(Q_hat, dim=1) - (torch.softmax(link.Q(s), dim=1) * Q_hat).sum(1)
    return reduce_loss(loss, reduction).to(out)


def _softmax_parts(pred, target, alpha, beta, gamma, rho):
    alpha = check_scalar(alpha, "alpha", low=0.0, low_open=True)
    beta = check_scalar(beta, "beta")
    gamma = _gamma(gamma)
    s_hat, s, out = _scores(pred, target, ndim=2)
    log_rho = 0.0
    if rho is not None:
        if not isinstance(rho, torch.Tensor):
            try:
                rho = torch.tensor([float(r) for r in rho])
            except TypeError:
                raise TypeError(f"rho must be a 1-D tensor or a sequence of {s.shape[1]} positive numbers, "
                                f"got {type(rho).__name__}") from None
        if rho.shape != (s.shape[1],):
            raise ValueError(f"rho must have shape ({s.shape[1]},), one prior per class, got {tuple(rho.shape)}")
        rho = rho.to(s)
        if value_checks_enabled() and not bool((rho > 0).all() and torch.isfinite(rho).all()):
            raise ValueError("rho must hold finite positive numbers")
        log_rho = torch.log(rho) / gamma

    def H(z):
        return gamma * torch.logsumexp(log_rho + alpha * (z - beta) / gamma, dim=1)

    p_s = torch.softmax(log_rho + alpha * (s - beta) / gamma, dim=1)
    return s_hat, s, alpha, beta, H, p_s, out


@checks_output
def softmax_matching_loss(pred, target, *, alpha=1.0, beta=0.0, gamma=1.0, rho=None, reduction="mean"):
    r"""Generalised standard-Softmax matching loss (E.7-E.9).

    .. math::
        H(\mathbf z) = \gamma\log\sum_k \rho_k^{1/\gamma} e^{\alpha(z_k-\beta)/\gamma},\qquad
        L = H(\hat{\mathbf s}) - H(\mathbf s) - \alpha\sum_k(\hat s_k - s_k)\,p_k(\mathbf s)

    Gradient :math:`\alpha(p_k(\hat{\mathbf s}) - p_k(\mathbf s))` (E.10), that of :func:`softmax_score_ce`.
    Invariant to adding a constant to all scores; :math:`\beta` drops out; the class sensitivity is
    :math:`\Delta_k = (\alpha^2/\gamma)\,p_k(1-p_k) \le \alpha^2/(4\gamma)` (App. E; :math:`h_k = \alpha p_k`).
    ``rho``: optional ``(K,)`` positive class priors :math:`\rho_k`.
    """
    s_hat, s, alpha, _, H, p_s, out = _softmax_parts(pred, target, alpha, beta, gamma, rho)
    loss = H(s_hat) - H(s) - alpha * ((s_hat - s) * p_s).sum(1)
    return reduce_loss(loss, reduction).to(out)


@checks_output
def softmax_score_ce(pred, target, *, alpha=1.0, beta=0.0, gamma=1.0, rho=None, reduction="mean"):
    r"""Softmax cross-entropy with score targets (E.11), with :math:`H` and :math:`p` of :func:`softmax_matching_loss`:

    .. math::
        L_{CE}(\hat{\mathbf s}, \mathbf s) = H(\hat{\mathbf s}) - \alpha\sum_k(\hat s_k - \beta)\,p_k(\mathbf s)

    With
    :math:`\alpha = \gamma = \rho_k = 1, \beta = 0` it is the usual CE against the soft target
    :math:`\mathrm{softmax}(\mathbf s)` (distillation at temperature 1)."""
    s_hat, _, alpha, beta, H, p_s, out = _softmax_parts(pred, target, alpha, beta, gamma, rho)
    loss = H(s_hat) - alpha * ((s_hat - beta) * p_s).sum(1)
    return reduce_loss(loss, reduction).to(out)


WEIGHT_BY = ("target", "pred", "both")


@checks_output
def reweighted_square(pred, target, *, weight_by="target", kappa=0.5, delta=0.5, s_min=-3.0, reduction="mean"):
    r"""Re-weighted square losses of App. E.1 (Fig. E.1), with :math:`w(z) = \kappa\,(z - s_{\min} + \delta)`:

    .. math::
        w(s)(\hat s - s)^2 \;(\texttt{"target"}),\qquad w(\hat s)(\hat s - s)^2 \;(\texttt{"pred"}),\qquad
        w(s)\,w(\hat s)(\hat s - s)^2 \;(\texttt{"both"})

    The paper's setting: :math:`\kappa = \delta = 0.5`, :math:`s_{\min} = -3`; no 1/2 factor. Only ``"target"``
    is convex in :math:`\hat s`; the weight is negative below :math:`s_{\min} - \delta` (as printed)."""
    s_hat, s, out = _scores(pred, target)
    check_choice(weight_by, "weight_by", WEIGHT_BY)
    kappa = check_scalar(kappa, "kappa", low=0.0, low_open=True)
    delta = check_scalar(delta, "delta")
    s_min = check_scalar(s_min, "s_min")

    def w(z):
        return kappa * (z - s_min + delta)

    square = (s_hat - s) ** 2
    weight = {"target": lambda: w(s), "pred": lambda: w(s_hat), "both": lambda: w(s) * w(s_hat)}[weight_by]()
    return reduce_loss(_per_sample(weight * square), reduction).to(out)


def _register():
    from .. import symbolic
    from ..registry import LossSpec, register

    paper = "Shamir & Warmuth, Selective Matching Losses -- Not All Scores Are Created Equal"
    lk = _links
    matching_links = (lk.sigmoid_link(), lk.sigmoid_link(2.0, 1.0), lk.identity_link(0.5, 1.0), lk.exp_link(0.5, 0.5),
                      lk.anti_exp_link(0.5, -0.5), lk.sinh_link(0.5), lk.tanh_link(1.5, -0.5),
                      lk.smelu_link(1.0, 1.0, 0.5), lk.huber_link(0.7), lk.step_link(), lk.sign_link(1.0, 0.25))
    convex_q = (lk.exp_link(0.5), lk.sinh_link(0.5, 1.0), lk.sigmoid_link(1.0, 1.0), lk.tanh_link(),
                lk.identity_link(0.5), lk.anti_exp_link(0.5, -1.0), lk.smelu_link(1.0, 1.0, 0.5))
    bad_link = [({"link": "cubic"}, ValueError, "link"), ({"link": torch.sigmoid}, TypeError, "link"),
                ({"link": lk.cosh_link()}, ValueError, "non-decreasing")]
    bad_q = [({"q": "cubic"}, ValueError, "q"), ({"q": 2.0}, TypeError, "q"),
             ({"gamma": 0.0}, ValueError, "gamma"), ({"gamma": -1.0}, ValueError, "gamma")]
    common = dict(family="matching", paper=paper, target_kind="score", inputs=("pred",),
                  extra={"allows_1d": True})
    # exp-type links and Q's reach gradients beyond float16's range (6.5e4) at |score| = 60: no fp16/bf16 claims
    no_fp16 = {**common, "low_precision": False,
               "notes": "exp-type links overflow float16 gradients at |score| ~ 60; use float32 or bfloat16"}
    softmax_params = ({}, {"alpha": 2.0, "beta": 1.0, "gamma": 0.5}, {"rho": [0.5, 1.0, 2.0, 1.0, 3.0]})
    softmax_bad = [({"alpha": 0.0}, ValueError, "alpha"), ({"gamma": -1.0}, ValueError, "gamma"),
                   ({"rho": [1.0, 2.0]}, ValueError, "rho"), ({"rho": [1.0, -1.0, 1.0, 1.0, 1.0]}, ValueError, "rho")]

    register(LossSpec(
        name="matching_loss", fn=matching_loss, twin=symbolic.matching_loss, equation="Eq. (1)-(2); (N, K): Eq. (28)",
        defaults={}, claims=frozenset({"convex", "proper"}),
        test_params=tuple({"link": link} for link in matching_links), bad_params=bad_link,
        **{**no_fp16, "extra": {"allows_1d": True, "required_params": lambda c: {"link": lk.sigmoid_link()}}}))
    register(LossSpec(
        name="composite_sigmoid", fn=composite_sigmoid, twin=symbolic.composite_sigmoid,
        equation="Eq. (22)-(25); gamma: (G.1)", defaults={"q": "exp", "gamma": 1.0},
        claims=frozenset({"convex", "proper"}),
        test_params=tuple({"q": q} for q in convex_q) + ({"q": lk.sinh_link(0.5), "gamma": 2.0},),
        bad_params=bad_q, **no_fp16))
    register(LossSpec(
        name="composite_softmax", fn=composite_softmax, twin=symbolic.composite_softmax,
        equation="Eq. (29)-(30); gamma: (C.3)-(C.5)", defaults={"q": "exp", "gamma": 1.0},
        claims=frozenset({"convex", "proper"}),
        test_params=tuple({"q": q} for q in convex_q) + ({"q": lk.sinh_link(0.5), "gamma": 0.5},),
        bad_params=bad_q, **{**no_fp16, "extra": {}}))
    register(LossSpec(
        name="bregman_loss", fn=bregman_loss, twin=symbolic.bregman_loss, equation="Eq. (26)-(27)",
        defaults={}, claims=frozenset({"convex", "proper"}),
        test_params=({"primitive": softmax_primitive(2.0, 1.0, 0.5)},
                     {"primitive": composite_primitive(lk.sinh_link(0.5))}),
        bad_params=[({"primitive": "softmax"}, TypeError, "primitive"),
                    ({"primitive": lambda z: z}, ValueError, "primitive")],
        **{**no_fp16, "extra": {"required_params": lambda c: {"primitive": softmax_primitive()}}}))
    register(LossSpec(
        name="sigmoid_ce", fn=sigmoid_ce, twin=symbolic.sigmoid_ce, equation="(E.1)",
        defaults={"alpha": 1.0, "beta": 0.0}, claims=frozenset({"convex"}),
        test_params=({}, {"alpha": 2.0, "beta": -1.0}),
        bad_params=[({"alpha": -1.0}, ValueError, "alpha"), ({"beta": "0"}, TypeError, "beta")], **common))
    register(LossSpec(
        name="composite_sigmoid_ce", fn=composite_sigmoid_ce, twin=symbolic.composite_sigmoid_ce,
        equation="(E.3)", defaults={"q": "exp"}, claims=frozenset(),
        test_params=({"q": lk.exp_link(0.5)}, {"q": lk.sinh_link(0.5)}, {"q": lk.tanh_link()}), bad_params=bad_q[:2],
        **no_fp16))
    register(LossSpec(
        name="composite_softmax_ce", fn=composite_softmax_ce, twin=symbolic.composite_softmax_ce,
        equation="(E.5)", defaults={"q": "exp"}, claims=frozenset(),
        test_params=({"q": lk.exp_link(0.5)}, {"q": lk.sinh_link(0.5)}, {"q": lk.sigmoid_link(1.0, 1.0)}),
        bad_params=bad_q[:2], **{**no_fp16, "extra": {}}))
    register(LossSpec(
        name="softmax_matching_loss", fn=softmax_matching_loss, twin=symbolic.softmax_matching_loss,
        equation="(E.7)-(E.9)", defaults={"alpha": 1.0, "beta": 0.0, "gamma": 1.0, "rho": None},
        claims=frozenset({"convex", "proper"}), test_params=softmax_params, bad_params=softmax_bad,
        **{**common, "extra": {}}))
    register(LossSpec(
        name="softmax_score_ce", fn=softmax_score_ce, twin=symbolic.softmax_score_ce,
        equation="(E.11)", defaults={"alpha": 1.0, "beta": 0.0, "gamma": 1.0, "rho": None},
        claims=frozenset({"convex"}), test_params=softmax_params, bad_params=softmax_bad,
        **{**common, "extra": {}}))
    register(LossSpec(
        name="reweighted_square", fn=reweighted_square, twin=symbolic.reweighted_square,
        equation="App. E.1 (Fig. E.1)", defaults={"weight_by": "target", "kappa": 0.5, "delta": 0.5, "s_min": -3.0},
        claims=frozenset(),
        test_params=({}, {"weight_by": "pred"}, {"weight_by": "both", "kappa": 1.0, "s_min": -10.0}),
        bad_params=[({"weight_by": "label"}, ValueError, "weight_by"), ({"kappa": 0.0}, ValueError, "kappa")],
        **no_fp16))


_register()
