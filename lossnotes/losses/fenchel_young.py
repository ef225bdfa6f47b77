r"""Sparse prediction maps (sparsemax, 1.5-entmax, :math:`\alpha`-entmax) and their Fenchel-Young losses
(chapter 08).

A regulariser :math:`\Omega` on the simplex :math:`\Delta` gives a prediction map and a loss:

.. math::
    \hat p_\Omega(z) = \arg\max_{p\in\Delta}\ \langle z, p\rangle - \Omega(p), \qquad
    L_\Omega(z; y) = \Omega^*(z) + \Omega(e_y) - z_y, \qquad \nabla_z L_\Omega = \hat p_\Omega(z) - e_y

(Blondel, Martins & Niculae 2020, Def. 2 and Prop. 2). With the Tsallis negentropy
:math:`\Omega_\alpha(p) = \frac{\sum_j p_j^\alpha - 1}{\alpha(\alpha - 1)}` the map is
:math:`\alpha`-entmax, :math:`p_j = [(\alpha - 1) z_j - \tau]_+^{1/(\alpha-1)}` with :math:`\tau` set by
:math:`\sum_j p_j = 1`; :math:`\alpha \to 1` is the Shannon negentropy (softmax, cross-entropy),
:math:`\alpha = 2` is :math:`\frac12\lVert p\rVert^2` (sparsemax, the sparsemax loss). Written with the map's
output the loss is

.. math::
    L_\alpha(z; y) = \sum_j p_j (z_j - z_y) + \frac{1 - \sum_j p_j^\alpha}{\alpha(\alpha - 1)} \;\ge 0,

zero exactly when :math:`p = e_y`. The maps' backward passes are the closed-form Jacobian-vector products
:math:`J v = s \odot v - s\,\frac{\langle s, v\rangle}{\sum_j s_j}` with :math:`s_j = p_j^{2-\alpha}` on the
support and 0 outside (Peters, Niculae & Martins 2019, Prop. 1; sparsemax: Martins & Astudillo 2016, Eq. 12):
nothing is differentiated through the sort or the bisection. The losses' backward is :math:`p - e_y`; under
``create_graph`` (Hessians) it differentiates the map again, so the Hessian is the map's Jacobian.

Sources:

* Martins & Astudillo, "From Softmax to Sparsemax: A Sparse Model of Attention and Multi-Label Classification",
  ICML 2016, arXiv:1602.02068 (sparsemax, Alg. 1; its loss, Eq. 18).
* Peters, Niculae & Martins, "Sparse Sequence-to-Sequence Models", ACL 2019, arXiv:1905.05702 (entmax, the
  exact sort-based 1.5-entmax, Alg. 2; bisection for any alpha; official code github.com/deep-spin/entmax).
* Blondel, Martins & Niculae, "Learning with Fenchel-Young Losses", JMLR 2020, arXiv:1901.02324.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .reduction import reduce_loss
from .validation import (checks_output, check_choice, check_class_target, check_float_tensor, check_logits, check_scalar,
                         compute_dtype)

__all__ = ["sparsemax", "entmax15", "entmax_bisect", "sparsemax_loss", "entmax15_loss", "entmax_loss",
           "fenchel_young_loss", "REGULARIZERS", "ALPHA_MAX"]

#: The regularisers of :func:`fenchel_young_loss` (each with its map).
REGULARIZERS = ("shannon", "sparsemax", "entmax15", "tsallis")
#: Largest alpha accepted (the Jacobian's weights p^(2 - alpha) grow without bound near p = 0 for alpha > 2;
#: the family is studied for alpha in [1, 2] and a little beyond).
ALPHA_MAX = 10.0
#: Bisection steps of :func:`entmax_bisect` (the interval has width < 1: 2^-60 is below float64's precision).
N_ITER = 60


# ---- forward computations (no autograd) ---------------------------------------------------------------

def _sparsemax_forward(z):
    """sparsemax along the last dim (Martins & Astudillo 2016, Alg. 1): sort, then tau from the support."""
    z = z - z.amax(dim=-1, keepdim=True)
    zs, _ = torch.sort(z, dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cums = zs.cumsum(dim=-1) - 1.0
    support = (k * zs > cums).sum(dim=-1, keepdim=True)            # >= 1: the top element is always in
    tau = cums.gather(-1, support - 1) / support.to(z.dtype)
    return torch.clamp(z - tau, min=0.0)


def _entmax15_forward(z):
    """1.5-entmax along the last dim, exact (Peters et al. 2019, Alg. 2): p = [z/2 - tau]_+^2."""
    x = (z - z.amax(dim=-1, keepdim=True)) / 2.0
    xs, _ = torch.sort(x, dim=-1, descending=True)
    rho = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=x.dtype)
    mean = xs.cumsum(dim=-1) / rho
    mean_sq = (xs * xs).cumsum(dim=-1) / rho
    delta = (1.0 - rho * (mean_sq - mean * mean)) / rho
    tau = mean - torch.sqrt(torch.clamp(delta, min=0.0))
    support = (tau <= xs).sum(dim=-1, keepdim=True)
    tau_star = tau.gather(-1, support - 1)
    return torch.clamp(x - tau_star, min=0.0) ** 2


def _entmax_bisect_forward(z, alpha, n_iter):
    r""":math:`\alpha`-entmax by bisection on :math:`\tau` (Peters et al. 2019, Sec. 3.2), then normalised."""
    if alpha == 1.0:
        return torch.softmax(z, dim=-1)
    am1 = alpha - 1.0
    x = (z - z.amax(dim=-1, keepdim=True)) * am1                  # max x = 0
    c = x.shape[-1]
    lo = torch.full_like(x[..., :1], -1.0)                        # p_max = 1 there: sum >= 1
    width = torch.full_like(lo, 1.0 - (1.0 / c) ** am1)          # hi = -(1/C)^(alpha-1): every p <= 1/C
    p = None
    for _ in range(n_iter):
        width = width / 2.0
        mid = lo + width
        p = torch.clamp(x - mid, min=0.0) ** (1.0 / am1)
        lo = torch.where(p.sum(dim=-1, keepdim=True) >= 1.0, mid, lo)
    p = torch.clamp(x - lo, min=0.0) ** (1.0 / am1)               # sum >= 1 at lo, the top class inside
    return p / p.sum(dim=-1, keepdim=True)


def _jvp(p, grad, alpha):
    r"""The map's Jacobian (symmetric) times ``grad``: :math:`s\odot g - s\,\langle s, g\rangle / \sum s`,
    :math:`s = p^{2-\alpha}` on the support (Peters et al. 2019, Prop. 1)."""
    inside = p > 0
    if alpha == 2.0:
        s = inside.to(p.dtype)
    elif alpha == 1.5:
        s = torch.sqrt(p)
    else:
        s = torch.where(inside, p.clamp(min=torch.finfo(p.dtype).tiny) ** (2.0 - alpha), torch.zeros_like(p))
    sg = s * grad
    return sg - s * (sg.sum(dim=-1, keepdim=True) / s.sum(dim=-1, keepdim=True))


class _SparseMap(torch.autograd.Function):
    """A sparse map along the last dim with its closed-form backward (no autograd through sort/bisection)."""

    @staticmethod
    def forward(ctx, z, alpha, n_iter):
        if alpha == 2.0 and n_iter is None:
            p = _sparsemax_forward(z)
        elif alpha == 1.5 and n_iter is None:
            p = _entmax15_forward(z)
        else:
            p = _entmax_bisect_forward(z, alpha, n_iter)
        ctx.alpha = alpha
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad):
        (p,) = ctx.saved_tensors
        if ctx.alpha == 1.0:
            return p * (grad - (p * grad).sum(dim=-1, keepdim=True)), None, None
        return _jvp(p, grad, ctx.alpha), None, None


def _apply_map(z, alpha, n_iter, dim=-1):
    moved = z.transpose(dim, -1) if dim not in (-1, z.dim() - 1) else z
    p = _SparseMap.apply(moved, alpha, n_iter)
    return p.transpose(dim, -1) if moved is not z else p


def _check_map_input(logits, dim):
    check_float_tensor(logits, "logits")
    if logits.dim() == 0:
        raise ValueError("logits must have at least 1 dimension (the classes), got a scalar")
    if isinstance(dim, bool) or not isinstance(dim, int) or not -logits.dim() <= dim < logits.dim():
        raise ValueError(f"dim must be an int in [{-logits.dim()}, {logits.dim() - 1}], got {dim!r}")
    return logits.to(compute_dtype(logits))


def _check_alpha(alpha):
    return check_scalar(alpha, "alpha", low=1.0, high=ALPHA_MAX)


def _check_n_iter(n_iter):
    return check_scalar(n_iter, "n_iter", low=1, high=1000, integer=True)


def sparsemax(logits, dim=-1):
    r"""Sparsemax, the Euclidean projection onto the simplex (Martins & Astudillo 2016, Eq. 2 and Alg. 1).

    .. math::
        \mathrm{sparsemax}(z) = \arg\min_{p\in\Delta} \lVert p - z\rVert^2 = [z - \tau(z)]_+,\qquad
        \tau(z) = \frac{\sum_{j\in S(z)} z_j - 1}{|S(z)|}

    Exact zeros outside the support :math:`S(z)`; the backward pass is the Jacobian
    :math:`\mathrm{diag}(s) - s s^\top/|S|`, :math:`s = \mathbb 1_S` (Eq. 12). Computed in float32 for
    half-precision input, returned in the input's dtype.
    """
    z = _check_map_input(logits, dim)
    return _apply_map(z, 2.0, None, dim).to(logits.dtype)


def entmax15(logits, dim=-1):
    r""":math:`1.5`-entmax, exact by sorting (Peters, Niculae & Martins 2019, Alg. 2).

    .. math::
        \mathrm{entmax}_{1.5}(z) = \bigl[\tfrac{z}{2} - \tau\bigr]_+^2, \qquad \sum_j p_j = 1

    Sparse like sparsemax, smoother near the edge of the support; the backward pass is the Jacobian
    :math:`\mathrm{diag}(s) - s s^\top/\sum s`, :math:`s = \sqrt p`.
    """
    z = _check_map_input(logits, dim)
    return _apply_map(z, 1.5, None, dim).to(logits.dtype)


def entmax_bisect(logits, alpha=1.5, dim=-1, n_iter=N_ITER):
    r""":math:`\alpha`-entmax by bisection on the threshold (Peters, Niculae & Martins 2019, Eq. 9, Sec. 3.2).

    .. math::
        \alpha\text{-entmax}(z) = \bigl[(\alpha - 1) z - \tau\bigr]_+^{1/(\alpha - 1)}, \qquad \sum_j p_j = 1

    :math:`\alpha = 1` is softmax (computed as softmax), :math:`\alpha = 2` sparsemax. ``n_iter`` halvings of an
    interval of width below 1 (60: float64 precision), then the output is divided by its sum as the official
    code does. Backward: the Jacobian :math:`\mathrm{diag}(s) - s s^\top/\sum s`, :math:`s = p^{2-\alpha}` on
    the support.

    Args:
        alpha: :math:`\alpha \in [1, 10]` (1.5 in the paper's experiments).
        n_iter: bisection steps, integer in [1, 1000].
    """
    alpha = _check_alpha(alpha)
    n_iter = _check_n_iter(n_iter)
    z = _check_map_input(logits, dim)
    return _apply_map(z, alpha, n_iter, dim).to(logits.dtype)


# ---- Fenchel-Young losses ----------------------------------------------------------------------------

def _tsallis_entropy(p, alpha):
    r""":math:`H_\alpha(p) = (1 - \sum_j p_j^\alpha)/(\alpha(\alpha - 1))` (0 at a one-hot)."""
    if alpha == 2.0:
        power = p * p
    elif alpha == 1.5:
        power = p * torch.sqrt(p)
    else:
        power = p ** alpha
    return (1.0 - power.sum(dim=1)) / (alpha * (alpha - 1.0))


class _FenchelYoung(torch.autograd.Function):
    r""":math:`L(z; y) = \sum_j p_j(z_j - z_y) + H_\alpha(p)` per sample; backward :math:`p - e_y`, the map
    differentiated again under ``create_graph`` (so the Hessian is the map's Jacobian)."""

    @staticmethod
    def forward(ctx, z, target, alpha, n_iter):
        with torch.no_grad():
            p = _SparseMap.forward(ctx, z, alpha, n_iter)
            diff = z - z.gather(1, target[:, None])
            loss = (p * diff).sum(dim=1) + _tsallis_entropy(p, alpha)
        ctx.alpha, ctx.n_iter = alpha, n_iter
        ctx.save_for_backward(z, target, p)
        return torch.clamp(loss, min=0.0)                       # >= 0 exactly; rounding can leave -1e-16

    @staticmethod
    def backward(ctx, grad):
        z, target, p = ctx.saved_tensors
        if torch.is_grad_enabled():                             # create_graph: p as a function of z
            p = _SparseMap.apply(z, ctx.alpha, ctx.n_iter)
        g = p - F.one_hot(target, z.shape[1]).to(p.dtype)
        return grad[:, None] * g, None, None, None


def _setup(logits, target):
    check_logits(logits, min_classes=2)
    n, c = logits.shape
    target = check_class_target(target, n, c)
    return logits.to(compute_dtype(logits)), target


def _fy(z, target, alpha, n_iter):
    if alpha == 1.0:                                            # Shannon: cross-entropy, in log space
        return torch.logsumexp(z, dim=1) - z.gather(1, target[:, None]).squeeze(1)
    return _FenchelYoung.apply(z, target, alpha, n_iter)


def sparsemax_loss(logits, target, *, reduction="mean"):
    r"""Sparsemax loss (Martins & Astudillo 2016, Eq. 18), the Fenchel-Young loss of
    :math:`\Omega(p) = \frac12\lVert p\rVert^2`.

    .. math::
        \ell(z; y) = -z_y + \tfrac12 \sum_{j\in S(z)} \bigl(z_j^2 - \tau(z)^2\bigr) + \tfrac12
                   = \sum_j p_j (z_j - z_y) + \tfrac12\bigl(1 - \lVert p\rVert^2\bigr),\quad p = \mathrm{sparsemax}(z)

    Convex, differentiable, :math:`\nabla_z \ell = p - e_y`; :math:`\ell = 0` iff
    :math:`z_y \ge \max_{k\ne y} z_k + 1` (a margin of 1). No hyper-parameters.
    """
    z, target = _setup(logits, target)
    return reduce_loss(_fy(z, target, 2.0, None), reduction)


def entmax15_loss(logits, target, *, reduction="mean"):
    r"""1.5-entmax loss (Peters, Niculae & Martins 2019, Eq. 10 with :math:`\alpha = 1.5`), the Fenchel-Young
    loss of the Tsallis negentropy :math:`\Omega_{1.5}(p) = \frac43(\sum_j p_j^{3/2} - 1)`.

    .. math::
        \ell(z; y) = \sum_j p_j (z_j - z_y) + \tfrac43\Bigl(1 - \sum_j p_j^{3/2}\Bigr),\qquad p = \mathrm{entmax}_{1.5}(z)

    Convex, :math:`\nabla_z \ell = p - e_y`, zero iff :math:`p = e_y` (:math:`z_y \ge \max_{k\ne y} z_k + 2`).
    """
    z, target = _setup(logits, target)
    return reduce_loss(_fy(z, target, 1.5, None), reduction)


@checks_output
def entmax_loss(logits, target, *, alpha=1.5, n_iter=N_ITER, reduction="mean"):
    r""":math:`\alpha`-entmax loss (Peters, Niculae & Martins 2019, Eq. 10; Blondel et al. 2020, Sec. 4.3), the
    map by bisection (:func:`entmax_bisect`).

    .. math::
        \ell_\alpha(z; y) = \sum_j p_j (z_j - z_y) + \frac{1 - \sum_j p_j^\alpha}{\alpha(\alpha - 1)},\qquad
        p = \alpha\text{-entmax}(z)

    :math:`\alpha = 1`: cross-entropy (computed as such); :math:`\alpha = 2`: the sparsemax loss. Convex,
    :math:`\nabla_z \ell = p - e_y`.

    Args:
        alpha: :math:`\alpha \in [1, 10]`; 1.5 as in the paper's experiments.
        n_iter: bisection steps, integer in [1, 1000] (60: float64 precision).
    """
    alpha = _check_alpha(alpha)
    n_iter = _check_n_iter(n_iter)
    z, target = _setup(logits, target)
    return reduce_loss(_fy(z, target, alpha, n_iter), reduction)


@checks_output
def fenchel_young_loss(logits, target, *, regularizer="shannon", alpha=1.5, reduction="mean"):
    r"""The Fenchel-Young loss of a regulariser on the simplex (Blondel, Martins & Niculae 2020, Def. 2).

    .. math::
        L_\Omega(z; y) = \Omega^*(z) + \Omega(e_y) - z_y = \langle \hat p, z - z_y\mathbf 1\rangle - \Omega(\hat p),
        \qquad \nabla_z L_\Omega = \hat p_\Omega(z) - e_y

    Args:
        regularizer: ``"shannon"`` (:math:`\sum_j p_j\log p_j`: softmax and cross-entropy), ``"sparsemax"``
            (:math:`\frac12\lVert p\rVert^2`: :func:`sparsemax_loss`), ``"entmax15"`` (Tsallis 1.5, sorted:
            :func:`entmax15_loss`) or ``"tsallis"`` (Tsallis ``alpha`` by bisection: :func:`entmax_loss`).
        alpha: :math:`\alpha \in [1, 10]`, read by ``"tsallis"`` only (another regulariser with an alpha other
            than the default is an error, not a silently ignored value).
    """
    check_choice(regularizer, "regularizer", REGULARIZERS)
    alpha = _check_alpha(alpha)
    if regularizer != "tsallis" and alpha != 1.5:
        raise ValueError(f"alpha is read by regularizer='tsallis' only, got alpha={alpha!r} with "
                         f"regularizer={regularizer!r}")
    z, target = _setup(logits, target)
    if regularizer == "shannon":
        per_sample = _fy(z, target, 1.0, None)
    elif regularizer == "sparsemax":
        per_sample = _fy(z, target, 2.0, None)
    elif regularizer == "entmax15":
        per_sample = _fy(z, target, 1.5, None)
    else:
        per_sample = _fy(z, target, alpha, N_ITER)
    return reduce_loss(per_sample, reduction)


def _register():
    from .. import symbolic
    from ..registry import LossSpec, register

    blondel = "Blondel, Martins & Niculae 2020, Learning with Fenchel-Young Losses (JMLR)"
    peters = "Peters, Niculae & Martins 2019, Sparse Sequence-to-Sequence Models (ACL)"
    convex = frozenset({"convex"})
    register(LossSpec(
        name="sparsemax_loss", fn=sparsemax_loss, twin=symbolic.sparsemax_loss, family="fenchel_young",
        paper="Martins & Astudillo 2016, From Softmax to Sparsemax (ICML)", equation="Eq. (18)", defaults={},
        claims=convex))
    register(LossSpec(
        name="entmax15_loss", fn=entmax15_loss, twin=symbolic.entmax15_loss, family="fenchel_young",
        paper=peters, equation="Eq. (10), alpha = 1.5, map by Alg. 2", defaults={}, claims=convex))
    register(LossSpec(
        name="entmax_loss", fn=entmax_loss, twin=symbolic.entmax_loss, family="fenchel_young", paper=peters,
        equation="Eq. (10), map by bisection", defaults={"alpha": 1.5, "n_iter": N_ITER}, claims=convex,
        test_params=({}, {"alpha": 1.0}, {"alpha": 1.25}, {"alpha": 2.0}, {"alpha": 3.0}),
        bad_params=[({"alpha": 0.5}, ValueError, "alpha"), ({"alpha": 11.0}, ValueError, "alpha"),
                    ({"n_iter": 0}, ValueError, "n_iter"), ({"n_iter": 2.5}, ValueError, "n_iter")]))
    register(LossSpec(
        name="fenchel_young_loss", fn=fenchel_young_loss, twin=symbolic.fenchel_young_loss, family="fenchel_young",
        paper=blondel, equation="Def. 2, L = Omega*(z) + Omega(e_y) - z_y",
        defaults={"regularizer": "shannon", "alpha": 1.5}, claims=convex,
        test_params=({}, {"regularizer": "sparsemax"}, {"regularizer": "entmax15"},
                     {"regularizer": "tsallis", "alpha": 1.75}),
        bad_params=[({"regularizer": "gini"}, ValueError, "regularizer"),
                    ({"regularizer": "sparsemax", "alpha": 2.0}, ValueError, "alpha"),
                    ({"regularizer": "tsallis", "alpha": 0.9}, ValueError, "alpha")]))


_register()
