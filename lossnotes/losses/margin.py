r"""Margin softmax losses: weighted softmax, L-Softmax, SphereFace (A-Softmax), L2-constrained softmax,
AM-Softmax (CosFace) and ArcFace.

Sources:

* Xie & Tu 2015, Holistically-nested edge detection (ICCV): class-weighted softmax.
* Liu, Wen, Yu & Yang 2016, Large-Margin Softmax Loss for Convolutional Neural Networks (ICML), Eq. (4)-(8).
* Liu et al. 2017, SphereFace: Deep Hypersphere Embedding for Face Recognition (CVPR), A-Softmax, Eq. (6)-(7).
* Ranjan, Castillo & Chellappa 2017, L2-constrained Softmax Loss for Discriminative Face Verification
  (arXiv:1703.09507), Eq. (2).
* Wang, Cheng, Liu & Liu 2018, Additive Margin Softmax for Face Verification (IEEE SPL), Eq. (3)-(4);
  Wang et al. 2018, CosFace (CVPR) is the same loss (Eq. 4 there).
* Deng, Guo, Xue & Zafeiriou 2019, ArcFace: Additive Angular Margin Loss for Deep Face Recognition (CVPR),
  Eq. (3).

Inputs: the first four losses take what their formula needs (``logits (N, C)``, or ``features (N, d)`` and
class weights ``weight (C, d)``, the rows of the last linear layer); AM-Softmax and ArcFace take the cosines
``cosine (N, C)`` between normalised features and normalised class weights (compute them with
:func:`cosine_logits`).

Shared angular pieces live here, once:

* :func:`cosine_logits` (normalise rows, then ``x_hat @ W_hat^T``) and :func:`check_cosine` (the
  ``[-1, 1]`` range check, with :data:`COSINE_TOLERANCE`);
* :func:`safe_sine`: :math:`\sin\theta = \sqrt{1-\cos^2\theta}` with the radicand clamped at the
  dtype's machine epsilon, so that neither the value nor the gradient is NaN/inf at :math:`\cos\theta=\pm1`;
* :func:`lsoftmax_psi`: the L-Softmax / SphereFace :math:`\psi` as a polynomial of :math:`\cos\theta`
  (Chebyshev :math:`T_m`), so no ``acos`` is ever taken;
* :func:`arcface_target`: :math:`\cos(\theta+m)` with the reference implementations' fallback for
  :math:`\theta > \pi - m`.

Nothing here calls ``acos``: every target logit is a polynomial or ``sqrt`` expression of
:math:`\cos\theta`, which is how the papers' own implementations avoid its infinite slope at :math:`\pm1`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .reduction import reduce_loss
from .softmax import softmax_cross_entropy
from .validation import (checks_output, check_class_target, check_float_tensor, check_logits, check_scalar,
                         compute_dtype, value_checks_enabled)

__all__ = ["weighted_softmax", "large_margin_softmax", "sphereface", "l2_softmax", "am_softmax", "arcface",
           "margin_lambda", "cosine_logits", "check_cosine", "safe_sine", "lsoftmax_psi", "arcface_target", "COSINE_TOLERANCE"]

#: Cosines may exceed [-1, 1] by this much (plus 4 machine epsilons of their dtype, for fp16/bf16 rounding
#: of a normalised dot product) before it is an error; inside the tolerance the target cosine is clamped to
#: [-1, 1] (the other columns only enter as logits s * cos, where a 1e-6 excess is harmless).
COSINE_TOLERANCE = 1e-6
#: Largest multiplicative margin m of L-Softmax / SphereFace (the papers use 1-4). psi costs O(m) passes,
#: falls to -(2m-1) and has slope m^2 at cos = +-1: m = 1e30 would never return.
M_MAX = 32


# ---- shared angular pieces ---------------------------------------------------------------------------

def _norm(x: torch.Tensor, dim: int = -1, keepdim: bool = True) -> torch.Tensor:
    """Euclidean norm, clamped below at the square root of the dtype's tiny: no division by 0 and a zero
    (not NaN) gradient at the zero vector."""
    return torch.linalg.vector_norm(x, dim=dim, keepdim=keepdim).clamp_min(torch.finfo(x.dtype).tiny ** 0.5)


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return x / _norm(x)


def cosine_logits(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    r"""Cosines :math:`\cos\theta_{ij} = \hat x_i^\top \hat W_j` of ``features (N, d)`` and ``weight (C, d)``:
    the ``cosine`` input of :func:`am_softmax` and :func:`arcface`. Zero rows give cosine 0 (no NaN)."""
    _check_features_weight(features, weight)
    return _normalize(features) @ _normalize(weight).T


def check_cosine(cosine, name: str = "cosine") -> torch.Tensor:
    """Cosines ``(N, C)``, floating point, finite, within ``[-1, 1]`` up to the tolerance; returned in the
    compute dtype (float32 for fp16/bf16). Not clamped (that would cost a pass over ``(N, C)``): the losses clamp
    the target column, the only one that goes through a square root.

    The tolerance is ``COSINE_TOLERANCE + 4 * eps(dtype)``: 1.5e-6 for float32, 4e-3 for float16, 3e-2 for
    bfloat16, so that a normalised dot product rounded in low precision is accepted, and a genuine
    out-of-range value (a forgotten normalisation, an already scaled ``s * cos``) is a ``ValueError``.
    """
    check_logits(cosine, name)
    if value_checks_enabled():
        tol = COSINE_TOLERANCE + 4 * torch.finfo(cosine.dtype).eps
        lo, hi = (float(v) for v in torch.aminmax(cosine.detach()))
        if lo < -1.0 - tol or hi > 1.0 + tol:
            raise ValueError(f"{name} must hold cosines in [-1, 1], got values in [{lo:.6g}, {hi:.6g}]; "
                             f"normalise features and weights first (lossnotes.losses.cosine_logits)")
    return cosine.to(compute_dtype(cosine))


def safe_sine(cos: torch.Tensor) -> torch.Tensor:
    r""":math:`\sin\theta = \sqrt{1 - \cos^2\theta}` for :math:`\theta \in [0, \pi]`, NaN-free.

    The radicand is clamped below at the dtype's machine epsilon, so at :math:`\cos\theta = \pm 1` the value is
    :math:`\sqrt{\epsilon}` (3.4e-4 in float32) instead of 0, and the derivative there is 0 (clamp) instead
    of :math:`\mp\infty`; elsewhere it is the exact :math:`-\cos\theta/\sin\theta`, at most
    :math:`1/\sqrt{\epsilon}` in size.
    """
    return (1.0 - cos * cos).clamp_min(torch.finfo(cos.dtype).eps).sqrt()


def _chebyshev(cos: torch.Tensor, n: int, *, second_kind: bool = False) -> torch.Tensor:
    """:math:`T_n(c)` (or :math:`U_n(c)`), ``n >= 1``, by the recursion :math:`P_{j+1} = 2cP_j - P_{j-1}`."""
    prev, cur = torch.ones_like(cos), (2 * cos if second_kind else cos)
    for _ in range(n - 1):
        prev, cur = cur, 2 * cos * cur - prev
    return cur


def _psi_branch(cos: torch.Tensor, m: int):
    r"""``(k, (-1)^k)``: the branch of :math:`\psi` that holds :math:`c`, :math:`c \le \cos(k\pi/m)`."""
    k = torch.zeros_like(cos)
    for j in range(1, m):
        k += cos <= math.cos(j * math.pi / m)
    return k, 1.0 - 2.0 * torch.remainder(k, 2.0)


class _Psi(torch.autograd.Function):
    """psi(c) with the closed-form derivative psi'(c) = (-1)^k m U_{m-1}(c): one node in the graph instead
    of 4m small ones (the backward is written in differentiable ops, so double backward still works)."""

    @staticmethod
    def forward(ctx, cos, m):
        k, sign = _psi_branch(cos, m)
        ctx.m = m
        ctx.save_for_backward(cos, sign)
        return sign * _chebyshev(cos, m) - 2.0 * k

    @staticmethod
    def backward(ctx, grad):
        cos, sign = ctx.saved_tensors
        return grad * (ctx.m * sign) * _chebyshev(cos, ctx.m - 1, second_kind=True), None


def lsoftmax_psi(cos: torch.Tensor, m: int) -> torch.Tensor:
    r"""L-Softmax's :math:`\psi(\theta) = (-1)^k\cos(m\theta) - 2k` for :math:`\theta\in[\tfrac{k\pi}{m},
    \tfrac{(k+1)\pi}{m}]`, :math:`k = 0..m-1`, computed from :math:`c = \cos\theta` without ``acos``
    (Liu et al. 2016, Eq. 6-8):

    .. math::
        \cos(m\theta) = T_m(c) = \sum_{n=0}^{\lfloor m/2\rfloor} (-1)^n \binom{m}{2n} c^{m-2n}(1-c^2)^n,
        \qquad k = \#\{\,j \in 1..m-1 : c \le \cos(j\pi/m)\,\}

    (:math:`T_m` by the Chebyshev recursion :math:`T_{n+1} = 2cT_n - T_{n-1}`). :math:`\psi` is continuous,
    monotonically decreasing from 1 to :math:`-(2m-1)` on :math:`[0, \pi]`, and polynomial in :math:`c`, so its
    gradient is finite at :math:`c = \pm1`: :math:`\psi'(c) = (-1)^k m\,U_{m-1}(c)` (Chebyshev of the second
    kind, :math:`T_m' = mU_{m-1}`), :math:`m^2` at :math:`c = \pm1`. ``m = 1`` gives :math:`c`.
    ``cos``: a float tensor of cosines; ``m``: an integer in ``[1, M_MAX]``.
    """
    check_float_tensor(cos, "cos")
    return _lsoftmax_psi(cos, _check_m_integer(m))


def _lsoftmax_psi(cos, m):
    if m == 1:
        return cos
    return _Psi.apply(cos, m)


def arcface_target(cos: torch.Tensor, m: float, *, easy_margin: bool = False) -> torch.Tensor:
    r"""ArcFace's target cosine :math:`\phi(\theta)`, computed from :math:`c = \cos\theta` as
    :math:`\cos(\theta + m) = c\cos m - \sin\theta\,\sin m` (with :func:`safe_sine`), and, where
    :math:`\theta + m` would pass :math:`\pi` (there :math:`\cos(\theta+m)` increases again with :math:`\theta`,
    so a sample further from its class would get a *larger* target logit), the fallback of the reference
    implementation (insightface, ``arcface_torch/losses.py``; also the original MXNet code):

    .. math::
        \phi(\theta) = \begin{cases} \cos(\theta + m) & \cos\theta > \cos(\pi - m)\\
                                    \cos\theta - m\sin m & \text{otherwise}\end{cases}

    (``easy_margin=False``, insightface's default). The fallback is the CosFace-style additive margin
    :math:`m\sin m`; it keeps :math:`\phi` decreasing on :math:`[0,\pi]` but is **not continuous** at
    :math:`\theta=\pi-m`: it jumps from :math:`-1` to :math:`-\cos m - m\sin m` (by :math:`-0.117` for
    :math:`m = 0.5`). ``easy_margin=True`` (insightface's other option) applies the margin only where
    :math:`\cos\theta > 0` and uses :math:`\cos\theta` elsewhere. ``m`` in ``[0, pi)``.
    """
    check_float_tensor(cos, "cos")
    m = check_scalar(m, "m", low=0.0, high=math.pi, high_open=True)
    if not isinstance(easy_margin, bool):
        raise TypeError(f"easy_margin must be a bool, got {type(easy_margin).__name__}")
    return _arcface_target(cos, m, easy_margin)


def _arcface_target(cos, m, easy_margin):
    phi = cos * math.cos(m) - safe_sine(cos) * math.sin(m)
    if easy_margin:
        return torch.where(cos > 0, phi, cos)
    return torch.where(cos > math.cos(math.pi - m), phi, cos - m * math.sin(m))


def _check_features_weight(features, weight, target=None):
    """Checked ``(x, w, target)``: features and weight in their common compute dtype, target as int64."""
    check_float_tensor(features, "features", ndim=2)
    check_float_tensor(weight, "weight", ndim=2)
    if features.shape[1] != weight.shape[1]:
        raise ValueError(f"features (N, d) and weight (C, d) must share d, got features of shape "
                         f"{tuple(features.shape)} and weight of shape {tuple(weight.shape)}")
    if target is not None:
        target = check_class_target(target, features.shape[0], weight.shape[0])
    dtype = torch.promote_types(compute_dtype(features), compute_dtype(weight))
    return features.to(dtype), weight.to(dtype), target


def _check_m_integer(m):
    return check_scalar(m, "m", low=1, high=M_MAX, integer=True)


def _ce_with_target_logit(logits, target, target_logit, reduction, *, inplace=True):
    """Cross-entropy of ``logits`` whose target column is replaced by ``target_logit (N,)``.

    With ``inplace`` (default), ``logits`` must be a fresh tensor that nothing else needs: it is overwritten
    (one pass fewer)."""
    z = (logits.scatter_ if inplace else logits.scatter)(1, target[:, None], target_logit[:, None])
    return reduce_loss(F.cross_entropy(z, target, reduction="none"), reduction)


def _multiplicative_margin(features, weight, target, m, lam, reduction, *, normalize_weight):
    x, w, target = _check_features_weight(features, weight, target)
    m = _check_m_integer(m)
    lam = check_scalar(lam, "lam", low=0.0)
    if normalize_weight:
        w = _normalize(w)
    # ||W_j|| ||x|| cos(theta_j), back in the compute dtype (torch.autocast runs the product in bf16/fp16)
    logits = (x @ w.T).to(x.dtype)
    if m == 1:
        return reduce_loss(F.cross_entropy(logits, target, reduction="none"), reduction)
    col = target[:, None]
    dot_y = logits.gather(1, col).squeeze(1)                           # W_y . x
    radius = _norm(x, keepdim=False)                                   # ||x||, times ||W_y|| unless normalised
    if not normalize_weight:
        radius = radius * _norm(w, keepdim=False).gather(0, target)
    cos_y = (dot_y / radius).clamp(-1.0, 1.0)
    target_logit = radius * _lsoftmax_psi(cos_y, m)
    if lam:
        target_logit = (lam * dot_y + target_logit) / (1.0 + lam)
    return _ce_with_target_logit(logits, target, target_logit, reduction, inplace=False)


def margin_lambda(iteration, *, base=1000.0, gamma=0.12, power=1.0, lambda_min=5.0) -> float:
    r"""The official L-Softmax / SphereFace annealing weight for training step ``iteration`` (0, 1, ...):

    .. math::
        \lambda = \max\bigl(\lambda_{min},\ \text{base}\,(1 + \gamma\,\text{iteration})^{-\text{power}}\bigr)

    passed as ``lam`` to :func:`large_margin_softmax` / :func:`sphereface`, whose target logit is then
    :math:`(\lambda\|W_y\|\|x\|\cos\theta + \|W_y\|\|x\|\psi(\theta))/(1+\lambda)`: close to plain softmax early
    (:math:`\lambda = 1000`), the margin taking over as :math:`\lambda` decays. The defaults are SphereFace's
    (``wy-liu/sphereface``, ``margin_inner_product_param``: base 1000, gamma 0.12, power 1, lambda_min 5); the
    L-Softmax Caffe prototxts use other values per data set (e.g. lambda_min 0, the pure margin at the end).
    """
    it = check_scalar(iteration, "iteration", low=0.0, integer=True)
    base = check_scalar(base, "base", low=0.0)
    gamma = check_scalar(gamma, "gamma", low=0.0)
    power = check_scalar(power, "power", low=0.0)
    lambda_min = check_scalar(lambda_min, "lambda_min", low=0.0)
    return max(lambda_min, base * (1.0 + gamma * it) ** (-power))


# ---- the losses --------------------------------------------------------------------------------------

@checks_output
def weighted_softmax(logits, target, *, class_weight, reduction="mean"):
    r"""Class-weighted softmax cross-entropy (Xie & Tu 2015, HED, Eq. 1-2 there; notes Sec. 2.1).

    .. math::
        \ell_i = -w_{y_i}\log\frac{e^{z_{i y_i}}}{\sum_j e^{z_{ij}}}

    The weights up-weight rare classes (HED: edge pixels, :math:`w` = the fraction of non-edge pixels).
    Same as :func:`lossnotes.losses.softmax_cross_entropy` with ``class_weight`` (which it calls), here with the
    weights required.

    Args:
        logits: ``(N, C)`` floating point.
        target: ``(N,)`` integer class indices in ``[0, C)``.
        class_weight: ``(C,)`` non-negative weights :math:`w` (a tensor or a sequence), required.
        reduction: ``"mean"`` (the weighted sum over :math:`\sum_i w_{y_i}`, as ``F.cross_entropy``), ``"sum"``
            or ``"none"``.
    """
    check_logits(logits)
    if class_weight is None:
        raise ValueError("class_weight is required for weighted_softmax: one non-negative weight per class "
                         "(use softmax_cross_entropy for the unweighted loss)")
    return softmax_cross_entropy(logits, target, class_weight=class_weight, reduction=reduction)


@checks_output
def large_margin_softmax(features, weight, target, *, m=2, lam=0.0, reduction="mean"):
    r"""Large-Margin Softmax (L-Softmax), Liu et al. 2016, Eq. (4)-(6) with the paper's choice of
    :math:`\mathcal D` (Eq. 6):

    .. math::
        \ell_i = -\log\frac{e^{\|W_{y_i}\|\|x_i\|\psi(\theta_{y_i})}}
                 {e^{\|W_{y_i}\|\|x_i\|\psi(\theta_{y_i})} + \sum_{j\ne y_i} e^{\|W_j\|\|x_i\|\cos\theta_j}},\qquad
        \psi(\theta) = (-1)^k\cos(m\theta) - 2k,\ \theta\in\Bigl[\frac{k\pi}{m}, \frac{(k+1)\pi}{m}\Bigr]

    with :math:`\cos\theta_j = W_j^\top x_i/(\|W_j\|\|x_i\|)`; the other classes' logits are the plain
    :math:`W_j^\top x_i` (no bias). :math:`\psi` is computed by :func:`lsoftmax_psi`, from :math:`\cos\theta`
    without ``acos``, as in the paper's Eq. (7)-(8).

    Args:
        features: ``(N, d)`` floating point: the inputs :math:`x_i` of the last (bias-free) linear layer.
        weight: ``(C, d)``: its rows :math:`W_j`.
        target: ``(N,)`` integer class indices in ``[0, C)``.
        m: the multiplicative angular margin, a positive integer; ``m = 1`` is softmax cross-entropy on
            :math:`Wx`. Larger ``m``: larger margin, harder objective (the paper uses 2, 3, 4).
        lam: :math:`\lambda \ge 0`, the official code's blend towards plain softmax: the target logit is
            :math:`(\lambda\|W\|\|x\|\cos\theta + \|W\|\|x\|\psi(\theta))/(1+\lambda)`. 0 (default) is the paper's
            loss; the Caffe code anneals :math:`\lambda` from 1000 down during training (:func:`margin_lambda`).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    return _multiplicative_margin(features, weight, target, m, lam, reduction, normalize_weight=False)


@checks_output
def sphereface(features, weight, target, *, m=4, lam=0.0, reduction="mean"):
    r"""SphereFace's A-Softmax, Liu et al. 2017, Eq. (7): L-Softmax with the class weights normalised
    (:math:`\|W_j\| = 1`, no bias), so the decision depends on the angle alone:

    .. math::
        \ell_i = -\log\frac{e^{\|x_i\|\psi(\theta_{y_i})}}
                 {e^{\|x_i\|\psi(\theta_{y_i})} + \sum_{j\ne y_i} e^{\|x_i\|\cos\theta_j}}

    with the same :math:`\psi` as :func:`large_margin_softmax` (:func:`lsoftmax_psi`).

    Args:
        features: ``(N, d)`` floating point (not normalised: :math:`\|x_i\|` is the scale).
        weight: ``(C, d)``; its rows are normalised inside the loss.
        target: ``(N,)`` integer class indices in ``[0, C)``.
        m: positive integer angular margin; the paper's default is 4 (``m = 1``: "modified softmax", the
            W-normalised softmax of the notes' table).
        lam: :math:`\lambda \ge 0`, the blend towards the W-normalised softmax, as in
            :func:`large_margin_softmax`.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    The official code (``wy-liu/sphereface``, Caffe ``margin_inner_product_layer``) anneals :math:`\lambda`
    (:func:`margin_lambda`: base 1000, gamma 0.12, power 1, :math:`\lambda_{min} = 5`), so its final loss is the
    ``lam=5`` blend, never the pure :math:`\lambda = 0` form of the paper.
    """
    return _multiplicative_margin(features, weight, target, m, lam, reduction, normalize_weight=True)


@checks_output
def l2_softmax(features, weight, target, *, alpha=16.0, bias=None, reduction="mean"):
    r"""L2-constrained softmax, Ranjan et al. 2017, Eq. (2): softmax cross-entropy on features rescaled to
    norm :math:`\alpha` (the paper's L2-normalise + scale layer):

    .. math::
        \ell_i = -\log\frac{e^{W_{y_i}^\top f_i + b_{y_i}}}{\sum_j e^{W_j^\top f_i + b_j}},\qquad
        f_i = \alpha\,\frac{x_i}{\|x_i\|}

    Args:
        features: ``(N, d)`` floating point :math:`x_i`.
        weight: ``(C, d)`` rows :math:`W_j` (not normalised).
        target: ``(N,)`` integer class indices in ``[0, C)``.
        alpha: the feature norm, > 0 (paper: 16 works well; their lower bound for C classes and
            target probability p is :math:`\log\frac{p(C-2)}{1-p}`).
        bias: optional ``(C,)`` biases :math:`b_j`.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    x, w, target = _check_features_weight(features, weight, target)
    alpha = check_scalar(alpha, "alpha", low=0.0, low_open=True)
    logits = (x @ w.T).to(x.dtype) * (alpha / _norm(x))           # = (alpha x / ||x||) W^T, scaled on (N, C) not (N, d)
    if bias is not None:
        if not isinstance(bias, torch.Tensor):
            raise TypeError(f"bias must be None or a (C,) tensor, got {type(bias).__name__}")
        check_float_tensor(bias, "bias", ndim=1)
        if bias.shape[0] != w.shape[0]:
            raise ValueError(f"bias must have shape ({w.shape[0]},), one per class, got {tuple(bias.shape)}")
        logits = logits + bias.to(logits.dtype)
    return reduce_loss(F.cross_entropy(logits, target, reduction="none"), reduction)


def _check_s(s):
    return check_scalar(s, "s", low=0.0, low_open=True)


@checks_output
def am_softmax(cosine, target, *, s=30.0, m=0.35, reduction="mean"):
    r"""Additive Margin Softmax (AM-Softmax; CosFace), Wang et al. 2018, Eq. (4):

    .. math::
        \ell_i = -\log\frac{e^{s(\cos\theta_{y_i} - m)}}{e^{s(\cos\theta_{y_i} - m)} + \sum_{j\ne y_i} e^{s\cos\theta_j}}

    Args:
        cosine: ``(N, C)`` cosines between normalised features and normalised class weights, in ``[-1, 1]``
            (see :func:`cosine_logits`; out of range is a ``ValueError``, see :func:`check_cosine`).
        target: ``(N,)`` integer class indices in ``[0, C)``.
        s: the scale (hypersphere radius), > 0; the AM-Softmax paper uses 30, CosFace 64.
        m: the additive cosine margin, >= 0 (0: softmax on :math:`s\cos\theta`); both papers use 0.35,
            insightface's CosFace configs 0.4. Values above 2 make the target logit unreachable.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    c = check_cosine(cosine)
    target = check_class_target(target, c.shape[0], c.shape[1])
    s = _check_s(s)
    m = check_scalar(m, "m", low=0.0)
    return _ce_with_target_logit(s * c, target, s * (c.gather(1, target[:, None]).squeeze(1) - m), reduction)


@checks_output
def arcface(cosine, target, *, s=64.0, m=0.5, easy_margin=False, reduction="mean"):
    r"""ArcFace (additive angular margin), Deng et al. 2019, Eq. (3):

    .. math::
        \ell_i = -\log\frac{e^{s\,\phi(\theta_{y_i})}}{e^{s\,\phi(\theta_{y_i})} + \sum_{j\ne y_i} e^{s\cos\theta_j}},
        \qquad \phi(\theta) = \cos(\theta + m)\ \text{ for } \theta \le \pi - m

    For :math:`\theta > \pi - m` (where :math:`\cos(\theta+m)` increases again), :math:`\phi` follows the
    reference implementation (insightface): :math:`\cos\theta - m\sin m`, or with ``easy_margin=True`` the
    margin is applied only where :math:`\cos\theta > 0`; see :func:`arcface_target` for the exact form.
    :math:`\sin\theta` comes from :func:`safe_sine`, so there is no NaN and no infinite gradient at
    :math:`\cos\theta = \pm1`.

    Args:
        cosine: ``(N, C)`` cosines in ``[-1, 1]`` (see :func:`check_cosine`).
        target: ``(N,)`` integer class indices in ``[0, C)``.
        s: the scale, > 0 (paper: 64).
        m: the additive angular margin in radians, in ``[0, pi)`` (paper: 0.5 rad, about 28.6 degrees;
            ``m = 0`` is softmax on :math:`s\cos\theta`).
        easy_margin: insightface's option (default False, as there).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    c = check_cosine(cosine)
    target = check_class_target(target, c.shape[0], c.shape[1])
    s = _check_s(s)
    m = check_scalar(m, "m", low=0.0, high=math.pi, high_open=True)
    if not isinstance(easy_margin, bool):
        raise TypeError(f"easy_margin must be a bool, got {type(easy_margin).__name__}")
    phi = _arcface_target(c.gather(1, target[:, None]).squeeze(1).clamp(-1.0, 1.0), m, easy_margin)
    return _ce_with_target_logit(s * c, target, s * phi, reduction)


# ---- registration ------------------------------------------------------------------------------------

def _make_features_weight(n, c, *, seed=0, dtype=None, scale=3.0, device="cpu", d=2):
    """Random ``((features (n, d), weight (c, d)), target)``; features scaled by ``scale``, weight ~ N(0, 1)."""
    dtype = dtype or torch.float64
    g = torch.Generator().manual_seed(seed)
    features = scale * torch.randn(n, d, generator=g, dtype=torch.float64)
    weight = torch.randn(c, d, generator=g, dtype=torch.float64)
    target = _class_target(n, c, g)
    return (features.to(dtype=dtype, device=device), weight.to(dtype=dtype, device=device)), target.to(device)


def _make_cosine(n, c, *, seed=0, dtype=None, scale=3.0, device="cpu"):
    r"""Random cosines ``tanh(scale * z / 3)``: spread over (-1, 1) at the default scale, concentrated at 0 for a
    small ``scale`` and exactly :math:`\pm 1` in float32 for a large one."""
    dtype = dtype or torch.float64
    g = torch.Generator().manual_seed(seed)
    cos = torch.tanh(scale / 3.0 * torch.randn(n, c, generator=g, dtype=torch.float64))
    target = _class_target(n, c, g)
    return cos.to(dtype=dtype, device=device), target.to(device)


def _class_target(n, c, g):
    target = torch.randint(0, c, (n,), generator=g)
    if n >= c:
        target[torch.randperm(n, generator=g)[:c]] = torch.arange(c)
    return target


def _register():
    from .. import symbolic
    from ..registry import LossSpec, register

    fw = {"make_inputs": _make_features_weight}
    cos = {"make_inputs": _make_cosine}
    bad_m_int = [({"m": 0}, ValueError, "m"), ({"m": 2.5}, ValueError, "m"), ({"m": -1}, ValueError, "m"),
                 ({"m": "2"}, TypeError, "m")]
    bad_lam = [({"lam": -1.0}, ValueError, "lam"), ({"lam": "5"}, TypeError, "lam")]
    bad_s = [({"s": 0.0}, ValueError, "s"), ({"s": -1.0}, ValueError, "s"), ({"s": float("inf")}, ValueError, "s")]

    def weighted_denominator(logits, target, class_weight=None, **_):
        return float(sum(class_weight[int(t)] for t in target))

    register(LossSpec(
        name="weighted_softmax", fn=weighted_softmax, twin=symbolic.weighted_softmax,
        family="margin", paper="Xie & Tu 2015, Holistically-Nested Edge Detection (ICCV)",
        equation="class-balanced cross-entropy, Eq. (2) there; notes Sec. 2.1",
        defaults={}, claims=frozenset({"convex"}),
        test_params=({"class_weight": [0.5, 2.0, 1.0, 0.25, 3.0]}, {"class_weight": [1.0] * 5}),
        bad_params=[({"class_weight": None}, ValueError, "class_weight"),
                    ({"class_weight": [1.0, 2.0]}, ValueError, "class_weight"),
                    ({"class_weight": [1.0, -1.0, 1.0, 1.0, 1.0]}, ValueError, "class_weight")],
        mean_denominator=weighted_denominator,
        extra={"required_params": lambda c: {"class_weight": [1.0 + 0.5 * j for j in range(c)]}},
    ))
    register(LossSpec(
        name="large_margin_softmax", fn=large_margin_softmax, twin=symbolic.large_margin_softmax,
        family="margin", paper="Liu, Wen, Yu & Yang 2016, Large-Margin Softmax Loss for CNNs (ICML)",
        equation="Eq. (4)-(6), psi with the paper's D(theta)", defaults={"m": 2, "lam": 0.0},
        inputs=("features", "weight"),
        test_params=({}, {"m": 1}, {"m": 3}, {"m": 4}, {"m": 2, "lam": 5.0}),
        bad_params=bad_m_int + bad_lam, extra=fw,
    ))
    register(LossSpec(
        name="sphereface", fn=sphereface, twin=symbolic.sphereface,
        family="margin", paper="Liu et al. 2017, SphereFace: Deep Hypersphere Embedding for Face Recognition (CVPR)",
        equation="A-Softmax, Eq. (7)", defaults={"m": 4, "lam": 0.0},
        inputs=("features", "weight"),
        test_params=({}, {"m": 1}, {"m": 2}, {"m": 3}, {"m": 4, "lam": 1000.0}),
        bad_params=bad_m_int + bad_lam, extra=fw,
    ))
    register(LossSpec(
        name="l2_softmax", fn=l2_softmax, twin=symbolic.l2_softmax,
        family="margin", paper="Ranjan, Castillo & Chellappa 2017, L2-constrained Softmax Loss (arXiv:1703.09507)",
        equation="Eq. (2)", defaults={"alpha": 16.0, "bias": None},
        inputs=("features", "weight"),
        test_params=({}, {"alpha": 2.0}, {"alpha": 5.0, "bias": [0.1, -0.2, 0.3, 0.0, 0.5]}),
        bad_params=[({"alpha": 0.0}, ValueError, "alpha"), ({"alpha": -1.0}, ValueError, "alpha"),
                    ({"bias": [0.0, 1.0]}, TypeError, "bias"),
                    ({"bias": torch.zeros(2)}, ValueError, "bias")],
        extra=fw,
    ))
    register(LossSpec(
        name="am_softmax", fn=am_softmax, twin=symbolic.am_softmax,
        family="margin", paper="Wang, Cheng, Liu & Liu 2018, Additive Margin Softmax for Face Verification (IEEE SPL)",
        equation="Eq. (4) (CosFace Eq. 4)", defaults={"s": 30.0, "m": 0.35},
        inputs=("cosine",),
        test_params=({}, {"m": 0.0}, {"s": 5.0, "m": 0.8}),
        bad_params=bad_s + [({"m": -0.1}, ValueError, "m")], extra=cos,
    ))
    register(LossSpec(
        name="arcface", fn=arcface, twin=symbolic.arcface,
        family="margin", paper="Deng, Guo, Xue & Zafeiriou 2019, ArcFace: Additive Angular Margin Loss (CVPR)",
        equation="Eq. (3), with insightface's fallback for theta > pi - m",
        defaults={"s": 64.0, "m": 0.5, "easy_margin": False},
        inputs=("cosine",),
        test_params=({}, {"m": 0.0}, {"s": 8.0, "m": 1.2}, {"s": 10.0, "easy_margin": True}),
        bad_params=bad_s + [({"m": -0.1}, ValueError, "m"), ({"m": 3.2}, ValueError, "m"),
                            ({"easy_margin": "yes"}, TypeError, "easy_margin")],
        extra=cos,
    ))


_register()
